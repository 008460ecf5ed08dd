"""Outcome rewards: one score for each whole answer (higher is better).

The offline defaults use the chat model itself: as a judge (the probability it answers
"Yes" to "is this answer correct?", or its expected 0-10 score, both read from one
next-token distribution, so judging N answers is one batched call), or its own
certainty (mean token log-probability, free). A real reward model is used when the user
names one (``--score_model``).
"""

from __future__ import annotations

from collections.abc import Sequence

from h2ogpt.backends.base import Completion
from h2ogpt.errors import RequestError
from h2ogpt.scaling.task import ScalingTask

JUDGE_SYSTEM = "You are a careful grader. You check whether an answer to a question is correct."
# The instructions come before the answer: everything up to the answer is the same for all
# answers to one question, so a local model encodes it once for all of them.
YES_NO_QUESTION = (
    "Is the proposed answer to the question below correct? Reply with Yes or No only.\n\n"
    "Question:\n{question}\n\nProposed answer:\n{answer}"
)
SCORE_QUESTION = (
    "Rate the proposed answer to the question below from 0 (wrong) to 9 (fully correct). "
    "Reply with one digit only.\n\nQuestion:\n{question}\n\nProposed answer:\n{answer}"
)


def yes_probability(probs: dict[str, float]) -> float:
    """P(Yes) / (P(Yes) + P(No)) of a next-token distribution; 0.5 when it says neither."""
    yes, no = probs.get("yes", 0.0), probs.get("no", 0.0)
    return yes / (yes + no) if yes + no > 0 else 0.5


def expected_digit(probs: dict[str, float]) -> float:
    """The expected 0-9 score of a next-token distribution; 4.5 when it gives no digit."""
    digits = {int(k): p for k, p in probs.items() if len(k) == 1 and k.isdigit()}
    total = sum(digits.values())
    return sum(d * p for d, p in digits.items()) / total if total > 0 else 4.5


def judge_conversations(task: ScalingTask, template: str, answers: Sequence[str]) -> list[list[dict]]:
    return [
        [
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": template.format(question=task.question, answer=answer)},
        ]
        for answer in answers
    ]


class JudgeYes:
    """The chat model's probability of "Yes" to "is this answer correct?"."""

    name = "judge"

    def score(self, task: ScalingTask, answers: Sequence[Completion]) -> list[float]:
        conversations = judge_conversations(task, YES_NO_QUESTION, [a.text for a in answers])
        return [yes_probability(p) for p in task.next_token_probabilities(conversations)]


class JudgeScore:
    """The chat model's expected grade of the answer on a 0-10 scale.

    The judge answers one digit 0-9 (a single token in every common tokenizer, unlike
    "10"), read as a distribution and rescaled to 0-10, so close calls rank smoothly.
    """

    name = "judge-score"

    def score(self, task: ScalingTask, answers: Sequence[Completion]) -> list[float]:
        conversations = judge_conversations(task, SCORE_QUESTION, [a.text for a in answers])
        return [expected_digit(p) * 10 / 9 for p in task.next_token_probabilities(conversations)]


class SelfCertainty:
    """Mean token log-probability of the answer under the model that wrote it (no extra call)."""

    name = "self-certainty"

    def score(self, task: ScalingTask, answers: Sequence[Completion]) -> list[float]:
        if any(not a.logprobs and a.completion_tokens for a in answers):
            raise RequestError(
                "outcome_reward=self-certainty needs token log-probabilities, which this backend "
                "did not return; choose outcome_reward=judge"
            )
        return [a.mean_logprob if a.logprobs else float("-inf") for a in answers]


class ScoreModel:
    """A HF sequence-classification reward model (``--score_model``)."""

    name = "score-model"

    @classmethod
    def for_task(cls, task: ScalingTask) -> ScoreModel:
        if not task.score_model:
            raise RequestError("outcome_reward=score-model needs --score_model=<reward model folder>")
        return cls()

    def score(self, task: ScalingTask, answers: Sequence[Completion]) -> list[float]:
        from h2ogpt.scaling.rewards.hf_models import load_score_model

        model = load_score_model(task.score_model)
        scores = model.score(task.question, [a.text for a in answers])
        task.usage.add_reward(sum(model.last_tokens), calls=len(answers))
        return scores
