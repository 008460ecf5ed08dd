"""``--image_server``: where images are generated, in the ``--inference_server`` syntax."""

from __future__ import annotations

from dataclasses import dataclass

from h2ogpt.backends.remote.spec import OPENAI_URL, parse_inference_server
from h2ogpt.errors import ConfigError

FLAG = "--image_server"


def _renamed(exc: ConfigError) -> ConfigError:
    return ConfigError(str(exc).replace("--inference_server", FLAG))


@dataclass(frozen=True)
class ImageServerSpec:
    """The image server's API root (``http://host:port/v1``) and the key sent to it."""

    base_url: str
    api_key: str

    @property
    def is_openai(self) -> bool:
        """True for OpenAI's own API (which knows dall-e-2, dall-e-3 and gpt-image-1)."""
        return self.base_url == OPENAI_URL


def parse_image_server(value: str) -> ImageServerSpec:
    """Parse ``--image_server`` exactly as ``--inference_server`` is parsed (``openai:URL``,
    ``openai:`` for api.openai.com with OPENAI_API_KEY, a bare ``http(s)://`` URL); raises
    ConfigError naming --image_server and the syntax."""
    try:
        spec = parse_inference_server(value)
        return ImageServerSpec(spec.base_url, spec.api_key())
    except ConfigError as exc:
        raise _renamed(exc) from None
