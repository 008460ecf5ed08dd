"""What self-consistency votes on: the answer inside a response, and answer equality.

A projection maps a response to a short answer (the ``\\boxed{}`` content, the last
number, a regex group, a choice letter or the whole text). Answers are grouped by
exact text and, for math, by ``math-verify`` equivalence (``1/2`` == ``0.5``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Projection = Callable[[str], str | None]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_CHOICE = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-E])\)?\b|^\(?([A-E])[).:]?(?:\s|$)", re.I | re.M
)
MAX_EQUIVALENCE_CHARS = 200  # longer answers are compared as text (math parsing is slow)


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
        from h2ogpt.errors import RequestError

        raise RequestError(f"answer_regex={pattern!r}: not a valid regular expression ({exc})") from None

    def project(text: str) -> str | None:
        match = compiled.search(text)
        if match is None:
            return None
        return (match.group(1) if match.groups() else match.group(0)).strip()

    return project


PROJECTIONS: dict[str, Projection] = {
    "auto": auto_answer,
    "boxed": boxed_answer,
    "last-number": last_number,
    "choice": choice_letter,
    "text": whole_text,
}


def projection_for(name: str, regex: str = "") -> Projection:
    """The projection an ``answer_projection`` option names."""
    if name == "regex":
        if not regex:
            from h2ogpt.errors import RequestError

            raise RequestError("answer_projection=regex needs answer_regex: a pattern with one group")
        return regex_projection(regex)
    return PROJECTIONS[name]


def math_equal(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same mathematical value (math-verify)."""
    if a == b:
        return True
    if max(len(a), len(b)) > MAX_EQUIVALENCE_CHARS:
        return False
    from math_verify import parse, verify

    # math-verify's timeouts use SIGALRM, which only the main thread may set
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold = parse(f"${a}$", parsing_timeout=timeout)
        target = parse(f"${b}$", parsing_timeout=timeout)
        return bool(gold and target and verify(gold, target, timeout_seconds=timeout))
    except Exception:  # math-verify raises assorted sympy errors on odd input: not equal
        log.debug("math-verify could not compare %r and %r", a, b, exc_info=True)
        return False


class VoteTally:
    """Votes per distinct answer, answers added one at a time.

    An answer equal to an earlier one (as text, or by math_equal when ``equivalence``)
    joins its group. Responses with no answer (None) do not vote; when none has one,
    every response ties.
    """

    def __init__(self, equivalence: bool = True) -> None:
        self.equivalence = equivalence
        self.answers: list[str | None] = []
        self.groups: list[int | None] = []  # response -> index of its group's first response
        self._representatives: list[int] = []

    def add(self, answer: str | None) -> None:
        self.answers.append(answer)
        group = None
        if answer is not None:
            for rep in self._representatives:
                other = self.answers[rep]
                if other == answer or (self.equivalence and math_equal(other, answer)):
                    group = rep
                    break
            if group is None:
                group = len(self.answers) - 1
                self._representatives.append(group)
        self.groups.append(group)

    def counts(self) -> dict[str, int]:
        """Votes per answer (the group's first spelling), most votes first."""
        tally: dict[str, int] = {}
        for group in self.groups:
            if group is not None:
                key = self.answers[group]
                tally[key] = tally.get(key, 0) + 1
        return dict(sorted(tally.items(), key=lambda kv: -kv[1]))

    def top_two(self) -> tuple[int, int]:
        counts = [*self.counts().values(), 0, 0]
        return counts[0], counts[1]

    def leaders(self) -> list[int]:
        """Indices of every response whose answer has the most votes."""
        sizes: dict[int, int] = {}
        for group in self.groups:
            if group is not None:
                sizes[group] = sizes.get(group, 0) + 1
        if not sizes:
            return list(range(len(self.answers)))
        most = max(sizes.values())
        return [i for i, group in enumerate(self.groups) if group is not None and sizes[group] == most]
