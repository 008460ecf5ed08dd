"""Chroma: the default store, persistent under the data directory, or a Chroma server.

Our own embeddings are always passed (``embeddings=`` and ``query_embeddings=``) and every
collection is created with ``embedding_function=None``: Chroma's default embedding function
would try to download an ONNX model. Telemetry is off.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from h2ogpt.documents.stores.base import Chunk, ScoredChunk, VectorStore
from h2ogpt.errors import ConfigError, UpstreamError

log = logging.getLogger(__name__)

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def persistent_client(path: Path) -> Any:
    """One client per folder and process (Chroma refuses two differently configured ones)."""
    import chromadb

    key = f"path:{Path(path).resolve()}"
    with _clients_lock:
        if key not in _clients:
            Path(path).mkdir(parents=True, exist_ok=True)
            _clients[key] = chromadb.PersistentClient(path=str(path), settings=_chroma_settings())
        return _clients[key]


def server_client(url: str) -> Any:
    """A client for ``--chroma_url=http(s)://host:port``; checks that the server answers."""
    import chromadb

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"--chroma_url={url}: give the server as http://host:port")
    key = f"url:{url}"
    with _clients_lock:
        if key not in _clients:
            try:
                client = chromadb.HttpClient(
                    host=parsed.hostname,
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=_chroma_settings(),
                )
                client.heartbeat()
            except Exception as exc:
                raise UpstreamError(
                    f"--chroma_url={url}: the Chroma server did not answer ({exc}); start it "
                    "(`chroma run --path DIR --port PORT`) or leave --chroma_url empty for local storage"
                ) from None
            _clients[key] = client
        return _clients[key]


def forget_clients() -> None:
    """Drop cached clients (tests that stop a server use this)."""
    with _clients_lock:
        _clients.clear()


class ChromaStore(VectorStore):
    """One Chroma collection (cosine space) per h2oGPT collection."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.collection = client.get_or_create_collection(
            name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        self._batch = int(client.get_max_batch_size())

    def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        for start in range(0, len(chunks), self._batch):
            part = chunks[start : start + self._batch]
            self.collection.upsert(
                ids=[c.id for c in part],
                documents=[c.text for c in part],
                metadatas=[c.metadata for c in part],
                embeddings=[list(v) for v in embeddings[start : start + self._batch]],
            )

    def query(
        self, embedding: Sequence[float], k: int, sources: Sequence[str] | None = None
    ) -> list[ScoredChunk]:
        total = self.collection.count()
        if total == 0 or k <= 0:
            return []
        where = {"source": {"$in": list(sources)}} if sources else None
        result = self.collection.query(
            query_embeddings=[list(embedding)],
            n_results=min(k, total),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        ids, texts = result["ids"][0], result["documents"][0]
        metas, distances = result["metadatas"][0], result["distances"][0]
        return [
            ScoredChunk(Chunk(i, t or "", dict(m or {})), 1.0 - float(d))
            for i, t, m, d in zip(ids, texts, metas, distances, strict=True)
        ]

    def get(self, ids: Sequence[str]) -> list[Chunk]:
        if not ids:
            return []
        result = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        found = {
            i: Chunk(i, t or "", dict(m or {}))
            for i, t, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        }
        return [found[i] for i in ids if i in found]

    def source_chunks(self, source: str) -> list[Chunk]:
        result = self.collection.get(where={"source": source}, include=["documents", "metadatas"])
        chunks = [
            Chunk(i, t or "", dict(m or {}))
            for i, t, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        ]
        return sorted(chunks, key=lambda c: int(c.metadata.get("chunk_index", 0)))

    def delete_source(self, source: str, keep_sha256: str | None = None) -> int:
        where: dict[str, Any] = {"source": source}
        if keep_sha256:
            where = {"$and": [{"source": source}, {"content_sha256": {"$ne": keep_sha256}}]}
        ids = self.collection.get(where=where, include=[])["ids"]
        for start in range(0, len(ids), self._batch):
            self.collection.delete(ids=ids[start : start + self._batch])
        return len(ids)

    def iter_chunks(self, batch_size: int = 2000) -> Iterator[Chunk]:
        offset = 0
        while True:
            result = self.collection.get(limit=batch_size, offset=offset, include=["documents", "metadatas"])
            if not result["ids"]:
                return
            for i, t, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True):
                yield Chunk(i, t or "", dict(m or {}))
            offset += len(result["ids"])

    def count(self) -> int:
        return int(self.collection.count())

    def drop(self) -> None:
        try:
            self.client.delete_collection(self.name)
        except Exception as exc:  # already gone is fine
            log.debug("chroma delete_collection %s: %s", self.name, exc)
