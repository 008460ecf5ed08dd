"""RTF with striprtf: the text, table rows as ``a | b | c``."""

from __future__ import annotations

from langchain_core.documents import Document
from striprtf.striprtf import rtf_to_text

from h2ogpt.documents.loaders.common import CELL_SEPARATOR, make_doc, tidy
from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.types import DocumentLoadError


def _table_row(line: str) -> str:
    """striprtf ends each table cell with '|': write the row as ``a | b``."""
    if not line.rstrip().endswith("|"):
        return line
    return CELL_SEPARATOR.join(cell.strip() for cell in line.rstrip().rstrip("|").split("|"))


def load_rtf(source: Source) -> list[Document]:
    """An RTF file as one document."""
    raw = source.read_bytes()
    if not raw.lstrip().startswith(b"{\\rtf"):
        raise DocumentLoadError(source.name, "not an RTF file (it does not start with {\\rtf)")
    text = rtf_to_text(raw.decode("latin-1"), errors="ignore")
    return [make_doc(tidy("\n".join(_table_row(line) for line in text.splitlines())), source)]


def register(add: RegisterHook) -> None:
    """Register the RTF loader."""
    add(".rtf", load_rtf)
