"""Images attached to a question in the browser: the attach box (upload, drop or paste into the
question box), their checks, how they are kept in a conversation and shown.

A user message keeps its images as ``ImageInput``'s JSON form (the bytes as base64) under
``"images"``, so a saved chat holds them and shows them again when reopened; an answer keeps how
they were read (``ImagesRead``) under ``"vision"``. Messages saved before images existed have
neither key and load as before.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from h2ogpt.events import ImagesRead
from h2ogpt.vision.images import ImageError, ImageInput, ImageLimits, load_image

log = logging.getLogger(__name__)

Message = dict[str, Any]
THUMBNAIL_SIDE = 160  # pixels: the longer side of a thumbnail in the chat
DESCRIPTION_CHARS = 400  # of a description or OCR text shown under "how the images were read"

# Pasting an image into the question box puts it in the attach box (Gradio's File component
# uploads what its file input receives).
PASTE_JS = """() => {
  document.addEventListener('paste', (event) => {
    if (!event.target.closest || !event.target.closest('#question')) return;
    const files = [...(event.clipboardData?.files || [])].filter(f => f.type.startsWith('image/'));
    const input = document.querySelector('#attach-images input[type=file]');
    if (!files.length || !input) return;
    event.preventDefault();
    const transfer = new DataTransfer();
    files.forEach(f => transfer.items.add(f));
    input.files = transfer.files;
    input.dispatchEvent(new Event('change', {bubbles: true}));
  });
}"""

CSS = """
.attached-images { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 0.4em; }
.attached-images img { max-height: 160px; max-width: 160px; border-radius: 6px; }
.images-read { font-size: 0.85em; opacity: 0.8; margin-bottom: 0.5em; }
"""


def attach_box() -> gr.File:
    """The attach box under the question (images are also pasted into the question box)."""
    return gr.File(
        label="Attach images (or paste them into the question box)",
        file_count="multiple",
        file_types=["image"],
        type="filepath",
        height=110,
        elem_id="attach-images",
    )


# --- checks -----------------------------------------------------------------------------------
def image_count(conversation: Sequence[Message]) -> int:
    """How many images the conversation's questions carry."""
    return sum(len(m.get("images") or ()) for m in conversation if m.get("role") == "user")


def attached_images(paths: Sequence[str] | None, limits: ImageLimits, already: int = 0) -> list[dict]:
    """The attached files as image records, each decoded and checked; ImageError names the bad one.

    ``already``: images the chat's earlier questions hold (they are sent again with this one).
    """
    paths = [p for p in paths or [] if p]
    if already + len(paths) > limits.max_images:
        earlier = f" (the chat's earlier questions hold {already})" if already else ""
        raise ImageError(
            f"{already + len(paths)} images with this question{earlier}; at most {limits.max_images} "
            "are allowed in one request (--max_images): attach fewer, or start a new chat"
        )
    records = []
    for number, path in enumerate(paths, already + 1):
        name = Path(path).name
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ImageError(f"image {number} ({name}): cannot be read ({exc}); attach it again") from None
        records.append(image_record(load_image(data, name=name, limits=limits, number=number)))
    return records


# --- kept in a conversation -------------------------------------------------------------------
def image_record(image: ImageInput) -> dict:
    """What a conversation (and a saved chat) keeps of an image: its JSON form, bytes as base64."""
    return json.loads(image.model_dump_json())


def images_of(message: Message) -> list[ImageInput]:
    """The images of a user message (none for messages without any)."""
    return [ImageInput.model_validate_json(json.dumps(record)) for record in message.get("images") or ()]


def vision_record(read: ImagesRead) -> dict:
    """What an answer keeps of how its question's images were read."""
    return {"how": read.how, "by": read.by, "count": read.count, "texts": list(read.texts), "note": read.note}


# --- shown ------------------------------------------------------------------------------------
_thumbnails: OrderedDict[tuple, str] = OrderedDict()
_thumbnails_lock = threading.Lock()
THUMBNAILS_KEPT = 256


def _thumbnail(data_b64: str) -> str:
    """``_make_thumbnail``, remembered (the chat is rendered again on every streamed update).

    Keyed by the string's hash (cached by Python), length and ends, so the cache never keeps
    the images themselves."""
    key = (hash(data_b64), len(data_b64), data_b64[:64], data_b64[-64:])
    with _thumbnails_lock:
        if key in _thumbnails:
            _thumbnails.move_to_end(key)
            return _thumbnails[key]
    made = _make_thumbnail(data_b64)
    with _thumbnails_lock:
        _thumbnails[key] = made
        while len(_thumbnails) > THUMBNAILS_KEPT:
            _thumbnails.popitem(last=False)
    return made


def _make_thumbnail(data_b64: str) -> str:
    """A small JPEG of the image as a data: URL (the page needs no file served for it)."""
    from PIL import Image

    # pydantic writes the bytes as URL-safe base64; the standard alphabet is read as well
    data = base64.urlsafe_b64decode(data_b64.replace("+", "-").replace("/", "_"))
    with Image.open(io.BytesIO(data)) as img:
        img.seek(0)
        small = img.convert("RGB")
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def thumbnails_html(message: Message) -> str:
    """The thumbnails of a user message's images ('' when it has none)."""
    images = []
    for number, record in enumerate(message.get("images") or (), 1):
        try:
            src = _thumbnail(record["data"])
        except Exception as exc:  # a damaged record shows its name, never breaks the chat
            log.warning("image %d of a message cannot be shown: %s", number, exc)
            images.append(f"<span>[image {number}: {html.escape(str(record.get('name', '')))}]</span>")
            continue
        name = html.escape(str(record.get("name") or f"image {number}"))
        size = f"{record.get('width', '?')}x{record.get('height', '?')}"
        images.append(f'<img src="{src}" alt="{name}" title="{name} ({size})">')
    return f'<div class="attached-images">{"".join(images)}</div>' if images else ""


def user_content(message: Message) -> str:
    """A user message as shown: its images' thumbnails, then its text."""
    thumbnails = thumbnails_html(message)
    text = message.get("content", "")
    return f"{thumbnails}\n\n{text}" if thumbnails else text


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= DESCRIPTION_CHARS else flat[:DESCRIPTION_CHARS].rstrip() + "…"


def images_read_html(vision: dict | None) -> str:
    """One line above an answer: who looked at the question's images, and what they read."""
    if not vision:
        return ""
    count = int(vision.get("count") or 0)
    what = "1 image" if count == 1 else f"{count} images"
    by = html.escape(str(vision.get("by", "")))
    texts = [t for t in vision.get("texts") or () if t]
    latest = html.escape(_clip(texts[-1])) if texts else ""
    if vision.get("how") == "described":
        line = f"{what} described by <b>{by}</b>" + (f": <i>{latest}</i>" if latest else "")
    elif vision.get("how") == "seen":
        line = f"{what} seen by <b>{by}</b>"
    else:
        line = f"{what} not seen (no vision model is configured); text read by <b>{by}</b>" + (
            f": <i>{latest}</i>" if latest else ""
        )
    return f'<div class="images-read">{line}</div>'
