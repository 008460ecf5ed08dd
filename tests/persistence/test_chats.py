"""Saved chats in a real SQLite file and a real PostgreSQL database: round trips, per-user
isolation, restart, import/export, schema versions, two replicas' stores on one server."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from h2ogpt.errors import ConfigError, RequestError, UpstreamError
from h2ogpt.persistence.chats import MAX_IMPORT_CHATS, ChatStore, SavedChat
from h2ogpt.persistence.database import server_database, sqlite_file
from h2ogpt.settings import Settings
from support.postgres import PostgresServer

RICH = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is  the capital\nof France? " + "x" * 100},
    {
        "role": "assistant",
        "content": "Paris.",
        "sources": [{"source": "fr.txt", "score": 0.91, "page": None}],
        "scaling": {
            "algorithm": "self-consistency",
            "votes": {"Paris": 3, "Lyon": 1},
            "weights": [0.5, 0.25],
        },
    },
]


def talk(question: str, answer: str = "ok") -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ChatStore:
    if request.param == "postgres":
        return ChatStore(server_database(request.getfixturevalue("fresh_database_url")))
    return ChatStore(tmp_path / "ui" / "chats.sqlite")


def test_save_and_get_round_trip_with_extra_keys(store: ChatStore):
    saved = store.save("alice", RICH)
    assert isinstance(saved, SavedChat) and len(saved.id) == 32
    assert saved.messages == RICH and saved.created == saved.updated
    assert saved.title.startswith("What is the capital of France? x") and len(saved.title) <= 60
    assert store.get("alice", saved.id) == saved


def test_update_keeps_id_title_and_created(store: ChatStore):
    first = store.save("alice", talk("hello"), title="Greeting")
    longer = [*talk("hello"), *talk("and again", "yes")]
    second = store.save("alice", longer, chat_id=first.id)
    assert (second.id, second.title, second.created) == (first.id, "Greeting", first.created)
    assert second.updated > first.updated and store.get("alice", first.id).messages == longer
    assert store.save("alice", longer, chat_id=first.id, title="  New  name ").title == "New name"
    assert len(store.list("alice")) == 1


def test_list_is_newest_updated_first(store: ChatStore):
    a = store.save("alice", talk("a"))
    b = store.save("alice", talk("b"))
    c = store.save("alice", talk("c"))
    assert [x.id for x in store.list("alice")] == [c.id, b.id, a.id]
    store.save("alice", talk("a", "again"), chat_id=a.id)
    assert [x.id for x in store.list("alice")] == [a.id, c.id, b.id]
    assert store.list("nobody") == []


def test_rename_and_delete(store: ChatStore):
    chat = store.save("alice", talk("q"))
    assert store.rename("alice", chat.id, "  Trip plans ").title == "Trip plans"
    assert store.get("alice", chat.id).title == "Trip plans"
    with pytest.raises(RequestError, match="title is empty"):
        store.rename("alice", chat.id, "   ")
    store.delete("alice", chat.id)
    with pytest.raises(RequestError, match=f"no saved chat {chat.id}"):
        store.get("alice", chat.id)
    with pytest.raises(RequestError, match="no saved chat"):
        store.delete("alice", chat.id)


def test_users_cannot_touch_each_others_chats(store: ChatStore):
    mine = store.save("alice", talk("alice's secret"))
    for action in (
        lambda: store.get("bob", mine.id),
        lambda: store.rename("bob", mine.id, "pwned"),
        lambda: store.delete("bob", mine.id),
    ):
        with pytest.raises(RequestError, match=f"no saved chat {mine.id}"):
            action()
    theirs = store.save("bob", talk("overwrite"), chat_id=mine.id, title="bob's")
    assert theirs.id != mine.id and theirs.title == "bob's"
    assert store.get("alice", mine.id) == mine
    assert [c.id for c in store.list("bob")] == [theirs.id]
    assert [c.id for c in store.list("alice")] == [mine.id]


def test_unknown_id_creates_a_new_chat(store: ChatStore):
    chat = store.save("alice", talk("q"), chat_id="0" * 32)
    assert chat.id != "0" * 32 and store.get("alice", chat.id).messages == talk("q")


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([], "no messages"),
        ("hello", "must be a list"),
        ([{"role": "robot", "content": "x"}], "message 1 has role 'robot'"),
        ([{"role": "user", "content": None}], "message 1 has no text content"),
        ([{"role": "user", "content": "x", "extra": object()}], "cannot be saved as JSON"),
        (["hi"], "message 1 is not an object"),
    ],
)
def test_bad_messages_are_refused(store: ChatStore, messages, error):
    with pytest.raises(RequestError, match=error):
        store.save("alice", messages)
    assert store.list("alice") == []


def test_chats_survive_a_restart(tmp_path: Path):
    settings = Settings(data_dir=tmp_path / "data")
    first = ChatStore.for_settings(settings)
    assert first.database.shown_as == str(tmp_path / "data" / "ui" / "chats.sqlite")
    saved = [first.save("alice", talk(f"q{i}")) for i in range(3)]
    again = ChatStore.for_settings(settings)
    assert again.list("alice") == saved[::-1]


def test_a_file_that_is_not_sqlite_is_reported_and_kept(tmp_path: Path):
    path = tmp_path / "chats.sqlite"
    path.write_bytes(b"not a database, but someone's file" * 100)
    with pytest.raises(ConfigError, match="cannot be opened"):
        ChatStore(path)
    assert path.read_bytes().startswith(b"not a database")


def test_replicas_on_one_database_share_chats(fresh_database_url: str, tmp_path: Path):
    """Two stores on one PostgreSQL (as two replicas have): each sees and continues the other's chats."""
    settings = Settings(data_dir=tmp_path / "a", database_url=fresh_database_url)
    replica_a = ChatStore.for_settings(settings)
    replica_b = ChatStore.for_settings(settings.model_copy(update={"data_dir": tmp_path / "b"}))
    first = replica_a.save("alice", talk("from replica A"))
    assert replica_b.list("alice") == [first] and replica_b.list("bob") == []
    continued = replica_b.save("alice", [*first.messages, *talk("and from B")], chat_id=first.id)
    assert replica_a.get("alice", first.id) == continued and continued.id == first.id
    assert not (tmp_path / "a" / "ui").exists()  # nothing went to a local file


