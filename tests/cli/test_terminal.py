"""The terminal chat, run as a user runs it: ``python generate.py --cli=True ...``.

Every run happens under the network guard with HF_HUB_OFFLINE and friends unset, so
these tests also prove that loading and generating make no outbound connection.
"""

from __future__ import annotations

import io
import re

import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.cli.terminal import TerminalChat
from support.paths import SHARED_DATA
from support.processes import run_generate

NO_VIOLATIONS = "NETGUARD-VIOLATIONS: 0 []"


def test_one_shot_answer_mentions_tokyo(data_dir, converted_model_dir):
    result = run_generate(
        "--cli=True", "--cli_loop=False", "--prompt=What is the capital of Japan?", data_dir=data_dir
    )
    assert result.returncode == 0, result.stderr
    assert "Tokyo" in result.stdout
    assert NO_VIOLATIONS in result.stderr
    assert "Loading SmolLM2-135M-Instruct" in result.stderr  # progress is visible while loading


def test_one_shot_prompt_from_stdin(data_dir, converted_model_dir):
    result = run_generate(
        "--cli=True",
        "--cli_loop=False",
        "--max_new_tokens=16",
        stdin="What is the capital of Japan?\n",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr
    assert "Tokyo" in result.stdout


def test_one_shot_without_a_question_is_a_clear_error(data_dir):
    result = run_generate("--cli=True", "--cli_loop=False", data_dir=data_dir)
    assert result.returncode == 2
    assert "needs a question" in result.stderr and "Traceback" not in result.stderr


def test_chat_loop_keeps_history_resets_and_exits(data_dir, converted_model_dir):
    session = "Hello there!\n/reset\nWhat is the capital of Japan?\n/exit\nnever read\n"
    result = run_generate("--cli=True", "--max_new_tokens=24", stdin=session, data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    answers = re.findall(r"Bot: (.*)", result.stdout)
    assert len(answers) == 2 and "Tokyo" in answers[1]
    assert "[history cleared]" in result.stderr
    assert NO_VIOLATIONS in result.stderr


def test_terminal_chat_history(settings, backend):
    out, err = io.StringIO(), io.StringIO()
    chat = TerminalChat(
        Pipeline(settings.model_copy(update={"max_new_tokens": 24}), backend), out=out, err=err
    )
    assert chat.ask("My name is Ada. Please remember it.") is None
    assert chat.ask("What is my name?") is None
    assert [m.role for m in chat.history] == ["user", "assistant", "user", "assistant"]
    assert "Ada" in chat.history[-1].content
    chat.reset()
    assert chat.history == []


@pytest.mark.shared_data
def test_cli_answers_from_user_path_documents(data_dir, converted_model_dir, tmp_path):
    """--user_path is ingested into UserData at start; the answer lists its sources."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fake-memo.pdf").write_bytes((SHARED_DATA / "docs" / "fake-memo.pdf").read_bytes())
    own_data = tmp_path / "data"
    own_data.mkdir()
    (own_data / "converted").symlink_to(data_dir / "converted")  # reuse the converted model
    result = run_generate(
        "--cli=True",
        "--cli_loop=False",
        "--langchain_mode=UserData",
        f"--user_path={docs}",
        "--max_new_tokens=24",
        "--prompt=How many trucks were used?",
        data_dir=own_data,
    )
    assert result.returncode == 0, result.stderr
    assert "UserData: 1 files ok, 0 failed" in result.stderr
    assert "[1] fake-memo.pdf, page 1" in result.stderr and re.search(r"\[\d\]", result.stdout)
    assert NO_VIOLATIONS in result.stderr


def test_scaling_flags_show_progress_and_the_choice(data_dir, converted_model_dir):
    result = run_generate(
        "--cli=True",
        "--cli_loop=False",
        "--prompt=What is 3 x 8?",
        "--max_new_tokens=24",
        "--langchain_mode=LLM",
        "--scaling_algorithm=best-of-n",
        "--budget=3",
        "--outcome_reward=self-certainty",
        "--seed=4",
        data_dir=data_dir,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "[best-of-n] temperature 0 would draw identical candidates" in result.stderr
    )  # the default is greedy
    assert re.findall(r"\[best-of-n\] candidate (\d)/3", result.stderr)[:3] == ["1", "2", "3"]
    assert re.search(r"\[best-of-n, budget 3: chose candidate \d of 3 \(score -?\d", result.stderr)
    assert result.stdout.strip()
    assert NO_VIOLATIONS in result.stderr


def test_bad_scaling_flag_is_one_line(data_dir):
    result = run_generate("--cli=True", "--cli_loop=False", "--prompt=x", "--budget=0", data_dir=data_dir)
    assert result.returncode == 2
    assert "--budget" in result.stderr and "Traceback" not in result.stderr
