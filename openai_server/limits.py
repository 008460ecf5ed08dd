"""Request limits: body size (413) and requests in flight (429).

Both are plain ASGI middleware so that they act before FastAPI reads or parses a body,
and so that a streamed answer counts as in flight until its last byte is sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openai_server.errors import ApiError

MAX_BODY_BYTES = 4 * 1024 * 1024
DRAIN_LIMIT_BYTES = (
    64 * 1024 * 1024
)  # read (and drop) this much of a too-large body, so the client sees the 413
MODEL_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/audio/transcriptions",
        "/v1/audio/speech",
        "/v1/images/generations",
    }
)


def chat_body_bytes(max_image_bytes: int, max_bytes: int = MAX_BODY_BYTES) -> int:
    """The chat route's body limit: the usual one plus one image of --max_image_bytes as a
    base64 data: URL (4/3 of its size)."""
    return max_bytes + max_image_bytes * 4 // 3


def _declared_length(scope: Scope) -> int | None:
    try:
        return int(Headers(scope=scope)["content-length"])
    except (KeyError, ValueError):
        return None


class BodyLimitMiddleware:
    """Reads the whole body up front (at most ``max_bytes``, with or without Content-Length)
    and hands it to the app; a larger body gets 413."""

    def __init__(
        self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})  # routes that take more (chat: inline images)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        limit = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left while sending
            body = message.get("body", b"")
            size += len(body)
            more = bool(message.get("more_body", False))
            if size <= limit:
                chunks.append(body)
            elif size > DRAIN_LIMIT_BYTES or (declared or 0) > DRAIN_LIMIT_BYTES:
                break
        if size > limit or (declared or 0) > limit:
            message = f"the request body is larger than {limit // (1024 * 1024)} MiB"
            await ApiError(413, message, code="request_too_large").response()(scope, receive, send)
            return
        await self.app(scope, self._replay(b"".join(chunks), receive), send)

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for http.disconnect

        return replay


class AdmissionMiddleware:
    """At most ``max_in_flight`` model requests at once (running or streaming); more get 429."""

    def __init__(self, app: ASGIApp, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # one event loop: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in MODEL_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            message = f"the server is busy: {self.in_flight} requests in flight (--max_queue); retry shortly"
            error = ApiError(429, message, code="rate_limit_exceeded", headers={"Retry-After": "1"})
            await error.response()(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
