"""FAISS: exact inner-product search over unit vectors (= cosine), saved under the data directory.

On disk a store is a folder with ``index-<generation>.faiss`` and ``docstore.json`` (chunk id,
text and metadata for every vector, and the name of the index file that matches it). Both are
written to a temporary file first and moved into place with ``os.replace``; the docstore's
replacement is the commit point, so a crash at any moment leaves the previous complete save.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from h2ogpt.documents.stores.base import Chunk, ScoredChunk, VectorStore

log = logging.getLogger(__name__)

DOCSTORE = "docstore.json"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class FaissStore(VectorStore):
    """``IndexIDMap2(IndexFlatIP)``: exact search, deletions by id, selectors for source filters."""

    def __init__(self, folder: Path, dimensions: int) -> None:
        import faiss

        self._faiss = faiss
        self.folder = Path(folder)
        self.dimensions = dimensions
        self.entries: dict[int, Chunk] = {}
        self._int_of: dict[str, int] = {}  # chunk id -> FAISS id
        self.next_id = 0
        self.generation = 0
        self._dirty = False
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimensions))
        self._load()

    # --- persistence ---------------------------------------------------------------------
    def _load(self) -> None:
        path = self.folder / DOCSTORE
        if not path.exists():
            return
        state = json.loads(path.read_text(encoding="utf-8"))
        index = self._faiss.read_index(str(self.folder / state["index_file"]))
        if index.d != self.dimensions:
            raise ValueError(f"FAISS index in {self.folder} has {index.d} dimensions, not {self.dimensions}")
        self.index = index
        self.generation = int(state["generation"])
        self.next_id = int(state["next_id"])
        self.entries = {int(k): Chunk(v[0], v[1], v[2]) for k, v in state["entries"].items()}
        self._int_of = {c.id: k for k, c in self.entries.items()}

    def flush(self) -> None:
        if not self._dirty:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        generation = self.generation + 1
        index_file = f"index-{generation:08d}.faiss"
        data = self._faiss.serialize_index(self.index)
        atomic_write_bytes(self.folder / index_file, data.tobytes())
        state = {
            "version": 1,
            "dimensions": self.dimensions,
            "generation": generation,
            "index_file": index_file,
            "next_id": self.next_id,
            "entries": {str(k): [c.id, c.text, c.metadata] for k, c in self.entries.items()},
        }
        atomic_write_bytes(self.folder / DOCSTORE, json.dumps(state, ensure_ascii=False).encode("utf-8"))
        self.generation = generation
        self._dirty = False
        for stale in self.folder.glob("index-*.faiss"):
            if stale.name != index_file:
                stale.unlink(missing_ok=True)

    # --- VectorStore -------------------------------------------------------------------
    def _ids_where(self, predicate: Any) -> np.ndarray:
        return np.array([k for k, c in self.entries.items() if predicate(c)], dtype="int64")

    def _remove(self, int_ids: np.ndarray) -> None:
        if len(int_ids):
            self.index.remove_ids(self._faiss.IDSelectorBatch(int_ids))
            for k in int_ids.tolist():
                gone = self.entries.pop(int(k), None)
                if gone is not None:
                    self._int_of.pop(gone.id, None)
            self._dirty = True

    def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        if not chunks:
            return
        existing = [self._int_of[c.id] for c in chunks if c.id in self._int_of]
        self._remove(np.array(existing, dtype="int64"))  # upsert semantics
        vectors = np.asarray(embeddings, dtype="float32").reshape(len(chunks), self.dimensions)
        int_ids = np.arange(self.next_id, self.next_id + len(chunks), dtype="int64")
        self.index.add_with_ids(vectors, int_ids)
        for k, chunk in zip(int_ids.tolist(), chunks, strict=True):
            self.entries[k] = chunk
            self._int_of[chunk.id] = k
        self.next_id += len(chunks)
        self._dirty = True

    def query(
        self, embedding: Sequence[float], k: int, sources: Sequence[str] | None = None
    ) -> list[ScoredChunk]:
        if self.index.ntotal == 0 or k <= 0:
            return []
        params = None
        if sources:
            wanted = set(sources)
            allowed = self._ids_where(lambda c: c.metadata.get("source") in wanted)
            if not len(allowed):
                return []
            params = self._faiss.SearchParameters(sel=self._faiss.IDSelectorBatch(allowed))
            k = min(k, len(allowed))
        vector = np.asarray([embedding], dtype="float32")
        scores, ids = self.index.search(vector, min(k, self.index.ntotal), params=params)
        return [
            ScoredChunk(self.entries[int(i)], float(s))
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0 and int(i) in self.entries
        ]

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        return [self.entries[self._int_of[i]] for i in ids if i in self._int_of]

    def source_chunks(self, source: str) -> list[Chunk]:
        chunks = [c for c in self.entries.values() if c.metadata.get("source") == source]
        return sorted(chunks, key=lambda c: int(c.metadata.get("chunk_index", 0)))

    def delete_source(self, source: str, keep_sha256: str | None = None) -> int:
        doomed = self._ids_where(
            lambda c: (
                c.metadata.get("source") == source
                and (keep_sha256 is None or c.metadata.get("content_sha256") != keep_sha256)
            )
        )
        self._remove(doomed)
        return len(doomed)

    def iter_chunks(self, batch_size: int = 2000) -> Iterator[Chunk]:
        yield from list(self.entries.values())

    def count(self) -> int:
        return int(self.index.ntotal)

    def drop(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self.entries.clear()
        self._int_of.clear()
        self.index.reset()
        self._dirty = False
