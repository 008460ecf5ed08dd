"""Inference-time scaling: spend more generation on one answer to make it better.

Every algorithm is a generator ``algorithm(task, budget)`` that yields ScalingProgress
while it works and returns a ScalingResult. Algorithms, rewards and answer projections are
plug-ins (``h2ogpt.plugins``; the built-ins register in ``scaling.builtin``); a library
caller may also hand reward and projection objects to the :class:`ScalingTask` directly.
``stream`` runs a task with progress events; ``run`` is the one-call form.
"""

from __future__ import annotations

from collections.abc import Generator

from h2ogpt.scaling.choose import prepare
from h2ogpt.scaling.specs import AlgorithmSpec
from h2ogpt.scaling.task import ScalingTask
from h2ogpt.scaling.types import Candidate, ScalingProgress, ScalingResult, ScalingUsage


def _noted(
    run: Generator[ScalingProgress, None, ScalingResult], notes: list[str], name: str, budget: int
) -> Generator[ScalingProgress, None, ScalingResult]:
    """``run``'s events, the task's notes (progress with ``done=0``) before its first one (so
    a request the algorithm refuses outright gets its error alone)."""
    noted = False
    try:
        while True:
            try:
                progress = next(run)
            except StopIteration as finished:
                return finished.value
            if not noted:
                noted = True
                yield from (ScalingProgress(name, 0, budget, message=note) for note in notes)
            yield progress
    finally:
        run.close()  # a consumer that stops early cancels the algorithm's work


def stream(
    task: ScalingTask, budget: int | None = None, algorithm: AlgorithmSpec | None = None
) -> Generator[ScalingProgress, None, ScalingResult]:
    """Run ``algorithm`` (default: the one the task's options name): progress events, then
    (as the return value) the result."""
    spec = prepare(task, algorithm)
    budget = task.options.budget if budget is None else budget
    result = yield from _noted(spec.run(task, budget), task.notes, spec.name, budget)
    result.details.setdefault("temperature", task.params.temperature)
    if task.notes:
        result.details["notes"] = list(task.notes)
    return result


def run(
    task: ScalingTask, budget: int | None = None, algorithm: AlgorithmSpec | None = None
) -> ScalingResult:
    """Run the task's algorithm to the end and return its result."""
    progress = stream(task, budget, algorithm)
    while True:
        try:
            next(progress)
        except StopIteration as finished:
            return finished.value


__all__ = [
    "AlgorithmSpec",
    "Candidate",
    "ScalingProgress",
    "ScalingResult",
    "ScalingTask",
    "ScalingUsage",
    "run",
    "stream",
]
