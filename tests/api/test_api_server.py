"""``python openai_server/server.py``: flags, a taken port, and a real start under the network guard."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from openai_server.server import entrypoint_main
from support.paths import REPO, TESTS

GUARDED_SERVER = (
    "import sys, runpy; from support import netguard; netguard.install();"
    "sys.argv = ['openai_server/server.py', *sys.argv[1:]];"
    "code = 0\n"
    "try:\n    runpy.run_path('openai_server/server.py', run_name='__main__')\n"
    "except SystemExit as e:\n    code = e.code or 0\n"
    "print('NETGUARD-VIOLATIONS:', len(netguard.violations), netguard.violations, file=sys.stderr)\n"
    "sys.exit(code)"
)


def server_process(*flags: str, data_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("H2OGPT_", "HF_", "TRANSFORMERS_"))}
    env.update({"H2OGPT_DATA_DIR": str(data_dir), "PYTHONPATH": str(TESTS)})
    return subprocess.Popen(
        [sys.executable, "-c", GUARDED_SERVER, *flags],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_help_and_bad_flags(capsys):
    assert entrypoint_main(["--help"]) == 0
    assert "--openai_port" in capsys.readouterr().out
    assert entrypoint_main(["--openai_port=http"]) == 2
    assert "--openai_port=http" in capsys.readouterr().err


def test_a_taken_port_is_a_one_line_error(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        process = server_process(f"--openai_port={port}", data_dir=data_dir)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 2, output
    assert f"--openai_port={port}: cannot listen there" in output
    assert "Traceback" not in output


def test_a_missing_model_stops_the_server_with_exit_2(data_dir):
    process = server_process(f"--openai_port={free_port()}", "--base_model=/no/such/model", data_dir=data_dir)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2, output
    assert "/no/such/model" in output and "Traceback" not in output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_script_serves_offline_until_interrupted(data_dir):
    process = server_process(f"--openai_port={free_port()}", "--max_new_tokens=4", data_dir=data_dir)
    lines = []
    try:
        while not any("API is OPEN" in line for line in lines):  # logged after the address
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        url = re.search(r"listening on (http://\S+)/v1", "".join(lines)).group(1)
        deadline = time.monotonic() + 120
        while httpx.get(f"{url}/health").status_code != 200:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.2)
        reply = httpx.post(f"{url}/v1/completions", json={"prompt": "The capital of France is"}, timeout=60)
        assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] <= 4
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, output  # interrupted, as after Ctrl-C in the terminal
    assert "NETGUARD-VIOLATIONS: 0 []" in output
