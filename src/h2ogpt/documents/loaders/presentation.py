"""PowerPoint PPTX with python-pptx: one document per slide (``page`` = slide number)."""

from __future__ import annotations

from collections.abc import Iterator

from langchain_core.documents import Document
from pptx import Presentation
from pptx.enum.shapes import MSO_SHAPE_TYPE

from h2ogpt.documents.loaders.common import make_doc, refuse_ole, rows_text
from h2ogpt.documents.loaders.registry import RegisterHook, Source


def _reading_order(shapes) -> list:
    """Shapes top to bottom, then left to right (placeholders without a position first)."""
    return sorted(shapes, key=lambda s: (s.top or 0, s.left or 0))


def _shape_lines(shape) -> Iterator[str]:
    """Text of one shape: text frame paragraphs (indented by level), table rows, groups."""
    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for inner in _reading_order(shape.shapes):
            yield from _shape_lines(inner)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = ([cell.text for cell in row.cells] for row in shape.table.rows)
        yield from rows_text(rows).splitlines()
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        for paragraph in shape.text_frame.paragraphs:
            text = paragraph.text.strip()
            if text:
                yield "  " * paragraph.level + text


def _slide_text(slide) -> str:
    lines = [line for shape in _reading_order(slide.shapes) for line in _shape_lines(shape)]
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        if notes is not None and notes.text.strip():
            lines += ["", "Notes: " + notes.text.strip()]
    return "\n".join(lines)


def load_pptx(source: Source) -> list[Document]:
    """Slides with text: titles, bullets (nested levels indented), tables, speaker notes."""
    refuse_ole(source)
    deck = Presentation(source.as_file())
    title = (deck.core_properties.title or "").strip() or None
    count = len(deck.slides)
    docs = []
    for number, slide in enumerate(deck.slides, start=1):
        text = _slide_text(slide)
        heading = slide.shapes.title.text.strip() if slide.shapes.title is not None else ""
        extra = {"slide_title": heading} if heading else {}
        docs.append(make_doc(text, source, title, page=number, slide=number, pages=count, **extra))
    return docs


def register(add: RegisterHook) -> None:
    """Register the PPTX loader."""
    add(".pptx", load_pptx)
