"""Server-sent events: ``data: {json}\\n\\n`` ... ``data: [DONE]\\n\\n``."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from openai_server.errors import ApiError

log = logging.getLogger(__name__)

DONE = "data: [DONE]\n\n"


def sse_data(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False, separators=(',', ':'))}\n\n"


def sse_error(error: ApiError) -> str:
    """An error after the stream started: OpenAI sends the error object as a data line."""
    return sse_data(error.body())


async def guarded(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """Turn a failure inside the stream into an error line instead of a broken connection."""
    try:
        async for chunk in chunks:
            yield chunk
    except ApiError as exc:
        yield sse_error(exc)
        yield DONE
    except Exception:
        log.exception("stream failed")
        yield sse_error(ApiError(500, "internal server error; see the server log", code="internal_error"))
        yield DONE


class SSEResponse(StreamingResponse):
    """A streaming response that always closes its body iterator, which cancels generation.

    Starlette cancels the sending task when the client disconnects; the iterator may then
    be suspended between chunks, where only ``aclose`` reaches its ``finally``.
    """

    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncIterator[str]) -> None:
        super().__init__(guarded(chunks), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()  # type: ignore[attr-defined]
                await self._chunks.aclose()  # type: ignore[attr-defined]
