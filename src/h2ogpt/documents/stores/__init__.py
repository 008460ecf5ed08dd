"""Vector stores behind one interface: :class:`VectorStore`."""

from h2ogpt.documents.stores.base import Chunk, ScoredChunk, VectorStore

__all__ = ["Chunk", "ScoredChunk", "VectorStore"]
