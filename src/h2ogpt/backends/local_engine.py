"""What every engine that decodes on this machine offers, written once.

An engine provides tokenizing (``_tokenize``, ``detokenize``, ``bos_text``), its chat template,
``stream_jobs`` (the batched decode loop), ``new_step_session`` and two scoring passes over
token ids (``_next_token_logprobs``, ``_score``). :class:`LocalEngine` builds the batched
primitives of the backend contract on top, with the same validation and messages for every
engine; :class:`~h2ogpt.backends.batching.BatchingBackend` shares one among threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from h2ogpt.backends.base import (
    Capabilities,
    Completion,
    ContinuationScore,
    ModelInfo,
    OptionalPrimitives,
    SamplingParams,
    StepSession,
    TextDelta,
)
from h2ogpt.backends.sequences import DecodeJob
from h2ogpt.errors import RequestError

LOCAL_CAPABILITIES = Capabilities(logprobs=True, prefix_sharing=True, step_sessions=True, json_object=True)


def completions(events: Iterator[TextDelta | Completion]) -> list[Completion]:
    """The finished samples of an event stream, by index."""
    return sorted((e for e in events if isinstance(e, Completion)), key=lambda c: c.index)


class LocalEngine(OptionalPrimitives):
    """The batched primitives over an engine's decode loop and scoring passes (see the module
    docstring); an engine is used by one thread at a time."""

    info: ModelInfo
    capabilities = LOCAL_CAPABILITIES
    bos_text: str = ""

    # --- what each engine provides -------------------------------------------------------
    def _tokenize(self, text: str, add_special: bool) -> list[int]:
        raise NotImplementedError

    def detokenize(self, ids: Sequence[int]) -> str:
        raise NotImplementedError

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        raise NotImplementedError

    def stream_jobs(
        self,
        jobs: Sequence[DecodeJob],
        shaping: SamplingParams,
        cancelled: Callable[[int], bool] | None = None,
        admit: Callable[[int], Sequence[DecodeJob]] | None = None,
    ) -> Iterator[TextDelta | Completion]:
        """Decode every job's samples in one batch, rows numbered job by job: ``shaping`` gives
        the shared token-choosing rules; a row for which ``cancelled(index)`` turns true leaves
        without further events; between steps ``admit(active_rows)`` may hand over more jobs."""
        raise NotImplementedError

    def new_step_session(self, prompt_ids: Sequence[int], rows: int) -> StepSession:
        """A step session of ``rows`` copies of already validated prompt ids."""
        raise NotImplementedError

    def _next_token_logprobs(
        self, prefix: Sequence[int], suffixes: Sequence[Sequence[int]], top: int
    ) -> list[list[tuple[str, float]]]:
        raise NotImplementedError

    def _score(
        self, prompt: Sequence[int], continuations: Sequence[Sequence[int]]
    ) -> list[ContinuationScore]:
        raise NotImplementedError

    # --- tokens --------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` with no special tokens added."""
        return self._tokenize(text, False)

    def encode(self, text: str) -> list[int]:
        """Token ids of a prompt; a text that already starts with BOS gets no second one."""
        return self._tokenize(text, not (self.bos_text and text.startswith(self.bos_text)))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def prompt_ids(self, text: str, params: SamplingParams, n: int = 1) -> list[int]:
        """Token ids of a prompt, or RequestError when it cannot be answered as asked."""
        if n < 1:
            raise RequestError(f"n={n}: ask for at least one sample")
        ids = self.encode(text)
        if not ids:
            raise RequestError("the prompt is empty: give some text to continue")
        if len(ids) + params.max_new_tokens > self.info.context_length:
            raise RequestError(
                f"the prompt has {len(ids)} tokens and max_new_tokens is {params.max_new_tokens}, "
                f"more than the model's context of {self.info.context_length}; shorten the prompt "
                "or lower max_new_tokens"
            )
        return ids

    # --- batched primitives --------------------------------------------------------------
    def stream(self, prompt: str, params: SamplingParams, n: int = 1) -> Iterator[TextDelta | Completion]:
        return self.stream_jobs([DecodeJob(self.prompt_ids(prompt, params, n), n, params)], params)

    def sample(self, prompt: str, params: SamplingParams, n: int = 1) -> list[Completion]:
        return completions(self.stream(prompt, params, n))

    def continue_texts(self, texts: Sequence[str], params: SamplingParams) -> list[Completion]:
        if not texts:
            return []
        jobs = [DecodeJob(self.prompt_ids(t, params), 1, params) for t in texts]
        return completions(self.stream_jobs(jobs, params))

    def open_steps(self, prompt: str, params: SamplingParams, rows: int) -> StepSession:
        """``rows`` copies of ``prompt`` to extend step by step (prompt encoded once)."""
        return self.new_step_session(self.prompt_ids(prompt, params, rows), rows)

    def next_token_logprobs(
        self, prefix: str, suffixes: Sequence[str], top: int
    ) -> list[list[tuple[str, float]]]:
        """The ``top`` likeliest next tokens after ``prefix + suffix`` for each suffix (the
        prefix encoded once)."""
        prefix_ids = self.encode(prefix)
        suffix_ids = [self.tokenize(s) for s in suffixes]
        longest = len(prefix_ids) + max((len(s) for s in suffix_ids), default=0)
        if not prefix_ids or longest >= self.info.context_length:
            raise RequestError("a judge prompt is empty or longer than the model's context")
        return self._next_token_logprobs(prefix_ids, suffix_ids, top)

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[ContinuationScore]:
        prompt_ids = self.encode(prompt)
        if not prompt_ids:
            raise RequestError("the prompt is empty: scoring needs a prompt to condition on")
        conts = [self.tokenize(c) for c in continuations]
        if len(prompt_ids) + max((len(c) for c in conts), default=0) > self.info.context_length:
            raise RequestError("prompt plus continuation is longer than the model's context")
        return self._score(prompt_ids, conts)
