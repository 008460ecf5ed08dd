"""Request bodies of the OpenAI endpoints, plus the core's extra fields (see extras.py).

Only what the OpenAI API defines is declared here; every field is nullable because
clients send ``null`` for "not set". Unknown fields are rejected (400), never ignored.
Constraints that the core enforces anyway (``n`` <= 64, ``stop`` count) are left to it,
so the limits live in one place.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from h2ogpt.request import AnswerRequest
from openai_server.extras import extra_fields

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _check_text(value: Any) -> None:
    """Reject lone UTF-16 surrogates ("\\ud800"): valid JSON, but no tokenizer can read them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text contains an invalid Unicode character (a lone surrogate)") from None
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)


class OpenAIBody(BaseModel):
    """Base of every request body: unknown fields and non-finite numbers are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _valid_text(cls, value: Any) -> Any:
        _check_text(value)
        return value


class ContentPart(BaseModel):
    """One part of a message's content: text, or an image (see convert.py and vision_parts.py)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="'text', or 'image_url' with image_url {url: a data: URL (http(s) with "
        "--allow_image_urls), detail}; audio and file parts are refused with a clear error."
    )
    text: str | None = None

    @field_validator("text")
    @classmethod
    def _valid_text(cls, value: Any) -> Any:
        _check_text(value)
        return value


class OpenAIChatMessage(OpenAIBody):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(None, description="Accepted and ignored.")
    tool_calls: list[dict[str, Any]] | None = Field(None, description="Not supported: must be empty.")
    tool_call_id: str | None = Field(None, description="Not supported.")
    refusal: str | None = Field(None, description="Accepted and ignored.")


class StreamOptions(OpenAIBody):
    include_usage: bool | None = Field(None, description="Send a last chunk with the usage and no choices.")
    include_obfuscation: bool | None = Field(None, description="Accepted and ignored.")


class ResponseFormat(OpenAIBody):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = Field(
        None, description="With type json_schema: {name, schema, strict}; the schema is shown to the model."
    )


class SamplingFields(OpenAIBody):
    """Fields the chat and completions endpoints share."""

    model: str | None = Field(None, description="The served model id (see /v1/models) or 'h2ogpt'.")
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(None, ge=1, description="Number of answers per prompt.")
    stop: str | list[str] | None = Field(None, description="Text(s) that end an answer (not included).")
    max_tokens: int | None = Field(
        None, ge=1, description="Most tokens per answer; default --max_new_tokens."
    )
    temperature: float | None = Field(None, ge=0.0, le=5.0, description="0 = greedy.")
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    seed: int | None = Field(None, ge=INT64_MIN, le=INT64_MAX, description="Same seed, same answer.")
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = Field(None, description="Not supported: must be empty.")
    user: str | None = Field(None, description="Accepted and ignored.")
    extra_body: dict[str, Any] | None = Field(
        None,
        description="Fields nested here (as vLLM-style clients such as its_hub send them) are read as "
        "if sent at the top level.",
    )
    include_stop_str_in_output: bool | None = Field(
        None, description="vLLM's field; only false (the stop string is left out) is supported."
    )

    @model_validator(mode="before")
    @classmethod
    def _flatten_extra_body(cls, data: Any) -> Any:
        """Move the fields of a literal ``extra_body`` object to the top level."""
        if not isinstance(data, dict) or not isinstance(data.get("extra_body"), dict):
            return data
        nested = data["extra_body"]
        twice = sorted(set(nested) & set(data))
        if twice:
            raise ValueError(f"extra_body repeats top-level field(s) {', '.join(twice)}: send each once")
        return {**{k: v for k, v in data.items() if k != "extra_body"}, **nested}


class ChatCompletionRequestBase(SamplingFields):
    messages: list[OpenAIChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1, description="Same as max_tokens.")
    logprobs: bool | None = Field(None, description="Return the log-probability of each answer token.")
    top_logprobs: int | None = Field(None, ge=0, le=20, description="With logprobs: alternatives per token.")
    response_format: ResponseFormat | None = None
    tools: list[dict[str, Any]] | None = Field(None, description="Not supported: must be empty.")
    tool_choice: str | dict[str, Any] | None = Field(None, description="Only 'none' or 'auto' without tools.")
    parallel_tool_calls: bool | None = Field(None, description="Accepted and ignored.")
    metadata: dict[str, str] | None = Field(None, description="Accepted and ignored.")
    store: bool | None = Field(None, description="Accepted and ignored (nothing is stored).")
    service_tier: str | None = Field(None, description="Accepted and ignored.")
    add_generation_prompt: bool | None = Field(
        None, description="vLLM's field; only true (the answer starts a new assistant turn) is supported."
    )
    continue_final_message: bool | None = Field(
        None,
        description="vLLM's field; only false is supported (a final assistant message is not continued).",
    )
    return_response_only: bool | None = Field(
        None,
        description="its_hub IaaS: false adds a scaled answer's candidates, votes and scores to the "
        "response as 'metadata'.",
    )


