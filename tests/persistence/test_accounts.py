"""UI logins: --auth pairs and files, open sign-up with hashed passwords, closed access."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from h2ogpt.errors import ConfigError
from h2ogpt.persistence.accounts import Accounts, parse_auth
from h2ogpt.settings import Settings


def accounts(tmp_path: Path, auth: str, access: str = "closed", database_url: str = "") -> Accounts:
    return Accounts.from_settings(
        Settings(data_dir=tmp_path / "data", auth=auth, auth_access=access, database_url=database_url)
    )


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Where signed-up users go: "" (SQLite under --data_dir) or a fresh PostgreSQL database."""
    return request.getfixturevalue("fresh_database_url") if request.param == "postgres" else ""


def users_db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "ui" / "users.sqlite"


def test_no_auth_means_no_login(tmp_path: Path):
    acc = Accounts.from_settings(Settings(data_dir=tmp_path / "data", guest_name="visitor"))
    assert not acc.enabled and acc.guest == "visitor"
    assert not acc.check("visitor", "anything")
    assert not (tmp_path / "data" / "ui").exists()


def test_comma_pairs(tmp_path: Path):
    acc = accounts(tmp_path, "alice:wonder, bob:pa:ss:word")
    assert acc.enabled
    assert acc.check("alice", "wonder") and acc.check("bob", "pa:ss:word")
    assert not acc.check("alice", "wonder!") and not acc.check("bob", "pa")
    assert not acc.check("carol", "anything")  # closed: no sign-up
    assert not users_db(tmp_path).exists()


def test_lines_file(tmp_path: Path):
    path = tmp_path / "users.txt"
    path.write_text("# team logins\n\nalice:one\n  bob:two:three  \n", encoding="utf-8")
    assert parse_auth(str(path)) == {"alice": "one", "bob": "two:three"}
    acc = accounts(tmp_path, str(path))
    assert acc.check("bob", "two:three") and not acc.check("bob", "two")


def test_h2ogpt_json_file(tmp_path: Path):
    path = tmp_path / "auth.json"
    path.write_text(json.dumps({"alice": {"password": "x1", "userid": "u-1"}, "bob": {"password": "y2"}}))
    acc = accounts(tmp_path, str(path))
    assert acc.check("alice", "x1") and acc.check("bob", "y2") and not acc.check("alice", "y2")


def test_open_access_signs_up_new_names(tmp_path: Path, database_url: str):
    acc = accounts(tmp_path, "admin:root-pass", access="open", database_url=database_url)
    assert acc.check("carol", "first-password")  # signs up
    assert acc.check("carol", "first-password")
    assert not acc.check("carol", "another")
    assert not acc.check("admin", "guess")  # --auth users are not open for sign-up
    assert acc.check("admin", "root-pass")


def test_signed_up_users_persist_and_are_stored_hashed(tmp_path: Path):
    secret = "correct-horse-battery-staple"
    assert accounts(tmp_path, "admin:root-pass", access="open").check("dave", secret)
    again = accounts(tmp_path, "admin:root-pass", access="open")
    assert again.check("dave", secret) and not again.check("dave", secret + "!")
    stored = b"".join(p.read_bytes() for p in users_db(tmp_path).parent.glob("users.sqlite*"))
    assert b"dave" in stored and secret.encode() not in stored
    assert b"root-pass" not in stored


def test_closed_access_refuses_earlier_signups(tmp_path: Path, database_url: str):
    assert accounts(tmp_path, "admin:pw", access="open", database_url=database_url).check("erin", "pw-erin")
    assert not accounts(tmp_path, "admin:pw", access="closed", database_url=database_url).check(
        "erin", "pw-erin"
    )


def test_a_sign_up_on_one_replica_is_a_login_on_another(tmp_path: Path, fresh_database_url: str):
    replica_a = accounts(tmp_path / "a", "admin:pw", access="open", database_url=fresh_database_url)
    replica_b = accounts(tmp_path / "b", "admin:pw", access="open", database_url=fresh_database_url)
    assert replica_a.check("gina", "gina-pw")
    assert replica_b.check("gina", "gina-pw") and not replica_b.check("gina", "other")
    assert not users_db(tmp_path / "a").exists() and not users_db(tmp_path / "b").exists()


def test_an_unreachable_or_foreign_database_url_is_a_clear_error(tmp_path: Path, postgres_server):
    with pytest.raises(ConfigError, match="is not a PostgreSQL URL"):
        accounts(tmp_path, "admin:pw", access="open", database_url="mysql://u:secret@host/db")
    closed_port = postgres_server.url.replace(f":{postgres_server.port}/", ":1/").replace(
        "h2ogpt@", "h2ogpt:secret@"
    )
    with pytest.raises(ConfigError, match="cannot reach the database") as info:
        accounts(tmp_path, "admin:pw", access="open", database_url=closed_port)
    assert "secret" not in str(info.value)


def test_empty_auth_file_open_is_sign_up_only(tmp_path: Path):
    path = tmp_path / "empty.txt"
    path.write_text("# nobody yet\n")
    acc = accounts(tmp_path, str(path), access="open")
    assert acc.enabled and acc.check("frank", "pw")
    with pytest.raises(ConfigError, match="names no users"):
        accounts(tmp_path, str(path), access="closed")


@pytest.mark.parametrize(
    ("username", "password"),
    [("", "pw"), ("alice", ""), ("x" * 65, "pw"), ("bad\nname", "pw"), ("tab\tname", "pw"), (" pad", "pw")],
)
def test_malformed_logins_are_refused_and_not_signed_up(tmp_path: Path, username: str, password: str):
    acc = accounts(tmp_path, "admin:pw", access="open")
    assert not acc.check(username, password)
    assert not acc.check(username, password)


def test_the_guest_name_is_not_special(tmp_path: Path):
    acc = accounts(tmp_path, "admin:pw", access="closed")
    assert acc.guest == "guest" and not acc.check("guest", "")
    assert not acc.check("guest", "pw")


@pytest.mark.parametrize(
    ("auth", "error"),
    [
        ("alice", "--auth=alice: no such file"),
        ("/no/such/auth.json", "no such file"),
        ("./missing:file.txt", "no such file"),
        ("alice:pw,bob", "--auth: item 2 of the comma-separated list is not user:password"),
        ("alice:", "item 1 .* is not user:password"),
        (":pw", "item 1 .* is not user:password"),
        ("alice:pw,alice:other", "listed twice"),
        ("bad\x07name:pw", "control characters"),
        ("x" * 65 + ":pw", "longer than 64"),
    ],
)
def test_bad_auth_specs(tmp_path: Path, auth: str, error: str):
    with pytest.raises(ConfigError, match=error):
        accounts(tmp_path, auth)


def test_bad_auth_files(tmp_path: Path):
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        accounts(tmp_path, str(folder))
    lines = tmp_path / "lines.txt"
    lines.write_text("alice:ok\nbob-without-password\n")
    with pytest.raises(ConfigError, match=r"line 2 is not user:password") as info:
        accounts(tmp_path, str(lines))
    assert "bob-without-password" not in str(info.value)
    broken = tmp_path / "auth.json"
    broken.write_text('{"alice": {"password": "x"},}')
    with pytest.raises(ConfigError, match="not valid JSON"):
        accounts(tmp_path, str(broken))
    broken.write_text('{"alice": {"userid": "1"}}')
    with pytest.raises(ConfigError, match="user 'alice' has no password"):
        accounts(tmp_path, str(broken))
