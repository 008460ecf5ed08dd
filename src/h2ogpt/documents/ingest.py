"""Ingestion: files or loaded documents -> chunks -> embeddings -> store, crash-safe.

Order of writes for every batch of documents (the reason it survives a SIGKILL anywhere):
1. the sources are marked *pending* in the catalog;
2. the new chunks (ids carry the content hash) are added to the store and flushed;
3. the documents are recorded in the catalog (one transaction): the commit point;
4. chunks of older versions of those sources are deleted, the pending marks removed.
A crash before 3 leaves the old version recorded and the next open deletes the new, unrecorded
chunks; a crash after 3 leaves the new version recorded and the next open deletes the old ones.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.documents import Document

from h2ogpt.documents.catalog import DocumentInfo
from h2ogpt.documents.chunking import Chunker, doc_id_for, indexed_text
from h2ogpt.documents.collections import Collection
from h2ogpt.documents.embeddings import Embedder
from h2ogpt.documents.stores.base import Chunk
from h2ogpt.documents.types import LoadFailure
from h2ogpt.errors import H2OGPTError

log = logging.getLogger(__name__)

# ``load_paths(paths)`` or ``load_paths(paths, passwords)`` (passwords only when some are given)
Loader = Callable[..., tuple[list[Document], list[LoadFailure]]]
Status = Literal["added", "replaced", "unchanged", "failed"]
EMBED_BATCH = 64


@dataclass(frozen=True)
class DocumentResult:
    """What happened to one document."""

    source: str
    status: Status
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    """The outcome of one ingest call."""

    collection: str
    results: list[DocumentResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[DocumentResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> list[DocumentResult]:
        return [r for r in self.results if r.status != "failed"]

    @property
    def chunks_added(self) -> int:
        return sum(r.chunks for r in self.results if r.status in ("added", "replaced"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "files_ok": len(self.ok),
            "files_failed": len(self.failed),
            "chunks_added": self.chunks_added,
            "seconds": round(self.seconds, 3),
            "documents": [asdict(r) for r in self.results],
        }


@dataclass(frozen=True)
class IngestProgress:
    """Reported after each document is handled and after each embedded batch."""

    documents_done: int
    documents_total: int
    chunks_embedded: int
    source: str


ProgressCallback = Callable[[IngestProgress], None]


def default_loader() -> Loader:
    """The document loaders' ``load_paths`` (imported only when files are ingested)."""
    try:
        from h2ogpt.documents.loaders import load_paths
    except ImportError as exc:
        raise H2OGPTError(f"the document loaders are not available ({exc}); reinstall h2ogpt") from None
    return load_paths


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[DocumentResult]]:
    """Files under the given files and folders (hidden ones skipped, as the loaders do), and
    the paths that do not exist."""
    files: list[Path] = []
    missing: list[DocumentResult] = []
    for given in paths:
        path = Path(given).expanduser().resolve()
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not any(_hidden(part) for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            missing.append(DocumentResult(str(given), "failed", reason="no such file or folder"))
    return list(dict.fromkeys(files)), missing


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pages_sha256(pages: Sequence[Document]) -> str:
    digest = hashlib.sha256()
    for page in pages:
        digest.update(repr(page.metadata.get("page")).encode())
        digest.update(b"\0" + page.page_content.encode("utf-8") + b"\0")
    return digest.hexdigest()


def group_by_source(documents: Iterable[Document]) -> tuple[dict[str, list[Document]], list[DocumentResult]]:
    groups: dict[str, list[Document]] = {}
    bad: list[DocumentResult] = []
    for doc in documents:
        source = doc.metadata.get("source")
        if not source:
            bad.append(
                DocumentResult("<no source>", "failed", reason="the document has no 'source' metadata")
            )
            continue
        groups.setdefault(str(source), []).append(doc)
    return groups, bad


@dataclass
class _Prepared:
    info: DocumentInfo
    chunks: list[Document]
    status: Status
    note: str = ""


class Ingestor:
    """Runs one ingest call against one open collection."""

    def __init__(
        self,
        collection: Collection,
        embedder: Embedder,
        chunker: Chunker,
        loader: Callable[[], Loader],
        progress: ProgressCallback | None = None,
        show_progress: bool = False,
        batch_chunks: int = 256,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self.collection = collection
        self.passwords = dict(passwords or {})
        self.embedder = embedder
        self.chunker = chunker
        self._loader_factory = loader
        self._loader: Loader | None = None
        self.progress = progress
        self.show_progress = show_progress
        self.batch_chunks = batch_chunks
        self._embedded = 0
        self._position = (0, 0, "")  # documents done, total, current source: for progress reports

    def run(self, items: Sequence[str | Path | Document]) -> IngestReport:
        started = time.perf_counter()
        docs = [i for i in items if isinstance(i, Document)]
        files, missing = expand_paths(i for i in items if not isinstance(i, Document))
        groups, bad = group_by_source(docs)
        report = IngestReport(self.collection.name, [*missing, *bad])
        jobs: list[Path | tuple[str, list[Document]]] = [*files, *groups.items()]
        with self.collection.write_lock:
            self._run_jobs(jobs, report)
            self.collection.ensure_keyword_index()
        report.seconds = time.perf_counter() - started
        return report

    def _run_jobs(self, jobs: list[Path | tuple[str, list[Document]]], report: IngestReport) -> None:
        from tqdm.auto import tqdm

        batch: list[_Prepared] = []
        bar = tqdm(
            total=len(jobs), unit="doc", desc=f"ingest {self.collection.name}", disable=not self.show_progress
        )
        with bar:
            for done, job in enumerate(jobs, start=1):
                source, outcome = self._prepare_safely(job)
                if isinstance(outcome, _Prepared):
                    batch.append(outcome)
                    if sum(len(p.chunks) for p in batch) >= self.batch_chunks:
                        report.results.extend(self._commit(batch))
                        batch = []
                else:
                    report.results.append(outcome)
                bar.update(1)
                bar.set_postfix(chunks=self._embedded)
                self._report(done, len(jobs), source)
            report.results.extend(self._commit(batch))

    def _report(self, done: int, total: int, source: str) -> None:
        self._position = (done, total, source)
        if self.progress is not None:
            self.progress(IngestProgress(done, total, self._embedded, source))

    def _load(self, path: Path) -> tuple[list[Document], str]:
        """Pages of one file and a note on what was left out (all of it when there are no pages)."""
        if self._loader is None:
            self._loader = self._loader_factory()
        try:
            args = (self.passwords,) if self.passwords else ()
            pages, failures = self._loader([str(path)], *args)
        except Exception as exc:  # one bad document never stops the others
            log.warning("loading %s failed", path, exc_info=True)
            return [], f"{type(exc).__name__}: {exc}"
        note = "; ".join(f"{f.source}: {f.reason}" if f.source != str(path) else f.reason for f in failures)
        if failures and pages:  # e.g. one bad member of an archive: keep the rest
            log.warning("%s: loaded without %s", path, note)
            note = f"partly loaded, left out: {note}"
        return pages, note

    def _prepare_safely(
        self, job: Path | tuple[str, list[Document]]
    ) -> tuple[str, _Prepared | DocumentResult]:
        try:
            return self._prepare(job)
        except Exception as exc:  # one bad document never stops the others
            source = str(job) if isinstance(job, Path) else job[0]
            log.warning("ingesting %s failed", source, exc_info=True)
            return source, DocumentResult(source, "failed", reason=f"{type(exc).__name__}: {exc}")

    def _prepare(self, job: Path | tuple[str, list[Document]]) -> tuple[str, _Prepared | DocumentResult]:
        """Load (when the content changed) and chunk one document."""
        catalog = self.collection.catalog
        if isinstance(job, Path):
            source, pages = str(job), None
            sha = file_sha256(job)
        else:
            source, pages = job
            sha = pages_sha256(pages)
        recorded = catalog.document(source)
        if recorded and recorded.sha256 == sha:
            return source, DocumentResult(source, "unchanged", recorded.chunks)
        note = ""
        if pages is None:
            pages, note = self._load(job)  # type: ignore[arg-type]
            if not pages:
                return source, DocumentResult(source, "failed", reason=note or "no text found")
        pages = [Document(page_content=p.page_content, metadata=dict(p.metadata)) for p in pages]
        for page in pages:  # ``source`` is the document's key; an archive member keeps its own name
            origin = str(page.metadata.get("source") or source)
            if origin != source:
                page.metadata["origin"] = origin
            page.metadata["source"] = source
        chunks = self.chunker.split(pages, sha)
        if not chunks:
            return source, DocumentResult(source, "failed", reason="no text found in the document")
        title = str(pages[0].metadata.get("title") or Path(source).name)
        page_numbers = {p.metadata.get("page") for p in pages}
        info = DocumentInfo(
            source, doc_id_for(source), title, sha, len(chunks), len(page_numbers), time.time()
        )
        return source, _Prepared(info, chunks, "replaced" if recorded else "added", note)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH * 4):
            vectors.extend(
                self.embedder.embed(texts[start : start + EMBED_BATCH * 4], batch_size=EMBED_BATCH)
            )
            self._embedded += min(EMBED_BATCH * 4, len(texts) - start)
            if self.progress is not None:
                self.progress(IngestProgress(*self._position[:2], self._embedded, self._position[2]))
        return vectors

    def _commit(self, batch: list[_Prepared]) -> list[DocumentResult]:
        """Write one batch in the crash-safe order described at the top of this module."""
        if not batch:
            return []
        catalog, store = self.collection.catalog, self.collection.store
        sources = [p.info.source for p in batch]
        chunks = [
            Chunk(str(c.metadata["chunk_id"]), c.page_content, dict(c.metadata))
            for p in batch
            for c in p.chunks
        ]
        vectors = self._embed(
            [indexed_text(c.text, c.metadata) for c in chunks]
        )  # the slow part: searches go on meanwhile
        with self.collection.lock:
            catalog.mark_pending(sources)
            store.add(chunks, vectors)
            store.flush()
            catalog.record([p.info for p in batch])
            for p in batch:
                store.delete_source(p.info.source, keep_sha256=p.info.sha256)
            store.flush()
            catalog.clear_pending(sources)
        log.debug(
            "collection %s: committed %d documents, %d chunks", self.collection.name, len(batch), len(chunks)
        )
        return [DocumentResult(p.info.source, p.status, p.info.chunks, p.note) for p in batch]
