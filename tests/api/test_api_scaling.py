"""Inference-time scaling through the API: the openai client's extra_body, its_hub's IaaS form."""

from __future__ import annotations

import json

import openai
import pytest

pytest_plugins = ["support.api_fixtures"]

MESSAGES = [{"role": "user", "content": "What is 3 x 8?"}]


def test_openai_client_extra_body_scales_the_answer(client, model_id):
    response = client.chat.completions.create(
        model=model_id,
        messages=MESSAGES,
        max_tokens=32,
        seed=2,
        extra_body={"budget": 4, "scaling_algorithm": "self-consistency", "collection": "LLM"},
    )
    text = response.choices[0].message.content
    assert text
    # usage counts all four samples; no metadata unless asked for
    assert response.usage.completion_tokens >= 4
    assert not (response.model_extra or {}).get("metadata")


def test_streaming_sends_progress_then_the_answer(client, model_id):
    stream = client.chat.completions.create(
        model=model_id,
        messages=MESSAGES,
        max_tokens=32,
        seed=2,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={
            "budget": 3,
            "scaling_algorithm": "self-consistency",
            "stop_when_decided": False,
            "collection": "LLM",
        },
    )
    progress, text, usage = [], "", None
    for chunk in stream:
        extra = chunk.model_extra or {}
        if "scaling_progress" in extra:
            assert chunk.choices == []
            progress.append(extra["scaling_progress"])
        for choice in chunk.choices:
            text += choice.delta.content or ""
        usage = chunk.usage or usage
    notes = [p["message"] for p in progress if not p["done"]]  # greedy default: said, then sampled
    assert notes and "sampled at temperature 0.7" in notes[0]
    progress = [p for p in progress if p["done"]]
    assert [p["done"] for p in progress] == [1, 2, 3]
    assert all(p["algorithm"] == "self-consistency" and p["total"] == 3 for p in progress)
    assert sum(progress[-1]["votes"].values()) == 3
    assert text and usage.completion_tokens >= 3


def test_its_hub_iaas_form_header_budget_and_metadata(http, model_id):
    """its_hub's IaaS: budget from X-ITS-Budget (it wins over the body), and
    return_response_only=false adds the candidates and votes as metadata."""
    body = {
        "model": model_id,
        "messages": MESSAGES,
        "max_tokens": 24,
        "seed": 1,
        "budget": 2,
        "return_response_only": False,
        "stop_when_decided": False,
        "collection": "LLM",
    }
    response = http.post("/v1/chat/completions", json=body, headers={"X-ITS-Budget": "3"})
    assert response.status_code == 200, response.text
    payload = response.json()
    metadata = payload["metadata"]
    assert metadata["algorithm"] == "self-consistency"  # a budget alone means self-consistency
    assert metadata["budget"] == 3 and len(metadata["all_responses"]) == 3
    chosen = metadata["all_responses"][metadata["selected_index"]]["content"]
    assert payload["choices"][0]["message"]["content"] == chosen
    assert sum(metadata["response_counts"].values()) == 3


def test_metadata_of_best_of_n_carries_scores(http, model_id):
    body = {
        "model": model_id,
        "messages": MESSAGES,
        "max_tokens": 24,
        "seed": 1,
        "budget": 2,
        "scaling_algorithm": "best-of-n",
        "outcome_reward": "self-certainty",
        "return_response_only": False,
        "stream": True,
        "collection": "LLM",
    }
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        chunks = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    (last,) = [c for c in chunks if "metadata" in c]
    scores = last["metadata"]["scores"]
    assert len(scores) == 2 and last["metadata"]["selected_index"] == scores.index(max(scores))


@pytest.mark.parametrize(
    ("body", "headers", "param"),
    [
        ({"budget": 0}, {}, "budget"),
        ({"budget": 2000}, {}, "budget"),
        ({}, {"X-ITS-Budget": "lots"}, "budget"),
        ({"scaling_algorithm": "mcts"}, {}, "scaling_algorithm"),
        ({"scaling_algorithm": "beam-search", "budget": 3, "beam_width": 2}, {}, None),
    ],
)
def test_bad_scaling_requests_are_400(http, model_id, body, headers, param):
    full = {"model": model_id, "messages": MESSAGES, "max_tokens": 8, "collection": "LLM", **body}
    response = http.post("/v1/chat/completions", json=full, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if param:
        assert error["param"] == param
    assert error["message"]


def test_openai_client_sees_a_bad_budget_as_bad_request(client, model_id):
    with pytest.raises(openai.BadRequestError, match="beam_width"):
        client.chat.completions.create(
            model=model_id,
            messages=MESSAGES,
            max_tokens=8,
            extra_body={"budget": 3, "scaling_algorithm": "beam-search", "beam_width": 2},
        )


def test_vllm_style_literal_extra_body_is_read_as_top_level_fields(http, model_id):
    body = {
        "model": model_id,
        "messages": MESSAGES,
        "max_tokens": 16,
        "include_stop_str_in_output": False,
        "extra_body": {
            "budget": 2,
            "return_response_only": False,
            "stop_when_decided": False,
            "collection": "LLM",
        },
    }
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["budget"] == 2


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"include_stop_str_in_output": True}, "include_stop_str_in_output"),
        ({"continue_final_message": True}, "continue_final_message"),
        ({"max_tokens": 4, "extra_body": {"max_tokens": 8}}, None),
    ],
)
def test_unsupported_vllm_fields_are_400(http, model_id, fields, param):
    body = {"model": model_id, "messages": MESSAGES, "max_tokens": 4, **fields}
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    if param:
        assert response.json()["error"]["param"] == param


def test_its_hub_runs_its_own_algorithms_against_our_api(api_server, model_id):
    """its_hub's own OpenAI-compatible client (vLLM mode, as it picks for a non-OpenAI URL)
    drives our server: self-consistency over 3 of our answers."""
    from its_hub.core.algorithms.self_consistency import SelfConsistency
    from its_hub.core.lms.openai_lm import OpenAICompatibleLanguageModel

    from h2ogpt.scaling.projections import auto_answer

    lm = OpenAICompatibleLanguageModel(
        endpoint=api_server.base_url, api_key="none", model_name=model_id, max_completion_tokens=16
    )
    assert lm.endpoint_type == "vllm"
    result = SelfConsistency(lambda text: auto_answer(text) or "").infer(
        lm, "What is 3 x 8?", budget=3, return_response_only=False
    )
    assert len(result.responses) == 3 and all(r["content"] for r in result.responses)
    assert sum(result.response_counts.values()) == 3
