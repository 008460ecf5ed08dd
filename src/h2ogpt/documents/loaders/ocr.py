"""OCR with RapidOCR: PP-OCRv4 ONNX models shipped inside the ``rapidocr-onnxruntime`` wheel.

Nothing is downloaded. The engine is created once per process (about 1 s) and shared;
calls are serialized because the machine's cores are already used by onnxruntime.
Text lines smaller than the recognizer's input are upscaled (bicubic) before recognition:
on small print the model otherwise drops the spaces between words.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import TYPE_CHECKING

from h2ogpt.documents.loaders.ocr_layout import TextBox, layout_text

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

OCR_PACKAGE = "rapidocr-onnxruntime==1.4.4"
MIN_LINE_HEIGHT = 64  # pixels; the recognizer reads 48-pixel lines, a bit more keeps spaces
_lock = threading.Lock()


class OcrUnavailable(RuntimeError):
    """The OCR package is not installed."""


def _threads() -> int:
    """onnxruntime threads: OMP_NUM_THREADS when set, else onnxruntime's default (-1)."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return -1


@functools.cache
def _engine():
    """The shared RapidOCR engine (models from the installed wheel)."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError as exc:
        raise OcrUnavailable(f"OCR needs the {OCR_PACKAGE} package (pip install {OCR_PACKAGE})") from exc
    threads = _threads()
    log.info("loading the OCR engine (RapidOCR, PP-OCRv4, %s threads)", threads if threads > 0 else "auto")
    return RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)


def _upscale(crop):
    """A text-line crop enlarged (bicubic) to at least ``MIN_LINE_HEIGHT`` pixels high."""
    import cv2

    height = crop.shape[0]
    if height >= MIN_LINE_HEIGHT or height == 0:
        return crop
    scale = MIN_LINE_HEIGHT / height
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)


def recognize(image: Image.Image) -> list[TextBox]:
    """Text lines found in an image, with their boxes (in the engine's working scale)."""
    engine = _engine()
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    with _lock:
        img = engine.load_img(rgb)
        img, _, _ = engine.preprocess(img)
        img, _ = engine.maybe_add_letterbox(img, {})
        boxes, _ = engine.auto_text_det(img)
        if boxes is None:
            return []
        crops = [_upscale(c) for c in engine.get_crop_img_list(img, boxes)]
        crops, _, _ = engine.text_cls(crops)
        results, _ = engine.text_rec(crops, False)
    found = []
    for box, (text, score) in zip(boxes, results, strict=True):
        if score >= engine.text_score and text.strip():
            xs, ys = box[:, 0], box[:, 1]
            found.append(TextBox(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()), text))
    return found


def image_text(image: Image.Image) -> str:
    """The text of an image, lines grouped into paragraphs and table rows (``a | b``)."""
    return layout_text(recognize(image))


def ocr_available() -> bool:
    """Whether the OCR package can be imported."""
    try:
        _engine()
    except OcrUnavailable:
        return False
    return True
