"""Every image a server returns is decoded and checked with Pillow before anyone sees it:
a real PNG/JPEG/WebP, not truncated, of the asked size; it leaves as PNG bytes."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from h2ogpt.errors import UpstreamError
from h2ogpt.images.sizes import MAX_PIXELS, ImageSize

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")


def checked_png(data: bytes, expected: ImageSize | None, server: str, index: int) -> tuple[bytes, ImageSize]:
    """``data`` decoded and checked; returns PNG bytes and the size.

    Raises UpstreamError naming ``server`` when the bytes are not a complete image of an accepted
    format, are larger than MAX_PIXELS, or do not have the ``expected`` size."""
    where = f"the image server at {server} returned image {index + 1}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or "?"
                width, height = image.size
                if fmt not in ACCEPTED_FORMATS:
                    raise UpstreamError(f"{where} as {fmt}, not PNG, JPEG or WebP")
                if width * height > MAX_PIXELS:
                    raise UpstreamError(f"{where} with {width}x{height} pixels, more than {MAX_PIXELS}")
                image.load()  # decodes every pixel: a truncated file fails here
                if expected is not None and (width, height) != (expected.width, expected.height):
                    raise UpstreamError(
                        f"{where} at {width}x{height} instead of the asked {expected}; ask for a size "
                        "the server supports"
                    )
                png = data if fmt == "PNG" else _to_png(image)
    except UpstreamError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise UpstreamError(f"{where} as bytes that are not a valid image ({exc})") from None
    return png, ImageSize(width, height)


def _to_png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGBA" if "A" in image.getbands() else "RGB").save(out, format="PNG")
    return out.getvalue()
