"""Collections: names, owners, where each one lives, and opening one safely.

As in h2oGPT: ``UserData`` is shared (filled from ``--user_path``), ``MyData`` is private to
each user, and users may create their own collections (private to the creator when a user
is given, shared otherwise). ``LLM`` means "no documents" and is not a collection.

On disk (under ``--data_dir``)::

    collections/shared/<name>/catalog.sqlite      what the collection holds (see catalog.py)
    collections/shared/<name>/bm25/               keyword index
    collections/shared/<name>/faiss/              vectors, with --db_type=faiss
    collections/users/<user-key>/<name>/...       private collections
    chroma/                                        the local Chroma database (all collections)

With ``--chroma_url`` and ``--database_url`` the catalogs live in the database instead, so
every replica sees the same collections (see catalog.py); the keyword index stays a local,
derived copy that each replica rebuilds when the catalog's generation moves on.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from h2ogpt import plugins
from h2ogpt.documents.bm25 import BM25Index
from h2ogpt.documents.catalog import Catalog, LocalCatalogs, SharedCatalogs
from h2ogpt.documents.stores.base import VectorStoreSpec
from h2ogpt.errors import H2OGPTError
from h2ogpt.settings import NO_DOCUMENTS, Settings

log = logging.getLogger(__name__)

SHARED_COLLECTION = "UserData"
PERSONAL_COLLECTION = "MyData"
LOCAL_USER = "local"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{3,63}$")


class CollectionError(H2OGPTError):
    """A collection that cannot be used as asked (bad name, unknown, built with another model)."""


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise CollectionError(
            f"collection name {name!r} is not valid: use 3 to 63 letters, digits, '_' or '-'"
        )
    if name == NO_DOCUMENTS:
        raise CollectionError(f"{NO_DOCUMENTS!r} means 'no documents' and cannot hold documents")
    return name


def user_key(user: str) -> str:
    """A folder-safe key that contains the user id and cannot collide between two users."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "_", user)[:32]
    return f"{slug}-{hashlib.sha256(user.encode('utf-8')).hexdigest()[:10]}"


@dataclass(frozen=True)
class CollectionRef:
    """Which collection: its name and, for a private one, its owner."""

    name: str
    owner: str | None = None

    @property
    def key(self) -> str:
        return f"users/{user_key(self.owner)}/{self.name}" if self.owner else f"shared/{self.name}"

    @property
    def store_name(self) -> str:
        """The name in Chroma: unique, 3..512 characters, starts and ends with a letter or digit."""
        digest = hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:8]
        return f"h2ogpt-{self.key.replace('/', '_')}-{digest}"


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as listed to users."""

    name: str
    personal: bool
    documents: int
    chunks: int
    embedding_model: str
    db_type: str


def store_spec(settings: Settings) -> VectorStoreSpec:
    """The vector store ``--db_type`` names (a plug-in)."""
    return plugins.vector_stores.get(settings.db_type, "--db_type")


def store_location(settings: Settings) -> str:
    """Where chunks live: 'faiss', 'chroma' (local), the Chroma server URL, or a plug-in's word."""
    return store_spec(settings).location(settings)


Catalogs = LocalCatalogs | SharedCatalogs


def catalogs_for(settings: Settings, root: Path) -> Catalogs:
    """Shared catalogs when replicas share both the chunks (a Chroma server) and a database."""
    if settings.database_url and settings.chroma_url:
        from h2ogpt.persistence.database import server_database

        return SharedCatalogs(server_database(settings.database_url))
    if settings.database_url:
        log.warning(
            "--database_url without --chroma_url: collections stay in this replica's --data_dir "
            "(set --chroma_url to a Chroma server to share them between replicas)"
        )
    return LocalCatalogs(root)


