"""Images through OCR (see ``ocr.py``): one document per image, per frame for multi-page TIFFs.

With a vision model configured (``--visible_vision_models``), each image's description is
added to its OCR text (``captions.py``), so a photo without text is searchable too.
"""

from __future__ import annotations

from langchain_core.documents import Document
from PIL import Image, ImageSequence, UnidentifiedImageError

from h2ogpt.documents.loaders.captions import with_caption
from h2ogpt.documents.loaders.common import make_doc
from h2ogpt.documents.loaders.ocr import OcrUnavailable, image_text
from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.types import DocumentLoadError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
MAX_FRAMES = 500


def load_image(source: Source) -> list[Document]:
    """OCR text of the image (``ocr`` = True), plus its vision-model description when captioning;
    multi-frame TIFFs get ``page`` per frame."""
    try:
        image = Image.open(source.as_file())
    except UnidentifiedImageError as exc:
        raise DocumentLoadError(source.name, "damaged or not an image file") from exc
    with image:
        frames = getattr(image, "n_frames", 1) if source.ext in (".tif", ".tiff") else 1
        if frames > MAX_FRAMES:
            raise DocumentLoadError(source.name, f"too many pages ({frames} > {MAX_FRAMES})")
        docs = []
        try:
            for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
                if number > frames:
                    break
                extra = {"page": number, "pages": frames} if frames > 1 else {}
                name = source.name + (f"#page={number}" if frames > 1 else "")
                text = with_caption(image_text(frame), frame, name)
                docs.append(make_doc(text, source, ocr=True, **extra))
        except OcrUnavailable as exc:
            raise DocumentLoadError(source.name, str(exc)) from exc
    return docs


def register(add: RegisterHook) -> None:
    """Register the image (OCR) loader."""
    add(IMAGE_EXTENSIONS, load_image)
