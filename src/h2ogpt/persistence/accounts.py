"""The browser UI's logins: the users of ``--auth`` and, with ``--auth_access=open``, users
who sign up by logging in with a new name.

Signed-up users are kept in ``<data_dir>/ui/users.sqlite`` (or the PostgreSQL database of
``--database_url``) with a salted scrypt hash of their password; no password is ever stored
in clear or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import text

from h2ogpt.errors import ConfigError
from h2ogpt.persistence.database import Database, app_database, open_store, prepare

if TYPE_CHECKING:
    from h2ogpt.settings import Settings

logger = logging.getLogger(__name__)

Access = Literal["open", "closed"]

MAX_NAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_MIGRATIONS = [
    [
        "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, "
        "created DOUBLE PRECISION NOT NULL)"
    ]
]
_PATH_START = re.compile(r"^(?:[/~\\]|\.{1,2}[/\\]|[A-Za-z]:[/\\])")
_HOW = "give user:password pairs separated by commas, or the path of an existing file"


class Accounts:
    """Who may log in to the browser UI."""

    def __init__(
        self,
        listed: Mapping[str, str] | None,
        *,
        access: Access = "open",
        db_path: Database | Path | str | None = None,
        guest: str = "guest",
    ) -> None:
        """``listed``: the --auth users and their passwords; None: no login at all (everyone is
        ``guest``). With ``access="open"`` and a login, ``db_path`` keeps the signed-up users."""
        self._listed = dict(listed) if listed is not None else None
        self.access: Access = access
        self._guest = guest
        self._signups: _SignUps | None = None
        if self.enabled and access == "open":
            if db_path is None:
                raise ValueError("Accounts with access='open' need db_path for signed-up users")
            self._signups = _SignUps(db_path if isinstance(db_path, Database) else Path(db_path))

    @classmethod
    def from_settings(cls, settings: Settings) -> Accounts:
        """Accounts from ``--auth``, ``--auth_access`` and ``--guest_name``; ConfigError if ``--auth``
        cannot be read."""
        listed = parse_auth(settings.auth) if settings.auth.strip() else None
        if listed == {} and settings.auth_access == "closed":
            raise ConfigError(
                f"--auth={settings.auth.strip()} names no users and --auth_access=closed admits only those: "
                "add user:password lines to it, or use --auth_access=open"
            )
        return cls(
            listed,
            access=settings.auth_access,
            db_path=app_database(settings, "users.sqlite") if settings.auth.strip() else None,
            guest=settings.guest_name,
        )

    @property
    def enabled(self) -> bool:
        """Whether the UI asks for a login (False: no --auth, everyone is :attr:`guest`)."""
        return self._listed is not None

    @property
    def guest(self) -> str:
        """The user name of everyone when there is no login (``--guest_name``)."""
        return self._guest

    def check(self, username: str, password: str) -> bool:
        """Whether this login is accepted. A --auth user must give their password; with
        ``access="open"`` a new name signs up with its first password, which later logins
        must repeat. Always False when logins are not enabled."""
        if self._listed is None:
            return False
        problem = login_problem(username, password)
        if problem:
            logger.info("login refused: %s", problem)
            return False
        expected = self._listed.get(username)
        if expected is not None:
            accepted = hmac.compare_digest(password.encode(), expected.encode())
        elif self._signups is None:
            accepted = False
        else:
            accepted = self._signups.check_or_sign_up(username, password)
        if not accepted:
            logger.info("login refused for user %r", username)
        return accepted


def login_problem(username: object, password: object) -> str | None:
    """Why this user name and password can never log in, or None when they are well formed."""
    if not isinstance(username, str) or not isinstance(password, str):
        return "user name and password must be text"
    if not username:
        return "empty user name"
    if len(username) > MAX_NAME_CHARS:
        return f"user name longer than {MAX_NAME_CHARS} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in username):
        return "user name with control characters"
    if username != username.strip():
        return "user name starts or ends with a space"
    if not password:
        return "empty password"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"password longer than {MAX_PASSWORD_CHARS} characters"
    try:
        password.encode()
    except UnicodeEncodeError:
        return "password is not valid text"
    return None


# --- reading --auth -------------------------------------------------------------------------
def parse_auth(spec: str) -> dict[str, str]:
    """The users of ``--auth``: ``user:password`` pairs separated by commas, or a file (h2oGPT's
    JSON ``{user: {"password": ...}}``, or one ``user:password`` per line). ConfigError if bad."""
    spec = spec.strip()
    if not spec:
        return {}
    path = Path(spec).expanduser()
    if path.is_file():
        return _read_auth_file(path)
    if ":" not in spec or _PATH_START.match(spec):
        what = "is a folder, not a file" if path.exists() else "no such file"
        raise ConfigError(f"--auth={spec}: {what}; {_HOW}")
    users: dict[str, str] = {}
    for number, item in enumerate(spec.split(","), 1):
        _add_pair(users, item.strip(), f"--auth: item {number} of the comma-separated list")
    return users


def _read_auth_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--auth={path}: cannot read the file ({exc}); {_HOW}") from exc
    if text.lstrip().startswith("{"):
        return _read_auth_json(path, text)
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            _add_pair(users, line, f"--auth file {path}, line {number}")
    return users


def _read_auth_json(path: Path, text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--auth file {path}: not valid JSON ({exc.msg}, line {exc.lineno}); "
            'write {"user": {"password": "..."}} or one user:password per line'
        ) from exc
    users: dict[str, str] = {}
    for name, entry in data.items():
        password = entry.get("password") if isinstance(entry, dict) else entry
        if not isinstance(password, str) or not password:
            raise ConfigError(
                f'--auth file {path}: user {name!r} has no password; give it {{"password": "..."}}'
            )
        _add_user(users, name, password, f"--auth file {path}")
    return users


def _add_pair(users: dict[str, str], item: str, where: str) -> None:
    """Add one ``user:password`` (the password may hold ':'); never echoes the item itself."""
    name, sep, password = item.partition(":")
    if not sep or not name.strip() or not password:
        raise ConfigError(f"{where} is not user:password (both non-empty); {_HOW}")
    _add_user(users, name.strip(), password, where)


def _add_user(users: dict[str, str], name: str, password: str, where: str) -> None:
    problem = login_problem(name, password)
    if problem:
        raise ConfigError(f"{where}: {problem}; fix that user in --auth")
    if name in users:
        raise ConfigError(f"{where}: user {name!r} is listed twice in --auth; keep one")
    users[name] = password


# --- signed-up users ----------------------------------------------------------------------
class _SignUps:
    """Users who signed up (--auth_access=open), with salted scrypt hashes."""

    def __init__(self, where: Database | Path) -> None:
        self.database = open_store(where, "users")
        prepare(self.database, "users", _MIGRATIONS, "users")

    def check_or_sign_up(self, name: str, password: str) -> bool:
        """True if ``name`` is new (and is now signed up with ``password``) or ``password`` matches."""
        with self.database.write(serialize=f"user:{name}") as conn:
            stored = conn.execute(
                text("SELECT password_hash FROM users WHERE name = :name"), {"name": name}
            ).scalar()
            if stored is None:
                conn.execute(
                    text("INSERT INTO users (name, password_hash, created) VALUES (:name, :hash, :created)"),
                    {"name": name, "hash": hash_password(password), "created": time.time()},
                )
        if stored is None:
            logger.info("user %r signed up", name)
            return True
        return verify_password(password, stored)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` (hex) for a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` gives the stored hash (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        expected = bytes.fromhex(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        logger.error("a stored password hash is not in a format this h2oGPT reads: login refused")
        return False
    return hmac.compare_digest(actual, expected)
