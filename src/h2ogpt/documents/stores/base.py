"""The one interface every vector store implements (Chroma local, Chroma server, FAISS, and
plug-ins), and :class:`VectorStoreSpec`, what a vector store plug-in registers.

Stores keep chunks (id, text, metadata, vector). Which documents a collection holds is
recorded elsewhere (the collection catalog); the store only needs the two metadata keys
``source`` and ``content_sha256`` to find the chunks of one version of a document.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from h2ogpt.settings import Settings


@dataclass(frozen=True)
class Chunk:
    """One stored piece of a document."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredChunk:
    chunk: Chunk
    score: float  # cosine similarity, higher is better


class VectorStore(ABC):
    """Chunks with their embeddings, searchable by cosine similarity."""

    @abstractmethod
    def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]]) -> None:
        """Insert or overwrite chunks by id (so repeating an interrupted add is harmless)."""

    @abstractmethod
    def query(
        self, embedding: Sequence[float], k: int, sources: Sequence[str] | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` chunks nearest to ``embedding``, optionally only from ``sources``."""

    @abstractmethod
    def get(self, ids: Sequence[str]) -> list[Chunk]:
        """Chunks by id, in the order asked; unknown ids are left out."""

    @abstractmethod
    def source_chunks(self, source: str) -> list[Chunk]:
        """Every chunk of one document, in document order."""

    @abstractmethod
    def delete_source(self, source: str, keep_sha256: str | None = None) -> int:
        """Delete the chunks of ``source`` except those of version ``keep_sha256``; returns how many."""

    @abstractmethod
    def iter_chunks(self, batch_size: int = 2000) -> Iterator[Chunk]:
        """Every chunk (for rebuilding the keyword index)."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def drop(self) -> None:
        """Remove the whole store for this collection."""

    def flush(self) -> None:  # noqa: B027 - optional hook, a no-op for stores that write through
        """Make every change so far durable; stores that write through need nothing here."""


@dataclass(frozen=True)
class VectorStoreSpec:
    """A vector store as registered (``--db_type=name``).

    ``open(settings, store_name, folder, dimensions)`` opens (creating if new) the store of
    one collection: ``store_name`` is unique per collection (3-512 characters, letters,
    digits, '_', '-'), ``folder`` is the collection's own folder for stores kept in files.
    ``drop(settings, store_name, folder)`` deletes it without opening it. ``location(settings)``
    names where chunks live (recorded in the collection, so that a collection is never read
    from another store than the one it was written to).
    """

    name: str
    open: Callable[[Settings, str, Path, int], VectorStore]
    drop: Callable[[Settings, str, Path], None]
    location: Callable[[Settings], str]
    description: str = ""
