"""Votes over answers: grouping equal answers and counting them.

Two answers are one when their canonical keys are equal (whitespace, ``$`` and a final period
dropped; numbers compared as exact fractions, so ``0.5`` == ``1/2`` == ``.50``), or, with math
equivalence, when ``math-verify`` says so (``\\frac{1}{2}`` == ``0.5``). ``math-verify`` is slow
(milliseconds a pair), so each distinct key is parsed once and only distinct keys are compared,
each pair at most once per run (:class:`Equivalence`), never two plain numbers that differ (24
and 25); past a deadline only keys are compared.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from fractions import Fraction

log = logging.getLogger(__name__)

MAX_EQUIVALENCE_CHARS = 200  # longer answers are compared as text (math parsing is slow)
_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?:/\d+)?")
_UNPARSED = object()


def _plain_text(answer: str) -> str:
    return " ".join(answer.replace("$", " ").split()).rstrip(".").strip()


def exact_number(answer: str) -> Fraction | None:
    """The exact value of an answer written as a plain number (``1,000``, ``.5``, ``3/4``), else None."""
    text = _plain_text(answer)
    number = text.replace(",", "") if re.fullmatch(r"[-+]?[\d,]*\.?\d+(?:/\d+)?", text) else text
    if _NUMBER.fullmatch(number):
        try:
            return Fraction(number)
        except (ValueError, ZeroDivisionError):
            pass
    return None


def canonical_key(answer: str) -> str:
    """A key equal for answers that are certainly the same (a number's exact value, else the
    text without spacing, dollar signs and a final period)."""
    value = exact_number(answer)
    return _plain_text(answer) if value is None else f"={value}"


def numbers_differ(a: str, b: str) -> bool:
    """True when both answers are plain numbers that differ beyond the 6 decimals math-verify
    rounds to: certainly different, with no need to ask math-verify (a pair costs ms)."""
    x, y = exact_number(a), exact_number(b)
    if x is None or y is None:
        return False
    return abs(x - y) > Fraction(1, 10**6) * max(1, abs(x), abs(y))


def _told_apart_without_math_verify(a: str, b: str) -> bool:
    """Pairs math-verify is not asked about (they count as different): too long to parse
    quickly, or two plain numbers that differ."""
    return max(len(a), len(b)) > MAX_EQUIVALENCE_CHARS or numbers_differ(a, b)


def _timeout() -> int | None:
    # math-verify's timeouts use SIGALRM, which only the main thread may set
    return 5 if threading.current_thread() is threading.main_thread() else None


def _parse(answer: str):
    from math_verify import parse

    try:
        return parse(f"${answer}$", parsing_timeout=_timeout())
    except Exception:  # math-verify raises assorted sympy errors on odd input
        log.debug("math-verify could not parse %r", answer, exc_info=True)
        return None


def _verify(a, b) -> bool:
    from math_verify import verify

    try:
        return bool(a and b and verify(a, b, timeout_seconds=_timeout()))
    except Exception:
        return False


def math_equal(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are the same mathematical value (math-verify)."""
    if a == b or canonical_key(a) == canonical_key(b):
        return True
    if _told_apart_without_math_verify(a, b):
        return False
    return _verify(_parse(a), _parse(b))


class Equivalence:
    """``math-verify`` answers for one run, cached: each answer parsed once, each pair verified once."""

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline
        self._parsed: dict[str, object] = {}
        self._pairs: dict[tuple[str, str], bool] = {}
        self.verified_pairs = 0  # math-verify comparisons actually run

    def _parse(self, answer: str):
        parsed = self._parsed.get(answer, _UNPARSED)
        if parsed is _UNPARSED:
            parsed = self._parsed[answer] = _parse(answer)
        return parsed

    def equal(self, a: str, b: str) -> bool:
        """math-verify's verdict on two answers of different keys (False past the deadline)."""
        if _told_apart_without_math_verify(a, b):
            return False
        pair = (a, b) if a <= b else (b, a)
        known = self._pairs.get(pair)
        if known is None:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return False
            self.verified_pairs += 1
            known = self._pairs[pair] = _verify(self._parse(a), self._parse(b))
        return known


class VoteTally:
    """Votes per distinct answer, answers added one at a time.

    Without ``equivalence`` answers are compared as text. With it, an answer joins the group of
    an earlier one with the same canonical key or one that ``math-verify`` finds equal.
    Responses with no answer (None)
    do not vote; when none has one, every response ties. Tallies sharing an ``Equivalence``
    share its cache.
    """

    def __init__(self, equivalence: bool | Equivalence = True) -> None:
        self.equivalence = Equivalence() if equivalence is True else (equivalence or None)
        self.answers: list[str | None] = []
        self.groups: list[int | None] = []  # response -> index of its group's first response
        self._group_of_key: dict[str, int] = {}

    def add(self, answer: str | None) -> None:
        self.answers.append(answer)
        group = None
        if answer is not None:
            key = answer if self.equivalence is None else canonical_key(answer)
            group = self._group_of_key.get(key)
            if group is None and self.equivalence is not None:
                group = next(
                    (
                        g
                        for g in self._group_of_key.values()
                        if self.equivalence.equal(self.answers[g], answer)
                    ),
                    None,
                )
            if group is None:
                group = len(self.answers) - 1
            self._group_of_key[key] = group
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