class WriteLock:
    """One writer per collection: one thread of this process and, with shared catalogs, one
    replica (re-entrant within a thread)."""

    def __init__(self, across_processes: Callable[[bool], AbstractContextManager[bool]]) -> None:
        self._threads = threading.RLock()
        self._across = across_processes
        self._held: AbstractContextManager[bool] | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True) -> bool:
        if not self._threads.acquire(blocking):
            return False
        if self._depth == 0:
            held = self._across(blocking)
            if not held.__enter__():
                held.__exit__(None, None, None)
                self._threads.release()
                return False
            self._held = held
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._held is not None:
            held, self._held = self._held, None
            held.__exit__(None, None, None)
        self._threads.release()

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class Collection:
    """An open collection: its catalog, vector store and keyword index."""

    def __init__(
        self,
        ref: CollectionRef,
        folder: Path,
        settings: Settings,
        model: str,
        dimensions: int,
        catalogs: Catalogs,
    ) -> None:
        self.ref = ref
        self.folder = folder
        self.lock = threading.RLock()  # held briefly: store writes versus searches
        # held for a whole ingest or delete: one writer at a time
        self.write_lock = WriteLock(lambda blocking: catalogs.writer_lock(ref.key, blocking))
        self.catalog: Catalog = catalogs.open(ref.key)
        self._check_compatible(settings, model, dimensions)
        self.store = store_spec(settings).open(settings, ref.store_name, folder, dimensions)
        self.keywords = BM25Index(folder / "bm25")
        self.reconcile()

    @property
    def name(self) -> str:
        return self.ref.name

    def _check_compatible(self, settings: Settings, model: str, dimensions: int) -> None:
        """Refuse to mix vectors of two embedding models (or two stores) in one collection."""
        info = self.catalog.info()
        wanted = {"embedding_model": model, "dimensions": str(dimensions), "store": store_location(settings)}
        has_documents = self.catalog.totals()[0] > 0 or bool(self.catalog.pending())
        if has_documents and info.get("embedding_model", model) != model:
            raise CollectionError(
                f"collection {self.name!r} was built with the embedding model {info['embedding_model']!r} "
                f"({info.get('dimensions', '?')} dimensions), but this run uses {model!r} ({dimensions} "
                "dimensions). Vectors of two models cannot be searched together: start with "
                f"--hf_embedding_model set to the folder of {info['embedding_model']!r}, or delete the "
                "collection and ingest its documents again, or ingest into a new collection."
            )
        if has_documents and info.get("store", wanted["store"]) != wanted["store"]:
            raise CollectionError(
                f"collection {self.name!r} keeps its chunks in {info['store']!r}, but this run uses "
                f"{wanted['store']!r} (--db_type/--chroma_url): start with the same store settings, or "
                "delete the collection and ingest its documents again."
            )
        if info.get("embedding_model") != model or info.get("store") != wanted["store"]:
            self.catalog.set_info({**wanted, "db_type": settings.db_type})

    def reconcile(self) -> None:
        """Finish what a crash interrupted: keep only the recorded version of pending sources.

        Skipped while another replica is writing to the collection: its pending rows are live."""
        if not self.write_lock.acquire(blocking=False):
            log.info("collection %s: another replica is writing to it; not reconciling now", self.name)
            return
        try:
            self._reconcile()
        finally:
            self.write_lock.release()

    def _reconcile(self) -> None:
        with self.lock:
            pending = self.catalog.pending()
            for source in pending:
                recorded = self.catalog.document(source)
                removed = self.store.delete_source(source, keep_sha256=recorded.sha256 if recorded else None)
                log.info("collection %s: reconciled %s (%d stale chunks removed)", self.name, source, removed)
            if pending:
                self.store.flush()
                self.catalog.clear_pending(pending)
            documents, _chunks = self.catalog.totals()
            if documents and self.store.count() == 0:
                log.warning(
                    "collection %s: the store holds no chunks but %d documents were recorded; "
                    "forgetting them so they can be ingested again",
                    self.name,
                    documents,
                )
                self.catalog.forget([d.source for d in self.catalog.documents()])

    def ensure_keyword_index(self) -> None:
        with self.lock:
            generation = self.catalog.generation()
            if not self.keywords.is_current(generation):
                count = self.keywords.rebuild(self.store.iter_chunks(), generation)
                log.debug("collection %s: keyword index rebuilt over %d chunks", self.name, count)

    def delete_documents(self, sources: list[str]) -> int:
        """Delete documents by source; returns how many were recorded."""
        with self.write_lock, self.lock:
            self.catalog.mark_pending(sources)
            forgotten = self.catalog.forget(sources)
            for source in sources:
                self.store.delete_source(source)
            self.store.flush()
            self.catalog.clear_pending(sources)
            self.ensure_keyword_index()
            return forgotten

    def describe(self, db_type: str) -> CollectionInfo:
        documents, chunks = self.catalog.totals()
        model = self.catalog.info().get("embedding_model", "")
        return CollectionInfo(self.name, self.ref.owner is not None, documents, chunks, model, db_type)

    def close(self) -> None:
        self.catalog.close()


