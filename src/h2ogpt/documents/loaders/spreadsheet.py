"""Spreadsheets and delimited text: XLSX/XLSM (openpyxl), XLS (xlrd), CSV/TSV (csv).

Rows become ``a | b | c`` lines. A workbook gives one document per sheet (``page`` = sheet
number, ``sheet`` = its name); a long CSV is cut into blocks of rows that each start with
the header row, so every piece still says what its columns are.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from langchain_core.documents import Document

from h2ogpt.documents.loaders.common import decode_text, make_doc, refuse_ole, row_text
from h2ogpt.documents.loaders.registry import RegisterHook, Source

CSV_BLOCK_ROWS = 200
_DELIMITERS = ",;\t|"


def _sheet_doc(source: Source, number: int, name: str, rows: Iterable[Iterable[object]], count: int):
    lines = [line for line in (row_text(r) for r in rows) if line]
    text = "\n".join([f"Sheet: {name}", *lines]) if lines else ""
    return make_doc(text, source, page=number, sheet=name, pages=count)


def load_xlsx(source: Source) -> list[Document]:
    """Each sheet's rows (values, not formulas), one document per sheet."""
    import openpyxl

    refuse_ole(source)
    workbook = openpyxl.load_workbook(source.as_file(), read_only=True, data_only=True)
    try:
        sheets = workbook.worksheets
        return [
            _sheet_doc(source, n, ws.title, ws.iter_rows(values_only=True), len(sheets))
            for n, ws in enumerate(sheets, start=1)
        ]
    finally:
        workbook.close()


def load_xls(source: Source) -> list[Document]:
    """Legacy Excel workbooks, one document per sheet."""
    import xlrd

    book = xlrd.open_workbook(file_contents=source.read_bytes(), on_demand=True)
    try:
        count = book.nsheets
        docs = []
        for n in range(count):
            sheet = book.sheet_by_index(n)
            rows = (sheet.row_values(r) for r in range(sheet.nrows))
            docs.append(_sheet_doc(source, n + 1, sheet.name, rows, count))
        return docs
    finally:
        book.release_resources()


def _dialect(sample: str, ext: str) -> type[csv.Dialect] | str:
    if ext in (".tsv", ".tab"):
        return "excel-tab"
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
    except csv.Error:
        return "excel"


def _blocks(lines: list[str], size: int) -> Iterator[tuple[int, list[str]]]:
    """(first data row number, header + rows) blocks of at most ``size`` data rows."""
    header, body = lines[:1], lines[1:]
    if not body:
        yield 1, header
        return
    for start in range(0, len(body), size):
        yield start + 2, header + body[start : start + size]


def load_csv(source: Source) -> list[Document]:
    """Rows as ``a | b | c`` lines, in blocks of ``CSV_BLOCK_ROWS`` rows led by the header."""
    text = decode_text(source.read_bytes(), source)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[:8192], source.ext))
    lines = [line for line in (row_text(r) for r in reader) if line]
    return [make_doc("\n".join(block), source, row=first) for first, block in _blocks(lines, CSV_BLOCK_ROWS)]


def register(add: RegisterHook) -> None:
    """Register the spreadsheet and CSV/TSV loaders."""
    add((".xlsx", ".xlsm"), load_xlsx)
    add(".xls", load_xls)
    add((".csv", ".tsv", ".tab"), load_csv)
