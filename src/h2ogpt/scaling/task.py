"""One scaling run's inputs and the generation calls every algorithm shares.

The task hides whether the backend takes rendered prompt text (local model, /completions)
or chat messages (a chat-native remote server), batches samples up to ``max_batch`` rows
per call (one shared prefill each), and counts every token spent in ``usage``.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from h2ogpt.answering.prompting import Message, render_prompt
from h2ogpt.backends.base import Backend, Completion, SamplingParams
from h2ogpt.scaling.options import ScalingOptions
from h2ogpt.scaling.specs import OutcomeReward, ProcessReward, Projection
from h2ogpt.scaling.types import ScalingUsage

JUDGE_TOP_LOGPROBS = 20  # next-token alternatives read when the judge answers in one token


def shared_prefix(texts: Sequence[str]) -> str:
    """The texts' common beginning, cut after its last line break (so that the prefix and
    the rest tokenize as the whole text does)."""
    first, last = min(texts), max(texts)  # every other text's common part lies between them
    size = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last))
    )
    common = first[:size]
    return common[: common.rfind("\n") + 1]


@dataclass
class ScalingTask:
    """What to answer and how: the conversation, its rendered prompt, sampling and options."""

    backend: Backend
    messages: list[Message]  # the conversation, system prompt included
    prompt: str | None  # rendered for the backend; None: the backend renders chats itself
    params: SamplingParams  # the candidates' sampling (template stop strings included)
    options: ScalingOptions
    prompt_type: str = ""
    max_batch: int = 32
    score_model: str = ""
    prm_model: str = ""
    seed: int | None = None
    # the objects the algorithm uses; None: made from the options' names when the run starts
    outcome_reward: OutcomeReward | None = None
    process_reward: ProcessReward | None = None
    projection: Projection | None = None
    notes: list[str] = field(default_factory=list)  # what the run changed and why (shown with the result)
    usage: ScalingUsage = field(default_factory=ScalingUsage)
    rng: random.Random = field(init=False)
    deadline: float | None = field(init=False)  # params.max_time bounds the whole run

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed if self.seed is not None else self.params.seed)
        limit = self.params.max_time
        self.deadline = None if limit is None else time.monotonic() + limit

    def time_left(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def timed(self, params: SamplingParams) -> SamplingParams:
        """``params`` with max_time cut to what is left of the run's time."""
        left = self.time_left()
        return params if left is None else dataclasses.replace(params, max_time=max(left, 1e-3))

    @property
    def question(self) -> str:
        """The last user message: what the judges are told the answer is for."""
        for message in reversed(self.messages):
            if message["role"] == "user":
                return message["content"]
        return self.prompt or ""

    # --- candidates ----------------------------------------------------------------------
    def stream_candidates(self, n: int, params: SamplingParams | None = None) -> Iterator[Completion]:
        """``n`` full answers, ``max_batch`` per batched call; yielded as each finishes,
        numbered 0..n-1. Closing the iterator cancels the unfinished ones. When the run's
        time is up no further batch starts (so fewer than ``n`` may come)."""
        done = 0
        while done < n:
            if done and self.out_of_time():
                return
            size = min(self.max_batch, n - done)
            params = self.timed(params or self.params)
            if self.prompt is None:
                events = self.backend.stream_chat(self.messages, params, size)
            else:
                events = self.backend.stream(self.prompt, params, size)
            try:
                for event in events:
                    if isinstance(event, Completion):
                        event.index += done
                        self.usage.add_generation(event.prompt_tokens, event.completion_tokens)
                        yield event
            finally:
                events.close()
            done += size

    # --- judging -------------------------------------------------------------------------
    def render(self, messages: Sequence[Message]) -> str | None:
        """A judge conversation as prompt text (None for a chat-native backend)."""
        if self.backend.info.chat_native:
            return None
        return render_prompt(self.backend, messages, self.prompt_type).text

    def next_token_probabilities(self, conversations: Sequence[Sequence[Message]]) -> list[dict[str, float]]:
        """For each conversation, the probabilities of the model's most likely first answer
        tokens (keys stripped and lower-cased, alike ones summed), in batched calls.

        On a local model the conversations' shared beginning (the judge's instructions and
        the question) is prefilled once for all of them.
        """
        prompts = [self.render(c) for c in conversations]
        tops: list[Sequence[tuple[str, float]]] = []
        for start in range(0, len(prompts), self.max_batch):  # at most max_batch rows at once
            chunk = prompts[start : start + self.max_batch]
            if chunk[0] is None:
                tops += self._chat_tops(conversations[start : start + self.max_batch])
            elif len(chunk) > 1 and self.backend.capabilities.prefix_sharing:
                prefix = shared_prefix(chunk)
                tops += self.backend.next_token_logprobs(
                    prefix, [p[len(prefix) :] for p in chunk], JUDGE_TOP_LOGPROBS
                )
                shared = self.backend.count_tokens(prefix)
                read = shared + sum(self.backend.count_tokens(p) - shared for p in chunk)
                self.usage.add_reward(read, calls=len(chunk))
            else:
                tops += self._completion_tops(self.backend.continue_texts(chunk, self._judge_params()))
        distributions = []
        for top in tops:
            probs: dict[str, float] = {}
            for token, logprob in top:
                key = token.strip().lower()
                probs[key] = probs.get(key, 0.0) + math.exp(logprob)
            distributions.append(probs)
        return distributions

    @staticmethod
    def _judge_params() -> SamplingParams:
        return SamplingParams(max_new_tokens=1, temperature=0.0, top_logprobs=JUDGE_TOP_LOGPROBS)

    def _completion_tops(self, completions: Sequence[Completion]) -> list[Sequence[tuple[str, float]]]:
        for completion in completions:
            self.usage.add_reward(completion.prompt_tokens, completion.completion_tokens)
        return [c.logprobs[0].top if c.logprobs else () for c in completions]

    def _chat_tops(self, conversations: Sequence[Sequence[Message]]) -> list[Sequence[tuple[str, float]]]:
        params = self._judge_params()
        return self._completion_tops(
            [
                next(c for c in self.backend.stream_chat(conv, params, 1) if isinstance(c, Completion))
                for conv in conversations
            ]
        )

    def with_params(self, **changes) -> SamplingParams:
        return dataclasses.replace(self.params, **changes)
