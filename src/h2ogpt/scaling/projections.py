"""What self-consistency votes on: the short answer inside a response.

A projection maps a response to a short answer (the ``\\boxed{}`` content, the last
number, a regex group, a choice letter or the whole text), or None when it has none.
Projections are plug-ins (``answer_projection=NAME``); the built-ins register in
``scaling.builtin``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from h2ogpt.errors import RequestError

Projection = Callable[[str], str | None]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_CHOICE = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-E])\)?\b|^\(?([A-E])[).:]?(?:\s|$)", re.I | re.M
)


def boxed_answer(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (nested braces allowed), or None."""
    start = text.rfind("\\boxed")
    while start >= 0:
        brace = text.find("{", start)
        if brace < 0:
            break
        depth = 0
        for i in range(brace, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    return text[brace + 1 : i].strip()
        start = text.rfind("\\boxed", 0, start)
    return None


def last_number(text: str) -> str | None:
    """The last number in ``text`` (thousands separators and a trailing ``.0`` dropped)."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    number = found[-1].replace(",", "")
    return number[:-2] if number.endswith(".0") else number


def choice_letter(text: str) -> str | None:
    """A multiple-choice letter A-E ("the answer is (B)", "C) ..."), or None."""
    found = _CHOICE.findall(text)
    if not found:
        return None
    a, b = found[-1]
    return (a or b).upper()


def whole_text(text: str) -> str | None:
    return " ".join(text.split()) or None


def auto_answer(text: str) -> str | None:
    """\\boxed{} content, else the last number, else the whole text."""
    return boxed_answer(text) or last_number(text) or whole_text(text)


def regex_projection(pattern: str) -> Projection:
    """The first group (or the whole match) of ``pattern``'s first match, like its_hub's."""
    try:
        compiled = re.compile(pattern, re.DOTALL | re.IGNORECASE)
    except re.error as exc:
        raise RequestError(f"answer_regex={pattern!r}: not a valid regular expression ({exc})") from None

    def project(text: str) -> str | None:
        match = compiled.search(text)
        if match is None:
            return None
        return (match.group(1) if match.groups() else match.group(0)).strip()

    return project


def regex_from_options(regex: str) -> Projection:
    """The ``regex`` projection of ``answer_regex`` (RequestError when it is missing or bad)."""
    if not regex:
        raise RequestError("answer_projection=regex needs answer_regex: a pattern with one group")
    return regex_projection(regex)
