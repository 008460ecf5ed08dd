"""Image generation through a served image model (``--image_server``, an OpenAI-compatible
images API). Nothing is generated on this machine and no request leaves it unless
``--image_server`` is set. This package imports no HTTP client until an image is asked for.
"""

from h2ogpt.images.options import ImageOptions
from h2ogpt.images.sizes import MAX_IMAGES, MAX_PROMPT_CHARS, ImageSize, parse_size

__all__ = ["MAX_IMAGES", "MAX_PROMPT_CHARS", "ImageOptions", "ImageSize", "parse_size"]
