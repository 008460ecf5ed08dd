"""Settings from flags and environment: names, precedence, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from h2ogpt.cli.flags import build_settings, help_text
from h2ogpt.errors import ConfigError
from h2ogpt.settings import Settings
from support.paths import REPO

H2OGPT_FLAGS = [
    "base_model", "prompt_type", "system_prompt", "max_new_tokens", "temperature", "top_p", "top_k",
    "repetition_penalty", "seed", "cli", "cli_loop", "inference_server", "lora_weights", "load_8bit",
    "load_4bit", "load_half", "max_seq_len", "data_dir", "gradio", "server_name", "server_port",
]  # fmt: skip


def test_h2ogpt_flag_names_exist():
    assert set(H2OGPT_FLAGS) <= set(Settings.model_fields)


def test_flags_parse_with_types():
    s = build_settings(
        ["--temperature=0.7", "--max_new_tokens", "12", "--cli", "--cli_loop=False", "--seed=5"], environ={}
    )
    assert (s.temperature, s.max_new_tokens, s.cli, s.cli_loop, s.seed) == (0.7, 12, True, False, 5)


def test_environment_fills_what_flags_leave_open():
    env = {"H2OGPT_TOP_K": "7", "H2OGPT_TEMPERATURE": "0.3", "H2OGPT_DATA_DIR": "/tmp/x"}
    s = build_settings(["--temperature=0.9"], environ=env)
    assert s.top_k == 7 and s.temperature == 0.9 and s.data_dir == Path("/tmp/x")


def test_seed_none_and_defaults():
    assert build_settings(["--seed=None"], environ={}).seed is None
    assert build_settings([], environ={}) == Settings()


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--temperature=abc"], {}, "--temperature=abc"),
        (["--no_such_flag=1"], {}, "unknown flag --no_such_flag"),
        (["--top_p=2"], {}, "--top_p=2"),
        (["--max_new_tokens"], {}, "needs a value"),
        (["positional"], {}, "unexpected argument"),
        ([], {"H2OGPT_SERVER_PORT": "http"}, "H2OGPT_SERVER_PORT=http"),
    ],
)
def test_bad_input_names_the_flag(argv, env, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")) as info:
        build_settings(argv, environ=env)
    assert "\n" not in str(info.value)


def test_help_lists_every_flag():
    text = help_text("generate.py")
    for name in Settings.model_fields:
        assert f"--{name}=" in text


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "generate.py", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "flag",
    [
        "--base_model=/no/such/path",
        "--temperature=abc",
        "--bogus=1",
        "--prompt_type=nonsense",
        "--load_4bit=True",
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(flag):
    result = _run(flag, "--cli=True", "--cli_loop=False", "--prompt=hi")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("generate.py: error:"), result.stderr
    assert "Traceback" not in result.stderr
    assert flag.split("=")[0] in lines[-1]


def test_cli_help_exits_0():
    result = _run("--help")
    assert result.returncode == 0 and "--base_model=" in result.stdout