def test_a_newer_schema_is_refused(tmp_path: Path, fresh_database_url: str):
    for database in (sqlite_file(tmp_path / "chats.sqlite"), server_database(fresh_database_url)):
        ChatStore(database)
        with database.write() as conn:
            conn.execute(text("UPDATE schema_versions SET version = 99 WHERE component = 'chats'"))
        with pytest.raises(ConfigError, match=r"written by a newer h2oGPT \(schema 99\)"):
            ChatStore(database)


def test_a_first_release_sqlite_file_is_read_and_kept(tmp_path: Path):
    """A chats file of the first release (no schema_versions table) opens with its chats."""
    path = tmp_path / "chats.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE chats (id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL, "
        "messages TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);"
        "CREATE INDEX chats_by_owner ON chats (owner, updated); PRAGMA user_version=1;"
    )
    old.execute("INSERT INTO chats VALUES ('c1', 'alice', 'Old', ?, 1.0, 2.0)", (json.dumps(talk("hi")),))
    old.commit()
    old.close()
    (chat,) = ChatStore(path).list("alice")
    assert (chat.id, chat.title, chat.messages, chat.updated) == ("c1", "Old", talk("hi"), 2.0)


def test_export_then_import_round_trip(store: ChatStore):
    originals = [store.save("alice", RICH, title="Rich"), store.save("alice", talk("plain"))]
    exported = store.export_json("alice")
    data = json.loads(exported)
    assert data["format"] == "h2ogpt-chats" and data["version"] == 1
    assert [c["title"] for c in data["chats"]] == ["plain", "Rich"]
    assert set(data["chats"][0]) == {"title", "messages", "created", "updated"}

    imported = store.import_json("bob", exported)
    assert [c.title for c in imported] == ["plain", "Rich"]
    assert {c.id for c in imported}.isdisjoint({c.id for c in originals})
    listed = store.list("bob")
    assert [(c.title, c.messages, c.created, c.updated) for c in listed] == [
        (c.title, c.messages, c.created, c.updated) for c in originals[::-1]
    ]
    assert len(store.list("alice")) == 2


