"""Saved chat conversations, per user, in SQLite (``<data_dir>/ui/chats.sqlite``) or in the
PostgreSQL database of ``--database_url`` (shared by replicas).

A chat is a list of messages ``{"role": "user" | "assistant" | "system", "content": str}``;
any extra keys of a message ("sources", "scaling", ...) are kept as JSON. Every call opens
its own connection, so one :class:`ChatStore` may be shared by threads (and processes).
Timestamps are seconds since the epoch (floats).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from h2ogpt.errors import RequestError
from h2ogpt.persistence.database import Database, app_database, open_store, prepare

if TYPE_CHECKING:
    from h2ogpt.settings import Settings

logger = logging.getLogger(__name__)

ROLES = ("user", "assistant", "system")
TITLE_CHARS = 60  # a default title is the first user message cut to this length
MAX_TITLE_CHARS = 200
MAX_IMPORT_CHATS = 1000
MAX_IMPORT_CHARS = 64 * 1024 * 1024
EXPORT_FORMAT = "h2ogpt-chats"
EXPORT_VERSION = 1

_MIGRATIONS = [
    [
        "CREATE TABLE IF NOT EXISTS chats (id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL, "
        "messages TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, updated DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX IF NOT EXISTS chats_by_owner ON chats (owner, updated)",
    ]
]
_COLUMNS = "id, title, messages, created, updated"


@dataclass(frozen=True)
class SavedChat:
    """One saved conversation, as read from the store."""

    id: str
    title: str
    messages: list[dict[str, Any]]
    created: float
    updated: float


@dataclass(frozen=True)
class _Incoming:
    """A chat read from an import file, before it gets an id and an owner."""

    title: str
    messages: list[dict[str, Any]]
    created: float | None = None
    updated: float | None = None


class ChatStore:
    """Saved chats of every user in one SQLite file; a user only ever sees their own."""

    def __init__(self, where: Database | Path | str) -> None:
        """``where``: a database (``--database_url``), or the path of a SQLite file."""
        self.database = open_store(where, "saved chats")
        prepare(self.database, "chats", _MIGRATIONS, "saved chats")

    @classmethod
    def for_settings(cls, settings: Settings) -> ChatStore:
        """The store of ``--database_url``, else ``<data_dir>/ui/chats.sqlite``."""
        return cls(app_database(settings, "chats.sqlite"))

    # --- one chat ----------------------------------------------------------------------------
    def save(
        self,
        user: str,
        messages: list[dict[str, Any]],
        chat_id: str | None = None,
        title: str | None = None,
    ) -> SavedChat:
        """Create a chat, or update ``chat_id`` when it is one of ``user``'s chats.

        An id that is unknown, or belongs to another user, gives a new chat with a new id:
        nobody overwrites another user's chat. ``title`` None or blank keeps the current
        title (a new chat: the first user message, cut to ~60 characters).
        """
        owner = _owner(user)
        stored = _dump(_check_messages(messages, "chat"), "chat")
        clean = json.loads(stored)  # exactly what a later get() returns
        new_title = _clean_title(title) if title is not None and title.strip() else None
        with self.database.write(serialize=f"chats:{owner}") as conn:
            row = None
            if chat_id:
                row = conn.execute(
                    text("SELECT title, created FROM chats WHERE id = :id AND owner = :owner"),
                    {"id": chat_id, "owner": owner},
                ).fetchone()
            now = _next_time(conn, owner)
            if row is None:
                if chat_id:
                    logger.info("chat %s is not a saved chat of this user: saving a new chat", chat_id)
                return _insert(conn, owner, _Incoming(new_title or default_title(clean), clean), now)
            conn.execute(
                text(
                    "UPDATE chats SET title = :title, messages = :messages, updated = :updated "
                    "WHERE id = :id AND owner = :owner"
                ),
                {
                    "title": new_title or row[0],
                    "messages": stored,
                    "updated": now,
                    "id": chat_id,
                    "owner": owner,
                },
            )
        return SavedChat(chat_id, new_title or row[0], clean, row[1], now)

    def get(self, user: str, chat_id: str) -> SavedChat:
        """``user``'s chat ``chat_id``; RequestError when there is none."""
        with self.database.read() as conn:
            row = conn.execute(
                text(f"SELECT {_COLUMNS} FROM chats WHERE id = :id AND owner = :owner"),
                {"id": chat_id, "owner": _owner(user)},
            ).fetchone()
        if row is None:
            raise _no_chat(chat_id)
        return _chat(row)

    def rename(self, user: str, chat_id: str, title: str) -> SavedChat:
        """Give ``user``'s chat a new title (stripped, not empty)."""
        clean = _clean_title(title)
        with self.database.write() as conn:
            done = conn.execute(
                text("UPDATE chats SET title = :title WHERE id = :id AND owner = :owner"),
                {"title": clean, "id": chat_id, "owner": _owner(user)},
            )
            if done.rowcount == 0:
                raise _no_chat(chat_id)
        return self.get(user, chat_id)

    def delete(self, user: str, chat_id: str) -> None:
        """Delete ``user``'s chat ``chat_id``; RequestError when there is none."""
        with self.database.write() as conn:
            done = conn.execute(
                text("DELETE FROM chats WHERE id = :id AND owner = :owner"),
                {"id": chat_id, "owner": _owner(user)},
            )
            if done.rowcount == 0:
                raise _no_chat(chat_id)

    # --- all of a user's chats -------------------------------------------------------------
    def export_json(self, user: str) -> str:
        """All of ``user``'s chats as ``{"format": "h2ogpt-chats", "version": 1, "chats": [...]}``."""
        chats = [
            {"title": c.title, "messages": c.messages, "created": c.created, "updated": c.updated}
            for c in self.list(user)
        ]
        payload = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "chats": chats}
        return json.dumps(payload, ensure_ascii=False, indent=1)

    def import_json(self, user: str, text: str) -> list[SavedChat]:
        """Add the chats of an exported file to ``user``'s chats, each with a new id.

        Reads our export format and h2oGPT's: a list of conversations, or an object
        ``{title: conversation}``, where a conversation is a list of ``[user, bot]`` pairs
        (or a list of such lists, one per compared model). All or nothing.
        """
        owner = _owner(user)
        incoming = parse_chat_file(text)
        with self.database.write(serialize=f"chats:{owner}") as conn:
            saved = [_insert(conn, owner, chat, _next_time(conn, owner)) for chat in incoming]
        logger.info("imported %d chats", len(saved))
        return saved

    def list(self, user: str) -> list[SavedChat]:
        """``user``'s chats, the most recently updated first."""
        with self.database.read() as conn:
            rows = conn.execute(
                text(
                    f"SELECT {_COLUMNS} FROM chats WHERE owner = :owner ORDER BY updated DESC, created DESC, id"
                ),
                {"owner": _owner(user)},
            ).fetchall()
        return [_chat(row) for row in rows]


