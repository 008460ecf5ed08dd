"""Where an image's bytes come from: a ``data:`` URL, an ``http(s)`` URL (only when the operator
allows fetching), or a file. Each returns bytes for :func:`h2ogpt.vision.images.load_image`."""

from __future__ import annotations

import base64
import binascii
import logging
from pathlib import Path

from h2ogpt.vision.images import ImageError, ImageInput, ImageLimits, load_image

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 10.0
MAX_REDIRECTS = 3


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def is_http_url(url: str) -> bool:
    return url[:7].lower() == "http://" or url[:8].lower() == "https://"


def data_url_bytes(url: str, where: str) -> bytes:
    """The bytes of a base64 ``data:`` URL (its declared type is ignored: the bytes are checked)."""
    header, comma, payload = url.partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise ImageError(
            f"{where}: a data: URL must be base64, like data:image/png;base64,iVBORw0...; encode the image"
        )
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{where}: the data: URL's base64 payload is not valid base64") from None


def fetch_image(url: str, where: str, max_bytes: int, timeout: float = FETCH_TIMEOUT_S) -> bytes:
    """Download ``url`` (at most ``max_bytes``, within ``timeout`` seconds to connect and between reads)."""
    import httpx

    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise ImageError(
                    f"{where}: fetching {url} answered HTTP {response.status_code}; check the URL"
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ImageError(
                    f"{where}: {url} is {int(declared) / 1e6:.1f} MB, larger than the "
                    f"{max_bytes / 1e6:.1f} MB allowed (--max_image_bytes)"
                )
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ImageError(
                        f"{where}: {url} is larger than the {max_bytes / 1e6:.1f} MB allowed (--max_image_bytes)"
                    )
                chunks.append(chunk)
    except httpx.TimeoutException:
        raise ImageError(
            f"{where}: fetching {url} took longer than {timeout:g} s; send it as a data: URL"
        ) from None
    except httpx.HTTPError as exc:
        raise ImageError(f"{where}: cannot fetch {url} ({exc}); check the URL or send a data: URL") from None
    log.info("fetched %s (%d bytes) for %s", url, size, where)
    return b"".join(chunks)


def file_bytes(path: str, max_bytes: int) -> bytes:
    """The bytes of an image file named on the command line."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ImageError(f"--image={path}: no such file; give the path of a PNG, JPEG, WebP or GIF image")
    size = file.stat().st_size
    if size > max_bytes:
        raise ImageError(
            f"--image={path}: {size / 1e6:.1f} MB is larger than the {max_bytes / 1e6:.1f} MB allowed "
            "(--max_image_bytes)"
        )
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ImageError(f"--image={path}: cannot read it ({exc.strerror})") from None


def image_files(paths: list[str], limits: ImageLimits) -> list[ImageInput]:
    """The images of ``--image`` files, each checked (ImageError naming the file on the first bad one)."""
    if len(paths) > limits.max_images:
        raise ImageError(
            f"--image given {len(paths)} times; at most {limits.max_images} images (--max_images)"
        )
    images = []
    for number, path in enumerate(paths, 1):
        try:
            images.append(
                load_image(file_bytes(path, limits.max_bytes), name=path, limits=limits, number=number)
            )
        except ImageError as exc:
            message = str(exc)
            if not message.startswith("--image="):  # "image 1 (path): what" -> "--image=path: what"
                message = f"--image={path}: {message.split(': ', 1)[-1]}"
            raise ImageError(message) from None
    return images
