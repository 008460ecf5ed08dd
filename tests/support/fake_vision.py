"""A fake vision model server (vLLM serving a vision-language model): a real FastAPI app on
loopback, built on :mod:`support.fake_upstream`, that really looks at the pixels.

Its chat answer names every image of the conversation, in order, by dominant colour and size:
``"Image 1: a red image, 64x64. Image 2: a blue image, 32x48."`` (``"I see no image."`` when
there is none). Image parts must be OpenAI ``image_url`` parts with base64 ``data:`` URLs;
anything else is a 400, as a real server would answer. ``GET /images/{colour}-{w}x{h}.png``
serves a PNG of that colour and size (for the API's ``--allow_image_urls``). Every request
is recorded in ``state.requests`` like the fake upstream's.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from PIL import Image, ImageColor

from support.fake_upstream import (
    FakeState,
    FakeUpstream,
    Recorded,
    _chunks,
    _error,
    _generate,
    _usage,
    build_app,
    tokenize,
)

VISION_MODEL_ID = "fake-vision-model"
COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 160, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
}


def png(colour: str, size: tuple[int, int] = (64, 64)) -> bytes:
    """A PNG of one colour (a name of ``COLOURS`` or anything Pillow knows)."""
    out = io.BytesIO()
    Image.new("RGB", size, COLOURS.get(colour) or ImageColor.getrgb(colour)).save(out, "PNG")
    return out.getvalue()


def dominant_colour(image: Image.Image) -> str:
    """The name of ``COLOURS`` nearest to the most frequent pixel colour."""
    small = image.convert("RGB").resize((32, 32), Image.Resampling.NEAREST)
    counts = small.getcolors(32 * 32) or []
    _, rgb = max(counts)
    return min(COLOURS, key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOURS[name], rgb, strict=True)))


def describe(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return f"a {dominant_colour(image)} image, {image.width}x{image.height}"


def image_parts(messages: list[dict[str, Any]]) -> list[bytes]:
    """The bytes of every image part, in order; ValueError for a part a vLLM server would refuse."""
    found = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if part.get("type") == "text":
                continue
            if part.get("type") != "image_url":
                raise ValueError(f"unsupported content part {part.get('type')!r}")
            url = part["image_url"]["url"]
            header, _, payload = url.partition(",")
            if not header.startswith("data:image/") or not header.endswith(";base64"):
                raise ValueError(f"only base64 data: image URLs here, got {url[:30]!r}")
            found.append(base64.b64decode(payload, validate=True))
    return found


def answer_text(messages: list[dict[str, Any]]) -> str:
    images = image_parts(messages)
    if not images:
        return "I see no image."
    return " ".join(f"Image {i}: {describe(data)}." for i, data in enumerate(images, 1))


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or [] if p.get("type") == "text")


def build_vision_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        if failure := await _check(state, request, body):
            return failure
        try:
            text = answer_text(body["messages"])
        except (ValueError, KeyError, OSError) as exc:
            return _error(400, f"cannot read the image: {exc}")
        tokens, finish = _generate(tokenize(text), {**body, "max_tokens": body.get("max_tokens") or 256})
        samples = [{"index": 0, "prompt": "", "tokens": tokens, "finish": finish}]
        prompt_tokens = sum(len(tokenize(_text_of(m))) + 3 for m in body["messages"])
        if body.get("stream"):
            return _stream(body, samples, prompt_tokens)
        return {
            "id": "chatcmpl-vision",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(tokens)},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": _usage(prompt_tokens, samples),
        }

    @app.get("/images/{colour}-{width}x{height}.png")
    async def image(colour: str, width: int, height: int):
        return Response(png(colour, (width, height)), media_type="image/png")

    base = build_app(state)  # /v1/models, /v1/completions of the fake upstream
    app.router.routes.extend(
        r for r in base.router.routes if getattr(r, "path", "") != "/v1/chat/completions"
    )
    return app


async def _check(state: FakeState, request: Request, body: dict[str, Any]):
    state.requests.append(Recorded(request.method, request.url.path, body, dict(request.headers)))
    if state.fail_times > 0:
        state.fail_times -= 1
        return _error(state.fail_status, state.fail_message)
    return None


def _stream(body: dict[str, Any], samples: list[dict], prompt_tokens: int) -> StreamingResponse:
    chunks = list(_chunks({**body, "logprobs": False}, samples, chat=True))
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({"choices": [], "usage": _usage(prompt_tokens, samples)})

    async def events():
        for chunk in chunks:
            base = {"id": "vision", "created": 0, "model": body.get("model"), "usage": None}
            yield f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', **chunk})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


class FakeVision(FakeUpstream):
    """The fake vision server, run like :class:`FakeUpstream` (``start()``, ``url``, ``reset()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.state.models = [{"id": VISION_MODEL_ID, "object": "model", "max_model_len": 8192}]
        self.app = build_vision_app(self.state)

    def reset(self) -> FakeState:
        state = super().reset()
        state.models = [{"id": VISION_MODEL_ID, "object": "model", "max_model_len": 8192}]
        return state

    def image_requests(self) -> list[dict[str, Any]]:
        """The bodies of the chat requests that carried images."""
        return [r.body for r in self.state.posts("/chat/completions") if image_parts(r.body["messages"])]

    def questions(self) -> list[str]:
        """The text of every message it was sent, one string per chat request."""
        return [
            " ".join(_text_of(m) for m in r.body["messages"]) for r in self.state.posts("/chat/completions")
        ]


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def text_png(lines: list[str], size: int = 48) -> bytes:
    """A PNG of printed text: black DejaVu Sans on white, large and clear (for OCR)."""
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype(FONT, size)
    image = Image.new(
        "RGB", (60 + size * max(len(line) for line in lines), 60 + 2 * size * len(lines)), "white"
    )
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((40, 40 + row * 2 * size), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_part(data: bytes, detail: str | None = None) -> dict[str, Any]:
    """An OpenAI image_url content part with a data: URL."""
    url: dict[str, Any] = {"url": data_url(data)}
    if detail:
        url["detail"] = detail
    return {"type": "image_url", "image_url": url}


@pytest.fixture(scope="module")
def fake_vision() -> Iterator[FakeVision]:
    """The fake vision server on loopback, for one test module."""
    server = FakeVision().start()
    yield server
    server.stop()
