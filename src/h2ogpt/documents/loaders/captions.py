"""Vision-model captions of images in documents (h2oGPT's captioning of images).

When ``--visible_vision_models`` names a served vision model, an image loaded into a collection
(an image file, or an image of a scanned PDF page) gets that model's description added to the text
OCR read in it, so a photo without text can be found by what it shows. Which settings apply is
set for the duration of an ingest by :func:`captioning` (plain ``load_file`` calls caption
nothing). A vision server that fails never fails the document: the image keeps its OCR text,
a warning is logged, and the rest of that ingest is not captioned (no waiting on a dead server
once per image).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from h2ogpt.backends.base import Backend

log = logging.getLogger(__name__)

CAPTION_PROMPT = (
    "Describe this image for a search index: what it shows (objects, people, places, colours), "
    "any text in it (quote it exactly), numbers, charts and layout. Be factual and concise."
)
CAPTION_MAX_TOKENS = 256
CAPTION_MAX_SIDE = 1568  # pixels: larger images are scaled down before they are sent
CAPTION_MAX_TIME_S = 120.0


class Captioner:
    """Captions the images of one ingest with the vision model of ``settings``."""

    def __init__(self, settings: Any) -> None:
        from h2ogpt.vision.server import vision_server

        self.server = (getattr(settings, "visible_vision_models", "") or "").strip()
        self._spec = vision_server(settings) if self.server else None
        self._backend: Backend | None = None
        self._failed = False
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self.server) and not self._failed

    def _vision(self) -> Backend:
        with self._lock:
            if self._backend is None:
                from h2ogpt.backends.remote.backend import RemoteBackend

                assert self._spec is not None  # only asked for when captioning is enabled
                self._backend = RemoteBackend(self._spec, max_retries=1)
            return self._backend

    def caption(self, image: Image.Image, name: str) -> str:
        """The vision model's description of ``image`` ('' without one, or when it failed)."""
        if not self.enabled:
            return ""
        from h2ogpt.backends.base import Completion, SamplingParams
        from h2ogpt.vision.images import ImageInput

        try:
            backend = self._vision()
            params = SamplingParams(
                max_new_tokens=CAPTION_MAX_TOKENS, temperature=0.0, max_time=CAPTION_MAX_TIME_S
            )
            picture = ImageInput(data=_png(image), name=name)
            events = backend.stream_chat(
                [{"role": "user", "content": CAPTION_PROMPT, "images": [picture]}], params
            )
            done = [e for e in events if isinstance(e, Completion)]
        except Exception as exc:  # a failing vision server never fails the document
            log.warning(
                "%s: the vision model (--visible_vision_models=%s) could not describe the image (%s); "
                "keeping its OCR text only, and captioning no more images in this ingest",
                name,
                self.server,
                exc,
            )
            self._failed = True
            return ""
        text = done[0].text.strip() if done else ""
        if not text:
            log.warning("%s: the vision model returned no description of the image", name)
        return text

    def model_name(self) -> str:
        return self._backend.info.name if self._backend is not None else self.server

    def close(self) -> None:
        if self._backend is not None:
            close = getattr(self._backend, "close", None)
            if close is not None:
                close()


_CAPTIONER: ContextVar[Captioner | None] = ContextVar("h2ogpt_captioner", default=None)


@contextmanager
def captioning(settings: Any) -> Iterator[None]:
    """Caption the images loaded inside this block with ``settings``' vision model (if any)."""
    captioner = Captioner(settings)
    token = _CAPTIONER.set(captioner if captioner.server else None)
    try:
        yield
    finally:
        _CAPTIONER.reset(token)
        captioner.close()


def _png(image: Image.Image) -> bytes:
    """The image as PNG bytes, RGB, its longer side at most ``CAPTION_MAX_SIDE``."""
    picture = image.convert("RGB")
    picture.thumbnail((CAPTION_MAX_SIDE, CAPTION_MAX_SIDE))
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def with_caption(ocr_text: str, image: Image.Image, name: str) -> str:
    """``ocr_text`` with the vision model's description of ``image`` after it (when captioning)."""
    captioner = _CAPTIONER.get()
    if captioner is None:
        return ocr_text
    description = captioner.caption(image, name)
    if not description:
        return ocr_text
    block = f"[Image description by {captioner.model_name()}: {description}]"
    return f"{ocr_text.strip()}\n\n{block}" if ocr_text.strip() else block
