"""Dispatch one :class:`Source` to its loader and enforce the metadata contract."""

from __future__ import annotations

import logging

from langchain_core.documents import Document

from h2ogpt.documents.loaders.registry import Loader, Source, loader_for, supported_extensions
from h2ogpt.documents.types import DocumentLoadError

log = logging.getLogger(__name__)

_JSON_SCALARS = (str, int, float, bool)
COMMON_EXTENSIONS = (".pdf", ".docx", ".pptx", ".xlsx", ".html", ".md", ".txt", ".csv", ".json", ".eml", ".zip", ".png")  # fmt: skip
LEGACY_FORMATS = {
    ".doc": "save it as .docx",
    ".ppt": "save it as .pptx",
    ".pages": "export it as .docx or .pdf",
}


def unsupported_reason(ext: str) -> str:
    """Why a file type cannot be loaded, and what to do instead."""
    if ext in LEGACY_FORMATS:
        return f"the legacy {ext} format is not supported: {LEGACY_FORMATS[ext]}"
    what = f"'{ext}'" if ext else "without an extension"
    return (
        f"unsupported file type {what} ({len(supported_extensions())} types are supported, e.g. "
        f"{', '.join(COMMON_EXTENSIONS)}; see docs/documents.md)"
    )


def _looks_like_text(source: Source) -> bool:
    """Whether a file without an extension (README, Makefile, LICENSE) is UTF-8 text."""
    head = source.head(8192)
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # only a character cut at the end
    return True


def _loader(source: Source) -> Loader:
    """The registered loader for the source's extension; text files without one load as text."""
    loader = loader_for(source.ext) or (
        loader_for(".txt") if not source.ext and _looks_like_text(source) else None
    )
    if loader is None:
        raise DocumentLoadError(source.name, unsupported_reason(source.ext))
    return loader


def _clean_metadata(doc: Document, source: Source) -> Document:
    """Keep JSON-scalar metadata only, and make sure ``source`` and ``title`` are set."""
    meta = {k: v for k, v in doc.metadata.items() if isinstance(v, _JSON_SCALARS)}
    meta.setdefault("source", source.name)
    meta.setdefault("title", source.filename)
    doc.metadata = meta
    return doc


def load_source(source: Source) -> list[Document]:
    """Load one input through the registry; every failure is a :class:`DocumentLoadError`."""
    loader = _loader(source)
    try:
        docs = loader(source)
    except DocumentLoadError:
        raise
    except MemoryError:
        raise DocumentLoadError(source.name, "too large to load in memory") from None
    except Exception as exc:  # parsers raise anything on a bad file: name the file, keep the cause
        log.debug("loader failed for %s", source.name, exc_info=True)
        kind = f"a {source.ext} file" if source.ext else "of this type"
        reason = f"damaged, or not really {kind} ({type(exc).__name__}: {exc})"
        raise DocumentLoadError(source.name, reason) from exc
    docs = [_clean_metadata(d, source) for d in docs if d.page_content.strip()]
    if not docs:
        raise DocumentLoadError(
            source.name, "no text could be extracted (the file is empty or has no readable text)"
        )
    return docs
