"""Short-lived SQLite connections for the small files the app keeps (saved chats, users).

A connection per call keeps them safe to use from any thread; writes take the file's
write lock up front (``BEGIN IMMEDIATE``), so concurrent writers wait instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_S = 30.0


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode, closed on exit."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def write_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection inside one write transaction: committed on success, else rolled back."""
    with connect(path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
