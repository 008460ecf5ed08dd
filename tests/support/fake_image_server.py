"""A fake image server with OpenAI's images API: a real FastAPI app on loopback, for tests.

``POST /v1/images/generations`` really renders PNGs with Pillow: image ``j`` of a prompt is a
solid square of :func:`colour_for` ``(prompt, j)`` at the asked ``size`` (default 256x256), sent
as ``b64_json`` (or as a ``data:`` URL with ``response_format=url``). Every request is recorded.

It misbehaves on magic prompts (:data:`MISBEHAVE` + a word), so a shared server needs no switches:

- ``garbage``: base64 of bytes that are not an image
- ``truncated``: a PNG cut in half
- ``wrong_size``: a valid PNG of another size than asked
- ``not_json``: HTTP 200 with an HTML page
- ``status_500``: HTTP 500 with OpenAI's error body
- ``reject``: HTTP 400 with OpenAI's error body
- ``slow``: sleeps :data:`SLOW_SECONDS` before answering
- ``as_data_url``: a ``data:`` URL whatever ``response_format`` says
- ``as_link``: a link to the PNG on this server (``/files/NAME.png``, served by GET)
- ``foreign_link``: a link to a PNG on another host
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image

from support.loopback import LoopbackServer

MISBEHAVE = "misbehave:"
SLOW_SECONDS = 3.0
MODEL_ID = "fake-diffusion"


def colour_for(prompt: str, index: int = 0) -> tuple[int, int, int]:
    """The colour of image ``index`` for ``prompt`` (from its SHA-256)."""
    digest = hashlib.sha256(f"{prompt}#{index}".encode()).digest()
    return digest[0], digest[1], digest[2]


def render_png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


@dataclass
class FakeImageState:
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # served under /files/


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status)


def _item(png: bytes, response_format: str) -> dict[str, str]:
    encoded = base64.b64encode(png).decode("ascii")
    if response_format == "url":
        return {"url": f"data:image/png;base64,{encoded}"}
    return {"b64_json": encoded, "revised_prompt": "a fake rendering"}


def build_app(state: FakeImageState) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/images/generations")
    async def generate(request: Request):
        body = await request.json()
        state.requests.append(body)
        state.headers.append(dict(request.headers))
        prompt = str(body.get("prompt") or "")
        if not prompt:
            return _error(400, "prompt is required")
        width, height = (int(side) for side in str(body.get("size") or "256x256").split("x"))
        n = int(body.get("n") or 1)
        fmt = body.get("response_format") or "url"
        trick = prompt[len(MISBEHAVE) :].split()[0] if prompt.startswith(MISBEHAVE) else ""
        if trick == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        if trick == "not_json":
            return HTMLResponse("<html><body>It works!</body></html>")
        if trick == "status_500":
            return _error(500, "CUDA out of memory")
        if trick == "reject":
            return _error(400, "this server does not draw that")
        images = [render_png(width, height, colour_for(prompt, j)) for j in range(n)]
        if trick == "garbage":
            images = [b"this is not an image at all" for _ in images]
        elif trick == "truncated":
            images = [png[: len(png) // 2] for png in images]
        elif trick == "wrong_size":
            images = [render_png(width + 8, height, colour_for(prompt, 0)) for _ in images]
        elif trick in ("as_link", "foreign_link"):
            host = "http://images.example.com" if trick == "foreign_link" else ""
            links = []
            for png in images:
                name = f"{len(state.files)}.png"
                state.files[name] = png
                links.append({"url": f"{host}/files/{name}"})
            return {"created": int(time.time()), "data": links}
        fmt = "url" if trick == "as_data_url" else fmt
        return {"created": int(time.time()), "data": [_item(png, fmt) for png in images]}

    @app.get("/files/{name}")
    async def files(name: str):
        if name not in state.files:
            return _error(404, f"no file {name}")
        return Response(state.files[name], media_type="image/png")

    return app


class FakeImageServer(LoopbackServer):
    """The fake image server, run by uvicorn in a thread on 127.0.0.1 at a free port."""

    label = "fake image server"

    def __init__(self) -> None:
        super().__init__()
        self.state = FakeImageState()
        self.app = build_app(self.state)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def flag(self) -> str:
        """The ``--image_server`` value that points at this server."""
        return f"openai:{self.url}"
