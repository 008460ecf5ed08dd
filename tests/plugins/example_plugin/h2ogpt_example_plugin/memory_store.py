"""A vector store kept in this process's memory (gone when the process ends)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

from h2ogpt.documents.stores.base import Chunk, ScoredChunk, VectorStore

STORES: dict[str, MemoryStore] = {}  # by store name: one per collection


class MemoryStore(VectorStore):
    def __init__(self) -> None:
        self.chunks: dict[str, tuple[Chunk, list[float]]] = {}

    def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        for chunk, vector in zip(chunks, embeddings, strict=True):
            self.chunks[chunk.id] = (chunk, list(vector))

    def query(
        self, embedding: Sequence[float], k: int, sources: Sequence[str] | None = None
    ) -> list[ScoredChunk]:
        norm = math.sqrt(sum(x * x for x in embedding)) or 1.0
        scored = [
            ScoredChunk(chunk, sum(a * b for a, b in zip(embedding, vector, strict=True)) / norm)
            for chunk, vector in self.chunks.values()
            if sources is None or chunk.metadata.get("source") in sources
        ]
        return sorted(scored, key=lambda s: -s.score)[:k]

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        return [self.chunks[i][0] for i in ids if i in self.chunks]

    def source_chunks(self, source: str) -> list[Chunk]:
        found = [c for c, _ in self.chunks.values() if c.metadata.get("source") == source]
        return sorted(found, key=lambda c: c.metadata.get("chunk_index", 0))

    def delete_source(self, source: str, keep_sha256: str | None = None) -> int:
        doomed = [
            i
            for i, (c, _) in self.chunks.items()
            if c.metadata.get("source") == source
            and (keep_sha256 is None or c.metadata.get("content_sha256") != keep_sha256)
        ]
        for i in doomed:
            del self.chunks[i]
        return len(doomed)

    def iter_chunks(self, batch_size: int = 2000) -> Iterator[Chunk]:
        yield from (c for c, _ in list(self.chunks.values()))

    def count(self) -> int:
        return len(self.chunks)

    def drop(self) -> None:
        self.chunks.clear()


def open_memory_store(settings, store_name: str, folder: Path, dimensions: int) -> VectorStore:
    return STORES.setdefault(store_name, MemoryStore())


def drop_memory_store(settings, store_name: str, folder: Path) -> None:
    STORES.pop(store_name, None)