class CompletionRequestBase(SamplingFields):
    prompt: str | list[str] | list[int] | list[list[int]] = Field(
        description="Text, or a list of texts (each answered n times). Token ids are not accepted."
    )
    echo: bool | None = Field(None, description="Put the prompt in front of each answer.")
    logprobs: int | None = Field(None, ge=0, le=20, description="Alternatives per token in the legacy shape.")
    suffix: str | None = Field(None, description="Not supported: must be empty.")
    best_of: int | None = Field(None, ge=0, description="Only equal to n (or 1) is supported.")


class EmbeddingRequest(OpenAIBody):
    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="A text or a list of up to 2048 texts. Token ids are not accepted."
    )
    model: str | None = Field(None, description="The embedding model id (see /v1/models).")
    encoding_format: Literal["float", "base64"] | None = Field(None, description="Default float.")
    dimensions: int | None = Field(None, ge=1, description="Only the model's own size is supported.")
    user: str | None = Field(None, description="Accepted and ignored.")


def build_request_models(
    answer_type: type[AnswerRequest] = AnswerRequest,
) -> tuple[type[ChatCompletionRequestBase], type[CompletionRequestBase]]:
    """The chat and completions bodies: the OpenAI fields plus ``answer_type``'s extra fields."""
    chat = create_model(
        "ChatCompletionRequest",
        __base__=ChatCompletionRequestBase,
        __module__=__name__,
        **extra_fields(ChatCompletionRequestBase.model_fields, answer_type),
    )
    completion = create_model(
        "CompletionRequest",
        __base__=CompletionRequestBase,
        __module__=__name__,
        **extra_fields(CompletionRequestBase.model_fields, answer_type),
    )
    return chat, completion


ChatCompletionRequest, CompletionRequest = build_request_models()


MAX_SPEECH_INPUT = 4096  # characters, as OpenAI


class SpeechRequest(OpenAIBody):
    """POST /v1/audio/speech."""

    model: str | None = Field(
        None, description="The served speech model, or tts-1, tts-1-hd, gpt-4o-mini-tts."
    )
    input: str = Field(description=f"The text to speak, at most {MAX_SPEECH_INPUT} characters.")
    voice: str | None = Field(
        None, description="An installed voice, or an OpenAI voice name (alloy, ash, ...) mapped onto one."
    )
    instructions: str | None = Field(
        None, description="Accepted and ignored (Piper voices take no instructions)."
    )
    response_format: str | None = Field(None, description="mp3 (default), opus, aac, flac, wav or pcm.")
    speed: float | None = Field(None, description="0.25 to 4.0; default the server's --tts_speed.")
    stream_format: Literal["audio", "sse"] | None = Field(
        None, description="audio (default): the audio bytes, streamed; sse: speech.audio.delta events."
    )

    @field_validator("input")
    @classmethod
    def _input_size(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("give the text to speak")
        if len(value) > MAX_SPEECH_INPUT:
            raise ValueError(
                f"at most {MAX_SPEECH_INPUT} characters, got {len(value)}; split the text into several requests"
            )
        return value

    @field_validator("response_format")
    @classmethod
    def _known_format(cls, value: str | None) -> str | None:
        from h2ogpt.speech.audio import OUTPUT_FORMATS

        if value is not None and value not in OUTPUT_FORMATS:
            raise ValueError(f"'{value}' is not supported; choose one of {', '.join(OUTPUT_FORMATS)}")
        return value

    @field_validator("speed")
    @classmethod
    def _speed_range(cls, value: float | None) -> float | None:
        if value is not None and not 0.25 <= value <= 4.0:
            raise ValueError(f"{value} is out of range; choose a speed between 0.25 and 4.0")
        return value
