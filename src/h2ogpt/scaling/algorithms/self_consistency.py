"""Self-consistency: sample ``budget`` answers, return one with the most common answer.

Answers are compared through a projection (``\\boxed{}``, last number, regex, choice
letter, text) and math equivalence. Ties are broken by the task's seeded generator, the
way its_hub breaks them (a uniform choice among every response of a top answer). With
``adaptive`` the samples stream out of one batch and sampling stops, cancelling the
rest, once the leader is confidently decided (its_hub's BetaSelfConsistency). By default
sampling also stops as soon as the remaining samples could not change the winning answer
(``stop_when_decided``): the same answer, in less time.
"""

from __future__ import annotations

import random
from collections.abc import Generator, Sequence

from h2ogpt.backends.base import Completion
from h2ogpt.scaling.beta import majority_confidence
from h2ogpt.scaling.projections import whole_text
from h2ogpt.scaling.specs import Projection
from h2ogpt.scaling.task import ScalingTask
from h2ogpt.scaling.types import Candidate, ScalingProgress, ScalingResult
from h2ogpt.scaling.voting import Equivalence, VoteTally

NAME = "self-consistency"


def tally_answers(texts: Sequence[str], project: Projection, equivalence: bool | Equivalence) -> VoteTally:
    """Votes of ``texts``; when no text has an answer, the whole texts vote."""
    tally = VoteTally(equivalence)
    for text in texts:
        tally.add(project(text))
    if texts and all(group is None for group in tally.groups):
        tally = VoteTally(equivalence=False)
        for text in texts:
            tally.add(whole_text(text) or "")
    return tally


def select_majority(
    texts: Sequence[str], project: Projection, equivalence: bool | Equivalence, rng: random.Random
) -> tuple[VoteTally, int]:
    """The votes, and the index of a response with the most common answer."""
    tally = tally_answers(texts, project, equivalence)
    return tally, rng.choice(tally.leaders())


def self_consistency(task: ScalingTask, budget: int) -> Generator[ScalingProgress, None, ScalingResult]:
    options = task.options
    project = task.projection
    assert project is not None, "scaling.prepare() gives the task its projection"
    # one cache for the live tally and the final one: math-verify compares each pair once, and
    # not at all once the run's time is up (max_time bounds the selection too)
    equivalence = Equivalence(task.deadline) if options.math_equivalence else False
    live = VoteTally(equivalence)
    done: list[Completion] = []
    stopped_early = False
    stream = task.stream_candidates(budget)
    try:
        for completion in stream:
            done.append(completion)
            live.add(project(completion.text))
            votes = live.counts()
            yield ScalingProgress(NAME, len(done), budget, next(iter(votes), None), votes)
            leader, runner_up = live.top_two()
            remaining = budget - len(done)
            settled = options.stop_when_decided and remaining and leader > runner_up + remaining
            confident = (
                options.adaptive
                and 2 <= len(done) < budget
                and majority_confidence(leader, runner_up) >= options.confidence_threshold
            )
            if settled or confident:
                stopped_early = True
                break
    finally:
        stream.close()
    done.sort(key=lambda c: c.index)
    tally, selected = select_majority([c.text for c in done], project, equivalence, task.rng)
    candidates = [
        Candidate(c.text, answer=answer, finish_reason=c.finish_reason)
        for c, answer in zip(done, tally.answers, strict=True)
    ]
    checks = equivalence.verified_pairs if equivalence else 0
    return ScalingResult(
        NAME,
        budget,
        candidates,
        selected,
        task.usage,
        votes=tally.counts(),
        stopped_early=stopped_early,
        details={"equivalence_checks": checks},
    )
