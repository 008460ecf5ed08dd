"""Core results -> OpenAI response objects (plain dicts, ready for JSON)."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from h2ogpt.backends.base import TokenLogprob
from h2ogpt.events import FinalAnswer, ImagesRead, Usage
from h2ogpt.scaling.types import ScalingProgress, ScalingResult


@dataclass(frozen=True)
class ResponseMeta:
    """What every object (or chunk) of one response repeats."""

    id: str
    created: int
    model: str

    @classmethod
    def new(cls, prefix: str, model: str) -> ResponseMeta:
        return cls(f"{prefix}-{uuid.uuid4().hex}", int(time.time()), model)


def finite_logprob(value: float) -> float:
    """JSON has no -inf: OpenAI writes -9999.0 for "very unlikely"."""
    return value if math.isfinite(value) else -9999.0


def finish_reason(reason: str) -> str:
    """The core stops on time too; OpenAI has no such reason, it is a kind of "length"."""
    return "length" if reason == "time" else reason


def usage_dict(usages: Iterable[Usage]) -> dict[str, int]:
    prompt = completion = 0
    for usage in usages:
        prompt += usage.prompt_tokens
        completion += usage.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --- chat ----------------------------------------------------------------------------------
def _token_entry(token: str, logprob: float) -> dict[str, Any]:
    return {
        "token": token,
        "logprob": finite_logprob(logprob),
        "bytes": list(token.encode("utf-8", errors="replace")),
    }


def chat_logprobs(logprobs: Sequence[TokenLogprob]) -> dict[str, Any]:
    content = [
        {**_token_entry(t.token, t.logprob), "top_logprobs": [_token_entry(tok, lp) for tok, lp in t.top]}
        for t in logprobs
    ]
    return {"content": content, "refusal": None}


def chat_completion(meta: ResponseMeta, final: FinalAnswer, logprobs: bool) -> dict[str, Any]:
    choices = [
        {
            "index": c.index,
            "message": {"role": "assistant", "content": c.text, "refusal": None},
            "logprobs": chat_logprobs(c.logprobs) if logprobs else None,
            "finish_reason": finish_reason(c.finish_reason),
        }
        for c in final.choices
    ]
    return {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
        "usage": usage_dict([final.usage]),
        **({"sources": sources_list(final)} if final.sources else {}),
        **({"vision": images_read(final.images)} if final.images is not None else {}),
    }


def images_read(read: ImagesRead) -> dict[str, Any]:
    """h2oGPT's extra response field when the question had images: who looked at them
    (``how``: seen | described | ocr, ``by``: the model or OCR) and the text given to the chat model."""
    return {
        "how": read.how,
        "by": read.by,
        "images": read.count,
        "texts": list(read.texts),
        "note": read.note,
    }


def sources_list(final: FinalAnswer) -> list[dict[str, Any]]:
    """h2oGPT's extra response field: the documents the answer cites, numbered as in [n]
    (``page``, or ``start``/``end`` seconds for a transcript of audio or video)."""
    return [
        {
            "number": s.number,
            "source": s.source,
            "page": s.page,
            "start": s.start,
            "end": s.end,
            "score": s.score,
            "text": s.text,
        }
        for s in final.sources
    ]


def chat_chunk(
    meta: ResponseMeta, choices: list[dict[str, Any]], with_usage: bool, usage: dict | None = None
) -> dict[str, Any]:
    chunk = {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
    }
    if with_usage:
        chunk["usage"] = usage
    return chunk


def chat_delta(index: int, delta: dict[str, str], reason: str | None = None, logprobs: Any = None) -> dict:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": reason}


# --- inference-time scaling ------------------------------------------------------------------
def scaling_metadata(result: ScalingResult) -> dict[str, Any]:
    """its_hub IaaS's response ``metadata``: every candidate, the votes or scores, the choice."""
    usage = result.usage
    return {
        "algorithm": result.algorithm,
        "budget": result.budget,
        "all_responses": [{"role": "assistant", "content": c.text} for c in result.candidates],
        "response_counts": result.votes,
        "answers": [c.answer for c in result.candidates],
        "scores": [None if c.score is None else finite_logprob(c.score) for c in result.candidates],
        "steps": [c.steps for c in result.candidates],
        "selected_index": result.selected_index,
        "stopped_early": result.stopped_early,
        "usage": {
            "generation_prompt_tokens": usage.prompt_tokens,
            "generation_completion_tokens": usage.completion_tokens,
            "reward_prompt_tokens": usage.reward_prompt_tokens,
            "reward_completion_tokens": usage.reward_completion_tokens,
            "reward_calls": usage.reward_calls,
        },
    }


def scaling_progress(progress: ScalingProgress) -> dict[str, Any]:
    """A progress report of a scaled answer, sent as an extra field of a stream chunk."""
    return {
        "algorithm": progress.algorithm,
        "done": progress.done,
        "total": progress.total,
        "step": progress.step,
        "leader": progress.leader,
        "votes": progress.votes,
        "weights": [finite_logprob(w) for w in progress.weights],
        "message": progress.message,
    }


# --- completions ---------------------------------------------------------------------------
def legacy_logprobs(logprobs: Sequence[TokenLogprob], start: int) -> dict[str, Any]:
    """The completions endpoint's logprobs; ``start`` is where the answer begins in ``text``."""
    tokens, offsets, offset = [], [], start
    for t in logprobs:
        text = t.token
        tokens.append(text)
        offsets.append(offset)
        offset += len(text)
    return {
        "tokens": tokens,
        "token_logprobs": [finite_logprob(t.logprob) for t in logprobs],
        "top_logprobs": [{tok: finite_logprob(lp) for tok, lp in t.top} for t in logprobs],
        "text_offset": offsets,
    }


def completion(
    meta: ResponseMeta, choices: list[dict[str, Any]], usage: dict | None, with_usage: bool = True
) -> dict[str, Any]:
    """A completions response; chunks of a stream have the same shape (``usage`` only when
    the client asked for it, null but in the last chunk)."""
    body = {
        "id": meta.id,
        "object": "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
    }
    if with_usage:
        body["usage"] = usage
    return body
