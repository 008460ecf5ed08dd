"""Reading order for OCR output: boxes -> lines -> blocks -> rows of text.

Boxes on one baseline with small gaps become a line; stacked lines of words (not numbers)
with line-spacing gaps become a block (a paragraph or a multi-line table cell); blocks whose
vertical spans overlap form a row, written ``a | b | c`` when they are short (table cells)
and one per line, column by column, when they are paragraphs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

LINE_GAP = 1.0  # most horizontal gap inside a line, in line heights
BLOCK_GAP = 0.7  # most vertical gap between lines of one block, in line heights
SHORT_BLOCK_LINES = 3  # rows of blocks this short are table rows
ROW_OVERLAP = 0.25  # blocks of one row overlap vertically by this much of the smaller one
_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True)
class TextBox:
    """One recognized text box, axis-aligned."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass
class _Group:
    """Boxes (or lines) joined together, with their bounding box."""

    x0: float
    y0: float
    x1: float
    y1: float
    parts: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, box: TextBox) -> _Group:
        return cls(box.x0, box.y0, box.x1, box.y1, [box.text])

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    def add(self, other: _Group) -> None:
        self.x0, self.y0 = min(self.x0, other.x0), min(self.y0, other.y0)
        self.x1, self.y1 = max(self.x1, other.x1), max(self.y1, other.y1)
        self.parts.extend(other.parts)

    @property
    def text(self) -> str:
        return " ".join(self.parts)


def _v_overlap(a: _Group, b: _Group) -> float:
    return min(a.y1, b.y1) - max(a.y0, b.y0)


def _h_overlap(a: _Group, b: _Group) -> float:
    return min(a.x1, b.x1) - max(a.x0, b.x0)


def _same_line(line: _Group, item: _Group) -> float | None:
    """The gap from ``line`` to ``item`` when ``item`` continues it on its baseline, else None."""
    h = min(line.height, item.height)
    gap = item.x0 - line.x1
    if _v_overlap(line, item) >= 0.5 * h and -0.5 * h <= gap <= LINE_GAP * h:
        return gap
    return None


def _merge_lines(boxes: list[TextBox]) -> list[_Group]:
    """Boxes on one baseline, close together, joined left to right."""
    lines: list[_Group] = []
    for box in sorted(boxes, key=lambda b: b.x0):
        item = _Group.of(box)
        gaps = [(gap, i) for i, line in enumerate(lines) if (gap := _same_line(line, item)) is not None]
        if gaps:
            lines[min(gaps)[1]].add(item)
        else:
            lines.append(item)
    return lines


def _wordy(line: _Group) -> bool:
    return bool(_WORD.search(line.text))


def _continues(prev: _Group, line: _Group) -> bool:
    """Whether ``line`` is the next line of the block that ``prev`` ends (words, not numbers)."""
    h = min(prev.height, line.height)
    gap = line.y0 - prev.y1
    return (
        -0.3 * h <= gap <= BLOCK_GAP * h
        and max(prev.height, line.height) <= 1.5 * h
        and _h_overlap(prev, line) > 0.3 * min(prev.x1 - prev.x0, line.x1 - line.x0)
        and _wordy(prev)
        and _wordy(line)
    )


def _merge_blocks(lines: list[_Group]) -> list[_Group]:
    """Stacked lines of words with line-spacing gaps joined top to bottom."""
    blocks: list[tuple[_Group, _Group]] = []  # (block, its last line)
    for line in sorted(lines, key=lambda g: (g.y0, g.x0)):
        index = next((i for i, (_, last) in enumerate(blocks) if _continues(last, line)), None)
        if index is None:
            blocks.append((_Group(line.x0, line.y0, line.x1, line.y1, [line.text]), line))
        else:
            blocks[index][0].add(line)
            blocks[index] = (blocks[index][0], line)
    return [block for block, _ in blocks]


def _spans(groups: list[_Group], lo, hi, min_overlap: float = 0.0) -> list[list[_Group]]:
    """Groups clustered where their [lo, hi] intervals overlap (by more than ``min_overlap``
    of the smaller extent), in increasing order."""
    clusters: list[list[_Group]] = []
    end, end_size = 0.0, 0.0
    for group in sorted(groups, key=lo):
        size = hi(group) - lo(group)
        if not clusters or lo(group) > end - min_overlap * min(size, end_size):
            clusters.append([group])
            end, end_size = hi(group), size
            continue
        clusters[-1].append(group)
        if hi(group) > end:
            end, end_size = hi(group), size
    return clusters


def _is_table_row(row: list[_Group]) -> bool:
    return len(row) > 1 and all(len(b.parts) <= SHORT_BLOCK_LINES for b in row)


def _join_column_rows(rows: list[list[_Group]]) -> list[list[_Group]]:
    """Consecutive rows of side-by-side paragraphs are one multi-column region."""
    joined: list[list[_Group]] = []
    for row in rows:
        columns = len(row) > 1 and not _is_table_row(row)
        if columns and joined and len(joined[-1]) > 1 and not _is_table_row(joined[-1]):
            joined[-1] = joined[-1] + row
        else:
            joined.append(row)
    return joined


def _row_text(row: list[_Group]) -> str:
    """A table row as ``a | b``; paragraphs one per line, column by column."""
    if _is_table_row(row):
        return " | ".join(b.text for b in sorted(row, key=lambda g: g.x0))
    columns = _spans(row, lambda g: g.x0, lambda g: g.x1)
    return "\n".join(block.text for column in columns for block in sorted(column, key=lambda g: g.y0))


def layout_text(boxes: list[TextBox]) -> str:
    """The text of OCR boxes in reading order, paragraphs and table rows kept together."""
    blocks = _merge_blocks(_merge_lines(boxes))
    rows = _join_column_rows(_spans(blocks, lambda g: g.y0, lambda g: g.y1, ROW_OVERLAP))
    return "\n".join(_row_text(row) for row in rows)
