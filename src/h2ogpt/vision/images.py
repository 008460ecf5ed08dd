"""An image in a question: its bytes, checked by decoding them (never by name or declared type).

``load_image`` is what every face calls with the bytes it received (the API's data: URLs, the
CLI's ``--image`` files, the UI's uploads): it reads the header, checks the limits before
decoding (so a decompression bomb is refused unread), then decodes the whole image (so a
truncated file is refused). ``check_images`` checks a request's images against the limits
again in the pipeline, whoever built the request.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from h2ogpt.errors import RequestError

log = logging.getLogger(__name__)

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
FORMAT_WORDS = "PNG, JPEG, WebP or GIF"
Detail = Literal["auto", "low", "high"]


class ImageError(RequestError):
    """An image that cannot be used: not an image, damaged, too large, too many."""


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_images: int = 8

    @classmethod
    def from_settings(cls, settings: Any) -> ImageLimits:
        return cls(settings.max_image_bytes, settings.max_image_pixels, settings.max_images)


def _sniff(data: bytes) -> tuple[str, int, int]:
    """(mime, width, height) from the header; ValueError when Pillow cannot read it as one of FORMATS."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (width, height) = img.format or "", img.size
    except Image.DecompressionBombError as exc:  # far past any sane limit: Pillow refuses to open it
        raise ValueError(f"too many pixels ({exc}); scale it down") from None
    except UnidentifiedImageError:
        raise ValueError(f"not an image: its bytes are not {FORMAT_WORDS}; send one of those") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"a damaged image ({exc}); send the whole {FORMAT_WORDS} file") from None
    if fmt not in FORMATS:
        raise ValueError(f"a {fmt} image; send {FORMAT_WORDS}")
    return FORMATS[fmt], width, height


class ImageInput(BaseModel):
    """One image of a message. ``mime``, ``width`` and ``height`` are read from the bytes."""

    model_config = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    data: bytes = Field(repr=False, description="The image file: PNG, JPEG, WebP or GIF.")
    detail: Detail = Field("auto", description="OpenAI's detail hint, passed to a vision model.")
    name: str = Field("", description="Where it came from (a file, a request field), for messages.")
    mime: str = ""
    width: int = 0
    height: int = 0

    @model_validator(mode="after")
    def _read_header(self) -> ImageInput:
        self.mime, self.width, self.height = _sniff(self.data)
        return self

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def data_url(self) -> str:
        """The image as a ``data:`` URL (OpenAI's image_url parts)."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def label(self, number: int) -> str:
        """``image 2 (photo.png)``: how messages name it."""
        return f"image {number}" + (f" ({self.name})" if self.name else "")


def _check_limits(
    data_size: int, pixels: int, size: tuple[int, int], where: str, limits: ImageLimits
) -> None:
    if data_size > limits.max_bytes:
        raise ImageError(
            f"{where}: {data_size / 1e6:.1f} MB is larger than the {limits.max_bytes / 1e6:.1f} MB allowed "
            "(--max_image_bytes); send a smaller or more compressed image"
        )
    if pixels > limits.max_pixels:
        raise ImageError(
            f"{where}: {size[0]}x{size[1]} is {pixels / 1e6:.1f} megapixels, more than the "
            f"{limits.max_pixels / 1e6:.1f} allowed (--max_image_pixels); scale it down"
        )


def load_image(
    data: bytes,
    *,
    name: str = "",
    detail: Detail = "auto",
    limits: ImageLimits | None = None,
    number: int = 1,
) -> ImageInput:
    """An ImageInput from a file's bytes, fully decoded once to prove it is whole.

    Raises ImageError naming the image (``number`` and ``name``) and what to do.
    """
    from PIL import Image

    limits = limits or ImageLimits()
    where = f"image {number}" + (f" ({name})" if name else "")
    if not data:
        raise ImageError(f"{where}: the file is empty; send a {FORMAT_WORDS} image")
    if len(data) > limits.max_bytes:
        _check_limits(len(data), 0, (0, 0), where, limits)
    try:
        image = ImageInput(data=data, name=name, detail=detail)
    except ValueError as exc:
        message = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise ImageError(f"{where}: {message.removeprefix('Value error, ')}") from None
    _check_limits(len(data), image.pixels, (image.width, image.height), where, limits)
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # the whole image: a truncated or corrupt file fails here
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for damaged files
        raise ImageError(
            f"{where}: the {image.mime.split('/')[1].upper()} file is damaged or truncated ({exc}); "
            "send the whole file"
        ) from None
    return image


def check_images(images: Sequence[ImageInput], limits: ImageLimits) -> None:
    """A request's images, in order, against the count, size and pixel limits."""
    if len(images) > limits.max_images:
        raise ImageError(
            f"{len(images)} images in one request; at most {limits.max_images} are allowed "
            "(--max_images): send fewer"
        )
    for number, image in enumerate(images, 1):
        where = image.label(number)
        _check_limits(len(image.data), image.pixels, (image.width, image.height), where, limits)


def decoded(image: ImageInput):
    """The image as a Pillow RGB image (the first frame of an animation)."""
    from PIL import Image

    with Image.open(io.BytesIO(image.data)) as img:
        img.seek(0)
        return img.convert("RGB")
