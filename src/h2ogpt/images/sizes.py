"""What a generation request may ask for: the image size (``WxH``), how many, how long a prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass

from h2ogpt.errors import RequestError

MAX_IMAGES = 10  # OpenAI's limit on n
MAX_PROMPT_CHARS = 4000  # dall-e-3's limit
MIN_SIDE, MAX_SIDE = 64, 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
COMMON_SIZES = ("256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536")
DEFAULT_SIZE = "1024x1024"
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


@dataclass(frozen=True)
class ImageSize:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


def parse_size(value: str | None) -> ImageSize | None:
    """``"512x512"`` -> ImageSize; None, "" or "auto" -> None (the server chooses).

    Raises RequestError naming the value when it is not WxH with sides of 64 to 4096 pixels."""
    if value is None or value.strip().lower() in ("", "auto"):
        return None
    match = _SIZE.match(value)
    if not match:
        raise RequestError(
            f"size: '{value}' is not WIDTHxHEIGHT; use e.g. 256x256, 512x512 or 1024x1024 (or auto)"
        )
    size = ImageSize(int(match[1]), int(match[2]))
    if not (MIN_SIDE <= size.width <= MAX_SIDE and MIN_SIDE <= size.height <= MAX_SIDE):
        raise RequestError(
            f"size: '{value}' is out of range; each side must be {MIN_SIDE} to {MAX_SIDE} pixels"
        )
    return size


def check_count(n: int) -> int:
    """``n``: 1 to MAX_IMAGES, else RequestError."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise RequestError(f"n: ask for 1 to {MAX_IMAGES} images, not {n!r}")
    return n


def check_prompt(prompt: str) -> str:
    """The prompt, stripped; RequestError when empty or longer than MAX_PROMPT_CHARS."""
    text = (prompt or "").strip()
    if not text:
        raise RequestError("prompt: describe the image to generate")
    if len(text) > MAX_PROMPT_CHARS:
        raise RequestError(
            f"prompt: at most {MAX_PROMPT_CHARS} characters, got {len(text)}; shorten the description"
        )
    return text