def default_title(messages: list[dict[str, Any]]) -> str:
    """The first user message on one line, cut to about 60 characters."""
    for message in messages:
        line = " ".join(str(message.get("content", "")).split())
        if message.get("role") == "user" and line:
            return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
    return "Untitled chat"


# --- reading import files -----------------------------------------------------------------
def parse_chat_file(text: str) -> list[_Incoming]:
    """The chats of an import file (see :meth:`ChatStore.import_json`); RequestError if it is not one."""
    if len(text) > MAX_IMPORT_CHARS:
        raise RequestError(
            f"chat file: larger than {MAX_IMPORT_CHARS // 2**20} MB; split it into smaller files"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"chat file: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}); "
            "choose a file made by exporting chats"
        ) from exc
    if isinstance(data, dict) and _is_ours(data):
        chats = _from_ours(data)
    elif isinstance(data, dict):
        chats = _from_h2ogpt(list(data.items()))
    elif isinstance(data, list):
        chats = _from_h2ogpt([(None, conversation) for conversation in data])
    else:
        raise RequestError(
            "chat file: expected a JSON object or a list of conversations; choose a file made by exporting chats"
        )
    if not chats:
        raise RequestError("chat file: holds no chats with messages")
    if len(chats) > MAX_IMPORT_CHATS:
        raise RequestError(
            f"chat file: holds {len(chats)} chats; import at most {MAX_IMPORT_CHATS} at a time (split the file)"
        )
    return chats


def _is_ours(data: dict[str, Any]) -> bool:
    """Our format has a string "format" or a list of chat objects; h2oGPT's maps titles to lists."""
    chats = data.get("chats")
    return isinstance(data.get("format"), str) or (
        isinstance(chats, list) and (not chats or isinstance(chats[0], dict))
    )


def _from_ours(data: dict[str, Any]) -> list[_Incoming]:
    if data.get("format", EXPORT_FORMAT) != EXPORT_FORMAT:
        raise RequestError(
            f"chat file: format {data['format']!r} is not {EXPORT_FORMAT!r}; choose an exported chat file"
        )
    if data.get("version", EXPORT_VERSION) != EXPORT_VERSION:
        raise RequestError(
            f"chat file: version {data['version']!r} is not one this h2oGPT reads ({EXPORT_VERSION}); upgrade h2oGPT"
        )
    chats = data.get("chats")
    if not isinstance(chats, list):
        raise RequestError('chat file: "chats" must be a list of {"title", "messages"} objects')
    if len(chats) > MAX_IMPORT_CHATS:  # checked early too: no need to read a huge file through
        raise RequestError(
            f"chat file: holds {len(chats)} chats; import at most {MAX_IMPORT_CHATS} at a time (split the file)"
        )
    incoming = []
    for number, chat in enumerate(chats, 1):
        where = f"chat file: chat {number}"
        if not isinstance(chat, dict):
            raise RequestError(f'{where} is not an object with "title" and "messages"')
        messages = json.loads(_dump(_check_messages(chat.get("messages"), where), where))
        title = chat.get("title")
        if title is not None and not isinstance(title, str):
            raise RequestError(f"{where}: the title must be text")
        created, updated = _past_time(chat.get("created")), _past_time(chat.get("updated"))
        incoming.append(_Incoming(_import_title(title, messages), messages, created, updated or created))
    return incoming


