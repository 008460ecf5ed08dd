"""What a scaling plug-in registers: an algorithm, a reward, or an answer projection.

Rewards and projections are objects (its_hub's ``BestOfN(orm)`` style): a library caller
passes them to :class:`~h2ogpt.scaling.task.ScalingTask` directly; a spec says how to make
one from a name given in a flag or a request field (``scaling.choose`` does that, once).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from h2ogpt.backends.base import Completion

if TYPE_CHECKING:
    from h2ogpt.scaling.options import ScalingOptions
    from h2ogpt.scaling.steps import Path
    from h2ogpt.scaling.task import ScalingTask
    from h2ogpt.scaling.types import ScalingProgress, ScalingResult

Projection = Callable[[str], str | None]
"""A response -> the short answer self-consistency votes on (None: it has none)."""

Algorithm = Callable[["ScalingTask", int], Generator["ScalingProgress", None, "ScalingResult"]]
"""``algorithm(task, budget)``: yields progress, returns the result."""


class OutcomeReward(Protocol):
    """Scores whole answers (higher is better)."""

    name: str

    def score(self, task: ScalingTask, answers: Sequence[Completion]) -> list[float]: ...


class ProcessReward(Protocol):
    """Scores partial answers after their latest step, in [0, 1]."""

    name: str

    def score(self, task: ScalingTask, paths: Sequence[Path]) -> list[float]: ...


@dataclass(frozen=True)
class AlgorithmSpec:
    """A scaling algorithm: ``run(task, budget)``, the label a UI shows, which reward kind
    it uses, the backend capabilities it needs (see ``backends.base.Capabilities``), and
    whether its candidates are sampled (then a greedy temperature is raised: greedy
    candidates would all be the same answer)."""

    name: str
    run: Algorithm
    label: str
    description: str = ""
    reward: Literal["outcome", "process"] | None = None
    requires: tuple[str, ...] = ()
    samples: bool = True


@dataclass(frozen=True)
class RewardSpec:
    """An outcome or process reward: ``create(task)`` makes one for a run."""

    name: str
    create: Callable[[ScalingTask], OutcomeReward | ProcessReward]
    description: str = ""
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectionSpec:
    """An answer projection: ``create(options)`` makes one (options give e.g. the regex)."""

    name: str
    create: Callable[[ScalingOptions], Projection]
    description: str = ""
