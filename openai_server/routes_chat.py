"""POST /v1/chat/completions: a chat answered by the core pipeline, whole or streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from h2ogpt.events import ErrorEvent, Event, FinalAnswer, ImagesRead, TokenDelta
from h2ogpt.scaling.types import ScalingProgress
from openai_server.bridge import EventSource, final_answers, first_event
from openai_server.convert import chat_request
from openai_server.errors import ERROR_RESPONSES, from_event
from openai_server.identity import request_user
from openai_server.render import (
    ResponseMeta,
    chat_chunk,
    chat_completion,
    chat_delta,
    chat_logprobs,
    finish_reason,
    images_read,
    scaling_metadata,
    scaling_progress,
    usage_dict,
)
from openai_server.schemas import ChatCompletionRequest
from openai_server.sse import DONE, SSEResponse, sse_data
from openai_server.state import ServerState

router = APIRouter()


async def chat_chunks(
    source: EventSource,
    first: Event,
    meta: ResponseMeta,
    n: int,
    logprobs: bool,
    with_usage: bool,
    with_metadata: bool = False,
) -> AsyncIterator[str]:
    """The SSE lines of a streamed chat answer (logprobs come with each choice's last chunk).

    A scaled answer's progress comes as chunks with no choices and a ``scaling_progress``
    field; with ``with_metadata`` the last chunk carries the candidates as ``metadata``.
    """
    try:
        for index in range(n):
            role = chat_delta(index, {"role": "assistant", "content": ""})
            yield sse_data(chat_chunk(meta, [role], with_usage))
        event: Event | None = first
        while event is not None:
            if isinstance(event, TokenDelta) and event.text:
                delta = chat_delta(event.index, {"content": event.text})
                yield sse_data(chat_chunk(meta, [delta], with_usage))
            elif isinstance(event, ImagesRead):
                yield sse_data({**chat_chunk(meta, [], with_usage), "vision": images_read(event)})
            elif isinstance(event, ScalingProgress):
                yield sse_data(
                    {**chat_chunk(meta, [], with_usage), "scaling_progress": scaling_progress(event)}
                )
            elif isinstance(event, FinalAnswer):
                for c in event.choices:
                    probs = chat_logprobs(c.logprobs) if logprobs else None
                    last = chat_chunk(
                        meta, [chat_delta(c.index, {}, finish_reason(c.finish_reason), probs)], with_usage
                    )
                    if with_metadata and event.scaling is not None:
                        last["metadata"] = scaling_metadata(event.scaling)
                    yield sse_data(last)
                if with_usage:
                    yield sse_data(chat_chunk(meta, [], True, usage_dict([event.usage])))
            elif isinstance(event, ErrorEvent):
                raise from_event(event)
            event = await source.next()
        yield DONE
    finally:
        await source.aclose()


@router.post("/v1/chat/completions", responses=ERROR_RESPONSES, tags=["chat"])
async def create_chat_completion(body: ChatCompletionRequest, request: Request) -> Response:  # type: ignore[valid-type]
    """Answer a conversation (OpenAI's chat completions; extra fields are h2oGPT's)."""
    state: ServerState = request.app.state.server
    model = state.chat_model(body.model)
    budget_header = request.headers.get("x-its-budget")
    # images are decoded (and fetched, when allowed) here: off the event loop
    answer_request = await anyio.to_thread.run_sync(chat_request, body, budget_header, state.settings)
    with_metadata = body.return_response_only is False
    source = EventSource(state.pipeline().answer(answer_request, request_user(request)), state.limiter)
    meta = ResponseMeta.new("chatcmpl", model)
    if body.stream:
        first = await first_event(request, source)
        with_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = chat_chunks(
            source, first, meta, answer_request.n, bool(body.logprobs), with_usage, with_metadata
        )
        return SSEResponse(chunks)
    (final,) = await final_answers(request, [source])
    response = chat_completion(meta, final, bool(body.logprobs))
    if with_metadata and final.scaling is not None:
        response["metadata"] = scaling_metadata(final.scaling)
    return JSONResponse(response)
