"""Request bodies and response parsing for the remote backend (no HTTP here).

Both endpoints are read through the official ``openai`` client's response objects:
``/v1/completions`` (choices carry ``text`` and legacy logprobs: ``tokens``,
``token_logprobs``, ``top_logprobs``, ``text_offset``) and ``/v1/chat/completions``
(choices carry ``delta.content`` and ``logprobs.content``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from h2ogpt.backends.base import (
    Completion,
    ContinuationScore,
    FinishReason,
    SamplingParams,
    TextDelta,
    TokenLogprob,
)

CHARS_PER_TOKEN = 4  # the token-count heuristic: no tokenizer of the served model is at hand


def estimate_tokens(text: str) -> int:
    """ceil(characters / 4): close to BPE tokenizers on English text, rough elsewhere."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


IMAGE_TOKENS = 256  # a rough guess of what one image costs a vision model's context


def chat_content(message: Any) -> Any:
    """A message's OpenAI content: its text, or with images (objects with ``data_url()`` and
    ``detail``) a list of parts, the images in order after the text."""
    images = message.get("images") or ()
    if not images:
        return message["content"]
    parts: list[dict[str, Any]] = [{"type": "text", "text": message["content"]}] if message["content"] else []
    for image in images:
        parts.append({"type": "image_url", "image_url": {"url": image.data_url(), "detail": image.detail}})
    return parts


