"""No request leaves the machine: the guard works, and conversion runs offline too."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from h2ogpt import OFFLINE_ENVIRONMENT
from support import netguard
from support.processes import run_generate


def test_guard_catches_outbound_connections():
    """Positive control: the guard used by every test really sees a connect."""
    netguard.violations.clear()
    with pytest.raises(OSError, match="blocked by the test guard"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    with pytest.raises(OSError):
        socket.getaddrinfo("huggingface.co", 443)
    assert len(netguard.violations) == 2
    netguard.violations.clear()


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    with socket.create_connection(server.getsockname(), timeout=1):
        pass
    server.close()


def _offline_flags_after_import(env: dict[str, str]) -> str:
    code = "import h2ogpt, huggingface_hub.constants as c, os; print(c.HF_HUB_OFFLINE, os.environ['GRADIO_ANALYTICS_ENABLED'])"
    clean = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENVIRONMENT}
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    ).stdout.split()


def test_importing_h2ogpt_switches_hub_and_analytics_off():
    assert _offline_flags_after_import({}) == ["True", "False"]


def test_an_explicit_user_choice_is_kept():
    assert _offline_flags_after_import({"HF_HUB_OFFLINE": "0"})[0] == "False"


@pytest.mark.slow
def test_first_start_is_offline_and_converts_nothing(tmp_path):
    """A fresh data dir, the default engine (llama.cpp): the GGUF runs as it is, offline."""
    result = run_generate(
        "--cli=True", "--cli_loop=False", "--max_new_tokens=8", "--prompt=Hi", data_dir=tmp_path, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "with llama.cpp" in result.stderr and "NETGUARD-VIOLATIONS: 0 []" in result.stderr
    assert not (tmp_path / "converted").exists()


def test_first_start_conversion_is_offline(tmp_path):
    """A fresh data dir on the transformers engine: the GGUF conversion and the answer both run
    under the guard."""
    result = run_generate(
        "--cli=True",
        "--cli_loop=False",
        "--engine=transformers",
        "--max_new_tokens=8",
        "--prompt=Hi",
        data_dir=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Converting" in result.stderr and "NETGUARD-VIOLATIONS: 0 []" in result.stderr
    assert any((tmp_path / "converted").iterdir())
