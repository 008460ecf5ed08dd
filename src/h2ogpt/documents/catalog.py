"""What a collection holds, recorded in one small SQLite file per collection.

``info``: embedding model name and dimensions, store type, and a generation number that
grows with every change to the chunks (the keyword index compares it to know it is stale).
``documents``: one row per ingested document (source, content sha256, chunk count, pages).
``pending``: sources whose chunks are being changed right now. A row is written before the
store is touched and removed after; a row left behind by a crash tells the next start which
sources to reconcile with the ``documents`` table.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    pages INTEGER NOT NULL,
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (source TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class DocumentInfo:
    """One document of a collection, as listed to users."""

    source: str
    doc_id: str
    title: str
    sha256: str
    chunks: int
    pages: int
    ingested_at: float


class Catalog:
    """The metadata file of one collection. Every method commits before it returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- info ----------------------------------------------------------------------------
    def info(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT key, value FROM info").fetchall())

    def set_info(self, values: dict[str, str]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO info (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    def generation(self) -> int:
        return int(self.info().get("generation", "0"))

    def _bump(self) -> None:
        self._db.execute(
            "INSERT INTO info (key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # --- documents -----------------------------------------------------------------------
    def document(self, source: str) -> DocumentInfo | None:
        with self._lock:
            row = self._db.execute(
                "SELECT source, doc_id, title, sha256, chunks, pages, ingested_at "
                "FROM documents WHERE source = ?",
                (source,),
            ).fetchone()
        return DocumentInfo(*row) if row else None

    def documents(self) -> list[DocumentInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT source, doc_id, title, sha256, chunks, pages, ingested_at "
                "FROM documents ORDER BY source"
            ).fetchall()
        return [DocumentInfo(*row) for row in rows]

    def record(self, docs: Iterable[DocumentInfo]) -> None:
        """Record documents whose chunks are committed in the store (one transaction)."""
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO documents "
                "(source, doc_id, title, sha256, chunks, pages, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(d.source, d.doc_id, d.title, d.sha256, d.chunks, d.pages, d.ingested_at) for d in docs],
            )
            self._bump()

    def forget(self, sources: Sequence[str]) -> int:
        with self._lock, self._db:
            before = self._db.total_changes
            self._db.executemany("DELETE FROM documents WHERE source = ?", [(s,) for s in sources])
            removed = self._db.total_changes - before
            self._bump()
            return removed

    def totals(self) -> tuple[int, int]:
        """(documents, chunks)."""
        with self._lock:
            n, chunks = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(chunks), 0) FROM documents"
            ).fetchone()
        return int(n), int(chunks)

    # --- pending -------------------------------------------------------------------------
    def mark_pending(self, sources: Iterable[str]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR IGNORE INTO pending (source) VALUES (?)", [(s,) for s in sources])

    def clear_pending(self, sources: Iterable[str]) -> None:
        with self._lock, self._db:
            self._db.executemany("DELETE FROM pending WHERE source = ?", [(s,) for s in sources])
            self._bump()

    def pending(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT source FROM pending ORDER BY source")]
