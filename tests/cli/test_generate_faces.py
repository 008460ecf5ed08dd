"""``python generate.py --openai_server=True`` serves the API: alone, beside the terminal chat or
beside the browser UI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import openai
import pytest

from support.paths import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(port: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                if json.loads(reply.read()).get("model_loaded"):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("the API did not become ready")


@pytest.fixture
def generate_env(data_dir):
    return {**os.environ, "H2OGPT_DATA_DIR": str(data_dir)}


def start_generate(env: dict, *flags: str, **pipes) -> subprocess.Popen:
    """``python generate.py FLAGS --max_new_tokens=16`` (stderr piped, text mode)."""
    return subprocess.Popen(
        [sys.executable, "generate.py", *flags, "--max_new_tokens=16"],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        **pipes,
    )


def test_generate_serves_the_api(generate_env, converted_model_dir):
    port = free_port()
    process = start_generate(generate_env, "--openai_server=True", "--gradio=False", f"--openai_port={port}")
    try:
        wait_until_ready(port, process)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
        reply = client.chat.completions.create(
            model=client.models.list().data[0].id,
            messages=[{"role": "user", "content": "What is the capital of Japan?"}],
        )
        assert "Tokyo" in reply.choices[0].message.content
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_generate_serves_the_api_beside_the_terminal_chat(generate_env, converted_model_dir):
    port = free_port()
    process = start_generate(
        generate_env,
        "--cli=True",
        "--openai_server=True",
        f"--openai_port={port}",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        wait_until_ready(port, process)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
        reply = client.completions.create(
            model=client.models.list().data[0].id, prompt="The capital of France is", max_tokens=4
        )
        assert "Paris" in reply.choices[0].text
        out, _ = process.communicate("What is the capital of Japan?\n/exit\n", timeout=120)
        assert process.returncode == 0 and "Tokyo" in out
    finally:
        if process.poll() is None:
            process.kill()


def test_generate_serves_the_api_beside_the_browser_ui(generate_env, converted_model_dir):
    api_port, ui_port = free_port(), free_port()
    process = start_generate(
        generate_env, "--openai_server=True", f"--openai_port={api_port}", f"--server_port={ui_port}"
    )
    try:
        wait_until_ready(api_port, process)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{api_port}/v1", api_key="none")
        reply = client.completions.create(
            model=client.models.list().data[0].id, prompt="The capital of France is", max_tokens=4
        )
        assert "Paris" in reply.choices[0].text
        deadline = time.monotonic() + 60
        while True:  # the UI comes up once the model is loaded (it shares the API's)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/config", timeout=2) as config:
                    assert json.loads(config.read())["title"] == "h2oGPT"
                    break
            except OSError:
                assert time.monotonic() < deadline, "the browser UI did not start"
                time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(timeout=30)
