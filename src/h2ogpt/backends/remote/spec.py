"""``--inference_server``: h2oGPT's syntax for a remote OpenAI-compatible server.

``kind:URL`` picks how h2oGPT talks to the server; a bare ``http(s)://`` URL is any
OpenAI-compatible chat server. This module only parses; it imports no HTTP client, so
the backend registry can use it at no cost.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from h2ogpt.errors import ConfigError

OPENAI_URL = "https://api.openai.com/v1"
OPENAI_COMPATIBLE = "openai_compatible"  # the kind of a bare http(s):// URL
_SCHEME = re.compile(r"^https?://", re.IGNORECASE)


@dataclass(frozen=True)
class ServerKind:
    chat_native: bool  # True: the server renders chats (/v1/chat/completions)
    default_url: str = ""  # used when nothing follows ``kind:``; empty: a URL is required
    openai_key: bool = False  # True: OPENAI_API_KEY is required for the default URL
    vision: bool = False  # True: its chat endpoint takes OpenAI image_url parts (vision models)


REMOTE_KINDS: dict[str, ServerKind] = {
    "vllm": ServerKind(chat_native=False),
    "vllm_chat": ServerKind(chat_native=True, vision=True),
    "openai": ServerKind(chat_native=False, default_url=OPENAI_URL, openai_key=True),
    "openai_chat": ServerKind(chat_native=True, default_url=OPENAI_URL, openai_key=True, vision=True),
    "ollama": ServerKind(chat_native=True, default_url="http://localhost:11434/v1", vision=True),
    "tgi": ServerKind(chat_native=True),
    OPENAI_COMPATIBLE: ServerKind(chat_native=True, vision=True),
}

SYNTAX_HELP = (
    "use vllm:URL, vllm_chat:URL, openai:[URL], openai_chat:[URL], ollama:[URL], tgi:URL or a bare "
    "http(s)://host:port/v1 URL (for example vllm:http://localhost:8000/v1)"
)


@dataclass(frozen=True)
class ServerSpec:
    """Where the server is and how to talk to it."""

    kind: str
    base_url: str  # ends in the API root, e.g. http://host:8000/v1 (no trailing slash)
    chat_native: bool

    def api_key(self) -> str:
        """OPENAI_API_KEY; required for api.openai.com, else 'EMPTY' when unset (vLLM and
        friends accept any key unless started with one)."""
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if key:
            return key
        if REMOTE_KINDS[self.kind].openai_key and self.base_url == OPENAI_URL:
            raise ConfigError(
                f"--inference_server={self.kind}: api.openai.com needs a key; set the OPENAI_API_KEY "
                "environment variable"
            )
        return "EMPTY"


def server_kind(value: str) -> str:
    """The kind of an ``--inference_server`` value: its ``kind:`` prefix, or
    ``openai_compatible`` for a bare URL."""
    value = value.strip()
    if _SCHEME.match(value):
        return OPENAI_COMPATIBLE
    return value.split(":", 1)[0].strip()


def parse_inference_server(value: str) -> ServerSpec:
    """Parse ``--inference_server``; raises ConfigError naming the value and the syntax."""
    value = value.strip()
    kind = server_kind(value)
    if kind not in REMOTE_KINDS:
        raise ConfigError(f"--inference_server={value}: unknown server kind '{kind}'; {SYNTAX_HELP}")
    rest = value if kind == OPENAI_COMPATIBLE else value.partition(":")[2].strip()
    if not rest:
        rest = REMOTE_KINDS[kind].default_url
        if not rest:
            raise ConfigError(
                f"--inference_server={value}: give the server's URL after '{kind}:'; {SYNTAX_HELP}"
            )
    if not _SCHEME.match(rest):  # h2oGPT's legacy vllm:host:port
        rest = f"http://{rest}"
    return ServerSpec(kind, _normalize_url(rest, value), REMOTE_KINDS[kind].chat_native)


def _normalize_url(url: str, value: str) -> str:
    """The API root: scheme and host checked, ``/v1`` added when no path is given."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"--inference_server={value}: bad port in {url}; {SYNTAX_HELP}") from None
    if not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"--inference_server={value}: {url} is not a server URL; {SYNTAX_HELP}")
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))