def test_import_richer_format_without_header(store: ChatStore):
    text = json.dumps({"chats": [{"title": "", "messages": talk("untitled one")}]})
    (chat,) = store.import_json("alice", text)
    assert chat.title == "untitled one" and chat.messages == talk("untitled one")


def test_import_h2ogpt_list_of_pair_lists(store: ChatStore):
    text = json.dumps([[["Hi", "Hello!"], ["2+2?", "4"]], [["Only a question", None]], []])
    chats = store.import_json("alice", text)
    assert [c.title for c in chats] == ["Hi", "Only a question"]
    assert chats[0].messages == [*talk("Hi", "Hello!"), *talk("2+2?", "4")]
    assert chats[1].messages == [{"role": "user", "content": "Only a question"}]
    assert [c.id for c in store.list("alice")] == [chats[1].id, chats[0].id]


def test_import_h2ogpt_title_map_with_compared_models(store: ChatStore):
    text = json.dumps(
        {
            "Who are you": [["Who are you?", "A bot."]],
            "format": [["What format?", "JSON."]],
            "Compare": [[["Q?", "model one"]], [["Q?", "model two"]]],
        }
    )
    chats = store.import_json("alice", text)
    assert [c.title for c in chats] == ["Who are you", "format", "Compare", "Compare (2)"]
    assert chats[3].messages == talk("Q?", "model two")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{not json", "chat file: not valid JSON"),
        ("42", "chat file: expected a JSON object or a list"),
        ("[]", "chat file: holds no chats"),
        ('{"format": "other"}', "chat file: format 'other'"),
        ('{"format": "h2ogpt-chats", "version": 9, "chats": []}', "chat file: version 9"),
        ('{"format": "h2ogpt-chats", "chats": 3}', '"chats" must be a list'),
        ('{"format": "h2ogpt-chats", "chats": [{"messages": []}]}', "chat 1: has no messages"),
        ('{"chats": [{"messages": [{"role": "user"}]}]}', "chat 1: message 1 has no text content"),
        ('[[["q", "a"], ["just one"]]]', "conversation 1, pair 2: expected"),
        ('[[["q", 5]]]', "the assistant message is not text"),
        ('{"t": "not pairs"}', "conversation 1: expected a list of"),
    ],
)
def test_bad_import_files_are_refused_whole(store: ChatStore, text: str, error: str):
    store.save("alice", talk("kept"))
    with pytest.raises(RequestError, match=error):
        store.import_json("alice", text)
    assert [c.title for c in store.list("alice")] == ["kept"]


def test_imports_are_capped(store: ChatStore):
    too_many = json.dumps([[["q", "a"]]] * (MAX_IMPORT_CHATS + 1))
    with pytest.raises(RequestError, match=f"import at most {MAX_IMPORT_CHATS}"):
        store.import_json("alice", too_many)
    assert store.list("alice") == []


def test_threads_saving_at_once(store: ChatStore):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            chat = store.save(f"user{n % 2}", talk(f"thread {n}"))
            for turn in range(5):
                chat = store.save(f"user{n % 2}", [*chat.messages, *talk(f"more {turn}")], chat_id=chat.id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    chats = store.list("user0") + store.list("user1")
    assert len(chats) == 8 and all(len(c.messages) == 12 for c in chats)


def test_a_database_that_went_away_is_an_upstream_error_naming_it(tmp_path: Path):
    """A stopped PostgreSQL is the server's fault (UpstreamError: the API's 503), not a traceback."""
    server = PostgresServer()
    try:
        store = ChatStore(server_database(server.create_database()))
        store.save("alice", talk("kept"))
    finally:
        server.stop()
    with pytest.raises(
        UpstreamError, match=r"the database postgresql://h2ogpt@127\.0\.0\.1:\d+/t_\w+ cannot be reached"
    ):
        store.list("alice")
