"""The options of images in questions, declared once (Settings inherits them as flags)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from h2ogpt.errors import ConfigError
from h2ogpt.vision.server import vision_server

MB = 1024 * 1024


class VisionOptions(BaseModel):
    """Images in questions: limits, who looks at them, fetching image URLs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    visible_vision_models: str = Field(
        "",
        description="A served vision model that looks at the images of a question when the chat model "
        "cannot: vllm_chat:URL, openai_chat:[URL], ollama:[URL] or a bare http(s)://host:port/v1 (the "
        "--inference_server syntax), or the name (or base_model) of a served --model_lock entry. Its "
        "description of the images is given to the chat model. Empty: a chat model that cannot see gets "
        "the images' OCR text.",
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

    @model_validator(mode="after")
    def _vision_server(self) -> VisionOptions:
        """--visible_vision_models names a usable server or a served --model_lock model."""
        try:
            vision_server(self)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self
