"""Where the app's small tables live: a SQLite file by default, PostgreSQL for replicas.

Saved chats, signed-up users and (with a Chroma server) collection catalogs go through one
:class:`Database`: SQLAlchemy Core with plain SQL that both SQLite and PostgreSQL accept.
Several app processes on one PostgreSQL (``--database_url``) see the same rows, which is
what lets more than one replica serve the same users.

SQLite writes take the file's write lock up front (``BEGIN IMMEDIATE``), so concurrent
writers wait instead of failing; PostgreSQL serialises the few read-modify-write steps with
transaction-scoped advisory locks.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from h2ogpt.errors import ConfigError, UpstreamError

if TYPE_CHECKING:
    from h2ogpt.settings import Settings

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
POSTGRES_SCHEMES = ("postgresql", "postgres")
_WRITE = "h2ogpt_write"

Migration = Sequence[str]  # the SQL statements that move a schema up one version


class Database:
    """An engine plus the three ways the stores use it: read, write, lock across processes."""

    def __init__(self, engine: Engine, shown_as: str) -> None:
        self.engine = engine
        self.shown_as = shown_as  # for messages: the file path, or the URL without its password

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading (one consistent snapshot per statement)."""
        with self._reachable(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self, serialize: str | None = None) -> Iterator[Connection]:
        """One write transaction: committed on success, else rolled back.

        ``serialize`` names a critical section (an owner's chats, a user name): on PostgreSQL,
        transactions with the same name run one after another, in every process.
        """
        with (
            self._reachable(),
            self.engine.connect().execution_options(**{_WRITE: True}) as conn,
            conn.begin(),
        ):
            if serialize and self.is_postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(serialize)})
            yield conn

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """A PostgreSQL server that went away is the server's fault, not the request's: an
        UpstreamError that names it (the API answers 503), instead of a driver traceback."""
        try:
            yield
        except OperationalError as exc:
            if not self.is_postgres:
                raise
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise UpstreamError(
                f"the database {self.shown_as} cannot be reached ({reason}): check that PostgreSQL is running"
            ) from exc

    def process_lock(self, name: str, *, blocking: bool = True) -> AbstractContextManager[bool]:
        """Held by one process at a time, across replicas (PostgreSQL session advisory lock;
        released by the server if the process dies). On SQLite this is a no-op that yields True.
        With ``blocking=False`` it yields whether the lock was taken."""
        if not self.is_postgres:
            return nullcontext(True)
        return self._advisory_lock(lock_key(name), blocking)

    @contextmanager
    def _advisory_lock(self, key: int, blocking: bool) -> Iterator[bool]:
        with self._reachable(), self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if blocking:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
                taken = True
            else:
                taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            try:
                yield taken
            finally:
                if taken:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})

    def migrate(self, component: str, steps: Sequence[Migration], what: str, fix: str) -> None:
        """Bring ``component``'s tables to version ``len(steps)`` (step i creates version i+1).

        ``what`` and ``fix`` word the error when the database was written by a newer h2oGPT.
        """
        with self.write(serialize="schema") as conn:
            conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS schema_versions "
                    "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
                )
            )
            found = conn.execute(
                text("SELECT version FROM schema_versions WHERE component = :c"), {"c": component}
            ).scalar()
            current = int(found or 0)
            if current > len(steps):
                raise ConfigError(
                    f"{what} in {self.shown_as} was written by a newer h2oGPT (schema {current}): "
                    f"upgrade h2oGPT, or {fix}"
                )
            for step in steps[current:]:
                for statement in step:
                    conn.execute(text(statement))
            if current < len(steps):
                conn.execute(
                    text(
                        "INSERT INTO schema_versions (component, version) VALUES (:c, :v) "
                        "ON CONFLICT (component) DO UPDATE SET version = excluded.version"
                    ),
                    {"c": component, "v": len(steps)},
                )
                logger.info("%s: %s schema %d -> %d", self.shown_as, component, current, len(steps))


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for a name (stable across processes)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def sqlite_file(path: Path, *, synchronous_full: bool = False) -> Database:
    """A SQLite file (created with its folder), in WAL mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    )
    pragmas = ["PRAGMA journal_mode=WAL"] + (["PRAGMA synchronous=FULL"] if synchronous_full else [])
    _sqlite_transactions(engine, pragmas)
    return Database(engine, str(path))


def _sqlite_transactions(engine: Engine, pragmas: list[str]) -> None:
    """Let SQLAlchemy, not the sqlite3 module, begin transactions; writes begin IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        for pragma in pragmas:
            dbapi_connection.execute(pragma)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


_servers: dict[str, Database] = {}
_servers_lock = threading.Lock()


def server_database(url: str) -> Database:
    """The PostgreSQL database of ``--database_url`` (one engine per URL and process);
    ConfigError when the URL is not PostgreSQL's or the server cannot be reached."""
    with _servers_lock:
        if url not in _servers:
            _servers[url] = _connect(url)
        return _servers[url]


def _connect(url: str) -> Database:
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    scheme = parsed.drivername.split("+")[0] if parsed is not None else ""
    if parsed is None or scheme not in POSTGRES_SCHEMES:
        raise ConfigError(
            f"--database_url={redact(url)} is not a PostgreSQL URL: give postgresql://user:password@host:5432/"
            "database, or leave it empty to keep chats and users in SQLite under --data_dir"
        )
    shown = parsed.render_as_string(hide_password=True)
    engine = create_engine(
        parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True, pool_size=5, max_overflow=10
    )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
        raise ConfigError(
            f"cannot reach the database --database_url={shown} ({reason}): start PostgreSQL, or fix the URL"
        ) from exc
    logger.info("chats and users are kept in PostgreSQL at %s", shown)
    return Database(engine, shown)


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1] if "@" in url else url


def forget_servers() -> None:
    """Close every PostgreSQL engine of this process (tests that stop their server)."""
    with _servers_lock:
        for database in _servers.values():
            database.engine.dispose()
        _servers.clear()


def app_database(settings: Settings, file_name: str) -> Database:
    """``--database_url`` when set (every store shares it), else ``<data_dir>/ui/<file_name>``."""
    if settings.database_url:
        return server_database(settings.database_url)
    return sqlite_file(Path(settings.data_dir) / "ui" / file_name)


def open_store(where: Database | Path | str, what: str) -> Database:
    """A store's database: given, or a SQLite file at a path. ConfigError names ``what``."""
    if isinstance(where, Database):
        return where
    path = Path(where)
    try:
        return sqlite_file(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the {what} folder {path.parent} ({exc}): check --data_dir") from exc


def prepare(database: Database, component: str, steps: Sequence[Migration], what: str) -> None:
    """Create or migrate a store's tables; a file that is not a database is a ConfigError that
    leaves the file as it is."""
    fix = "point --data_dir elsewhere" if not database.is_postgres else "use another --database_url"
    try:
        database.migrate(component, steps, what, fix)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if database.is_postgres:
            raise ConfigError(f"{what} in {database.shown_as} cannot be set up ({reason}): {fix}") from exc
        raise ConfigError(
            f"{what} file {database.shown_as} cannot be opened ({reason}): move it aside (it is left as is) "
            f"and restart, or {fix}"
        ) from exc
