"""What a collection holds: its catalog, in the collection's own SQLite file or, when replicas
share a Chroma server, in the PostgreSQL database of ``--database_url``.

``info``: embedding model name and dimensions, store type, and a generation number that
grows with every change to the chunks (the keyword index compares it to know it is stale).
``documents``: one row per ingested document (source, content sha256, chunk count, pages).
``pending``: sources whose chunks are being changed right now. A row is written before the
store is touched and removed after; a row left behind by a crash tells the next start which
sources to reconcile with the ``documents`` table.

In a shared database the three tables hold every collection's rows, keyed by the collection
(``shared/<name>`` or ``users/<user-key>/<name>``), and a PostgreSQL advisory lock per
collection lets one replica at a time write to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from h2ogpt.persistence.database import Database, prepare, sqlite_file

CATALOG_FILE = "catalog.sqlite"


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


@dataclass(frozen=True)
class _Tables:
    """Table names, and whether rows carry a ``collection`` column (a shared database)."""

    info: str
    documents: str
    pending: str
    shared: bool


_OWN_FILE = _Tables("info", "documents", "pending", shared=False)
_SHARED = _Tables("collection_info", "collection_documents", "collection_pending", shared=True)

_DOCUMENT_COLUMNS = "source, doc_id, title, sha256, chunks, pages, ingested_at"


def _migrations(tables: _Tables) -> list[list[str]]:
    key = "collection TEXT NOT NULL, " if tables.shared else ""
    scope = "collection, " if tables.shared else ""
    return [
        [
            f"CREATE TABLE IF NOT EXISTS {tables.info} ({key}key TEXT NOT NULL, value TEXT NOT NULL, "
            f"PRIMARY KEY ({scope}key))",
            f"CREATE TABLE IF NOT EXISTS {tables.documents} ({key}source TEXT NOT NULL, doc_id TEXT NOT NULL, "
            "title TEXT NOT NULL DEFAULT '', sha256 TEXT NOT NULL, chunks INTEGER NOT NULL, "
            f"pages INTEGER NOT NULL, ingested_at DOUBLE PRECISION NOT NULL, PRIMARY KEY ({scope}source))",
            f"CREATE TABLE IF NOT EXISTS {tables.pending} ({key}source TEXT NOT NULL, PRIMARY KEY ({scope}source))",
        ]
    ]


class Catalog:
    """The catalog of one collection. Every method commits before it returns."""

    def __init__(self, database: Database, collection: str | None = None) -> None:
        """``collection`` None: the collection's own file; a key: its rows in a shared database."""
        self.database = database
        self._tables = _SHARED if collection is not None else _OWN_FILE
        self._collection = collection
        scope = "collection, " if collection is not None else ""
        self._scope_columns, self._scope_values = scope, (":collection, " if scope else "")
        self._where = "collection = :collection" if collection is not None else "1 = 1"

    @classmethod
    def own_file(cls, path: Path) -> Catalog:
        database = sqlite_file(path, synchronous_full=True)
        prepare(database, "catalog", _migrations(_OWN_FILE), "collection catalog")
        return cls(database)

    def close(self) -> None:
        if self._collection is None:
            self.database.engine.dispose()

    def _params(self, **values: Any) -> dict[str, Any]:
        return {"collection": self._collection, **values} if self._collection is not None else values

    # --- info ----------------------------------------------------------------------------
    def info(self) -> dict[str, str]:
        with self.database.read() as conn:
            rows = conn.execute(
                text(f"SELECT key, value FROM {self._tables.info} WHERE {self._where}"), self._params()
            ).fetchall()
        return {key: value for key, value in rows}

    def set_info(self, values: dict[str, str]) -> None:
        with self.database.write() as conn:
            for key, value in values.items():
                conn.execute(
                    text(
                        f"INSERT INTO {self._tables.info} ({self._scope_columns}key, value) "
                        f"VALUES ({self._scope_values}:key, :value) "
                        f"ON CONFLICT ({self._scope_columns}key) DO UPDATE SET value = excluded.value"
                    ),
                    self._params(key=key, value=value),
                )

    def generation(self) -> int:
        return int(self.info().get("generation", "0"))

    def _bump(self, conn: Any) -> None:
        info = self._tables.info
        conn.execute(
            text(
                f"INSERT INTO {info} ({self._scope_columns}key, value) "
                f"VALUES ({self._scope_values}'generation', '1') "
                f"ON CONFLICT ({self._scope_columns}key) "
                f"DO UPDATE SET value = CAST(CAST({info}.value AS INTEGER) + 1 AS TEXT)"
            ),
            self._params(),
        )

    # --- documents -----------------------------------------------------------------------
    def document(self, source: str) -> DocumentInfo | None:
        with self.database.read() as conn:
            row = conn.execute(
                text(
                    f"SELECT {_DOCUMENT_COLUMNS} FROM {self._tables.documents} "
                    f"WHERE {self._where} AND source = :source"
                ),
                self._params(source=source),
            ).fetchone()
        return DocumentInfo(*row) if row else None

    def documents(self) -> list[DocumentInfo]:
        with self.database.read() as conn:
            rows = conn.execute(
                text(
                    f"SELECT {_DOCUMENT_COLUMNS} FROM {self._tables.documents} WHERE {self._where} ORDER BY source"
                ),
                self._params(),
            ).fetchall()
        return [DocumentInfo(*row) for row in rows]

    def record(self, docs: Iterable[DocumentInfo]) -> None:
        """Record documents whose chunks are committed in the store (one transaction)."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in ("doc_id", "title", "sha256", "chunks", "pages"))
        with self.database.write() as conn:
            for d in docs:
                conn.execute(
                    text(
                        f"INSERT INTO {self._tables.documents} ({self._scope_columns}{_DOCUMENT_COLUMNS}) "
                        f"VALUES ({self._scope_values}:source, :doc_id, :title, :sha256, :chunks, :pages, "
                        f":ingested_at) ON CONFLICT ({self._scope_columns}source) "
                        f"DO UPDATE SET {updates}, ingested_at = excluded.ingested_at"
                    ),
                    self._params(**d.__dict__),
                )
            self._bump(conn)

    def forget(self, sources: Sequence[str]) -> int:
        """Drop these documents' rows; how many there were."""
        return self._remove(self._tables.documents, sources)

    def totals(self) -> tuple[int, int]:
        """(documents, chunks)."""
        with self.database.read() as conn:
            n, chunks = conn.execute(
                text(
                    f"SELECT COUNT(*), COALESCE(SUM(chunks), 0) FROM {self._tables.documents} WHERE {self._where}"
                ),
                self._params(),
            ).one()
        return int(n), int(chunks)

    def _remove(self, table: str, sources: Iterable[str]) -> int:
        """Delete the rows of ``sources`` from ``table`` and move the generation on (one transaction)."""
        removed = 0
        with self.database.write() as conn:
            for source in sources:
                removed += conn.execute(
                    text(f"DELETE FROM {table} WHERE {self._where} AND source = :source"),
                    self._params(source=source),
                ).rowcount
            self._bump(conn)
        return removed

    # --- pending -------------------------------------------------------------------------
    def mark_pending(self, sources: Iterable[str]) -> None:
        with self.database.write() as conn:
            for source in sources:
                conn.execute(
                    text(
                        f"INSERT INTO {self._tables.pending} ({self._scope_columns}source) "
                        f"VALUES ({self._scope_values}:source) ON CONFLICT DO NOTHING"
                    ),
                    self._params(source=source),
                )

    def clear_pending(self, sources: Iterable[str]) -> None:
        self._remove(self._tables.pending, sources)

    def pending(self) -> list[str]:
        with self.database.read() as conn:
            rows = conn.execute(
                text(f"SELECT source FROM {self._tables.pending} WHERE {self._where} ORDER BY source"),
                self._params(),
            ).fetchall()
        return [row[0] for row in rows]


