"""Serve the OpenAI-compatible API: ``python openai_server/server.py [--name=value ...]``.

Also the ``h2ogpt_server`` console script, and ``serve_in_thread`` for a face that
serves the API beside itself (``python generate.py --openai_server=True``).
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a script from a checkout: find the core and this package
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]  # not a package root
    try:
        import h2ogpt  # noqa: F401
    except ImportError:  # the core was not pip-installed
        sys.path.insert(0, os.path.join(os.path.dirname(_here), "src"))
    sys.path.insert(0, os.path.dirname(_here))

import logging
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.cli.entry import EXIT_BAD_INPUT, run_entry
from h2ogpt.errors import ConfigError
from h2ogpt.settings import Settings
from openai_server.app import create_app
from openai_server.auth import load_api_keys
from openai_server.state import ServerState

log = logging.getLogger("h2ogpt.openai_server")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, so that a taken port is a one-line error before any model loads."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise ConfigError(f"--server_name={host} --openai_port={port}: cannot listen there: {exc}") from None
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def _log_start(settings: Settings, url: str) -> None:
    keys = load_api_keys(settings.api_keys)
    log.info("OpenAI-compatible API listening on %s/v1", url)
    if keys:
        log.info("API keys required: %d key(s) accepted as 'Authorization: Bearer KEY'", len(keys))
    else:
        log.warning("No API keys set (--api_keys): the API is OPEN to anyone who can reach %s", url)


def _uvicorn_server(state: ServerState, access_log: bool) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(state),
        log_config=None,  # keep h2ogpt's logging setup
        access_log=access_log,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    return uvicorn.Server(config)


def run_server(settings: Settings) -> int:
    """Serve until interrupted (blocking). The model loads in the background meanwhile.

    Returns 2 when the model cannot be loaded because of a bad flag (the error is logged).
    """
    state = ServerState(settings)
    sock = bind_socket(settings.server_name, settings.openai_port)
    server = _uvicorn_server(state, access_log=True)

    def stop() -> None:
        server.should_exit = True

    state.on_load_failed = stop
    _log_start(settings, _url(sock))
    server.run(sockets=[sock])
    return EXIT_BAD_INPUT if state.user_error else (1 if state.load_error else 0)


@dataclass
class ServerHandle:
    """A server running in a thread of this process; ``stop()`` shuts it down."""

    url: str
    state: ServerState
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve_in_thread(
    settings: Settings,
    pipeline: Pipeline | None = None,
    port: int | None = None,
    state: ServerState | None = None,
    access_log: bool = False,
) -> ServerHandle:
    """Serve the API from a daemon thread; returns once it accepts connections.

    ``pipeline``: an already loaded one to share (else the model loads in the background).
    ``port``: default ``settings.openai_port``; 0 picks a free port (see ``handle.url``).
    """
    state = state or ServerState(settings, pipeline)
    sock = bind_socket(settings.server_name, settings.openai_port if port is None else port)
    server = _uvicorn_server(state, access_log)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="h2ogpt-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start; see the log")
        time.sleep(0.01)
    url = _url(sock)
    _log_start(settings, url)
    return ServerHandle(url, state, server, thread)


def entrypoint_main(argv: list[str] | None = None) -> int:
    return run_entry("h2ogpt_server", argv, run_server)


if __name__ == "__main__":
    sys.exit(entrypoint_main())
