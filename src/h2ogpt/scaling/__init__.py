"""Inference-time scaling: spend more generation on one answer to make it better.

Every algorithm is a generator ``algorithm(task, budget)`` that yields ScalingProgress
while it works and returns a ScalingResult. ``ALGORITHMS`` is the registry (built-ins
are ordinary entries); ``run`` is the one-call form.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from h2ogpt.errors import RequestError
from h2ogpt.scaling.beam_search import beam_search
from h2ogpt.scaling.best_of_n import best_of_n
from h2ogpt.scaling.particles import particle_filtering, particle_gibbs
from h2ogpt.scaling.self_consistency import self_consistency
from h2ogpt.scaling.task import ScalingTask
from h2ogpt.scaling.types import Candidate, ScalingProgress, ScalingResult, ScalingUsage

Algorithm = Callable[[ScalingTask, int], Generator[ScalingProgress, None, ScalingResult]]

ALGORITHMS: dict[str, Algorithm] = {
    "self-consistency": self_consistency,
    "best-of-n": best_of_n,
    "beam-search": beam_search,
    "particle-filtering": particle_filtering,
    "particle-gibbs": particle_gibbs,
}


def stream(task: ScalingTask, budget: int | None = None) -> Generator[ScalingProgress, None, ScalingResult]:
    """Run the task's algorithm: progress events, then (as the return value) the result."""
    name = task.options.scaling_algorithm
    if name not in ALGORITHMS:
        raise RequestError(f"scaling_algorithm={name}: choose one of {', '.join(ALGORITHMS)}")
    return (yield from ALGORITHMS[name](task, task.options.budget if budget is None else budget))


def run(task: ScalingTask, budget: int | None = None) -> ScalingResult:
    """Run the task's algorithm to the end and return its result."""
    progress = stream(task, budget)
    while True:
        try:
            next(progress)
        except StopIteration as finished:
            return finished.value


__all__ = [
    "ALGORITHMS",
    "Candidate",
    "ScalingProgress",
    "ScalingResult",
    "ScalingTask",
    "ScalingUsage",
    "run",
    "stream",
]
