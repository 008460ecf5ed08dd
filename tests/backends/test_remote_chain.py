"""h2oGPT -> h2oGPT: a second h2oGPT uses our own API server as its remote inference server."""

from __future__ import annotations

import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.base import Completion, SamplingParams, TextDelta
from h2ogpt.backends.selection import create_backend
from h2ogpt.events import FinalAnswer, TokenDelta
from h2ogpt.request import AnswerRequest

pytest_plugins = ["support.api_fixtures"]


@pytest.fixture(scope="module", params=["vllm_chat", "vllm"])
def chained(request, api_server, settings):
    chain_settings = settings.model_copy(
        update={"inference_server": f"{request.param}:{api_server.base_url}", "prompt_type": "chatml"}
    )
    backend = create_backend(chain_settings)
    yield Pipeline(chain_settings, backend), backend
    backend.close()


def test_chained_answer_streams_and_matches_the_local_model(chained, pipeline):
    chain, _ = chained
    request = AnswerRequest.from_prompt("What is the capital of Japan?", max_new_tokens=16)
    events = list(chain.answer(request))
    final = events[-1]
    assert isinstance(final, FinalAnswer) and "Tokyo" in final.text
    assert "".join(e.text for e in events if isinstance(e, TokenDelta)) == final.text
    assert final.model == pipeline.backend.info.name


def test_chained_n_samples_come_back_from_one_request(chained):
    _, backend = chained
    prompt = "<|im_start|>user\nName an animal.<|im_end|>\n<|im_start|>assistant\n"
    events = list(backend.stream(prompt, SamplingParams(max_new_tokens=8, temperature=1.0, seed=3), n=3))
    done = [e for e in events if isinstance(e, Completion)]
    assert sorted(c.index for c in done) == [0, 1, 2]
    assert any(isinstance(e, TextDelta) for e in events)
