"""Who looks at a question's images, decided in one place for every face and scaling mode.

1. A vision model named by ``--visible_vision_models`` (unless it is the chat model's own
   server): it describes each message's images, with the message's question, and the chat
   model answers with that description in its context.
2. Else a chat backend that declares ``capabilities.vision`` (a remote chat server): it gets
   the images themselves, as OpenAI image parts.
3. Else OCR: the text found in each image is given to the chat model, and the answer starts
   with a fixed note saying the image itself was not seen.

Descriptions and OCR text are computed once per request, so every candidate of a scaled
answer sees the same images. No image is ever dropped: each reaches a model or the answer
says what happened to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from h2ogpt.backends.base import Backend, Completion, SamplingParams
from h2ogpt.errors import H2OGPTError, UpstreamError
from h2ogpt.events import Event, FinalAnswer, ImagesRead, TokenDelta
from h2ogpt.request import AnswerRequest, ChatMessage
from h2ogpt.vision.images import ImageInput, ImageLimits, check_images, decoded
from h2ogpt.vision.server import vision_server

if TYPE_CHECKING:
    from h2ogpt.settings import Settings

log = logging.getLogger(__name__)

DESCRIBE_MAX_TOKENS = 512
DESCRIBE_PROMPT = (
    "Describe {what} in detail: objects, colours, people, any text (quote it exactly), numbers, "
    "charts and layout.{question} Number the images in order: Image 1, Image 2, ..."
)
OCR_BY = "OCR (RapidOCR)"
NOT_SEEN_NOTE = (
    "Note: the {what} itself was not seen (no vision model is configured); this answer uses only "
    "the text that OCR read in {it}.\n\n"
)
_OCR_CACHE_SIZE = 64


def not_seen_note(count: int) -> str:
    """The fixed sentence an OCR-only answer starts with."""
    return NOT_SEEN_NOTE.format(what="image" if count == 1 else "images", it="it" if count == 1 else "them")


class ImageReader:
    """Turns a request with images into one its chat model can answer (see the module doc)."""

    def __init__(self, settings: Settings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.limits = ImageLimits.from_settings(settings)
        self._vision: Backend | None = None
        self._lock = threading.Lock()
        self._ocr_cache: OrderedDict[str, str] = OrderedDict()

    # --- who looks -----------------------------------------------------------------------
    def _chat_model_sees(self) -> bool:
        return self.backend.capabilities.vision and self.backend.info.chat_native

    def _separate_vision_model(self) -> bool:
        """A vision model is configured and it is not the chat model's own server."""
        spec = vision_server(self.settings)
        if spec is None:
            return False
        if self._chat_model_sees() and self.settings.inference_server.strip():
            from h2ogpt.backends.remote.spec import parse_inference_server

            return spec.base_url != parse_inference_server(self.settings.inference_server).base_url
        return True

    def vision_backend(self) -> Backend:
        """The ``--visible_vision_models`` server, connected on first use."""
        with self._lock:
            if self._vision is None:
                from h2ogpt.backends.remote.backend import RemoteBackend

                spec = vision_server(self.settings)
                assert spec is not None  # only asked for when one is configured
                try:
                    self._vision = RemoteBackend(spec)
                except H2OGPTError as exc:
                    raise type(exc)(f"the vision model (--visible_vision_models) failed: {exc}") from None
                log.info("vision model: %s at %s", self._vision.info.name, spec.base_url)
            return self._vision

    def prepare(self, request: AnswerRequest) -> tuple[AnswerRequest, ImagesRead | None]:
        """The request the chat model answers, and how its images were read (None: no images).

        Raises ImageError for images over the limits, UpstreamError when the vision model fails.
        """
        images = request.images
        if not images:
            return request, None
        check_images(images, self.limits)
        if self._separate_vision_model():
            return self._described(request)
        if self._chat_model_sees():
            return request, ImagesRead("seen", self.backend.info.name, len(images))
        return self._ocr(request)

    # --- a vision model describes them ------------------------------------------------------
    def _describe(self, message: ChatMessage) -> str:
        backend = self.vision_backend()
        count = len(message.images)
        question = f" Then answer this question about {'it' if count == 1 else 'them'}: {message.content}"
        prompt = DESCRIBE_PROMPT.format(
            what="this image" if count == 1 else f"each of these {count} images",
            question=question if message.content.strip() else "",
        )
        params = SamplingParams(
            max_new_tokens=DESCRIBE_MAX_TOKENS, temperature=0.0, max_time=self.settings.max_time
        )
        try:
            events = backend.stream_chat(
                [{"role": "user", "content": prompt, "images": message.images}], params
            )
            done = [e for e in events if isinstance(e, Completion)]
        except H2OGPTError as exc:
            raise type(exc)(f"the vision model (--visible_vision_models) failed: {exc}") from None
        text = done[0].text.strip() if done else ""
        if not text:
            raise UpstreamError(
                f"the vision model {backend.info.name} (--visible_vision_models) returned no description "
                "of the images; check that it is a vision model"
            )
        return text

    def _described(self, request: AnswerRequest) -> tuple[AnswerRequest, ImagesRead]:
        name = self.vision_backend().info.name
        texts: list[str] = []
        messages = []
        for message in request.messages:
            if not message.images:
                messages.append(message)
                continue
            description = self._describe(message)
            texts.append(description)
            count = len(message.images)
            header = (
                f"[The {'image' if count == 1 else f'{count} images'} attached to this message, as "
                f"described by the vision model {name}:\n{description}]"
            )
            messages.append(ChatMessage(role="user", content=_joined(header, message.content)))
        read = ImagesRead("described", name, len(request.images), tuple(texts))
        return request.model_copy(update={"messages": messages}), read

    # --- nobody can see them: OCR ------------------------------------------------------------
    def ocr_text(self, image: ImageInput) -> str:
        """The text OCR reads in ``image`` (cached by the image's hash)."""
        key = hashlib.sha256(image.data).hexdigest()
        with self._lock:
            if key in self._ocr_cache:
                self._ocr_cache.move_to_end(key)
                return self._ocr_cache[key]
        from h2ogpt.documents.loaders.ocr import image_text

        text = image_text(decoded(image)).strip()
        with self._lock:
            self._ocr_cache[key] = text
            while len(self._ocr_cache) > _OCR_CACHE_SIZE:
                self._ocr_cache.popitem(last=False)
        return text

    def _ocr_block(self, number: int, image: ImageInput) -> str:
        from h2ogpt.documents.loaders.ocr import OcrUnavailable

        try:
            text = self.ocr_text(image)
        except OcrUnavailable as exc:
            log.warning("image %d: %s", number, exc)
            return f"[Image {number} was not seen, and its text could not be read: {exc}]"
        if not text:
            return f"[Image {number} was not seen (no vision model is configured); OCR found no text in it]"
        return (
            f"[Image {number} was not seen (no vision model is configured); the text OCR read in it:\n{text}]"
        )

    def _ocr(self, request: AnswerRequest) -> tuple[AnswerRequest, ImagesRead]:
        texts: list[str] = []
        messages = []
        number = 0
        for message in request.messages:
            if not message.images:
                messages.append(message)
                continue
            blocks = []
            for image in message.images:
                number += 1
                blocks.append(self._ocr_block(number, image))
            texts.append("\n".join(blocks))
            messages.append(ChatMessage(role="user", content=_joined(texts[-1], message.content)))
        read = ImagesRead("ocr", OCR_BY, number, tuple(texts), note=not_seen_note(number))
        return request.model_copy(update={"messages": messages}), read


def _joined(header: str, content: str) -> str:
    return f"{header}\n\n{content}" if content.strip() else header


def with_images_read(events: Iterator[Event], read: ImagesRead, note_in_text: bool = True) -> Iterator[Event]:
    """The answer's events after ``read``: the final answer records it, and an OCR-only answer
    starts with its fixed note (in every choice) unless ``note_in_text`` is False (JSON answers)."""
    yield read
    note = read.note if note_in_text else ""
    started: set[int] = set()
    for event in events:
        if isinstance(event, TokenDelta) and note and event.index not in started:
            started.add(event.index)
            yield TokenDelta(note, event.index)
        if isinstance(event, FinalAnswer):
            choices: Sequence = event.choices
            if note:
                for choice in choices:
                    if choice.index not in started:
                        yield TokenDelta(note, choice.index)
                choices = [dataclasses.replace(c, text=note + c.text) for c in choices]
            event = dataclasses.replace(event, choices=list(choices), images=read)
        yield event