def _from_h2ogpt(items: list[tuple[Any, Any]]) -> list[_Incoming]:
    """h2oGPT's chats: (title or None, conversation) where a conversation is a list of
    [user, bot] pairs, or a list of those (one per model compared side by side)."""
    incoming = []
    for number, (title, conversation) in enumerate(items, 1):
        where = f"chat file: conversation {number}"
        histories = conversation if _is_history_list(conversation) else [conversation]
        kept = [history for history in histories if history]
        for copy, history in enumerate(kept, 1):
            messages = _pairs_to_messages(history, where if len(kept) == 1 else f"{where}, model {copy}")
            name = _import_title(title, messages)
            incoming.append(_Incoming(name if copy == 1 else f"{name} ({copy})", messages))
        if len(incoming) > MAX_IMPORT_CHATS:
            break  # parse_chat_file reports it
    return incoming


def _is_history_list(conversation: Any) -> bool:
    return (
        isinstance(conversation, list)
        and any(conversation)
        and all(isinstance(h, list) and all(isinstance(pair, list) for pair in h) for h in conversation)
    )


def _pairs_to_messages(pairs: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(pairs, list):
        raise RequestError(f"{where}: expected a list of [user message, bot message] pairs")
    messages = []
    for number, pair in enumerate(pairs, 1):
        if not (isinstance(pair, list) and len(pair) == 2):
            raise RequestError(f"{where}, pair {number}: expected [user message, bot message]")
        for role, content in zip(("user", "assistant"), pair, strict=True):
            if content is None:
                continue
            if not isinstance(content, str):
                raise RequestError(f"{where}, pair {number}: the {role} message is not text")
            messages.append({"role": role, "content": content})
    return _check_messages(messages, where)


def _import_title(title: str | None, messages: list[dict[str, Any]]) -> str:
    line = " ".join((title or "").split())
    return line[:MAX_TITLE_CHARS] if line else default_title(messages)


def _past_time(value: Any) -> float | None:
    """A timestamp read from a file: a finite number not in the future, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return min(float(value), time.time())


# --- checks and rows ----------------------------------------------------------------------
def _owner(user: str) -> str:
    if not isinstance(user, str) or not user:
        raise RequestError("saved chats: no user name given; log in again")
    return user


def _check_messages(messages: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(messages, list | tuple):
        raise RequestError(f'{where}: "messages" must be a list of {{"role", "content"}} objects')
    if not messages:
        raise RequestError(f"{where}: has no messages to save")
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise RequestError(f'{where}: message {number} is not an object with "role" and "content"')
        if message.get("role") not in ROLES:
            raise RequestError(
                f"{where}: message {number} has role {message.get('role')!r}; use user, assistant or system"
            )
        if not isinstance(message.get("content"), str):
            raise RequestError(f"{where}: message {number} has no text content (content must be a string)")
    return list(messages)


def _dump(messages: list[dict[str, Any]], where: str) -> str:
    try:
        return json.dumps(messages, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"{where}: a message holds a value that cannot be saved as JSON ({exc})") from exc


def _clean_title(title: str) -> str:
    line = " ".join(str(title).split())
    if not line:
        raise RequestError("chat title is empty: type a title")
    if len(line) > MAX_TITLE_CHARS:
        raise RequestError(f"chat title has {len(line)} characters: keep it to {MAX_TITLE_CHARS}")
    return line


def _no_chat(chat_id: str) -> RequestError:
    return RequestError(f"no saved chat {chat_id}: pick one from the list of saved chats")


def _next_time(conn: Connection, owner: str) -> float:
    """Now, or just after the owner's latest update if the clock has not moved past it, so
    that the newest save always sorts first."""
    last = conn.execute(
        text("SELECT MAX(updated) FROM chats WHERE owner = :owner"), {"owner": owner}
    ).scalar()
    now = time.time()
    return now if last is None or now > last else last + 1e-6


def _insert(conn: Connection, owner: str, chat: _Incoming, now: float) -> SavedChat:
    created = chat.created if chat.created is not None else now
    updated = chat.updated if chat.updated is not None else now
    saved = SavedChat(uuid.uuid4().hex, chat.title, chat.messages, created, updated)
    conn.execute(
        text(
            "INSERT INTO chats (id, owner, title, messages, created, updated) "
            "VALUES (:id, :owner, :title, :messages, :created, :updated)"
        ),
        {
            "id": saved.id,
            "owner": owner,
            "title": saved.title,
            "messages": _dump(saved.messages, "chat"),
            "created": saved.created,
            "updated": saved.updated,
        },
    )
    return saved


def _chat(row: tuple[Any, ...]) -> SavedChat:
    chat_id, title, messages, created, updated = row
    return SavedChat(chat_id, title, json.loads(messages), created, updated)
