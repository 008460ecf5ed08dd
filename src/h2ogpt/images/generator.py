"""ImageGenerator: asks ``--image_server`` (an OpenAI-compatible images API) for images and
returns them checked, as PNG bytes. The one way every face generates an image."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from h2ogpt.errors import ConfigError, RequestError, UpstreamError
from h2ogpt.images.options import ImageOptions
from h2ogpt.images.server import FLAG, ImageServerSpec, parse_image_server
from h2ogpt.images.sizes import ImageSize, check_count, check_prompt, parse_size
from h2ogpt.images.validate import checked_png

log = logging.getLogger(__name__)

OPENAI_IMAGE_MODELS = ("dall-e-2", "dall-e-3", "gpt-image-1")
CONNECT_TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 256 * 1024 * 1024  # 10 base64 images of 4096x4096 fit
NOT_CONFIGURED = (
    f"image generation is not configured: start h2oGPT with {FLAG}=openai:http://host:port/v1 "
    "pointing at a server with an OpenAI-compatible images API (see docs/images.md)"
)


class ImageTimeout(UpstreamError):
    """The image server did not answer in time (an HTTP 504 at the API)."""


class ImagesUnavailable(ConfigError):
    """Image generation is off: no ``--image_server`` or ``--enable_image=False``."""


@dataclass(frozen=True)
class GeneratedImage:
    png: bytes
    size: ImageSize
    revised_prompt: str | None = None


@dataclass(frozen=True)
class ImageRequest:
    """What to generate. ``extra``: OpenAI fields passed on as given (quality, style)."""

    prompt: str
    n: int = 1
    size: str | None = None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def images_enabled(options: ImageOptions) -> bool:
    return bool(options.image_server) and options.enable_image is not False


def unavailable_reason(options: ImageOptions) -> str:
    if options.image_server and options.enable_image is False:
        return f"image generation is off (--enable_image=False); drop it to use {FLAG}={options.image_server}"
    return NOT_CONFIGURED


class ImageGenerator:
    """Generates images on the configured image server (thread-safe; blocking calls)."""

    def __init__(self, spec: ImageServerSpec, model: str = "", timeout: float = 300.0) -> None:
        self.spec = spec
        self.model = model
        self.timeout = timeout

    @classmethod
    def from_settings(cls, options: ImageOptions) -> ImageGenerator:
        """The generator ``options`` configure; ImagesUnavailable when image generation is off."""
        if not images_enabled(options):
            raise ImagesUnavailable(unavailable_reason(options))
        spec = parse_image_server(options.image_server)
        return cls(spec, options.image_model, options.image_timeout)

    @property
    def server(self) -> str:
        return self.spec.base_url

    def model_for(self, requested: str | None) -> str | None:
        """The model name sent upstream: OpenAI's names mean --image_model (or themselves on
        OpenAI's own API); another name is passed on; none means --image_model or the server's default."""
        if requested in (None, "") or requested in OPENAI_IMAGE_MODELS:
            if self.model:
                return self.model
            return requested if requested and self.spec.is_openai else None
        return requested

    def generate(self, request: ImageRequest) -> list[GeneratedImage]:
        """Ask the server for ``request.n`` images; each checked (UpstreamError otherwise)."""
        prompt = check_prompt(request.prompt)
        n = check_count(request.n)
        size = parse_size(request.size)
        body: dict[str, Any] = {"prompt": prompt, "n": n, "response_format": "b64_json"}
        if size is not None:
            body["size"] = str(size)
        model = self.model_for(request.model)
        if model:
            body["model"] = model
        body.update({k: v for k, v in request.extra.items() if v is not None})
        started = time.monotonic()
        payload = self._post(body)
        images = self._images(payload, size, n)
        log.info(
            "%d image(s) of %s from %s in %.1f s",
            len(images),
            size or "auto size",
            self.server,
            time.monotonic() - started,
        )
        return images

    # --- HTTP ---------------------------------------------------------------------------
    def _client(self):
        import httpx

        timeout = httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT_S, self.timeout))
        headers = {"Authorization": f"Bearer {self.spec.api_key}"}
        return httpx.Client(timeout=timeout, headers=headers, follow_redirects=False, trust_env=False)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        url = f"{self.server}/images/generations"
        try:
            with self._client() as client, client.stream("POST", url, json=body) as response:
                content = self._read(response)
                if response.status_code >= 400:
                    raise self._status_error(response.status_code, content)
        except httpx.TimeoutException:
            raise ImageTimeout(
                f"the image server at {self.server} did not answer within {self.timeout:g} s; it may be "
                "busy: ask for fewer or smaller images, or allow more time with --image_timeout"
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"cannot reach the image server at {self.server} ({exc}); check that it is running and "
                f"that {FLAG} points at it"
            ) from None
        try:
            payload = json.loads(content)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise UpstreamError(
                f"the image server at {self.server} did not answer POST /images/generations with "
                'OpenAI\'s JSON ({"data": [...]}); check that it serves an OpenAI-compatible images API'
            )
        return payload

    def _read(self, response: Any) -> bytes:
        """The body, at most MAX_RESPONSE_BYTES (UpstreamError beyond)."""
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise UpstreamError(
                    f"the image server at {self.server} sent more than {MAX_RESPONSE_BYTES // 2**20} MiB"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _status_error(self, code: int, content: bytes) -> RequestError | UpstreamError:
        message = _server_message(content)
        if code in (400, 413, 422):
            return RequestError(
                f"the image server at {self.server} rejected the request (HTTP {code}): {message}"
            )
        if code in (401, 403):
            return UpstreamError(
                f"the image server at {self.server} refused the API key (HTTP {code}: "
                f"{message}); set OPENAI_API_KEY to a key it accepts"
            )
        if code == 404:
            return UpstreamError(
                f"the image server at {self.server} has no POST /images/generations or "
                f"not that model (HTTP 404: {message}); check {FLAG} and --image_model"
            )
        return UpstreamError(f"the image server at {self.server} failed (HTTP {code}): {message}")

    # --- the answer -----------------------------------------------------------------------
    def _images(self, payload: dict[str, Any], size: ImageSize | None, n: int) -> list[GeneratedImage]:
        items = payload["data"]
        if not items:
            raise UpstreamError(f"the image server at {self.server} returned no images")
        if len(items) != n:
            log.warning("%s returned %d images for n=%d", self.server, len(items), n)
            items = items[:n]
        images = []
        for index, item in enumerate(items):
            data = self._image_bytes(item, index)
            png, got = checked_png(data, size, self.server, index)
            revised = item.get("revised_prompt") if isinstance(item, dict) else None
            images.append(GeneratedImage(png, got, revised if isinstance(revised, str) else None))
        return images

    def _image_bytes(self, item: Any, index: int) -> bytes:
        """An item's image: its b64_json, a data: URL, or a URL on the image server itself."""
        where = f"the image server at {self.server} returned image {index + 1}"
        if not isinstance(item, dict):
            raise UpstreamError(f"{where} as {type(item).__name__}, not an object with b64_json")
        encoded, url = item.get("b64_json"), item.get("url")
        if isinstance(url, str) and url.startswith("data:") and not encoded:
            encoded = url.partition(",")[2]
        if isinstance(encoded, str) and encoded:
            try:
                return base64.b64decode("".join(encoded.split()), validate=True)
            except (binascii.Error, ValueError):
                raise UpstreamError(f"{where} with b64_json that is not base64") from None
        if isinstance(url, str) and url:
            return self._fetch(url, where)
        raise UpstreamError(f"{where} without b64_json or url")

    def _fetch(self, url: str, where: str) -> bytes:
        """A URL the server returned instead of b64_json; only on the image server's own host."""
        import httpx

        absolute = urljoin(self.server + "/", url)
        if urlsplit(absolute).netloc != urlsplit(self.server).netloc:
            raise UpstreamError(
                f"{where} as a link to another host ({urlsplit(absolute).netloc}); "
                "h2oGPT fetches images only from the image server itself"
            )
        try:
            with self._client() as client, client.stream("GET", absolute) as response:
                if response.status_code >= 400:
                    raise UpstreamError(f"{where} as {absolute}, which answered HTTP {response.status_code}")
                return self._read(response)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{where} as {absolute}, which could not be fetched ({exc})") from None


def _server_message(content: bytes) -> str:
    """The error message of an OpenAI-style (or vLLM-style) error body, else the text."""
    try:
        body = json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace").strip()[:300] or "no message"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
        if body.get("message"):
            return str(body["message"])[:300]
        if body.get("detail"):
            return str(body["detail"])[:300]
    return str(body)[:300]
