"""Question/answer JSONL files and grading for ``benchmarks/scaling.py``.

A record's question is its first non-empty field of QUESTION_FIELDS, its gold answer the
first of GOLD_FIELDS; a gold holding a worked solution is reduced to its final answer
(GSM8K's ``#### N``, or the last ``\\boxed{}``). A record's ``context`` (squad2_long) goes
before its question. A response is correct when its extracted answer (``auto_answer``:
``\\boxed{}``, else the last number, else the text) is mathematically equal to the gold, or,
for a record with ``answers`` (text answers), when any of them is in the response
(case-insensitively).
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
    context: str = ""  # put before the question (long-prompt sets)
    answers: tuple[str, ...] = ()  # text answers, any of which counts

    def prompt(self, suffix: str) -> str:
        question = with_suffix(self.question, suffix)
        return f"{self.context.strip()}\n\nQuestion: {question}" if self.context else question

    def graded(self, response: str) -> bool:
        if self.answers:
            lowered = response.lower()
            return any(answer.lower() in lowered for answer in self.answers)
        return is_correct(response, self.gold)


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
            answers = tuple(str(a) for a in record.get("answers") or () if str(a).strip())
            context = str(record.get("context") or "")
            items.append(Item(str(item_id), question, final_answer(gold), context, answers))
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
        text_answers = all(item.answers for item in items)
        choice = "none" if text_answers or all(is_numeric(item.gold) for item in items) else "boxed"
    return SUFFIXES.get(choice, choice)


def with_suffix(question: str, suffix: str) -> str:
    return f"{question.rstrip()}\n\n{suffix}" if suffix else question


def is_correct(response: str, gold: str) -> bool:
    answer = auto_answer(response)
    return answer is not None and math_equal(gold, answer)
