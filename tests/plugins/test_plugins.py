"""Plug-ins: the example package (tests/plugins/example_plugin, installed through its entry
point by `make test`) registers a backend, an outcome reward and a vector store, and each is
usable by name from the CLI flags and the API, as the built-ins are."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import openai
import pytest

from h2ogpt import plugins, scaling
from h2ogpt.backends.base import Capabilities, MissingCapability, SamplingParams
from h2ogpt.cli.flags import help_text
from h2ogpt.plugins import hookimpl
from h2ogpt.request import AnswerRequest
from h2ogpt.scaling.options import ScalingOptions
from h2ogpt.scaling.specs import RewardSpec
from h2ogpt.settings import Settings
from openai_server.server import serve_in_thread
from support.paths import TEST_PLUGINS
from support.processes import run_generate


def test_the_example_plugin_is_installed_through_its_entry_point():
    assert importlib.util.find_spec("h2ogpt_example_plugin"), (
        f"run `make test`: it installs it in {TEST_PLUGINS}"
    )
    assert "example" in plugins.plugin_names()
    assert plugins.backends.get("example-echo").remote is False
    assert "example-longest" in plugins.outcome_rewards.names()
    assert "example-memory" in plugins.vector_stores.names()
    page = help_text("generate.py")
    assert "--engine=<auto|llama.cpp|transformers|example-echo>" in page
    assert "example-longest" in page and "chroma|faiss|example-memory" in page


def ask(tmp_path: Path, *flags: str, prompt: str = "hello there"):
    return run_generate(
        "--cli=True",
        "--cli_loop=False",
        "--engine=example-echo",
        f"--prompt={prompt}",
        *flags,
        data_dir=tmp_path,
    )


def test_cli_chats_through_the_plugin_backend(tmp_path):
    done = ask(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "HELLO THERE"
    assert "NETGUARD-VIOLATIONS: 0" in done.stderr


def test_cli_scales_with_the_plugin_reward(tmp_path):
    done = ask(tmp_path, "--scaling_algorithm=best-of-n", "--budget=3", "--outcome_reward=example-longest")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "HELLO THERE!!"  # sample 3 of 3 is the longest
    assert "chose candidate 3 of 3" in done.stderr


def test_cli_answers_from_documents_in_the_plugin_store(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("The secret word of the example plug-in is marmalade.\n")
    done = ask(
        tmp_path,
        "--db_type=example-memory",
        f"--user_path={docs}",
        "--langchain_mode=UserData",
        prompt="What is the secret word of the example plug-in?",
    )
    assert done.returncode == 0, done.stderr
    assert "MARMALADE" in done.stdout  # the echo backend repeats the grounded question, sources included
    assert "note.txt" in done.stderr  # cited


def test_a_capability_the_backend_lacks_is_a_clear_error(tmp_path):
    done = ask(tmp_path, "--scaling_algorithm=best-of-n", "--budget=2", "--outcome_reward=self-certainty")
    assert done.returncode == 2, done.stderr
    assert "token log-probabilities" in done.stderr and "'example-echo'" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_names_list_what_is_registered(tmp_path):
    done = run_generate("--cli=True", "--outcome_reward=nope", data_dir=tmp_path)
    assert done.returncode == 2
    assert "--outcome_reward=nope" in done.stderr and "example-longest" in done.stderr


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory):
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("plugin-api"),
        engine="example-echo",
        db_type="example-memory",
        server_name="127.0.0.1",
    )
    with serve_in_thread(settings, port=0) as handle:
        assert handle.state.wait_loaded(60), handle.state.load_error
        yield handle


def test_api_serves_the_plugin_backend_reward_and_store(plugin_server):
    client = openai.OpenAI(base_url=plugin_server.base_url, api_key="none", max_retries=0)
    assert client.models.list().data[0].id == "example-echo"
    reply = client.chat.completions.create(model="h2ogpt", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content == "HI"
    scaled = client.chat.completions.create(
        model="h2ogpt",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"scaling_algorithm": "best-of-n", "budget": 3, "outcome_reward": "example-longest"},
    )
    assert scaled.choices[0].message.content == "HI!!"

    with httpx.Client(base_url=plugin_server.url, timeout=60) as http:
        schema = http.get("/openapi.json").json()["components"]["schemas"]["ChatCompletionRequest"]
        choices = [b.get("enum") for b in schema["properties"]["outcome_reward"]["anyOf"] if b.get("enum")]
        assert "example-longest" in choices[0]
        files = [("files", ("memo.txt", b"The plug-in store keeps the number 4417."))]
        report = http.post("/v1/collections/UserData/documents", files=files).json()
        assert [d["status"] for d in report["documents"]] == ["added"]
        bad = http.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}], "outcome_reward": "nope"},
        )
        assert bad.status_code == 400 and "example-longest" in bad.text
    answer = client.chat.completions.create(
        model="h2ogpt",
        messages=[{"role": "user", "content": "Which number does the plug-in store keep?"}],
        extra_body={"collection": "UserData"},
    )
    assert "4417" in answer.choices[0].message.content
    assert answer.model_extra["sources"][0]["source"].endswith("memo.txt")


class Shortest:
    name = "shortest"

    def score(self, task, answers):
        return [-float(len(a.text)) for a in answers]


class CodePlugin:
    """A plug-in registered from code rather than an entry point."""

    @hookimpl
    def register_outcome_rewards(self, register):
        register(RewardSpec("example-shortest", lambda task: Shortest(), "prefers the shortest answer"))


def test_code_registration_and_objects_in():
    from h2ogpt_example_plugin.echo import EchoBackend
    from h2ogpt_example_plugin.longest import LongestAnswer

    plugins.register_plugin(CodePlugin(), "code-plugin")
    assert (
        AnswerRequest.from_prompt("x", outcome_reward="example-shortest").outcome_reward == "example-shortest"
    )
    with pytest.raises(ValueError, match="choose one of"):
        AnswerRequest.from_prompt("x", outcome_reward="missing")

    def task(**objects):
        return scaling.ScalingTask(
            backend=EchoBackend(),
            messages=[{"role": "user", "content": "why"}],
            prompt="<user>why</user>\n<assistant>",
            params=SamplingParams(max_new_tokens=8),
            options=ScalingOptions(scaling_algorithm="best-of-n", outcome_reward="example-shortest"),
            **objects,
        )

    assert scaling.run(task(), 3).text == "WHY"  # by name
    result = scaling.run(task(outcome_reward=LongestAnswer()), 3)  # an object wins over the name
    assert result.text == "WHY!!" and result.details["reward"] == "example-longest"


def test_an_algorithm_needing_a_missing_capability_names_it():
    from h2ogpt_example_plugin.echo import EchoBackend

    class ChatOnlyEcho(EchoBackend):
        capabilities = Capabilities(raw_continuation=False)

    task = scaling.ScalingTask(
        backend=ChatOnlyEcho(),
        messages=[{"role": "user", "content": "why"}],
        prompt="<user>why</user>\n<assistant>",
        params=SamplingParams(max_new_tokens=8),
        options=ScalingOptions(scaling_algorithm="beam-search", budget=2),
    )
    with pytest.raises(
        MissingCapability, match=r"scaling_algorithm=beam-search needs raw-text continuation.*'example-echo'"
    ):
        scaling.run(task)
