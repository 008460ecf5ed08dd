"""POST /v1/completions: raw text continued by the core pipeline (no chat template).

A list of prompts gives ``n`` choices per prompt; choice ``index`` is ``prompt * n + k``.
Whole responses generate the prompts concurrently; a stream sends them one after another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from h2ogpt.events import Choice, ErrorEvent, Event, FinalAnswer, TokenDelta
from openai_server.bridge import EventSource, final_answers, first_event
from openai_server.convert import completion_requests
from openai_server.errors import ERROR_RESPONSES, from_event
from openai_server.identity import request_user
from openai_server.render import ResponseMeta, completion, finish_reason, legacy_logprobs, usage_dict
from openai_server.schemas import CompletionRequest
from openai_server.sse import DONE, SSEResponse, sse_data
from openai_server.state import ServerState

router = APIRouter()


@dataclass(frozen=True)
class CompletionShape:
    """How the answers of one request are laid out."""

    prompts: Sequence[str]
    n: int
    echo: bool
    logprobs: bool
    usage_in_chunks: bool = False  # stream_options.include_usage: every chunk has "usage": null

    def prefix(self, prompt: int) -> str:
        return self.prompts[prompt] if self.echo else ""


def _choice(index: int, text: str, reason: str | None = None, logprobs: dict | None = None) -> dict:
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": reason}


def _final_choice(shape: CompletionShape, prompt: int, c: Choice, text: str) -> dict:
    prefix = shape.prefix(prompt)
    probs = legacy_logprobs(c.logprobs, len(prefix)) if shape.logprobs else None
    return _choice(prompt * shape.n + c.index, text, finish_reason(c.finish_reason), probs)


async def _prompt_chunks(
    source: EventSource, first: Event | None, prompt: int, shape: CompletionShape, meta: ResponseMeta
) -> AsyncIterator[tuple[str, FinalAnswer | None]]:
    """The SSE lines of one prompt's answers, and its final answer with the last line."""
    if shape.echo:
        for k in range(shape.n):
            yield (
                sse_data(
                    completion(
                        meta,
                        [_choice(prompt * shape.n + k, shape.prompts[prompt])],
                        None,
                        shape.usage_in_chunks,
                    )
                ),
                None,
            )
    event = first if first is not None else await source.next()
    while event is not None:
        if isinstance(event, TokenDelta) and event.text:
            chunk = [_choice(prompt * shape.n + event.index, event.text)]
            yield sse_data(completion(meta, chunk, None, shape.usage_in_chunks)), None
        elif isinstance(event, FinalAnswer):
            chunk = [_final_choice(shape, prompt, c, "") for c in event.choices]
            yield sse_data(completion(meta, chunk, None, shape.usage_in_chunks)), event
        elif isinstance(event, ErrorEvent):
            raise from_event(event)
        event = await source.next()


async def completion_chunks(
    sources: Sequence[EventSource], first: Event, shape: CompletionShape, meta: ResponseMeta
) -> AsyncIterator[str]:
    finals: list[FinalAnswer] = []
    try:
        for prompt, source in enumerate(sources):
            async for line, final in _prompt_chunks(
                source, first if prompt == 0 else None, prompt, shape, meta
            ):
                yield line
                if final is not None:
                    finals.append(final)
        if shape.usage_in_chunks:
            yield sse_data(completion(meta, [], usage_dict(f.usage for f in finals)))
        yield DONE
    finally:
        for source in sources:
            await source.aclose()


@router.post("/v1/completions", responses=ERROR_RESPONSES, tags=["completions"])
async def create_completion(body: CompletionRequest, request: Request) -> Response:  # type: ignore[valid-type]
    """Continue text (OpenAI's legacy completions; extra fields are h2oGPT's)."""
    state: ServerState = request.app.state.server
    model = state.chat_model(body.model)
    answer_requests = completion_requests(body)
    pipeline = state.pipeline()
    sources = [EventSource(pipeline.answer(r, request_user(request)), state.limiter) for r in answer_requests]
    prompts = [r.prompt or "" for r in answer_requests]
    with_usage = bool(body.stream and body.stream_options and body.stream_options.include_usage)
    shape = CompletionShape(
        prompts, answer_requests[0].n, bool(body.echo), body.logprobs is not None, with_usage
    )
    meta = ResponseMeta.new("cmpl", model)
    if body.stream:
        first = await first_event(request, sources[0])
        return SSEResponse(completion_chunks(sources, first, shape, meta))
    finals = await final_answers(request, sources)
    choices = [
        _final_choice(shape, p, c, shape.prefix(p) + c.text)
        for p, final in enumerate(finals)
        for c in final.choices
    ]
    return JSONResponse(completion(meta, choices, usage_dict(f.usage for f in finals)))
