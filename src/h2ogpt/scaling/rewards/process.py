"""Process rewards: a score in [0, 1] for a partial answer, built from its steps.

Each step gets a score once (cached by the steps up to it), and ``reward_aggregation``
makes the path's score: the ``last`` step's, the ``min``, the ``prod``uct, or ``model``
(the reward model judges the whole partial solution in one go).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from h2ogpt.errors import RequestError
from h2ogpt.scaling.rewards.outcome import JUDGE_SYSTEM, yes_probability
from h2ogpt.scaling.steps import Path
from h2ogpt.scaling.task import ScalingTask

STEP_QUESTION = (  # instructions first: the part shared by all paths is encoded once
    "Is the last step of the solution below correct? Reply with Yes or No only.\n\n"
    "Question:\n{question}\n\nSolution so far:\n{solution}"
)
PARTIAL_QUESTION = (
    "Is the solution below correct so far? Reply with Yes or No only.\n\n"
    "Question:\n{question}\n\nSolution so far:\n{solution}"
)

AGGREGATIONS: dict[str, Callable[[Sequence[float]], float]] = {
    "last": lambda scores: scores[-1],
    "min": min,
    "prod": math.prod,
}


class CachedStepScores:
    """Step scores by the tuple of step texts up to the step, computed in batches."""

    def __init__(
        self, aggregation: str, score_prefixes: Callable[[list[tuple[str, ...]]], list[float]]
    ) -> None:
        self.aggregation = aggregation
        self._score_prefixes = score_prefixes
        self._cache: dict[tuple[str, ...], float] = {}

    def score(self, paths: Sequence[Path]) -> list[float]:
        wanted = [tuple(p.texts) for p in paths]
        if self.aggregation == "model":
            needed = list(dict.fromkeys(w for w in wanted if w not in self._cache))
        else:
            needed = list(
                dict.fromkeys(
                    w[: k + 1] for w in wanted for k in range(len(w)) if w[: k + 1] not in self._cache
                )
            )
        if needed:
            self._cache.update(zip(needed, self._score_prefixes(needed), strict=True))
        if self.aggregation == "model":
            return [self._cache[w] for w in wanted]
        aggregate = AGGREGATIONS[self.aggregation]
        return [aggregate([self._cache[w[: k + 1]] for k in range(len(w))]) if w else 0.5 for w in wanted]


class JudgeSteps:
    """The chat model's probability of "Yes" to "is the last step correct?" (or, with the
    ``model`` aggregation, "is this solution correct so far?")."""

    name = "judge"

    def __init__(self, task: ScalingTask) -> None:
        self.task = task
        template = PARTIAL_QUESTION if task.options.reward_aggregation == "model" else STEP_QUESTION
        self.template = template
        self.cache = CachedStepScores(task.options.reward_aggregation, self._judge)

    def _judge(self, prefixes: list[tuple[str, ...]]) -> list[float]:
        step_token = self.task.options.step_token
        conversations = [
            [
                {"role": "system", "content": JUDGE_SYSTEM},
                {
                    "role": "user",
                    "content": self.template.format(
                        question=self.task.question, solution=step_token.join(prefix)
                    ),
                },
            ]
            for prefix in prefixes
        ]
        return [yes_probability(p) for p in self.task.next_token_probabilities(conversations)]

    def score(self, task: ScalingTask, paths: Sequence[Path]) -> list[float]:
        return self.cache.score(paths)


class StepCertainty:
    """The geometric-mean probability of each step's tokens under the model that wrote it."""

    name = "self-certainty"

    def __init__(self, task: ScalingTask) -> None:
        self.aggregation = (
            "last" if task.options.reward_aggregation == "model" else task.options.reward_aggregation
        )

    def score(self, task: ScalingTask, paths: Sequence[Path]) -> list[float]:
        aggregate = AGGREGATIONS[self.aggregation]
        return [aggregate([math.exp(s.mean_logprob) for s in p.steps]) if p.steps else 0.5 for p in paths]


class ProcessRewardModel:
    """A HF process reward model (``--prm_model``, Qwen2.5-Math-PRM style) scoring every step."""

    name = "prm"

    def __init__(self, task: ScalingTask) -> None:
        from h2ogpt.scaling.rewards.hf_models import load_prm

        if not task.prm_model:
            raise RequestError("process_reward=prm needs --prm_model=<process reward model folder>")
        self.task = task
        self.model = load_prm(task.prm_model)
        aggregation = (
            "last" if task.options.reward_aggregation == "model" else task.options.reward_aggregation
        )
        self.aggregation = aggregation

    def score(self, task: ScalingTask, paths: Sequence[Path]) -> list[float]:
        aggregate = AGGREGATIONS[self.aggregation]
        per_step = self.model.step_scores(task.question, [p.texts for p in paths])
        task.usage.add_reward(sum(self.model.last_tokens), calls=len(paths))
        return [aggregate(scores) if scores else 0.5 for scores in per_step]
