"""Scripted models for comparing our scaling algorithms with its_hub's, step for step.

Nothing here runs a model: every answer, step and score is a deterministic function of
its input text (and of a step's position in its batch and the batch's number), so our
implementation and its_hub see exactly the same candidates and scores:

- ``ScriptedBackend`` is our side (``h2ogpt.backends.base.Backend``): ``stream`` yields
  scripted full answers, ``continue_texts`` the next step of each partial answer.
- ``ScriptedLM`` is its_hub's side (``AbstractLanguageModel``): ``agenerate_single`` gives
  the same full answers, ``agenerate`` (StepGeneration's batched call) the same steps.
- ``ScriptedOutcomeReward`` / ``ScriptedProcessReward`` score a text the same way for both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

from its_hub.api import AbstractLanguageModel
from its_hub.api.reward_models import AbstractOutcomeRewardModel, AbstractProcessRewardModel

from h2ogpt.backends.base import Capabilities, Completion, ModelInfo, SamplingParams, TextDelta, TokenLogprob

PROMPT = "Question: what is 6 x 4?\nAnswer:"
STEP_TOKEN = "\n\n"
STOP_PATTERN = "\\boxed"


def digest(*parts: object) -> int:
    """A stable integer of ``parts`` (Python's ``hash`` of a str changes between runs)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


# --- steps -------------------------------------------------------------------------------
def scripted_step(salt: object, batch: int, position: int, prefix: str) -> str:
    """The next step after ``prefix`` (the steps so far, each followed by the step token).

    Some steps hold ``\\boxed{..}`` (the stop pattern: the path ends at various depths),
    the rest are plain reasoning lines (those paths run into ``max_steps``).
    """
    depth = prefix.count(STEP_TOKEN)
    h = digest(salt, batch, position, prefix)
    if h % 10 < 3 + depth:  # stopping gets likelier with depth
        return f"So the answer is \\boxed{{{20 + h // 10 % 6}}}."
    return f"Step {depth + 1}: {h // 100 % 9} x {h // 1000 % 7} = {(h // 100 % 9) * (h // 1000 % 7)}"


def scripted_probability(texts: Sequence[str], salt: object = "", levels: int = 0) -> float:
    """A process reward in [0, 1] for a partial answer given as its step texts.

    ``levels`` > 0 rounds to that many distinct values (ties, to check tie handling);
    the extremes 0 and 1 occur now and then (log-weights clipped at 1e-7).
    """
    h = digest("prm", salt, STEP_TOKEN.join(texts))
    if levels:
        return (h % (levels + 1)) / levels
    if h % 23 == 0:
        return 0.0
    if h % 23 == 1:
        return 1.0
    return 0.2 + 0.6 * (h % 10_000) / 10_000  # mostly moderate: resampling keeps some diversity


def scripted_score(text: str, salt: object = "", levels: int = 0) -> float:
    """An outcome reward for a whole answer (``levels``: that many distinct values, for ties)."""
    h = digest("orm", salt, text)
    return float(h % levels) if levels else (h % 100_000) / 1000


# --- our side ----------------------------------------------------------------------------
class ScriptedBackend:
    """What ScalingTask needs of a backend, scripted.

    ``answers`` are the full answers ``stream`` hands out in order (across calls);
    ``order`` permutes when the samples of one call finish (indices stay 0..n-1).
    ``step`` makes the next step of a partial answer for ``continue_texts``.
    """

    def __init__(
        self,
        answers: Sequence[str] = (),
        step: Callable[[int, int, str], str] | None = None,
        order: Callable[[int], list[int]] | None = None,
        prompt: str = PROMPT,
    ) -> None:
        self.info = ModelInfo(name="scripted", context_length=4096, device="cpu", dtype="float32")
        self.capabilities = Capabilities()  # continues raw text; no KV step sessions
        self.answers = list(answers)
        self.step = step
        self.order = order
        self.prompt = prompt
        self.handed_out = 0  # full answers given so far
        self.step_batches = 0  # continue_texts calls
        self.step_calls: list[list[str]] = []  # each call's prefixes (prompt removed)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        return "".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>"

    def stream(self, prompt: str, params: SamplingParams, n: int = 1) -> Iterator[TextDelta | Completion]:
        texts = self.answers[self.handed_out : self.handed_out + n]
        assert len(texts) == n, "the script ran out of answers"
        self.handed_out += n
        for i in self.order(n) if self.order else range(n):
            yield TextDelta(i, texts[i][:3])
            yield Completion(
                index=i,
                text=texts[i],
                finish_reason="stop",
                prompt_tokens=self.count_tokens(prompt),
                completion_tokens=self.count_tokens(texts[i]),
                logprobs=[TokenLogprob(w, -0.1) for w in texts[i].split()],
            )

    def sample(self, prompt: str, params: SamplingParams, n: int = 1) -> list[Completion]:
        return sorted(
            (e for e in self.stream(prompt, params, n) if isinstance(e, Completion)), key=lambda c: c.index
        )

    def continue_texts(self, texts: Sequence[str], params: SamplingParams) -> list[Completion]:
        assert self.step is not None, "no step script"
        batch = self.step_batches
        self.step_batches += 1
        prefixes = []
        for text in texts:
            assert text.startswith(self.prompt), text
            prefixes.append(text[len(self.prompt) :])
        self.step_calls.append(prefixes)
        outputs = []
        for position, prefix in enumerate(prefixes):
            step = self.step(batch, position, prefix)
            assert STEP_TOKEN not in step
            outputs.append(Completion(position, step, "stop", self.count_tokens(prefix) + 1, 1))
        return outputs


class ScriptedOurOutcomeReward:
    """Our outcome reward protocol (``name``, ``score(task, completions)``), scripted."""

    name = "scripted"

    def __init__(self, score: Callable[[str], float]) -> None:
        self._score = score
        self.calls: list[list[str]] = []

    def score(self, task, answers: Sequence[Completion]) -> list[float]:
        self.calls.append([a.text for a in answers])
        return [self._score(a.text) for a in answers]


class ScriptedOurProcessReward:
    """Our process reward protocol (``name``, ``score(task, paths)``), scripted."""

    name = "scripted"

    def __init__(self, probability: Callable[[Sequence[str]], float]) -> None:
        self._probability = probability
        self.calls: list[list[tuple[str, ...]]] = []

    def score(self, task, paths) -> list[float]:
        self.calls.append([tuple(p.texts) for p in paths])
        return [self._probability(p.texts) for p in paths]


# --- its_hub's side ----------------------------------------------------------------------
class ScriptedLM(AbstractLanguageModel):
    """its_hub's language model, giving the same answers and steps as ScriptedBackend.

    Full answers (``agenerate_single``, one per orchestrator task) are handed out in call
    order; use ``LMOrchestrator(max_concurrency=-1)`` so the calls run in submission order.
    Steps come from StepGeneration's batched ``agenerate`` call: the conversation is the
    prompt and, after the first step, an assistant message of the steps so far.
    """

    def __init__(
        self, answers: Sequence[str] = (), step: Callable[[int, int, str], str] | None = None
    ) -> None:
        self.answers = list(answers)
        self.step = step
        self.handed_out = 0
        self.step_batches = 0
        self.step_calls: list[list[str]] = []

    async def agenerate_single(self, messages, stop=None, **kwargs) -> dict:
        text = self.answers[self.handed_out]
        self.handed_out += 1
        return {"role": "assistant", "content": text}

    async def agenerate(self, messages, stop=None, **kwargs):
        assert stop == STEP_TOKEN
        batch = self.step_batches
        self.step_batches += 1
        prefixes = [conv[1].content if len(conv) > 1 else "" for conv in messages]
        self.step_calls.append(prefixes)
        return [
            {"role": "assistant", "content": self.step(batch, position, prefix)}
            for position, prefix in enumerate(prefixes)
        ]


class ScriptedORM(AbstractOutcomeRewardModel):
    """its_hub's outcome reward: the score of each conversation's last (assistant) message."""

    def __init__(self, score: Callable[[str], float]) -> None:
        self._score = score
        self.calls: list[list[str]] = []

    def score(self, messages, **kwargs):
        raise NotImplementedError

    async def ascore(self, messages, orchestrator=None, **kwargs) -> list[float]:
        texts = [conversation[-1].content for conversation in messages]
        self.calls.append(texts)
        return [self._score(t) for t in texts]


class ScriptedPRM(AbstractProcessRewardModel):
    """its_hub's process reward: responses are the steps joined by the step token."""

    def __init__(self, probability: Callable[[Sequence[str]], float]) -> None:
        self._probability = probability
        self.calls: list[list[tuple[str, ...]]] = []

    def score(self, prompt_or_messages, steps):
        raise NotImplementedError

    async def ascore(self, prompt_or_messages, steps: list[str]) -> list[float]:
        split = [tuple(response.split(STEP_TOKEN)) for response in steps]
        self.calls.append(split)
        return [self._probability(texts) for texts in split]
