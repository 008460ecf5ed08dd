"""Our responses validated against OpenAI's own OpenAPI spec (a pinned copy in ../shared/data)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from support.paths import SHARED_DATA

pytest_plugins = ["support.api_fixtures"]

SPEC = SHARED_DATA / "openai-openapi" / "openapi.yaml"


def _nullable_to_anyof(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` (still used in the spec) as JSON Schema's ``null`` type;
    YAML dates (in examples) as strings."""
    if isinstance(node, datetime.date):
        return node.isoformat()
    if isinstance(node, list):
        return [_nullable_to_anyof(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_anyof(v) for k, v in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="module")
def validate():
    import jsonschema_rs
    import yaml

    with SPEC.open() as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    components = _nullable_to_anyof(spec["components"])
    validators: dict[str, Any] = {}

    def check(name: str, instance: Any) -> None:
        if name not in validators:
            schema = {"$ref": f"#/components/schemas/{name}", "components": components}
            validators[name] = jsonschema_rs.Draft202012Validator(schema)
        errors = [f"{e.instance_path}: {e.message}"[:300] for e in validators[name].iter_errors(instance)]
        assert not errors, f"{name}: {errors[:5]}"

    return check


def _sse(http, path: str, body: dict) -> list[dict]:
    with http.stream("POST", path, json={**body, "stream": True}) as reply:
        lines = [line.removeprefix("data: ") for line in reply.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.shared_data
def test_chat_responses_match_the_spec(http, validate):
    body = {
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4,
        "n": 2,
        "temperature": 1,
        "logprobs": True,
        "top_logprobs": 2,
    }
    validate("CreateChatCompletionResponse", http.post("/v1/chat/completions", json=body).json())
    chunks = _sse(http, "/v1/chat/completions", {**body, "stream_options": {"include_usage": True}})
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)


@pytest.mark.shared_data
def test_completion_responses_match_the_spec(http, validate):
    body = {"prompt": ["Hello", "World"], "max_tokens": 3, "echo": True, "logprobs": 2}
    validate("CreateCompletionResponse", http.post("/v1/completions", json=body).json())
    chunks = _sse(http, "/v1/completions", {**body, "stream_options": {"include_usage": True}})
    for chunk in chunks[:-1]:
        # a chunk before a choice ends has finish_reason null, as OpenAI sends it; the spec
        # (written for whole responses) has no null there
        ended = [{**c, "finish_reason": c["finish_reason"] or "length"} for c in chunk.pop("choices")]
        assert chunk.pop("usage") is None
        validate("CreateCompletionResponse", {**chunk, "choices": ended})
    validate("CreateCompletionResponse", chunks[-1])


@pytest.mark.shared_data
def test_models_embeddings_and_errors_match_the_spec(http, validate, model_id):
    validate("ListModelsResponse", http.get("/v1/models").json())
    validate("Model", http.get(f"/v1/models/{model_id}").json())
    # (the spec only describes the float encoding; base64 is checked in test_api_models_embeddings)
    reply = http.post("/v1/embeddings", json={"input": ["a", "b"], "encoding_format": "float"}).json()
    validate("CreateEmbeddingResponse", reply)
    for reply in (
        http.post("/v1/chat/completions", content=b"{"),
        http.get("/v1/models/nope"),
        http.get("/nowhere"),
    ):
        validate("ErrorResponse", reply.json())
