"""API keys: ``Authorization: Bearer KEY`` on every route but /health and /openapi.json.

``--api_keys`` is a comma-separated list of keys, or the path of a file with one key per
line (blank lines and ``#`` comments ignored). Empty: the API is open, and the startup
log says so.
"""

from __future__ import annotations

import hmac
import logging
import os
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from h2ogpt.errors import ConfigError
from openai_server.errors import ApiError

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/openapi.json"})  # a load balancer's probe; the public schema


def load_api_keys(spec: str) -> tuple[bytes, ...]:
    """The accepted keys from ``--api_keys`` (a list or a file); () means no key is needed."""
    spec = spec.strip()
    if not spec:
        return ()
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--api_keys={spec}: cannot read the key file: {exc}") from None
        keys = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        if not keys:
            raise ConfigError(f"--api_keys={spec}: the key file has no keys (one key per line)")
    else:
        if spec.startswith(("/", "~", "./", "../")) and "," not in spec:
            log.warning("--api_keys looks like a path but there is no such file; it is used as a key")
        keys = [key.strip() for key in spec.split(",") if key.strip()]
    return tuple(key.encode("utf-8") for key in keys)


def key_matches(given: bytes, keys: tuple[bytes, ...]) -> bool:
    """Constant-time comparison against every key (no early exit that timing could reveal)."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key)
    return matched


def _bearer(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            return token.strip() if scheme.lower() == b"bearer" and token.strip() else None
    return None


class AuthMiddleware:
    """Refuses (401) a request without one of the keys, before its body is read."""

    def __init__(self, app: ASGIApp, keys: tuple[bytes, ...]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token is None:
            message = "missing API key: send the header 'Authorization: Bearer KEY'"
            error = ApiError(401, message, code="invalid_api_key")
        elif not key_matches(token, self.keys):
            error = ApiError(401, "invalid API key", code="invalid_api_key")
        else:
            await self.app(scope, receive, send)
            return
        error.headers["WWW-Authenticate"] = "Bearer"
        await error.response()(scope, receive, send)
