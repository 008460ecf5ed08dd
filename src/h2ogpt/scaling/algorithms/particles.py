"""Particle filtering and particle Gibbs over steps, with its_hub's semantics.

Each particle is a partial answer weighted by ``logit(process reward)``. After every
step the free particles are resampled from the softmax of the weights (multinomial or
systematic). Particle Gibbs repeats this ``num_iterations`` times, carrying
``num_ref_particles`` reference particles (drawn by final weight) into the next
iteration; a reference particle resampled as a free one is cut back to the current step
and grows again. On a local model resampling copies KV cache rows; only a cut-back
reference particle is encoded again.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence

import numpy as np

from h2ogpt.errors import RequestError
from h2ogpt.scaling.steps import Path, StepGenerator, answer_text
from h2ogpt.scaling.task import ScalingTask
from h2ogpt.scaling.types import Candidate, ScalingProgress, ScalingResult


def logit(probability: float) -> float:
    """log(p / (1 - p)), p clipped to [1e-7, 1 - 1e-7] (its_hub's _inv_sigmoid)."""
    p = float(np.clip(probability, 1e-7, 1 - 1e-7))
    return math.log(p / (1 - p))


def softmax(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    shifted = np.exp(x - np.max(x))
    return shifted / np.sum(shifted)


def systematic_indices(probabilities: Sequence[float], count: int, u: float) -> list[int]:
    """Systematic resampling: ``count`` evenly spaced positions offset by ``u`` in [0, 1)."""
    positions = (np.arange(count) + u) / count
    cumulative = np.cumsum(probabilities)
    cumulative[-1] = max(cumulative[-1], 1.0)  # rounding must not leave the last position out
    indices, j = [], 0
    for position in positions:
        while position >= cumulative[j]:
            j += 1
        indices.append(j)
    return indices


def resample(task: ScalingTask, probabilities: Sequence[float], count: int) -> list[int]:
    """Indices of the particles drawn, by the task's scheme and seeded generator."""
    if task.options.resampling == "systematic":
        return systematic_indices(probabilities, count, task.rng.random())
    return task.rng.choices(range(len(probabilities)), weights=list(probabilities), k=count)


def log_weight(path: Path, step: int | None = None) -> float:
    if not path.scores:
        return 0.0
    return path.scores[-1] if step is None or path.stopped else path.scores[step - 1]


def particles_per_iteration(budget: int, iterations: int, n_refs: int, name: str) -> int:
    """``budget / iterations``, or RequestError when the budget cannot be split that way."""
    if budget % iterations:
        raise RequestError(f"budget={budget}: {name} needs a multiple of num_iterations={iterations}")
    count = budget // iterations
    if n_refs >= count:
        raise RequestError(
            f"num_ref_particles={n_refs} must be fewer than the {count} particles per iteration"
        )
    return count


def redraw(
    task: ScalingTask,
    generator: StepGenerator,
    particles: list[Path],
    probabilities: np.ndarray,
    count: int,
    step: int,
) -> list[Path]:
    """``count`` free particles drawn by ``probabilities`` after ``step``; a reference
    particle drawn is cut back to ``step`` steps and grows again. Session rows follow the draw."""
    drawn = [particles[i].copy() for i in resample(task, probabilities, count)]
    cut = [p for p in drawn if len(p.steps) > step]
    for path in cut:
        path.steps, path.scores, path.stopped = path.steps[:step], path.scores[:step], False
    generator.regroup([p for p in drawn if p not in cut])
    generator.restart(cut)
    return drawn


def sweep(
    task: ScalingTask, generator: StepGenerator, fresh: list[Path], refs: list[Path], name: str, label: str
) -> Generator[ScalingProgress, None, list[Path]]:
    """One iteration: all particles grow a step at a time until every one has stopped; after
    each step the free ones (not ``refs``) are redrawn by weight. Returns the particles."""
    options, reward = task.options, task.process_reward
    particles = fresh + refs
    step = 0
    while not all(p.stopped for p in particles):
        if step and generator.stop_if_out_of_time(particles):
            break
        generator.grow(particles, lambda growing: [logit(s) for s in reward.score(task, growing)])
        step += 1
        weights = softmax([log_weight(p, step) for p in particles])
        leader = particles[int(np.argmax(weights))]
        particles = redraw(task, generator, particles, weights, len(fresh), step) + refs
        yield ScalingProgress(
            name,
            step,
            options.max_steps,
            step=step,
            leader=answer_text(leader, options.step_token)[-80:],
            weights=tuple(float(w) for w in weights),
            message=label,
        )
    return particles


def particle_gibbs(
    task: ScalingTask, budget: int, iterations: int | None = None, name: str = "particle-gibbs"
) -> Generator[ScalingProgress, None, ScalingResult]:
    options = task.options
    iterations = options.num_iterations if iterations is None else iterations
    n_refs = options.num_ref_particles if iterations > 1 else 0
    particles_count = particles_per_iteration(budget, iterations, n_refs, name)
    reward = task.process_reward
    assert reward is not None, "scaling.prepare() gives the task its reward"
    generator = StepGenerator(task, particles_count)
    refs: list[Path] = []
    history: dict[str, list] = {"log_weights": [], "ref_indices": [], "answers": []}
    try:
        for iteration in range(iterations):
            free = particles_count - len(refs)
            fresh = [Path() for _ in range(free)]
            if iteration == 0:
                for row, path in enumerate(fresh):
                    path.row = row
            else:
                generator.regroup([])
                generator.restart(fresh)  # rows for new lineages: the prompt again
            label = f"iteration {iteration + 1}/{iterations}"
            particles = yield from sweep(task, generator, fresh, refs, name, label)
            final_weights = [log_weight(p) for p in particles]
            probabilities = softmax(final_weights)
            ref_indices = task.rng.choices(range(len(particles)), weights=list(probabilities), k=n_refs)
            refs = [particles[i] for i in ref_indices]
            history["log_weights"].append(final_weights)
            history["ref_indices"].append(ref_indices)
            history["answers"].append([answer_text(p, options.step_token) for p in particles])
            if task.out_of_time():
                break
    finally:
        generator.close()
    if options.final_selection == "sample":
        selected = task.rng.choices(range(len(particles)), weights=list(probabilities), k=1)[0]
    else:
        selected = int(np.argmax(final_weights))
    candidates = [
        Candidate(answer_text(p, options.step_token), score=w, steps=len(p.steps))
        for p, w in zip(particles, final_weights, strict=True)
    ]
    details = {"reward": reward.name, **history}
    return ScalingResult(name, budget, candidates, selected, task.usage, details=details)


def particle_filtering(task: ScalingTask, budget: int) -> Generator[ScalingProgress, None, ScalingResult]:
    return (yield from particle_gibbs(task, budget, iterations=1, name="particle-filtering"))
