"""The options of image generation, declared once (Settings inherits them as flags)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ImageOptions(BaseModel):
    """Image generation: a served image model (the API's /v1/images/generations, the UI's Images tab)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    image_server: str = Field(
        "",
        description="Server that generates images, with an OpenAI-compatible images API "
        "(POST /v1/images/generations): openai:http://host:port/v1, openai:[URL] or a bare "
        "http(s)://host:port/v1 (the --inference_server syntax; OPENAI_API_KEY is sent as its key). "
        "Empty: no image generation (see docs/images.md).",
    )
    image_model: str = Field(
        "",
        description="Model name sent to --image_server (also accepted in place of dall-e-2, dall-e-3 "
        "and gpt-image-1). Empty: the server's default model.",
    )
    enable_image: bool | None = Field(
        None,
        description="h2oGPT's switch for image generation. None: on when --image_server is set; False: "
        "off even with --image_server; True without --image_server: still off, with a warning (no image "
        "model runs on this machine).",
    )
    image_timeout: float = Field(
        300.0, gt=0.0, description="Seconds to wait for --image_server to generate the images of one request."
    )

    @field_validator("image_server")
    @classmethod
    def _check_server(cls, value: str) -> str:
        value = value.strip()
        if value:
            from h2ogpt.images.server import parse_image_server

            parse_image_server(value)  # a bad value fails at start, naming the flag
        return value
