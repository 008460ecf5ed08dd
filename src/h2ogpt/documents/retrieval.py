"""Retrieval: vector search, BM25 keyword search, or both fused by reciprocal rank fusion.

Hybrid search takes a deeper candidate list from each retriever, fuses the two rankings with
RRF (k=60: ``score = sum 1 / (60 + rank)``) and keeps the best ``k``. When
``--cross_encoder_model`` names a local cross-encoder folder, the fused candidates are
reranked by it and its score replaces the fused one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from h2ogpt.documents.collections import Collection
from h2ogpt.documents.embeddings import Embedder
from h2ogpt.documents.stores.base import Chunk
from h2ogpt.errors import ModelNotFoundError, RequestError

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "vector", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "vector", "bm25")
RRF_K = 60


@dataclass(frozen=True)
class SearchHit:
    """One retrieved chunk, ready for a prompt and a citation."""

    text: str
    source: str
    page: int | None
    score: float
    chunk_id: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def start(self) -> float | None:
        """Where a chunk of an audio or video transcript starts in the recording (seconds)."""
        return _seconds(self.metadata.get("start"))

    @property
    def end(self) -> float | None:
        """Where a chunk of an audio or video transcript ends in the recording (seconds)."""
        return _seconds(self.metadata.get("end"))

    @classmethod
    def from_chunk(cls, chunk: Chunk, score: float) -> SearchHit:
        page = chunk.metadata.get("page")
        return cls(
            text=chunk.text,
            source=str(chunk.metadata.get("source", "")),
            page=int(page) if isinstance(page, int | float) else None,
            score=float(score),
            chunk_id=chunk.id,
            metadata=dict(chunk.metadata),
        )


def _seconds(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse several best-first id lists: each id scores ``sum 1 / (k + rank)`` (rank from 1)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class Reranker:
    """A local sentence-transformers CrossEncoder (never downloaded)."""

    def __init__(self, folder: str) -> None:
        from sentence_transformers import CrossEncoder

        path = os.path.expanduser(folder)
        if not os.path.isdir(path):
            raise ModelNotFoundError(
                f"--cross_encoder_model={folder}: no such folder (give a local cross-encoder model "
                "folder, or leave it empty for no reranking)"
            )
        self.model = CrossEncoder(path, device="cpu", local_files_only=True)
        self._lock = threading.Lock()

    def rerank(self, query: str, hits: list[SearchHit]) -> list[SearchHit]:
        if not hits:
            return hits
        with self._lock:
            scores = self.model.predict([(query, h.text) for h in hits], show_progress_bar=False)
        rescored = [
            SearchHit(h.text, h.source, h.page, float(s), h.chunk_id, h.metadata)
            for h, s in zip(hits, scores, strict=True)
        ]
        return sorted(rescored, key=lambda h: -h.score)


def candidate_depth(k: int) -> int:
    """How deep each retriever looks before fusion: a few times k, at least 30."""
    return max(3 * k, 30)


def _vector(
    collection: Collection, embedder: Embedder, query: str, depth: int, sources: Sequence[str] | None
) -> list[SearchHit]:
    vector = embedder.embed([query])[0]
    found = collection.store.query(vector, depth, sources)
    return [SearchHit.from_chunk(s.chunk, s.score) for s in found]


def _keyword(
    collection: Collection, query: str, depth: int, sources: Sequence[str] | None
) -> list[SearchHit]:
    collection.ensure_keyword_index()
    ranked = collection.keywords.search(query, depth, sources)
    chunks = {c.id: c for c in collection.store.get([chunk_id for chunk_id, _ in ranked])}
    return [SearchHit.from_chunk(chunks[i], s) for i, s in ranked if i in chunks]


def search(
    collection: Collection,
    embedder: Embedder,
    query: str,
    k: int,
    sources: Sequence[str] | None = None,
    mode: Mode = "hybrid",
    reranker: Reranker | None = None,
) -> list[SearchHit]:
    """The ``k`` chunks of ``collection`` that best answer ``query``, best first."""
    if mode not in MODES:
        raise RequestError(f"search mode {mode!r} is not one of {', '.join(MODES)}")
    if k <= 0 or not query.strip():
        return []
    sources = list(sources) if sources else None
    depth = candidate_depth(k) if (mode == "hybrid" or reranker) else k
    with collection.lock:
        vector_hits = _vector(collection, embedder, query, depth, sources) if mode != "bm25" else []
        keyword_hits = _keyword(collection, query, depth, sources) if mode != "vector" else []
    if mode == "hybrid":
        by_id = {h.chunk_id: h for h in [*keyword_hits, *vector_hits]}
        fused = reciprocal_rank_fusion(
            [[h.chunk_id for h in vector_hits], [h.chunk_id for h in keyword_hits]]
        )
        hits = [
            SearchHit(by_id[i].text, by_id[i].source, by_id[i].page, s, i, by_id[i].metadata)
            for i, s in fused
        ]
    else:
        hits = vector_hits or keyword_hits
    if reranker is not None:
        hits = reranker.rerank(query, hits)
    return hits[:k]
