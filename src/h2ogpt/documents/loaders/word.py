"""Word DOCX with python-docx: paragraphs and tables in document order, tables as rows."""

from __future__ import annotations

from collections.abc import Iterator

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph
from langchain_core.documents import Document

from h2ogpt.documents.loaders.common import CELL_SEPARATOR, make_doc, refuse_ole
from h2ogpt.documents.loaders.registry import RegisterHook, Source


def _cell_text(cell) -> str:
    return " ".join(p.text.strip() for p in cell.paragraphs if p.text.strip())


def table_lines(table: Table) -> Iterator[str]:
    """Rows as ``a | b | c`` (merged cells once), then the rows of tables nested in cells."""
    nested: list[Table] = []
    for row in table.rows:
        seen: set[int] = set()
        texts = []
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is repeated for each grid column
                continue
            seen.add(id(cell._tc))
            texts.append(_cell_text(cell))
            nested.extend(cell.tables)
        if any(texts):
            yield CELL_SEPARATOR.join(texts)
    for inner in nested:
        yield from table_lines(inner)


def _body_lines(document) -> Iterator[str]:
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            if block.text.strip():
                yield block.text.strip()
        elif isinstance(block, Table):
            yield from table_lines(block)


def load_docx(source: Source) -> list[Document]:
    """The whole document as one text: paragraphs, and table rows as ``a | b | c``."""
    refuse_ole(source)
    document = docx.Document(source.as_file())
    title = (document.core_properties.title or "").strip() or None
    return [make_doc("\n".join(_body_lines(document)), source, title)]


def register(add: RegisterHook) -> None:
    """Register the DOCX loader."""
    add(".docx", load_docx)
