"""The options of images in questions, declared once (Settings inherits them as flags)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from h2ogpt.backends.remote.spec import REMOTE_KINDS, parse_inference_server
from h2ogpt.errors import ConfigError

MB = 1024 * 1024
VISION_KINDS = tuple(kind for kind, server in REMOTE_KINDS.items() if server.vision)


class VisionOptions(BaseModel):
    """Images in questions: limits, who looks at them, fetching image URLs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    visible_vision_models: str = Field(
        "",
        description="A served vision model that looks at the images of a question when the chat model "
        "cannot: vllm_chat:URL, openai_chat:[URL], ollama:[URL] or a bare http(s)://host:port/v1 (the "
        "--inference_server syntax). Its description of the images is given to the chat model. Empty: "
        "a chat model that cannot see gets the images' OCR text.",
    )
    allow_image_urls: bool = Field(
        False,
        description="Let API requests name images by http(s) URL (fetched by this server, size-limited). "
        "Off: only data: URLs are accepted (offline by design).",
    )
    max_image_bytes: int = Field(20 * MB, ge=1024, description="Largest image file accepted, in bytes.")
    max_image_pixels: int = Field(
        40_000_000, ge=1, description="Largest image accepted, in pixels (width x height)."
    )
    max_images: int = Field(8, ge=1, le=64, description="Most images in one request (all messages together).")
    image: list[str] = Field(
        default_factory=list,
        description="With --cli: image file(s) attached to the first question (repeat the flag for "
        "several: --image=a.png --image=b.jpg).",
    )

    @field_validator("visible_vision_models")
    @classmethod
    def _vision_server(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                spec = parse_inference_server(value)
            except ConfigError as exc:
                raise ValueError(str(exc).split(": ", 1)[-1]) from None
            if spec.kind not in VISION_KINDS:
                raise ValueError(
                    f"a vision model must be served on a chat endpoint that takes images: use "
                    f"{', '.join(k + ':URL' for k in VISION_KINDS[:3])} or a bare http(s) URL, not {spec.kind}:"
                )
        return value
