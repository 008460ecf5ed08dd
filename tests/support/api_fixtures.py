"""Real API servers on loopback for the API tests, sharing the session's loaded pipeline.

Load with ``pytest_plugins = ["support.api_fixtures"]`` so every test module shares one server
of each kind (auth off, auth on, max_queue=1, fuzzing with a short --max_time).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.settings import Settings
from openai_server.server import ServerHandle, serve_in_thread

API_KEYS = ("test-key-one", "test-key-two")


def start(settings: Settings, pipeline: Pipeline, **updates) -> ServerHandle:
    """A server on a free loopback port with ``settings`` changed by ``updates``."""
    server_settings = settings.model_copy(update={"server_name": "127.0.0.1", **updates})
    return serve_in_thread(server_settings, pipeline, port=0)


@pytest.fixture(scope="session")
def api_server(settings: Settings, pipeline: Pipeline) -> Iterator[ServerHandle]:
    with start(settings, pipeline) as handle:
        yield handle


@pytest.fixture(scope="session")
def auth_server(settings: Settings, pipeline: Pipeline) -> Iterator[ServerHandle]:
    with start(settings, pipeline, api_keys=",".join(API_KEYS)) as handle:
        yield handle


@pytest.fixture(scope="session")
def busy_server(settings: Settings, pipeline: Pipeline) -> Iterator[ServerHandle]:
    """At most one request in flight (--max_queue=1)."""
    with start(settings, pipeline, max_queue=1) as handle:
        yield handle


@pytest.fixture(scope="session")
def fuzz_server(settings: Settings, backend) -> Iterator[ServerHandle]:
    """Every answer capped at 0.05 s and 4 tokens, so thousands of requests stay fast."""
    fast = settings.model_copy(update={"max_time": 0.05, "max_new_tokens": 4})
    with start(fast, Pipeline(fast, backend)) as handle:
        yield handle


@pytest.fixture(scope="session")
def model_id(api_server: ServerHandle) -> str:
    assert api_server.state.model_id
    return api_server.state.model_id


@pytest.fixture(scope="session")
def client(api_server: ServerHandle) -> openai.OpenAI:
    """The official client; no retries, so a 429 or 5xx shows as it is."""
    return openai.OpenAI(base_url=api_server.base_url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture
def http(api_server: ServerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=120) as raw:
        yield raw
