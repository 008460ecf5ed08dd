"""The API over a remote inference server (the loopback fake of tests/fake_upstream.py):
answers pass through, and the server's failures become 502 (or 400 for its refusals)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.remote.backend import RemoteBackend
from h2ogpt.backends.remote.spec import parse_inference_server
from h2ogpt.settings import Settings
from openai_server.server import ServerHandle, serve_in_thread
from support.fake_upstream import MODEL_ID, FakeUpstream

pytest_plugins = ["support.api_fixtures"]

HI = [{"role": "user", "content": "hi there"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def remote_api(fake: FakeUpstream, data_dir) -> Iterator[ServerHandle]:
    settings = Settings(inference_server=f"vllm_chat:{fake.url}", data_dir=data_dir, server_name="127.0.0.1")
    backend = RemoteBackend(parse_inference_server(settings.inference_server), max_retries=0)
    with serve_in_thread(settings, Pipeline(settings, backend), port=0) as handle:
        yield handle
    backend.close()


@pytest.fixture
def remote(remote_api: ServerHandle, fake: FakeUpstream) -> openai.OpenAI:
    fake.reset()
    return openai.OpenAI(base_url=remote_api.base_url, api_key="x", max_retries=0)


def test_remote_answers_pass_through(remote):
    reply = remote.chat.completions.create(model=MODEL_ID, messages=HI)
    assert reply.model == MODEL_ID and reply.choices[0].message.content == "there hi"
    streamed = remote.chat.completions.create(model="h2ogpt", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "there hi"


def test_upstream_failure_is_502(remote, fake):
    fake.state.fail_status, fake.state.fail_times, fake.state.fail_message = 503, 10, "overloaded"
    for stream in (False, True):
        with pytest.raises(openai.InternalServerError) as caught:
            reply = remote.chat.completions.create(model=MODEL_ID, messages=HI, stream=stream)
            list(reply)
        error = caught.value
        assert error.status_code == 502 and error.body["code"] == "upstream_error"
        assert "overloaded" in error.body["message"] and fake.url in error.body["message"]


def test_upstream_refusal_is_400(remote, fake):
    fake.state.fail_status, fake.state.fail_times, fake.state.fail_message = 400, 1, "bad stop"
    with pytest.raises(openai.BadRequestError) as caught:
        remote.chat.completions.create(model=MODEL_ID, messages=HI)
    assert "bad stop" in caught.value.body["message"]
