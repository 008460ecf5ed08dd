"""Beam search over steps, as its_hub's BeamSearch.

``budget`` paths are extended per step (``budget / beam_width`` at the start); after
each step every path is scored by the process reward, the ``beam_width`` best are kept
and each is copied ``budget / beam_width`` times. Finished paths stay in the beam with
their last score. On a local model the copies share their parent's KV cache rows.
"""

from __future__ import annotations

from collections.abc import Generator

from h2ogpt.errors import RequestError
from h2ogpt.scaling.steps import Path, StepGenerator, answer_text
from h2ogpt.scaling.task import ScalingTask
from h2ogpt.scaling.types import Candidate, ScalingProgress, ScalingResult

NAME = "beam-search"


def path_score(path: Path) -> float:
    return path.scores[-1] if path.scores else 0.0


def keep_best(paths: list[Path], beam_width: int, copies: int) -> list[Path]:
    """The ``beam_width`` best paths (stable order on ties), each copied ``copies`` times."""
    best = sorted(paths, key=path_score, reverse=True)[:beam_width]
    return [p.copy() for _ in range(copies) for p in best]


def beam_search(task: ScalingTask, budget: int) -> Generator[ScalingProgress, None, ScalingResult]:
    width = task.options.beam_width
    if budget % width or budget < width:
        raise RequestError(f"budget={budget}: beam-search needs a multiple of beam_width={width}")
    copies = budget // width
    reward = task.process_reward
    assert reward is not None, "scaling.prepare() gives the task its reward"
    generator = StepGenerator(task, copies)
    paths = [Path(row=row) for row in range(copies)]
    step = 0
    try:
        while not all(p.stopped for p in paths):
            if step and generator.stop_if_out_of_time(paths):
                break
            generator.grow(paths, lambda growing: reward.score(task, growing))
            step += 1
            paths = keep_best(paths, width, copies)
            generator.regroup(paths)
            best = paths[0]
            yield ScalingProgress(
                NAME,
                step,
                task.options.max_steps,
                step=step,
                leader=answer_text(best, task.options.step_token)[-80:],
                weights=tuple(path_score(p) for p in paths[:width]),
            )
    finally:
        generator.close()
    scores = [path_score(p) for p in paths]
    selected = scores.index(max(scores))
    candidates = [
        Candidate(answer_text(p, task.options.step_token), score=path_score(p), steps=len(p.steps))
        for p in paths
    ]
    return ScalingResult(
        NAME, budget, candidates, selected, task.usage, details={"reward": reward.name, "steps": step}
    )
