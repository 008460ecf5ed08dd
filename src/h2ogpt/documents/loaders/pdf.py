"""PDF with pypdf: the text layer page by page; pages without one go through OCR.

pypdf's ``plain`` extraction is used: it follows the content stream, so two-column papers
read column by column and table rows stay on their lines. ``layout`` mode keeps table rows
slightly better but interleaves the two columns line by line and glues neighbouring table
numbers ("68.8 73.7" -> "68.873.7"), so it is not used.
"""

from __future__ import annotations

import logging

from langchain_core.documents import Document
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

from h2ogpt.documents.loaders.common import make_doc
from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.types import DocumentLoadError, LoadFailure

log = logging.getLogger(__name__)

SCANNED_TEXT_CHARS = 50  # a page with images and less text than this is OCRed (a scan + a stamp)
PASSWORD_HINT = "pass it with load_file(path, password=...) or load_paths(..., passwords={path: ...})"


def _open(source: Source) -> PdfReader:
    """A reader, decrypted when needed; clear errors for damaged or locked files."""
    try:
        reader = PdfReader(source.as_file(), strict=False)
    except PdfReadError as exc:
        raise DocumentLoadError(source.name, f"damaged PDF, cannot be read ({exc})") from exc
    if not reader.is_encrypted:
        return reader
    try:
        result = reader.decrypt(source.password or "")
    except DependencyError as exc:
        raise DocumentLoadError(source.name, f"encrypted PDF needs the cryptography package ({exc})") from exc
    if result == PasswordType.NOT_DECRYPTED:
        if source.password:
            raise DocumentLoadError(source.name, "encrypted PDF: the password given is wrong")
        raise DocumentLoadError(source.name, f"encrypted PDF, password needed ({PASSWORD_HINT})")
    return reader


def _title(reader: PdfReader) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # broken info dictionaries are common and harmless
        return None
    return title.strip() if isinstance(title, str) and title.strip() else None


def _ocr_page(page, source: Source, number: int) -> str:
    """Text of the images of a page without a text layer ('' when OCR is unavailable), with
    their vision-model descriptions when captioning."""
    from h2ogpt.documents.loaders.captions import with_caption
    from h2ogpt.documents.loaders.ocr import OcrUnavailable, image_text

    texts = []
    for image in page.images:
        try:
            picture = image.image
            texts.append(with_caption(image_text(picture), picture, f"{source.name}#page={number}"))
        except OcrUnavailable as exc:
            log.warning("%s page %d has no text layer and cannot be OCRed: %s", source.name, number, exc)
            return ""
        except Exception as exc:  # an undecodable image (e.g. JBIG2) leaves the others
            log.warning("%s page %d: image %s skipped (%s)", source.name, number, image.name, exc)
    return "\n".join(t for t in texts if t)


def _has_images(page) -> bool:
    try:
        return len(page.images) > 0
    except Exception:  # unreadable resources: nothing to OCR
        return False


def _page_text(page, source: Source, number: int) -> tuple[str, bool]:
    """(text, was_ocr) of one page: its text layer, plus OCR of its images when it is a scan."""
    text = page.extract_text() or ""
    if len("".join(text.split())) >= SCANNED_TEXT_CHARS or not _has_images(page):
        return text, False
    ocr_text = _ocr_page(page, source, number)
    return f"{text.strip()}\n{ocr_text}".strip(), bool(ocr_text)


def load_pdf(source: Source) -> list[Document]:
    """One document per page with text, ``page`` 1-based and ``pages`` the page count."""
    reader = _open(source)
    title = _title(reader)
    try:
        pages = list(reader.pages)
    except (PdfReadError, FileNotDecryptedError) as exc:
        raise DocumentLoadError(source.name, f"damaged PDF, its pages cannot be read ({exc})") from exc
    docs = []
    for number, page in enumerate(pages, start=1):
        try:
            text, ocr = _page_text(page, source, number)
        except Exception as exc:  # one broken page leaves the others
            reason = f"page {number} could not be read ({type(exc).__name__}: {exc})"
            log.warning("%s: %s", source.name, reason)
            if source.failures is not None:
                source.failures.append(LoadFailure(f"{source.name}#page={number}", reason))
            continue
        if text.strip():
            extra = {"ocr": True} if ocr else {}
            docs.append(make_doc(text, source, title, page=number, pages=len(pages), **extra))
    return docs


def register(add: RegisterHook) -> None:
    """Register the PDF loader."""
    add(".pdf", load_pdf)
