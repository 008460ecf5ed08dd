"""OpenAI image parts -> the core's ImageInput: ``image_url`` (chat) and ``input_image``
(Responses-style) parts with ``data:`` URLs, or ``http(s)`` URLs when ``--allow_image_urls``.

Every image is decoded and checked by the core (``h2ogpt.vision.images.load_image``); a bad
one is a 400 naming its place in the body (``messages[0].content[1]``) and what to do.
"""

from __future__ import annotations

from typing import Any

from h2ogpt.settings import Settings
from h2ogpt.vision.images import ImageError, ImageInput, ImageLimits, load_image
from h2ogpt.vision.sources import data_url_bytes, fetch_image, is_data_url, is_http_url
from openai_server.errors import ApiError, bad_request
from openai_server.schemas import ContentPart

IMAGE_PARTS = ("image_url", "input_image")
DETAILS = ("auto", "low", "high")


def _url_and_detail(part: ContentPart, where: str) -> tuple[str, str]:
    extra: dict[str, Any] = part.model_extra or {}
    value = extra.get("image_url")
    detail = extra.get("detail")
    if isinstance(value, dict):
        detail = value.get("detail", detail)
        value = value.get("url")
    if not isinstance(value, str) or not value:
        raise bad_request(
            f'{where}: an {part.type} part needs "image_url": {{"url": "data:image/png;base64,..."}}', where
        )
    detail = detail or "auto"
    if detail not in DETAILS:
        raise bad_request(f"{where}: detail must be one of {', '.join(DETAILS)}, not {detail!r}", where)
    return value, detail


def image_from_part(part: ContentPart, where: str, number: int, settings: Settings) -> ImageInput:
    """The image of one content part; ApiError (400) naming ``where`` when it cannot be used."""
    url, detail = _url_and_detail(part, where)
    limits = ImageLimits.from_settings(settings)
    try:
        if is_data_url(url):
            data = data_url_bytes(url, where)
        elif is_http_url(url):
            if not settings.allow_image_urls:
                raise ApiError(
                    400,
                    f"{where}: image URLs are not fetched by this server (offline by design); send the "
                    "image inline as a data: URL (data:image/png;base64,...), or start the server with "
                    "--allow_image_urls=True",
                    param=where,
                    code="image_url_not_allowed",
                )
            data = fetch_image(url, where, limits.max_bytes)
        else:
            raise bad_request(
                f"{where}: unsupported image URL {url[:40]!r}; send a data: URL (data:image/png;base64,...)",
                where,
            )
        return load_image(data, name=where, detail=detail, limits=limits, number=number)  # type: ignore[arg-type]
    except ImageError as exc:
        raise ApiError(400, str(exc), param=where, code="invalid_image") from None