def sampling_body(params: SamplingParams, n: int, *, chat: bool, logprobs: bool, extensions: bool) -> dict:
    """The request fields for ``params``. ``logprobs``: ask for the chosen tokens'
    log-probabilities even when ``params.top_logprobs`` is 0. ``extensions``: the server
    takes vLLM's ``top_k`` and ``repetition_penalty`` (sent in ``extra_body``)."""
    body: dict[str, Any] = {
        "n": n,
        "max_tokens": params.max_new_tokens,
        "temperature": 0.0 if params.greedy else params.temperature,
        "top_p": params.top_p,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    if params.stop:
        body["stop"] = list(params.stop)
    if params.presence_penalty:
        body["presence_penalty"] = params.presence_penalty
    if params.frequency_penalty:
        body["frequency_penalty"] = params.frequency_penalty
    if params.json_object:
        body["response_format"] = {"type": "json_object"}
    if logprobs or params.top_logprobs:
        if chat:
            body["logprobs"] = True
            if params.top_logprobs:
                body["top_logprobs"] = params.top_logprobs
        else:
            body["logprobs"] = params.top_logprobs
    extra: dict[str, Any] = {}
    if extensions and params.top_k > 0 and not params.greedy:
        extra["top_k"] = params.top_k
    if extensions and params.repetition_penalty != 1.0:
        extra["repetition_penalty"] = params.repetition_penalty
    if extra:
        body["extra_body"] = extra
    return body


def finish_reason(reason: str | None) -> FinishReason:
    """The server's finish reason as ours: 'length' stays, anything else is 'stop'."""
    return "length" if reason == "length" else "stop"


def split_total(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder: the parts sum to it)."""
    if not weights:
        return []
    mass = sum(weights)
    shares = [total * w / mass if mass > 0 else total / len(weights) for w in weights]
    parts = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - parts[i], reverse=True)
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _chat_logprobs(logprobs: Any, top_k: int) -> list[TokenLogprob]:
    return [
        TokenLogprob(
            t.token,
            float(t.logprob),
            tuple((a.token, float(a.logprob)) for a in (t.top_logprobs or ())[:top_k]),
        )
        for t in (getattr(logprobs, "content", None) or ())
    ]


def _legacy_logprobs(logprobs: Any, top_k: int) -> list[TokenLogprob]:
    tokens = getattr(logprobs, "tokens", None) or []
    values = getattr(logprobs, "token_logprobs", None) or []
    tops = getattr(logprobs, "top_logprobs", None) or [None] * len(tokens)
    out = []
    for token, value, top in zip(tokens, values, tops, strict=False):
        if value is not None:
            ranked = sorted((top or {}).items(), key=lambda kv: kv[1], reverse=True)[:top_k]
            out.append(TokenLogprob(token, float(value), tuple((t, float(v)) for t, v in ranked)))
    return out


@dataclass
class _ChoiceState:
    text: list[str] = field(default_factory=list)
    chunks: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None


class StreamCollector:
    """Turns the chunks of one streamed response into TextDelta events and, at the end,
    one Completion per choice.

    ``offset`` shifts the choice indices (a second request for samples a server left
    out); ``per_prompt`` is the request's ``n`` (completions number choices
    prompt-major: index = prompt * n + sample).
    """

    def __init__(self, *, chat: bool, top_logprobs: int, offset: int = 0, per_prompt: int = 1) -> None:
        self.chat = chat
        self.top_logprobs = top_logprobs
        self.offset = offset
        self.per_prompt = per_prompt
        self.choices: dict[int, _ChoiceState] = {}
        self.usage: Any = None

    @property
    def received_text(self) -> bool:
        return any(state.text for state in self.choices.values())

    def add(self, chunk: Any) -> list[TextDelta]:
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        deltas = []
        for choice in getattr(chunk, "choices", None) or ():
            state = self.choices.setdefault(choice.index, _ChoiceState())
            if self.chat:
                text = (getattr(choice.delta, "content", None) or "") if choice.delta else ""
                tokens = _chat_logprobs(choice.logprobs, self.top_logprobs)
            else:
                text = choice.text or ""
                tokens = _legacy_logprobs(choice.logprobs, self.top_logprobs)
            state.logprobs.extend(tokens)
            if text:
                state.text.append(text)
                state.chunks += 1
                deltas.append(TextDelta(choice.index + self.offset, text))
            if choice.finish_reason:
                state.finish_reason = choice.finish_reason
        return deltas

    def missing(self, count: int) -> int:
        """Choices among the first ``count`` the server never sent (it ignored ``n``)."""
        return sum(1 for i in range(count) if i not in self.choices)

    def completions(self, count: int, prompt_estimates: list[int], timed_out: bool) -> list[Completion]:
        """One Completion per choice received (per expected choice when ``timed_out``).

        Token counts: the server's usage when it reports one (``stream_options``), split
        over prompts by their estimated size and over choices by their streamed tokens;
        else the estimates and the streamed token counts.
        """
        indices = range(count) if timed_out else sorted(i for i in self.choices if i < count)
        states = [self.choices.get(i, _ChoiceState()) for i in indices]
        generated = [len(s.logprobs) or s.chunks for s in states]
        prompt_tokens = list(prompt_estimates)
        usage = self.usage
        if usage is not None and getattr(usage, "completion_tokens", None) is not None:
            generated = split_total(int(usage.completion_tokens), generated)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            prompt_tokens = split_total(int(usage.prompt_tokens), prompt_estimates)
        done = []
        for i, state, tokens in zip(indices, states, generated, strict=True):
            if state.finish_reason is None and timed_out:
                reason: FinishReason = "time"
            else:
                reason = finish_reason(state.finish_reason)
            done.append(
                Completion(
                    index=i + self.offset,
                    text="".join(state.text),
                    finish_reason=reason,
                    prompt_tokens=prompt_tokens[min(i // self.per_prompt, len(prompt_tokens) - 1)],
                    completion_tokens=tokens,
                    logprobs=state.logprobs,
                )
            )
        return done


def continuation_score(choice: Any, start: int, end: int) -> ContinuationScore | None:
    """Log-probabilities of the echoed prompt tokens inside characters ``[start, end)``
    of one ``echo=True`` completion choice; None when the server sent none.

    A token that straddles ``start`` counts as part of the continuation. Tokens from
    ``end`` on (one generated token when the server needs ``max_tokens >= 1``) are left out.
    """
    if start >= end:
        return ContinuationScore((), ())
    logprobs = getattr(choice, "logprobs", None)
    tokens = getattr(logprobs, "tokens", None) or []
    values = getattr(logprobs, "token_logprobs", None) or []
    if not tokens or len(values) != len(tokens):
        return None
    offsets = getattr(logprobs, "text_offset", None) or []
    if len(offsets) != len(tokens):  # rebuild them from the token texts
        offsets, position = [], 0
        for token in tokens:
            offsets.append(position)
            position += len(token)
    picked_tokens, picked_values = [], []
    for i, token in enumerate(tokens):
        token_end = offsets[i + 1] if i + 1 < len(tokens) else offsets[i] + len(token)
        if token_end > start and offsets[i] < end:
            if values[i] is None:
                return None
            picked_tokens.append(token)
            picked_values.append(float(values[i]))
    if not picked_tokens:
        return None
    return ContinuationScore(tuple(picked_tokens), tuple(picked_values))


def server_message(exc: Any) -> str:
    """The error message a server put in its error body (OpenAI, vLLM or FastAPI style)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if value:
                return value if isinstance(value, str) else str(value)
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return str(getattr(exc, "message", "") or exc)
