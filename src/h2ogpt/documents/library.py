"""The document library: every collection, with one shared embedding model.

The pipeline, the API and the UI use only :class:`DocumentLibrary`::

    library = DocumentLibrary(settings)                   # embedder loaded on first use, shared
    library.ingest(["docs/"], collection="UserData")      # files, folders or loaded Documents
    hits = library.search("UserData", "what is X?", k=5)  # list[SearchHit], best first
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from langchain_core.documents import Document

from h2ogpt.documents.catalog import DocumentInfo
from h2ogpt.documents.chunking import Chunker
from h2ogpt.documents.collections import (
    NO_DOCUMENTS,
    PERSONAL_COLLECTION,
    SHARED_COLLECTION,
    CollectionError,
    CollectionInfo,
    CollectionRef,
    CollectionRegistry,
    user_key,
    validate_name,
)
from h2ogpt.documents.embeddings import Embedder
from h2ogpt.documents.ingest import (
    DocumentResult,
    IngestProgress,
    IngestReport,
    Loader,
    ProgressCallback,
    default_loader,
)
from h2ogpt.documents.retrieval import Mode, Reranker, SearchHit
from h2ogpt.settings import Settings

__all__ = [
    "NO_DOCUMENTS",
    "PERSONAL_COLLECTION",
    "SHARED_COLLECTION",
    "CollectionError",
    "CollectionInfo",
    "DocumentInfo",
    "DocumentLibrary",
    "DocumentResult",
    "IngestProgress",
    "IngestReport",
    "SearchHit",
]


class DocumentLibrary:
    """Every collection under ``settings.data_dir``, with one shared embedding model.

    ``user`` selects whose ``MyData`` and private collections are meant (None: the local
    single user). ``collection=None`` means ``--langchain_mode``.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        loader: Loader | None = None,
        batch_chunks: int = 256,
    ) -> None:
        """``embedder``: share an already loaded model. ``loader``: replaces the document loaders
        (``load_paths``). ``batch_chunks``: chunks embedded and committed together."""
        self.settings = settings
        self.batch_chunks = batch_chunks
        self._embedder = embedder
        self._loader = loader
        self._chunker: Chunker | None = None
        self._reranker: Reranker | None = None
        self._lock = threading.RLock()
        self.registry = CollectionRegistry(settings, self._model_identity)

    # --- shared models -------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = Embedder.from_settings(self.settings)
            return self._embedder

    def _model_identity(self) -> tuple[str, int]:
        return self.embedder.name, self.embedder.dimensions

    @property
    def chunker(self) -> Chunker:
        with self._lock:
            if self._chunker is None:
                s = self.settings
                self._chunker = Chunker.for_model(self.embedder.model, s.chunk_size, s.chunk_overlap)
            return self._chunker

    @property
    def reranker(self) -> Reranker | None:
        with self._lock:
            if self._reranker is None and self.settings.cross_encoder_model:
                self._reranker = Reranker(self.settings.cross_encoder_model)
            return self._reranker

    # --- documents -----------------------------------------------------------------------
    def ingest(
        self,
        items: Sequence[str | Path | Document],
        collection: str | None = None,
        user: str | None = None,
        progress: ProgressCallback | None = None,
        show_progress: bool = False,
        passwords: Mapping[str, str] | None = None,
    ) -> IngestReport:
        """Add files, folders (recursively) or loaded Documents; unchanged ones are skipped and
        changed ones replace their old chunks. Failures are reported, never raised.
        A collection that does not exist yet is created: private to ``user`` when one is given.
        ``passwords``: for encrypted files, keyed as the loaders' ``load_paths`` expects."""
        from h2ogpt.documents.ingest import Ingestor
        from h2ogpt.documents.loaders.audio import transcription_settings
        from h2ogpt.documents.loaders.captions import captioning

        ref = self.registry.resolve(collection, user)
        if user and not self.registry.exists(ref):
            ref = CollectionRef(ref.name, user)
        opened = self.registry.open(ref, create=True)
        loader = (lambda: self._loader) if self._loader is not None else default_loader
        ingestor = Ingestor(
            opened, self.embedder, self.chunker, loader, progress, show_progress, self.batch_chunks, passwords
        )
        # audio files are transcribed, and images captioned (--visible_vision_models), with these
        with transcription_settings(self.settings), captioning(self.settings):
            return ingestor.run(items)

    def ingest_uploads(
        self,
        files: Sequence[tuple[str, BinaryIO]],
        collection: str | None = None,
        user: str | None = None,
        progress: ProgressCallback | None = None,
        passwords: Mapping[str, str] | None = None,
    ) -> IngestReport:
        """Ingest uploaded files ``(file name, readable)``. They are kept under
        ``<data_dir>/uploads/<owner>/<collection>/`` and ingested from there, so a document's
        source stays the same when it is uploaded again. ``passwords``: by file name."""
        owner = user_key(user) if user else "shared"
        folder = (
            Path(self.settings.data_dir) / "uploads" / owner / validate_name(collection or SHARED_COLLECTION)
        )
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for filename, handle in files:
            target = folder / (Path(filename or "").name or "upload")
            with target.open("wb") as out:
                shutil.copyfileobj(handle, out)
            paths.append(target)
        return self.ingest(paths, collection=collection, user=user, progress=progress, passwords=passwords)

    def search(
        self,
        collection: str | None,
        query: str,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        mode: Mode = "hybrid",
        user: str | None = None,
    ) -> list[SearchHit]:
        """Best ``k`` (default ``--top_k_docs``) chunks for ``query``, optionally only from ``sources``."""
        from h2ogpt.documents.retrieval import search

        opened = self.registry.open(self.registry.resolve(collection, user))
        top_k = self.settings.top_k_docs if k is None else k
        return search(opened, self.embedder, query, top_k, sources, mode, self.reranker)

    def document_chunks(
        self,
        collection: str | None,
        sources: Sequence[str] | None = None,
        user: str | None = None,
        limit: int | None = None,
    ) -> list[SearchHit]:
        """Chunks of whole documents in reading order (for summarizing or extracting), score 0;
        all documents of the collection when ``sources`` is None, at most ``limit`` chunks."""
        opened = self.registry.open(self.registry.resolve(collection, user))
        wanted = set(sources) if sources else None
        hits: list[SearchHit] = []
        with opened.lock:
            for doc in opened.catalog.documents():
                if wanted is not None and doc.source not in wanted:
                    continue
                hits.extend(SearchHit.from_chunk(c, 0.0) for c in opened.store.source_chunks(doc.source))
                if limit is not None and len(hits) >= limit:
                    return hits[:limit]
        return hits

    def list_documents(self, collection: str | None = None, user: str | None = None) -> list[DocumentInfo]:
        return self.registry.open(self.registry.resolve(collection, user)).catalog.documents()

    def delete_documents(
        self, sources: Sequence[str], collection: str | None = None, user: str | None = None
    ) -> int:
        """Delete documents by source (as listed); returns how many existed."""
        opened = self.registry.open(self.registry.resolve(collection, user))
        return opened.delete_documents(list(sources))

    # --- collections ---------------------------------------------------------------------
    def list_collections(self, user: str | None = None) -> list[CollectionInfo]:
        return [self._describe(ref) for ref in self.registry.names(user)]

    def create_collection(self, name: str, user: str | None = None) -> CollectionInfo:
        """A new collection: private to ``user`` when given, shared otherwise."""
        validate_name(name)
        if name in (SHARED_COLLECTION, PERSONAL_COLLECTION):
            raise CollectionError(f"{name!r} always exists: ingest into it directly")
        ref = CollectionRef(name, user)
        if self.registry.exists(ref):
            raise CollectionError(f"a collection named {name!r} already exists")
        return self._describe_open(ref)

    def delete_collection(self, name: str, user: str | None = None) -> None:
        """Delete a collection with its documents (UserData and MyData are only emptied)."""
        ref = self.registry.resolve(name, user)
        if not self.registry.exists(ref):
            raise CollectionError(f"there is no collection {name!r}")
        self.registry.delete(ref)

    def close(self) -> None:
        self.registry.close()

    def _describe_open(self, ref: CollectionRef) -> CollectionInfo:
        return self.registry.open(ref, create=True).describe(self.settings.db_type)

    def _describe(self, ref: CollectionRef) -> CollectionInfo:
        """Describe from the catalog alone (no model loaded, works for mismatched collections)."""
        catalogs = self.registry.catalogs
        if not catalogs.exists(ref.key):
            return CollectionInfo(ref.name, ref.owner is not None, 0, 0, "", self.settings.db_type)
        catalog = catalogs.open(ref.key)
        try:
            documents, chunks = catalog.totals()
            info = catalog.info()
        finally:
            catalog.close()
        db_type = info.get("db_type", self.settings.db_type)
        return CollectionInfo(
            ref.name, ref.owner is not None, documents, chunks, info.get("embedding_model", ""), db_type
        )
