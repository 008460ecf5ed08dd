"""What a scaling algorithm reports: progress while it runs, and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ScalingUsage:
    """Tokens spent, generation and judging (reward-model calls) counted apart."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reward_prompt_tokens: int = 0
    reward_completion_tokens: int = 0
    generation_calls: int = 0
    reward_calls: int = 0

    def add_generation(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        self.generation_calls += 1

    def add_reward(self, prompt_tokens: int, completion_tokens: int = 0, calls: int = 1) -> None:
        """Tokens a reward model read (and wrote) to score ``calls`` answers or steps."""
        self.reward_prompt_tokens += prompt_tokens
        self.reward_completion_tokens += completion_tokens
        self.reward_calls += calls

    @property
    def total_prompt_tokens(self) -> int:
        return self.prompt_tokens + self.reward_prompt_tokens

    @property
    def total_completion_tokens(self) -> int:
        return self.completion_tokens + self.reward_completion_tokens


@dataclass
class Candidate:
    """One finished answer the algorithm considered."""

    text: str
    score: float | None = None  # reward (best-of-n, beam), log-weight (particles)
    answer: str | None = None  # what self-consistency voted on
    steps: int | None = None  # step search: steps it took
    finish_reason: str = "stop"


@dataclass
class ScalingResult:
    """The selected answer and everything that led to it (its_hub's result, with usage)."""

    algorithm: str
    budget: int
    candidates: list[Candidate]
    selected_index: int
    usage: ScalingUsage
    votes: dict[str, int] = field(default_factory=dict)  # self-consistency: answer -> votes
    stopped_early: bool = False
    details: dict[str, Any] = field(default_factory=dict)  # algorithm-specific (weights, iterations)

    @property
    def the_one(self) -> Candidate:
        return self.candidates[self.selected_index]

    @property
    def text(self) -> str:
        return self.the_one.text


@dataclass(frozen=True)
class ScalingProgress:
    """How far a scaling run is, for a face to show live.

    ``done``/``total`` count candidates (sampling methods) or steps (step search).
    """

    algorithm: str
    done: int
    total: int
    leader: str | None = None  # current best answer (or its start)
    votes: dict[str, int] = field(default_factory=dict)
    step: int | None = None
    weights: tuple[float, ...] = ()  # particle weights / beam scores after this step
    message: str = ""