class CollectionRegistry:
    """Finds, opens (once per process), creates and deletes collections."""

    def __init__(self, settings: Settings, model_identity: Callable[[], tuple[str, int]]) -> None:
        self.settings = settings
        self.root = Path(settings.data_dir) / "collections"
        self.catalogs = catalogs_for(settings, self.root)
        self._model_identity = model_identity
        self._open: dict[str, Collection] = {}
        self._lock = threading.RLock()

    def folder(self, ref: CollectionRef) -> Path:
        return self.root / ref.key

    def resolve(self, name: str | None, user: str | None) -> CollectionRef:
        """The collection ``name`` means for ``user`` (their private one first)."""
        name = validate_name(name or self.settings.langchain_mode)
        if name == PERSONAL_COLLECTION:
            return CollectionRef(name, user or LOCAL_USER)
        private = CollectionRef(name, user or LOCAL_USER)
        if self.catalogs.exists(private.key):
            return private
        return CollectionRef(name)

    def exists(self, ref: CollectionRef) -> bool:
        builtin = ref.name in (SHARED_COLLECTION, PERSONAL_COLLECTION)
        return builtin or self.catalogs.exists(ref.key)

    def open(self, ref: CollectionRef, create: bool = False) -> Collection:
        with self._lock:
            if ref.key in self._open:
                return self._open[ref.key]
            if not create and not self.exists(ref):
                raise CollectionError(
                    f"there is no collection {ref.name!r}: create it first, or choose one of "
                    f"{[c.name for c in self.names(ref.owner)]}"
                )
            model, dimensions = self._model_identity()
            collection = Collection(ref, self.folder(ref), self.settings, model, dimensions, self.catalogs)
            self._open[ref.key] = collection
            return collection

    def names(self, user: str | None) -> list[CollectionRef]:
        """Every collection ``user`` can see: UserData, their MyData, shared and their own ones."""
        refs = {SHARED_COLLECTION: CollectionRef(SHARED_COLLECTION)}
        for name in self.catalogs.names("shared"):
            refs.setdefault(name, CollectionRef(name))
        owner = user or LOCAL_USER
        refs[PERSONAL_COLLECTION] = CollectionRef(PERSONAL_COLLECTION, owner)
        for name in self.catalogs.names(f"users/{user_key(owner)}"):
            refs[name] = CollectionRef(name, owner)
        return list(refs.values())

    def delete(self, ref: CollectionRef) -> None:
        with self._lock:
            opened = self._open.pop(ref.key, None)
            if opened is not None:
                with opened.write_lock, opened.lock:
                    opened.close()
            store_spec(self.settings).drop(self.settings, ref.store_name, self.folder(ref))
            self.catalogs.remove(ref.key)
            shutil.rmtree(self.folder(ref), ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            for collection in self._open.values():
                collection.close()
            self._open.clear()
