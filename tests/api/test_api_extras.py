"""The API's extra fields are exactly the core request type's fields (derived, never copied)."""

from __future__ import annotations

import pytest
from pydantic import AliasChoices, Field, ValidationError

from h2ogpt.request import AnswerRequest
from openai_server.errors import ApiError
from openai_server.extras import OPENAI_NAMES, extra_values
from openai_server.schemas import build_request_models

pytest_plugins = ["support.api_fixtures"]

CORE_ONLY = [name for name in AnswerRequest.model_fields if name not in OPENAI_NAMES]


def test_every_core_field_is_in_the_openapi_schema(http):
    schemas = http.get("/openapi.json").json()["components"]["schemas"]
    assert CORE_ONLY, "AnswerRequest has fields of its own"
    for model in ("ChatCompletionRequest", "CompletionRequest"):
        properties = schemas[model]["properties"]
        for name in CORE_ONLY:
            assert name in properties, f"{model} lacks the core field {name}"
            assert properties[name].get("description"), f"{model}.{name} has no description"
        assert schemas[model]["additionalProperties"] is False
    assert "max_tokens" in schemas["ChatCompletionRequest"]["properties"]
    assert "max_new_tokens" not in schemas["ChatCompletionRequest"]["properties"]  # OpenAI's name wins


class FutureAnswerRequest(AnswerRequest):
    """What later issues add to the core request type."""

    collection: str | None = Field(None, description="Document collection to answer from.")
    top_k_docs: int = Field(3, ge=1, description="Chunks retrieved from the collection.")
    budget: int = Field(1, ge=1, le=256, description="Samples spent by inference-time scaling.")
    scaling_algorithm: str = Field("none", description="How the budget is spent.")


def test_fields_added_to_the_core_appear_with_no_change():
    chat, completion = build_request_models(FutureAnswerRequest)
    for model in (chat, completion):
        schema = model.model_json_schema()["properties"]
        for name in ("collection", "top_k_docs", "budget", "scaling_algorithm", "langchain_mode"):
            assert name in schema
        assert schema["budget"]["maximum"] == 256 and schema["budget"]["default"] == 1
        assert "Alias of 'collection'" in schema["langchain_mode"]["description"]
    body = chat.model_validate(
        {"messages": [{"role": "user", "content": "x"}], "budget": 4, "langchain_mode": "docs"}
    )
    assert extra_values(body, FutureAnswerRequest) == {"budget": 4, "collection": "docs"}
    with pytest.raises(ValidationError):
        chat.model_validate({"messages": [{"role": "user", "content": "x"}], "budget": 0})
    both = chat.model_validate(
        {"messages": [{"role": "user", "content": "x"}], "collection": "a", "langchain_mode": "b"}
    )
    with pytest.raises(ApiError) as caught:
        extra_values(both, FutureAnswerRequest)
    assert caught.value.status == 400 and caught.value.param == "langchain_mode"


def test_no_alias_without_its_core_field():
    chat, _ = build_request_models(AnswerRequest)
    assert ("collection" in AnswerRequest.model_fields) == ("langchain_mode" in chat.model_fields)


def test_only_fields_the_client_sent_are_forwarded(http):
    chat, _ = build_request_models()
    body = chat.model_validate({"messages": [{"role": "user", "content": "x"}], "top_k": 5})
    assert extra_values(body) == {"top_k": 5}


class AliasedAnswerRequest(AnswerRequest):
    budget: int = Field(1, ge=1, validation_alias=AliasChoices("budget", "num_samples"))


def test_aliases_the_core_declares_are_fields_of_their_own():
    chat, _ = build_request_models(AliasedAnswerRequest)
    schema = chat.model_json_schema()["properties"]
    assert "budget" in schema and "num_samples" in schema
    body = chat.model_validate({"messages": [{"role": "user", "content": "x"}], "num_samples": 3})
    assert extra_values(body, AliasedAnswerRequest) == {"budget": 3}


def test_langchain_mode_reaches_the_core(http):
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "langchain_mode": "LLM"}
    reply = http.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text
