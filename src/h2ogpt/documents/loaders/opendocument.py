"""OpenDocument (ODT text, ODS sheets, ODP slides) with zipfile + ElementTree.

Paragraphs, headings and list items become lines, tables ``a | b | c`` rows. An ODT is
one document; each ODS sheet and each ODP slide is a document with ``page`` (and ``sheet``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from langchain_core.documents import Document

from h2ogpt.documents.loaders.archive import open_zip, read_member
from h2ogpt.documents.loaders.common import CELL_SEPARATOR, make_doc, tidy
from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.types import DocumentLoadError

NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}
TEXT, TABLE, DRAW = (f"{{{NS[k]}}}" for k in ("text", "table", "draw"))
PARAGRAPHS = {TEXT + "p", TEXT + "h"}
SKIPPED = {TEXT + "tracked-changes", TEXT + "sequence-decls", TEXT + "note-citation", DRAW + "image"}
ROW_CONTAINERS = {TABLE + "table-header-rows", TABLE + "table-rows", TABLE + "table-row-group"}


def _inline(element: ET.Element) -> str:
    """Text of a paragraph: spans, links, spaces (text:s), tabs and line breaks."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == TEXT + "s":
            parts.append(" " * int(child.get(TEXT + "c", "1")))
        elif child.tag == TEXT + "tab":
            parts.append("\t")
        elif child.tag == TEXT + "line-break":
            parts.append("\n")
        elif child.tag not in SKIPPED:
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _rows(table: ET.Element) -> Iterator[ET.Element]:
    for child in table:
        if child.tag == TABLE + "table-row":
            yield child
        elif child.tag in ROW_CONTAINERS:
            yield from _rows(child)


def _table_lines(table: ET.Element) -> Iterator[str]:
    for row in _rows(table):
        cells = [" ".join(" ".join(_lines(cell)).split()) for cell in row if cell.tag == TABLE + "table-cell"]
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            yield CELL_SEPARATOR.join(cells)


def _lines(element: ET.Element) -> Iterator[str]:
    """Block-level text of an element, in document order."""
    for child in element:
        if child.tag in PARAGRAPHS:
            yield _inline(child)
        elif child.tag == TABLE + "table":
            yield from _table_lines(child)
        elif child.tag not in SKIPPED:
            yield from _lines(child)


def _title(archive) -> str | None:
    try:
        meta = ET.fromstring(read_member(archive, archive.getinfo("meta.xml")))
    except (KeyError, ET.ParseError):
        return None
    tag = meta.find(".//dc:title", NS)
    text = (tag.text or "").strip() if tag is not None else ""
    return text or None


def _body(archive, source: Source) -> ET.Element:
    try:
        content = ET.fromstring(read_member(archive, archive.getinfo("content.xml")))
    except KeyError as exc:
        raise DocumentLoadError(source.name, "not an OpenDocument file (no content.xml)") from exc
    body = content.find("office:body", NS)
    if body is None or len(body) == 0:
        raise DocumentLoadError(source.name, "damaged OpenDocument file: content.xml has no body")
    return body[0]  # office:text, office:spreadsheet or office:presentation


def load_opendocument(source: Source) -> list[Document]:
    """ODT as one document; ODS sheets and ODP slides as one document each."""
    with open_zip(source) as archive:
        title, body = _title(archive), _body(archive, source)
    pages = [c for c in body if c.tag in (TABLE + "table", DRAW + "page")]
    if source.ext == ".odt" or not pages:
        return [make_doc(tidy("\n".join(_lines(body))), source, title)]
    docs = []
    for number, page in enumerate(pages, start=1):
        text = "\n".join(_table_lines(page) if page.tag == TABLE + "table" else _lines(page))
        name = page.get(TABLE + "name") or page.get(DRAW + "name")
        extra = {"sheet": name} if page.tag == TABLE + "table" and name else {}
        docs.append(make_doc(tidy(text), source, title, page=number, pages=len(pages), **extra))
    return docs


def register(add: RegisterHook) -> None:
    """Register the OpenDocument loaders."""
    add((".odt", ".ods", ".odp"), load_opendocument)
