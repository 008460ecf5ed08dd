"""JSON and JSON Lines: the values as ``key.path: value`` lines, one block per record.

Keys are kept (dotted, list indices left out) because they say what a value is, which
helps search; records of a top-level array or of a JSONL file are separated by blank lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from langchain_core.documents import Document

from h2ogpt.documents.loaders.common import decode_text, make_doc
from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.types import DocumentLoadError


def _lines(value: object, path: str = "") -> Iterator[str]:
    """``key.path: value`` for every scalar in a JSON value."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _lines(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for inner in value:
            yield from _lines(inner, path)
    elif value is not None and str(value).strip():
        text = " ".join(str(value).split()) if isinstance(value, str) else json.dumps(value)
        yield f"{path}: {text}" if path else text


def _records_text(records: list[object]) -> str:
    blocks = ("\n".join(_lines(r)) for r in records)
    return "\n\n".join(b for b in blocks if b)


def load_json(source: Source) -> list[Document]:
    """A JSON file; a top-level array is written record by record."""
    text = decode_text(source.read_bytes(), source)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentLoadError(source.name, f"not valid JSON ({exc})") from exc
    records = value if isinstance(value, list) else [value]
    return [make_doc(_records_text(records), source)]


def load_jsonl(source: Source) -> list[Document]:
    """A JSON Lines file: one JSON value per line, blank lines ignored."""
    records = []
    text = decode_text(source.read_bytes(), source)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DocumentLoadError(source.name, f"line {number} is not valid JSON ({exc})") from exc
    return [make_doc(_records_text(records), source)]


def register(add: RegisterHook) -> None:
    """Register the JSON and JSON Lines loaders."""
    add(".json", load_json)
    add((".jsonl", ".ndjson"), load_jsonl)
