"""Question/answer JSONL files and grading for ``benchmarks/scaling.py``.

A record's question is its first non-empty field of QUESTION_FIELDS, its gold answer the
first of GOLD_FIELDS; a gold holding a worked solution is reduced to its final answer
(GSM8K's ``#### N``, or the last ``\\boxed{}``). A response is correct when its extracted
answer (``auto_answer``: ``\\boxed{}``, else the last number, else the text) is
mathematically equal to the gold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from h2ogpt.scaling.projections import auto_answer, boxed_answer
from h2ogpt.scaling.voting import math_equal

QUESTION_FIELDS = ("question", "problem", "prompt", "input")
GOLD_FIELDS = ("gold", "answer", "expected_answer", "final_answer", "target", "solution")
SUFFIXES = {
    "none": "",
    "number": "Give the final answer as a number.",
    "boxed": "Put the final answer in \\boxed{}.",
}
SUFFIX_HELP = ", ".join(f"{name} ('{text}')" for name, text in SUFFIXES.items()) + (
    ", other text as is, or auto (default): none when every gold is a number (easy_arith, GSM8K), else boxed"
)


@dataclass(frozen=True)
class Item:
    id: str
    question: str
    gold: str


def final_answer(gold: str) -> str:
    """The final answer of a gold that may be a worked solution."""
    if "####" in gold:
        return gold.rsplit("####", 1)[1].strip().replace(",", "")
    return boxed_answer(gold) or gold.strip()


def _first(record: dict, fields: Iterable[str]) -> str | None:
    for name in fields:
        value = record.get(name)
        if value is not None and str(value).strip():
            return str(value)
    return None


def read_items(path: Path, limit: int | None = None) -> list[Item]:
    """The first ``limit`` items of a JSONL file (all when None)."""
    items = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            if limit is not None and len(items) >= limit:
                break
            record = json.loads(line)
            question, gold = _first(record, QUESTION_FIELDS), _first(record, GOLD_FIELDS)
            if question is None or gold is None:
                raise ValueError(
                    f"{path}:{number + 1}: needs a question ({', '.join(QUESTION_FIELDS)}) "
                    f"and a gold answer ({', '.join(GOLD_FIELDS)})"
                )
            item_id = record.get("id", record.get("unique_id", number))
            items.append(Item(str(item_id), question, final_answer(gold)))
    return items


def is_numeric(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def suffix_for(choice: str, items: list[Item]) -> str:
    """The instruction appended to each question. ``auto``: none when every gold is a
    number (easy_arith, GSM8K), else ``boxed`` (MATH-style LaTeX answers); ``none``,
    ``number`` and ``boxed`` name a built-in text; anything else is the text itself."""
    if choice == "auto":
        choice = "none" if all(is_numeric(item.gold) for item in items) else "boxed"
    return SUFFIXES.get(choice, choice)


def with_suffix(question: str, suffix: str) -> str:
    return f"{question.rstrip()}\n\n{suffix}" if suffix else question


def is_correct(response: str, gold: str) -> bool:
    answer = auto_answer(response)
    return answer is not None and math_equal(gold, answer)
