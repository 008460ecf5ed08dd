"""OpenAI request bodies -> the core's AnswerRequest (the one request type).

Pure translation: names (``max_tokens`` -> ``max_new_tokens``), shapes (content parts ->
text and images, ``stop`` string -> list) and the refusals of what the core cannot do yet
(audio and file parts, tools, token-id prompts). Validation of values is the core's; its errors come back as
400s that use the OpenAI field names.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from h2ogpt.request import AnswerRequest
from h2ogpt.settings import Settings
from h2ogpt.vision.images import ImageInput
from openai_server.errors import ApiError, bad_request, describe_validation_error
from openai_server.extras import OPENAI_NAMES, extra_values
from openai_server.schemas import (
    ChatCompletionRequestBase,
    CompletionRequestBase,
    OpenAIChatMessage,
    ResponseFormat,
)
from openai_server.vision_parts import IMAGE_PARTS, image_from_part

JSON_INSTRUCTION = "Answer with a single JSON object only."
MAX_PROMPTS = 128  # prompts in one completions request
_PART_KINDS = {"image_url": "image", "input_image": "image", "input_audio": "audio", "file": "file"}


def _core_error(exc: ValidationError, renames: dict[str, str]) -> ApiError:
    error = dict(exc.errors()[0])
    loc = list(error.get("loc", ()))
    if loc and isinstance(loc[0], str):
        loc[0] = renames.get(loc[0], loc[0])
    error["loc"] = tuple(loc)
    return describe_validation_error(error)


def build_answer_request(fields: dict[str, Any], renames: dict[str, str] | None = None) -> AnswerRequest:
    """AnswerRequest from translated fields; the core's own checks become 400s."""
    try:
        return AnswerRequest.model_validate(fields)
    except ValidationError as exc:
        raise _core_error(exc, {**OPENAI_NAMES, **(renames or {})}) from None


def _message_content(
    index: int, message: OpenAIChatMessage, settings: Settings | None, images: list[ImageInput]
) -> str:
    """The message's text; its image parts are appended to ``images`` (numbered across the request)."""
    content = message.content
    if content is None:
        if message.role == "assistant":
            return ""
        raise bad_request(f"messages[{index}].content: a {message.role} message needs content", "messages")
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        where = f"messages[{index}].content[{j}]"
        if part.type == "text" and part.text is not None:
            texts.append(part.text)
        elif part.type in IMAGE_PARTS and settings is not None and message.role == "user":
            number = len(images) + 1
            if number > settings.max_images:
                raise bad_request(
                    f"{where}: more than {settings.max_images} images in one request (--max_images); "
                    "send fewer",
                    where,
                    "too_many_images",
                )
            images.append(image_from_part(part, where, number, settings))
        elif part.type in IMAGE_PARTS and settings is not None:
            raise bad_request(f"{where}: only user messages may carry images", where, "unsupported_content")
        elif part.type in _PART_KINDS:
            raise bad_request(
                f"{where}: {_PART_KINDS[part.type]} parts ({part.type}) are not supported: "
                "the served model reads text only; send text parts",
                param=where,
                code="unsupported_content",
            )
        else:
            raise bad_request(f"{where}: unknown content part type '{part.type}'; use 'text'", param=where)
    return "\n".join(texts)


def chat_messages(
    messages: list[OpenAIChatMessage], settings: Settings | None = None
) -> list[dict[str, Any]]:
    """OpenAI messages -> the core's {role, content, images}; 'developer' is the system role.

    Image parts are accepted when ``settings`` are given (their limits apply), else refused.
    """
    converted: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if message.role in ("tool", "function") or message.tool_calls or message.tool_call_id:
            raise bad_request(
                f"messages[{i}]: tool and function calling are not supported",
                param=f"messages[{i}]",
                code="unsupported_parameter",
            )
        role = "system" if message.role == "developer" else message.role
        images: list[ImageInput] = []
        text = _message_content(i, message, settings, images)
        converted.append({"role": role, "content": text, **({"images": images} if images else {})})
    return converted


def core_response_format(fmt: ResponseFormat | None) -> dict[str, str]:
    """JSON mode for the core, when it has it: the answer is then constrained to one JSON object
    (a json_schema is only shown to the model, not enforced)."""
    if fmt is None or fmt.type == "text" or "response_format" not in AnswerRequest.model_fields:
        return {}
    return {"response_format": "json_object"}


