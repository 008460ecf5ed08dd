"""What every backend offers: batched primitives that the pipeline and scaling build on.

A backend turns prompt text into tokens. It knows nothing of chats, documents or
scaling; those are the callers' concerns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal, Protocol, runtime_checkable

from h2ogpt.errors import RequestError

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
class Capabilities:
    """What a backend can do beyond the primitives every backend has (``stream``,
    ``sample``, ``continue_texts``, ``score_continuations``), declared rather than probed:
    callers ask ``backend.capabilities.step_sessions``, never ``hasattr``."""

    streaming: bool = True  # text arrives while it is generated
    batched_sampling: bool = True  # n samples of one prompt in one call, sharing one prefill
    raw_continuation: bool = True  # continue_texts continues raw text (not only chats)
    logprobs: bool = False  # completions carry each token's log-probability
    prefix_sharing: bool = False  # next_token_logprobs: many suffixes after one prefilled prefix
    step_sessions: bool = False  # open_steps: rows keep their state (KV cache) between steps
    json_object: bool = False  # response_format=json_object: every answer is one JSON object
    vision: bool = False  # prompts may carry images

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def missing(self, required: Iterable[str]) -> list[str]:
        """The capabilities of ``required`` this backend lacks (unknown names count as lacking)."""
        return [name for name in required if not getattr(self, name, False)]


CAPABILITY_WORDS = {
    "streaming": "streaming",
    "batched_sampling": "batched sampling (n samples in one call)",
    "raw_continuation": "raw-text continuation (a /completions endpoint or a local model)",
    "logprobs": "token log-probabilities",
    "prefix_sharing": "shared-prefix scoring (next_token_logprobs)",
    "step_sessions": "step sessions (open_steps)",
    "json_object": "JSON-constrained decoding",
    "vision": "vision (images in prompts)",
}


class MissingCapability(RequestError):
    """A feature was asked of a backend that declares it cannot do it."""


def require_capabilities(backend: Backend, required: Iterable[str], needed_by: str) -> None:
    """Raise MissingCapability naming the backend, the capability and who needs it."""
    missing = backend.capabilities.missing(required)
    if missing:
        wanted = ", ".join(CAPABILITY_WORDS.get(m, m) for m in missing)
        raise MissingCapability(
            f"{needed_by} needs {wanted}, which the backend {backend.info.name!r} "
            f"({backend.info.device}) does not have; choose another option or another model"
        )


@dataclass(frozen=True)
class ModelInfo:
    name: str
    context_length: int
    device: str
    dtype: str
    chat_native: bool = False  # True: the backend takes chat messages (a remote chat endpoint)
    engine: str = ""  # the backend's registered name (llama.cpp, transformers, vllm, ...)


@runtime_checkable
class Backend(Protocol):
    """A producer of tokens. All calls are batched: one call, many samples.

    The optional primitives at the end work only where ``capabilities`` says so; elsewhere
    they raise MissingCapability (see :class:`OptionalPrimitives`).
    """

    info: ModelInfo
    capabilities: Capabilities

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

    # --- optional primitives (see Capabilities) ------------------------------------------
    def stream_chat(
        self, messages: Sequence[dict[str, str]], params: SamplingParams, n: int = 1
    ) -> Iterator[TextDelta | Completion]:
        """Like ``stream``, for a conversation the server renders (``info.chat_native``)."""

    def next_token_logprobs(
        self, prefix: str, suffixes: Sequence[str], top: int
    ) -> list[list[tuple[str, float]]]:
        """The ``top`` likeliest next tokens after ``prefix + suffix`` for each suffix, the
        prefix encoded once (``capabilities.prefix_sharing``)."""

    def open_steps(self, prompt: str, params: SamplingParams, rows: int) -> StepSession:
        """``rows`` copies of ``prompt`` to extend step by step (``capabilities.step_sessions``)."""


class OptionalPrimitives:
    """Defaults for the optional primitives a backend does not offer: each raises
    MissingCapability. Backends inherit it and override what they support."""

    info: ModelInfo

    def _missing(self, capability: str) -> MissingCapability:
        return MissingCapability(
            f"the backend {self.info.name!r} does not offer {CAPABILITY_WORDS.get(capability, capability)}"
        )

    def stream_chat(
        self, messages: Sequence[dict[str, str]], params: SamplingParams, n: int = 1
    ) -> Iterator[TextDelta | Completion]:
        raise self._missing("chat rendering by the server")

    def next_token_logprobs(
        self, prefix: str, suffixes: Sequence[str], top: int
    ) -> list[list[tuple[str, float]]]:
        raise self._missing("prefix_sharing")

    def open_steps(self, prompt: str, params: SamplingParams, rows: int) -> StepSession:
        raise self._missing("step_sessions")
