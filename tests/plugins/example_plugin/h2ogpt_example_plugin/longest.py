"""An outcome reward: the longer the answer, the better."""

from __future__ import annotations

from collections.abc import Sequence

from h2ogpt.backends.base import Completion


class LongestAnswer:
    name = "example-longest"

    def score(self, task, answers: Sequence[Completion]) -> list[float]:
        return [float(len(a.text)) for a in answers]
