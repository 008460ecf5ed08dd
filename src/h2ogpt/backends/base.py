"""What every backend offers: batched primitives that the pipeline and scaling build on.

A backend turns prompt text into tokens. It knows nothing of chats, documents or
scaling; those are the callers' concerns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

FinishReason = Literal["stop", "length", "time"]
GREEDY_BELOW = 1e-5  # temperatures this close to 0 pick the most likely token


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens. ``temperature == 0`` means greedy."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    max_time: float | None = None
    top_logprobs: int = 0
    json_object: bool = False  # the answer must be one JSON object (constrained decoding)

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token (its decoded text), its log-probability and the most likely ones."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class TextDelta:
    """New text of sample ``index`` while it is being generated."""

    index: int
    text: str


@dataclass
class Completion:
    """One finished sample."""

    index: int
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[TokenLogprob] = field(default_factory=list)

    @property
    def mean_logprob(self) -> float:
        """Average token log-probability: a cheap self-certainty score."""
        if not self.logprobs:
            return float("-inf")
        return sum(t.logprob for t in self.logprobs) / len(self.logprobs)


@dataclass(frozen=True)
class ContinuationScore:
    """Log-probabilities of the tokens of a given continuation after a prompt."""

    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]

    @property
    def total(self) -> float:
        return sum(self.logprobs)


@dataclass(frozen=True)
class StepOutput:
    """One step a row of a step session generated."""

    text: str  # without the step's stop string
    token_ids: tuple[int, ...]  # the tokens fed to the model (local sessions; empty remotely)
    ended: bool  # the answer ended inside this step (end of sequence or max_new_tokens)
    completion_tokens: int
    mean_logprob: float


@runtime_checkable
class StepSession(Protocol):
    """Rows of one prompt extended step by step, each row keeping its state between steps.

    A local session keeps each row's KV cache: a step feeds only the new tokens, and
    ``select`` reorders or copies rows (resampling) without encoding anything again.
    """

    prompt_tokens: int  # tokens of the prompt
    prompt_encodes: int  # how many times prompt tokens were run through the model

    @property
    def rows(self) -> int: ...

    def extend(self, rows: Sequence[int], params: SamplingParams) -> list[StepOutput]:
        """The next step of each of ``rows`` (in one batch), ending at a stop string of
        ``params``, the end of sequence, or ``params.max_new_tokens`` for the whole answer."""

    def select(self, rows: Sequence[int]) -> None:
        """Keep these rows, in this order; a row named twice is copied."""

    def add(self, prefixes: Sequence[Sequence[StepOutput]]) -> None:
        """New rows (appended) that continue after the given steps."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context_length: int
    device: str
    dtype: str
    chat_native: bool = False  # True: the backend takes chat messages (a remote chat endpoint)


@runtime_checkable
class ChatBackend(Protocol):
    """A backend whose server renders chats itself (``info.chat_native``): it takes messages."""

    def stream_chat(
        self, messages: Sequence[dict[str, str]], params: SamplingParams, n: int = 1
    ) -> Iterator[TextDelta | Completion]:
        """Like ``Backend.stream``, for a conversation instead of a prompt text."""


@runtime_checkable
class Backend(Protocol):
    """A producer of tokens. All calls are batched: one call, many samples."""

    info: ModelInfo

    def count_tokens(self, text: str) -> int:
        """Tokens the model would see for ``text`` (no special tokens added)."""

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        """The model's own chat template applied to ``messages`` (generation prompt
        appended); None when the model has no template."""

    def stream(self, prompt: str, params: SamplingParams, n: int = 1) -> Iterator[TextDelta | Completion]:
        """``n`` samples for one prompt in one batched call (prefill shared).

        Yields TextDelta events while generating and one Completion per sample when it
        ends. Closing the iterator early cancels the generation.
        """

    def sample(self, prompt: str, params: SamplingParams, n: int = 1) -> list[Completion]:
        """``n`` finished samples for one prompt, in one batched call."""

    def continue_texts(self, texts: Sequence[str], params: SamplingParams) -> list[Completion]:
        """Continue each of many partial texts (up to a stop string), in one batch."""

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[ContinuationScore]:
        """Log-probabilities of each continuation's tokens after ``prompt``."""
