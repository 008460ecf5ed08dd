"""A real ``chroma run`` server on loopback (the server replicas share their chunks on)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_chroma(folder: Path) -> Iterator[str]:
    """``chroma run`` keeping its data in ``folder``; yields its URL, stops it on exit."""
    port = _free_port()
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("chroma server did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        from h2ogpt.documents.stores.chroma import forget_clients

        forget_clients()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A real ``chroma run`` server on loopback, stopped after the test."""
    with running_chroma(tmp_path / "server") as url:
        yield url
