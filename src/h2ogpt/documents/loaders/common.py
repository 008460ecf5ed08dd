"""Small helpers shared by the format loaders: documents, table rows, text decoding."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from langchain_core.documents import Document

from h2ogpt.documents.loaders.registry import Source
from h2ogpt.documents.types import DocumentLoadError

CELL_SEPARATOR = " | "
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy Office and encrypted OOXML files
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(\n\s*)+")


def make_doc(text: str, source: Source, title: str | None = None, **extra: object) -> Document:
    """A Document with the metadata contract: ``source``, ``title`` and any extra scalars."""
    metadata: dict[str, object] = {"source": source.name, "title": title or source.filename}
    metadata.update({k: v for k, v in extra.items() if v is not None})
    return Document(page_content=text, metadata=metadata)


def cell_text(value: object) -> str:
    """A table cell as text: integers without '.0', dates in ISO form, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return " ".join(str(value).split())


def row_text(cells: Iterable[object]) -> str:
    """One table row as ``a | b | c``; trailing empty cells dropped, '' for an empty row."""
    texts = [cell_text(c) for c in cells]
    while texts and not texts[-1]:
        texts.pop()
    return CELL_SEPARATOR.join(texts) if any(texts) else ""


def rows_text(rows: Iterable[Iterable[object]]) -> str:
    """A table as one ``a | b | c`` line per non-empty row."""
    return "\n".join(line for line in (row_text(r) for r in rows) if line)


def tidy(text: str) -> str:
    """Collapse runs of spaces inside lines and of blank lines; strip the ends."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def decode_text(data: bytes, source: Source) -> str:
    """Bytes of a text file as str (UTF-8, UTF-16 with BOM, else Windows-1252/Latin-1)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise DocumentLoadError(source.name, "looks like a binary file, not text")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def refuse_ole(source: Source) -> None:
    """Raise a clear error for an Office file that is encrypted (or legacy binary)."""
    if source.head(len(OLE_MAGIC)) == OLE_MAGIC:
        raise DocumentLoadError(
            source.name,
            f"password-protected (encrypted) Office file, or an old binary file named {source.ext}: "
            f"open it in Office, remove the password and save it again as {source.ext}",
        )
