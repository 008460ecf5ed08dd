"""The transformers engine: a causal LM on this machine (CPU or GPU), decoded by ``Decoder``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from h2ogpt.backends.base import Completion, ContinuationScore, ModelInfo, SamplingParams, TextDelta
from h2ogpt.backends.local_engine import LocalEngine
from h2ogpt.backends.model_source import ModelSource
from h2ogpt.backends.sequences import DecodeJob
from h2ogpt.backends.transformers.decoding import Decoder
from h2ogpt.backends.transformers.loading import LoadedModel, load_model
from h2ogpt.backends.transformers.step_session import KVStepSession
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


class TransformersEngine(LocalEngine):
    """Batched generation with a model loaded by transformers (the primitives: LocalEngine)."""

    def __init__(self, loaded: LoadedModel, name: str, max_seq_len: int = 0) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.bos_text = loaded.tokenizer.bos_token or ""
        self.decoder = Decoder(loaded.model, loaded.tokenizer, _eos_ids(loaded))
        own_limit = getattr(loaded.model.config, "max_position_embeddings", 0) or 2048
        context = min(max_seq_len, own_limit) if max_seq_len else own_limit
        self.info = ModelInfo(
            name=name, context_length=context, device=loaded.device, dtype=loaded.dtype, engine="transformers"
        )

    @classmethod
    def from_settings(cls, source: ModelSource, settings: Settings) -> TransformersEngine:
        return cls(load_model(source, settings), source.display_name, settings.max_seq_len)

    @property
    def prefill_tokens(self) -> int:
        """Prompt tokens run through the model so far (tests, benchmarks)."""
        return self.decoder.prefill_tokens

    def _tokenize(self, text: str, add_special: bool) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=add_special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        if not self.tokenizer.chat_template:
            return None
        return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def stream_jobs(
        self,
        jobs: Sequence[DecodeJob],
        shaping: SamplingParams,
        cancelled: Callable[[int], bool] | None = None,
        admit: Callable[[int], Sequence[DecodeJob]] | None = None,
    ) -> Iterator[TextDelta | Completion]:
        return self.decoder.stream_jobs(jobs, shaping, cancelled, admit)

    def new_step_session(self, prompt_ids: Sequence[int], rows: int) -> KVStepSession:
        return KVStepSession(self.decoder, prompt_ids, rows)

    def _next_token_logprobs(
        self, prefix: Sequence[int], suffixes: Sequence[Sequence[int]], top: int
    ) -> list[list[tuple[str, float]]]:
        return self.decoder.next_token_logprobs(prefix, suffixes, top)

    def _score(
        self, prompt: Sequence[int], continuations: Sequence[Sequence[int]]
    ) -> list[ContinuationScore]:
        return self.decoder.score(prompt, continuations)