class LocalCatalogs:
    """Each collection's catalog in its own file, ``<collections>/<key>/catalog.sqlite``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def exists(self, key: str) -> bool:
        return (self.root / key / CATALOG_FILE).exists()

    def names(self, parent: str) -> list[str]:
        """The collections directly under ``parent`` (``shared`` or ``users/<user-key>``)."""
        return [path.parent.name for path in sorted((self.root / parent).glob(f"*/{CATALOG_FILE}"))]

    def open(self, key: str) -> Catalog:
        return Catalog.own_file(self.root / key / CATALOG_FILE)

    def remove(self, key: str) -> None:
        """Nothing to do: the catalog file goes with the collection's folder."""

    def writer_lock(self, key: str, blocking: bool) -> AbstractContextManager[bool]:
        """Only this process writes to its own files (the thread lock is the collection's)."""
        return nullcontext(True)


class SharedCatalogs:
    """Every collection's catalog in one database that all replicas use."""

    def __init__(self, database: Database) -> None:
        self.database = database
        prepare(database, "collection_catalogs", _migrations(_SHARED), "collection catalogs")

    def exists(self, key: str) -> bool:
        with self.database.read() as conn:
            found = conn.execute(
                text("SELECT 1 FROM collection_info WHERE collection = :c LIMIT 1"), {"c": key}
            ).first()
        return found is not None

    def names(self, parent: str) -> list[str]:
        with self.database.read() as conn:
            keys = conn.execute(
                text(
                    "SELECT DISTINCT collection FROM collection_info WHERE collection LIKE :p ESCAPE '\\' "
                    "ORDER BY collection"
                ),
                {"p": parent.replace("%", r"\%").replace("_", r"\_") + "/%"},
            ).scalars()
            return [key[len(parent) + 1 :] for key in keys if "/" not in key[len(parent) + 1 :]]

    def open(self, key: str) -> Catalog:
        return Catalog(self.database, key)

    def remove(self, key: str) -> None:
        with self.database.write() as conn:
            for table in (_SHARED.info, _SHARED.documents, _SHARED.pending):
                conn.execute(text(f"DELETE FROM {table} WHERE collection = :c"), {"c": key})

    def writer_lock(self, key: str, blocking: bool) -> AbstractContextManager[bool]:
        """Held by one replica at a time; released by PostgreSQL if that replica dies."""
        return self.database.process_lock(f"collection:{key}", blocking=blocking)
