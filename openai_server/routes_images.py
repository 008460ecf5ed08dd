"""POST /v1/images/generations: OpenAI's image generation over ``--image_server``.

Images come from the configured image server (h2ogpt.images); each is decoded and checked
before it is answered, as ``b64_json`` or as a ``data:image/png;base64,...`` URL (this server
hosts no files). Without ``--image_server`` the route answers 404 naming the flag.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field, field_validator

from h2ogpt.errors import ConfigError, RequestError, UpstreamError
from h2ogpt.images.generator import (
    GeneratedImage,
    ImageGenerator,
    ImageRequest,
    ImagesUnavailable,
    ImageTimeout,
)
from h2ogpt.images.sizes import MAX_IMAGES, MAX_PROMPT_CHARS, check_prompt, parse_size
from openai_server.errors import ERROR_RESPONSES, ApiError, bad_request
from openai_server.schemas import OpenAIBody
from openai_server.state import ServerState

log = logging.getLogger(__name__)
router = APIRouter(tags=["images"])

IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"description": "Image generation is not configured (--image_server)"},
    504: {"description": "The image server did not answer in time (--image_timeout)"},
}


class ImageGenerationRequest(OpenAIBody):
    """POST /v1/images/generations."""

    prompt: str = Field(description=f"What to draw, at most {MAX_PROMPT_CHARS} characters.")
    model: str | None = Field(
        None,
        description="--image_model, or dall-e-2, dall-e-3, gpt-image-1 (meaning --image_model); another "
        "name is passed on to the image server. Empty: --image_model or the server's default.",
    )
    n: int | None = Field(None, description=f"How many images, 1 to {MAX_IMAGES} (default 1).")
    size: str | None = Field(
        None, description="WIDTHxHEIGHT, e.g. 256x256, 512x512, 1024x1024 (sides 64 to 4096), or auto."
    )
    response_format: Literal["b64_json", "url"] | None = Field(
        None, description="b64_json, or url (default): a data:image/png;base64 URL, as nothing is hosted."
    )
    output_format: Literal["png"] | None = Field(None, description="png (the only format answered).")
    quality: str | None = Field(None, description="Passed on to the image server as given.")
    style: str | None = Field(None, description="Passed on to the image server as given.")
    background: str | None = Field(None, description="Passed on to the image server as given.")
    user: str | None = Field(None, description="Accepted and not passed on (it stays on this server).")
    moderation: str | None = Field(None, description="Accepted and ignored (this server moderates nothing).")
    output_compression: int | None = Field(
        None, ge=0, le=100, description="Accepted and ignored (PNG is lossless)."
    )
    stream: bool | None = Field(None, description="false only: partial images are not streamed.")
    partial_images: int | None = Field(None, ge=0, le=3, description="Accepted and ignored (no streaming).")

    @field_validator("stream")
    @classmethod
    def _no_stream(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("streaming partial images is not supported; send stream=false")
        return value

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        return _checked(check_prompt, value)

    @field_validator("n")
    @classmethod
    def _count(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_IMAGES:
            raise ValueError(f"ask for 1 to {MAX_IMAGES} images, not {value}")
        return value

    @field_validator("size")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        _checked(parse_size, value)
        return value


def _checked(check: Any, value: Any) -> Any:
    """A core check inside a pydantic validator: its RequestError as a ValueError without the
    field's name (the error handler puts the field in front)."""
    try:
        return check(value)
    except RequestError as exc:
        raise ValueError(str(exc).split(": ", 1)[-1]) from None


def _generator(state: ServerState) -> ImageGenerator:
    try:
        return ImageGenerator.from_settings(state.settings)
    except ImagesUnavailable as exc:
        raise ApiError(404, str(exc), code="image_generation_not_configured") from None
    except ConfigError as exc:  # e.g. OPENAI_API_KEY unset for api.openai.com
        raise ApiError(503, str(exc), code="image_server_unavailable") from None


def _item(image: GeneratedImage, response_format: str) -> dict[str, Any]:
    encoded = base64.b64encode(image.png).decode("ascii")
    item: dict[str, Any] = (
        {"b64_json": encoded}
        if response_format == "b64_json"
        else {"url": f"data:image/png;base64,{encoded}"}
    )
    if image.revised_prompt:
        item["revised_prompt"] = image.revised_prompt
    return item


@router.post("/v1/images/generations", responses=IMAGE_RESPONSES)
async def create_image(body: ImageGenerationRequest, request: Request) -> JSONResponse:
    """Generate ``n`` images of ``size`` for ``prompt`` on the configured image server."""
    state: ServerState = request.app.state.server
    generator = _generator(state)
    wanted = ImageRequest(
        body.prompt,
        n=body.n or 1,
        size=body.size,
        model=body.model,
        extra={"quality": body.quality, "style": body.style, "background": body.background},
    )
    try:
        images = await anyio.to_thread.run_sync(generator.generate, wanted, limiter=state.limiter)
    except ImageTimeout as exc:
        raise ApiError(504, str(exc), code="upstream_timeout") from None
    except RequestError as exc:
        raise bad_request(str(exc)) from None
    except UpstreamError as exc:
        log.warning("image generation failed: %s", exc)
        raise ApiError(502, str(exc), code="upstream_error") from None
    answer = {
        "created": int(time.time()),
        "data": [_item(image, body.response_format or "url") for image in images],
        "output_format": "png",
    }
    return JSONResponse(answer)
