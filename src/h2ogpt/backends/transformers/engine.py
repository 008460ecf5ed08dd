"""The transformers engine: a causal LM on this machine (CPU or GPU), decoded by ``Decoder``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from h2ogpt.backends.base import (
    Capabilities,
    Completion,
    ContinuationScore,
    ModelInfo,
    OptionalPrimitives,
    SamplingParams,
    TextDelta,
)
from h2ogpt.backends.model_source import ModelSource
from h2ogpt.backends.sequences import DecodeJob
from h2ogpt.backends.transformers.decoding import Decoder
from h2ogpt.backends.transformers.loading import LoadedModel, load_model
from h2ogpt.backends.transformers.step_session import KVStepSession
from h2ogpt.errors import RequestError
from h2ogpt.settings import Settings


def _eos_ids(loaded: LoadedModel) -> set[int]:
    ids: set[int] = set()
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    for value in configured if isinstance(configured, list) else [configured]:
        if value is not None:
            ids.add(int(value))
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(int(loaded.tokenizer.eos_token_id))
    return ids


LOCAL_CAPABILITIES = Capabilities(logprobs=True, prefix_sharing=True, step_sessions=True, json_object=True)


class TransformersEngine(OptionalPrimitives):
    """Batched generation with a model loaded by transformers."""

    capabilities = LOCAL_CAPABILITIES

    def __init__(self, loaded: LoadedModel, name: str, max_seq_len: int = 0) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.decoder = Decoder(loaded.model, loaded.tokenizer, _eos_ids(loaded))
        own_limit = getattr(loaded.model.config, "max_position_embeddings", 0) or 2048
        context = min(max_seq_len, own_limit) if max_seq_len else own_limit
        self.info = ModelInfo(
            name=name, context_length=context, device=loaded.device, dtype=loaded.dtype, engine="transformers"
        )

    @classmethod
    def from_settings(cls, source: ModelSource, settings: Settings) -> TransformersEngine:
        return cls(load_model(source, settings), source.display_name, settings.max_seq_len)

    # --- tokens --------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of a prompt; a text that already starts with BOS gets no second one."""
        bos = self.tokenizer.bos_token
        add_special = not (bos and text.startswith(bos))
        return self.tokenizer.encode(text, add_special_tokens=add_special)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        if not self.tokenizer.chat_template:
            return None
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

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
        return self.decoder.stream([self.prompt_ids(prompt, params, n)], params, n)

    def sample(self, prompt: str, params: SamplingParams, n: int = 1) -> list[Completion]:
        done = [e for e in self.stream(prompt, params, n) if isinstance(e, Completion)]
        return sorted(done, key=lambda c: c.index)

    def continue_texts(self, texts: Sequence[str], params: SamplingParams) -> list[Completion]:
        if not texts:
            return []
        prompts = [self.prompt_ids(t, params) for t in texts]
        done = [e for e in self.decoder.stream(prompts, params, 1) if isinstance(e, Completion)]
        return sorted(done, key=lambda c: c.index)

    def stream_jobs(
        self,
        jobs: Sequence[DecodeJob],
        shaping: SamplingParams,
        cancelled: Callable[[int], bool] | None = None,
        admit: Callable[[int], Sequence[DecodeJob]] | None = None,
    ) -> Iterator[TextDelta | Completion]:
        """Decode every job's samples in one batch (see ``Decoder.stream_jobs``)."""
        return self.decoder.stream_jobs(jobs, shaping, cancelled, admit)

    @property
    def prefill_tokens(self) -> int:
        """Prompt tokens run through the model so far (tests, benchmarks)."""
        return self.decoder.prefill_tokens

    def new_step_session(self, prompt_ids: Sequence[int], rows: int) -> KVStepSession:
        """A step session of ``rows`` copies of already validated prompt ids."""
        return KVStepSession(self.decoder, prompt_ids, rows)

    def open_steps(self, prompt: str, params: SamplingParams, rows: int) -> KVStepSession:
        """A step session of ``rows`` copies of ``prompt`` (prefilled once, caches kept)."""
        return self.new_step_session(self.prompt_ids(prompt, params, rows), rows)

    def next_token_logprobs(
        self, prefix: str, suffixes: Sequence[str], top: int
    ) -> list[list[tuple[str, float]]]:
        """The ``top`` likeliest next tokens after ``prefix + suffix`` for each suffix (the
        prefix prefilled once)."""
        prefix_ids = self.encode(prefix)
        suffix_ids = [self.tokenizer.encode(s, add_special_tokens=False) for s in suffixes]
        longest = len(prefix_ids) + max((len(s) for s in suffix_ids), default=0)
        if not prefix_ids or longest >= self.info.context_length:
            raise RequestError("a judge prompt is empty or longer than the model's context")
        return self.decoder.next_token_logprobs(prefix_ids, suffix_ids, top)

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[ContinuationScore]:
        prompt_ids = self.encode(prompt)
        if not prompt_ids:
            raise RequestError("the prompt is empty: scoring needs a prompt to condition on")
        conts = [self.tokenizer.encode(c, add_special_tokens=False) for c in continuations]
        if len(prompt_ids) + max((len(c) for c in conts), default=0) > self.info.context_length:
            raise RequestError("prompt plus continuation is longer than the model's context")
        return self.decoder.score(prompt_ids, conts)