def with_response_format(messages: list[dict[str, Any]], fmt: ResponseFormat | None) -> list[dict[str, Any]]:
    """JSON mode as an instruction in the system message, so the model knows what to write."""
    if fmt is None or fmt.type == "text":
        return messages
    instruction = JSON_INSTRUCTION
    if fmt.type == "json_schema":
        schema = (fmt.json_schema or {}).get("schema")
        if schema is not None:
            instruction += " It must match this JSON schema: " + json.dumps(schema, ensure_ascii=False)
    if messages and messages[0]["role"] == "system":
        first = messages[0]
        text = f"{first['content']}\n\n{instruction}" if first["content"] else instruction
        return [{"role": "system", "content": text}, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def _refuse_unsupported(body: ChatCompletionRequestBase | CompletionRequestBase) -> None:
    if body.logit_bias:
        raise bad_request("logit_bias is not supported", "logit_bias", "unsupported_parameter")
    if body.include_stop_str_in_output:
        raise bad_request(
            "include_stop_str_in_output=true is not supported: stop strings are left out",
            "include_stop_str_in_output",
            "unsupported_value",
        )
    if isinstance(body, ChatCompletionRequestBase):
        if body.add_generation_prompt is False or body.continue_final_message:
            raise bad_request(
                "continuing a final assistant message is not supported: use /v1/completions with the "
                "text to continue",
                "continue_final_message",
                "unsupported_value",
            )
        if body.tools:
            raise bad_request("tool calling is not supported", "tools", "unsupported_parameter")
        if body.tool_choice not in (None, "none", "auto"):
            raise bad_request("tool_choice needs tools, which are not supported", "tool_choice")
        if body.top_logprobs and not body.logprobs:
            raise bad_request("top_logprobs needs logprobs: true", "top_logprobs")
    else:
        if body.suffix:
            raise bad_request("suffix is not supported", "suffix", "unsupported_parameter")
        if body.best_of not in (None, 0, 1, body.n or 1):
            raise bad_request("best_of other than n is not supported: use n", "best_of")


def sampling_fields(body: ChatCompletionRequestBase | CompletionRequestBase) -> dict[str, Any]:
    """The sampling fields both endpoints share, under the core's names (unset ones left out)."""
    _refuse_unsupported(body)
    fields: dict[str, Any] = {}
    max_tokens = getattr(body, "max_completion_tokens", None) or body.max_tokens
    if max_tokens is not None:
        fields["max_new_tokens"] = max_tokens
    if body.temperature is not None:
        fields["temperature"] = body.temperature
    for name in ("top_p", "seed", "presence_penalty", "frequency_penalty", "n"):
        if getattr(body, name) is not None:
            fields[name] = getattr(body, name)
    if body.stop is not None:
        fields["stop"] = [body.stop] if isinstance(body.stop, str) else body.stop
    fields.update(extra_values(body))
    return fields


def header_budget(value: str | None) -> int | None:
    """its_hub IaaS's ``X-ITS-Budget`` header as a number (its range is checked with the body)."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise bad_request(
            f"X-ITS-Budget header: {value!r} is not a whole number of samples", "budget"
        ) from None


def chat_request(
    body: ChatCompletionRequestBase, budget_header: str | None = None, settings: Settings | None = None
) -> AnswerRequest:
    """The core request of a chat body; an ``X-ITS-Budget`` header overrides the body's budget.
    With ``settings``, image parts are read (fetched, decoded, checked against its limits)."""
    messages = with_response_format(chat_messages(body.messages, settings), body.response_format)
    fields = {"messages": messages, **sampling_fields(body), **core_response_format(body.response_format)}
    budget = header_budget(budget_header)
    if budget is not None:
        fields["budget"] = budget
    if body.logprobs and body.top_logprobs:
        fields["top_logprobs"] = body.top_logprobs
    renames = {"max_new_tokens": "max_completion_tokens" if body.max_completion_tokens else "max_tokens"}
    return build_answer_request(fields, renames)


def completion_prompts(body: CompletionRequestBase) -> list[str]:
    prompt = body.prompt
    if isinstance(prompt, str):
        return [prompt]
    if not prompt:
        raise bad_request("prompt: give a text or a non-empty list of texts", "prompt")
    if len(prompt) > MAX_PROMPTS:
        raise bad_request(f"prompt: at most {MAX_PROMPTS} prompts per request, got {len(prompt)}", "prompt")
    if not all(isinstance(p, str) for p in prompt):
        raise bad_request(
            "prompt: token-id prompts are not supported; send the text", "prompt", "unsupported_value"
        )
    return list(prompt)  # type: ignore[arg-type]


def completion_requests(body: CompletionRequestBase) -> list[AnswerRequest]:
    """One AnswerRequest per prompt of a completions body."""
    fields = sampling_fields(body)
    if body.logprobs:
        fields["top_logprobs"] = body.logprobs
    renames = {"top_logprobs": "logprobs"}
    return [build_answer_request({"prompt": p, **fields}, renames) for p in completion_prompts(body)]
