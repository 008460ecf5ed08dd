"""Votes over answers: grouping equal answers (exact text, or the same mathematical value
by ``math-verify``: ``1/2`` == ``0.5``) and counting them."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

MAX_EQUIVALENCE_CHARS = 200  # longer answers are compared as text (math parsing is slow)


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
