"""Best-of-n: sample ``budget`` answers, score each distinct one, return the best.

As in its_hub: identical answers are scored once; when all are identical no reward is
computed; the first answer with the highest score wins.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

from h2ogpt.backends.base import Completion
from h2ogpt.scaling.task import ScalingTask
from h2ogpt.scaling.types import Candidate, ScalingProgress, ScalingResult

NAME = "best-of-n"


def dedupe(texts: Sequence[str]) -> tuple[list[int], list[int]]:
    """Positions of the first copy of each distinct text, and each text's distinct number."""
    first: dict[str, int] = {}
    uniques: list[int] = []
    inverse: list[int] = []
    for i, text in enumerate(texts):
        if text not in first:
            first[text] = len(uniques)
            uniques.append(i)
        inverse.append(first[text])
    return uniques, inverse


def best_of_n(task: ScalingTask, budget: int) -> Generator[ScalingProgress, None, ScalingResult]:
    reward = task.outcome_reward
    assert reward is not None, "scaling.prepare() gives the task its reward"
    done: list[Completion] = []
    for completion in task.stream_candidates(budget):
        done.append(completion)
        yield ScalingProgress(NAME, len(done), budget, message="sampling")
    done.sort(key=lambda c: c.index)
    uniques, inverse = dedupe([c.text for c in done])
    if len(uniques) == 1:
        scores = [1.0] * len(done)
    else:
        yield ScalingProgress(NAME, budget, budget, message=f"scoring {len(uniques)} distinct answers")
        unique_scores = reward.score(task, [done[i] for i in uniques])
        scores = [unique_scores[j] for j in inverse]
    selected = scores.index(max(scores))
    candidates = [
        Candidate(c.text, score=s, finish_reason=c.finish_reason) for c, s in zip(done, scores, strict=True)
    ]
    yield ScalingProgress(NAME, budget, budget, leader=done[selected].text[:80], weights=tuple(scores))
    return ScalingResult(NAME, budget, candidates, selected, task.usage, details={"reward": reward.name})
