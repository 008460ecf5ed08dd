"""Whose private collections a request may use.

With ``--api_keys`` set, every key is its own user (named by a hash of the key, never the
key itself), so each key has its own ``MyData``. Without keys the server is open and all
requests are the local single user. The body's ``user`` field is never trusted for this.
"""

from __future__ import annotations

import hashlib

from fastapi import Request

from openai_server.auth import load_api_keys


def request_user(request: Request) -> str | None:
    state = request.app.state.server
    if not load_api_keys(state.settings.api_keys):
        return None
    header = request.headers.get("authorization", "")
    key = header.split(" ", 1)[1].strip() if header.lower().startswith("bearer ") else ""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]
