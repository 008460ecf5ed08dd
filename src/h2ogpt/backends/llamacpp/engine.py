"""LlamaCppEngine: the local engine for GGUF models, run by llama.cpp without torch.

The batched primitives (``stream``, ``sample``, ``continue_texts``, ``score_continuations``,
``next_token_logprobs``, step sessions) come from :class:`~h2ogpt.backends.local_engine.LocalEngine`,
with the same semantics and messages as the transformers engine; this class provides the
llama.cpp side: tokens, the GGUF's chat template, the decode loop (``stream_jobs``), step
sessions and scoring passes.

Not thread-safe: one thread at a time (the batching worker) uses an engine. See ``batch``
for how rows share prefills and decode together, ``model`` for how the KV cache is sized,
``sampling`` for how tokens are chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from h2ogpt.backends.base import Completion, ContinuationScore, ModelInfo, SamplingParams, TextDelta
from h2ogpt.backends.llamacpp import scoring
from h2ogpt.backends.llamacpp.batch import DecodeLoop
from h2ogpt.backends.llamacpp.model import LlamaModel
from h2ogpt.backends.llamacpp.runner import Runner
from h2ogpt.backends.llamacpp.sampling import Chooser
from h2ogpt.backends.llamacpp.steps import LlamaStepSession
from h2ogpt.backends.local_engine import LocalEngine
from h2ogpt.backends.sequences import DecodeJob, Detokenizer


class LlamaCppEngine(LocalEngine):
    """Batched generation and scoring with a GGUF model in llama.cpp; see the module docstring."""

    def __init__(self, model: LlamaModel, name: str) -> None:
        self.model = model
        self.runner = Runner(model)
        self.bos_text = model.bos_text
        self.text = Detokenizer(model.detokenize, model.token_text, set(model.eog_ids))
        self.eos_token_ids = self.text.eos_token_ids
        self.info = ModelInfo(
            name=name,
            context_length=model.context_length,
            device=model.device,
            dtype=model.dtype,
            engine="llama.cpp",
        )

    @classmethod
    def load(
        cls,
        path: str,
        *,
        name: str,
        n_ctx: int = 0,
        n_threads: int = 0,
        n_gpu_layers: int = 0,
        amx: str = "auto",
        max_rows: int = 32,
        kv_cells: int = 0,
        lora: str = "",
    ) -> LlamaCppEngine:
        """Load a GGUF file. ``n_ctx``: tokens per sequence (0: the training context, at
        most 8192); ``n_threads`` 0: every core; ``max_rows``: rows decoded together;
        ``kv_cells``: KV cells for all sequences together (0: ``n_ctx + 256 * max_rows``);
        ``amx``: llama.cpp's AMX kernels, auto|on|off (``native.amx_kernels_allowed``);
        ``lora``: a GGUF LoRA adapter to apply."""
        model = LlamaModel(
            str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_gpu_layers=n_gpu_layers,
            amx=amx,
            max_rows=max_rows,
            kv_cells=kv_cells,
        )
        if lora:
            model.apply_lora(lora)
        return cls(model, name)

    # --- counters (tests, benchmarks) ----------------------------------------------------
    @property
    def prefill_tokens(self) -> int:
        return self.runner.prefill_tokens

    @property
    def decode_calls(self) -> int:
        return self.runner.decode_calls

    # --- tokens --------------------------------------------------------------------------
    def _tokenize(self, text: str, add_special: bool) -> list[int]:
        return self.model.tokenize(text, add_special=add_special)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self.model.detokenize(ids)

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        template = self.model.chat_template
        return template.render(messages) if template is not None else None

    # --- decoding ------------------------------------------------------------------------
    def _chooser(self, params: SamplingParams) -> Chooser:
        return Chooser(
            params,
            self.model.n_vocab,
            self.runner.scratch,
            self.model.token_text,
            self.tokenize,
            self.eos_token_ids,
        )

    def stream_jobs(
        self,
        jobs: Sequence[DecodeJob],
        shaping: SamplingParams,
        cancelled: Callable[[int], bool] | None = None,
        admit: Callable[[int], Sequence[DecodeJob]] | None = None,
    ) -> Iterator[TextDelta | Completion]:
        loop = DecodeLoop(
            self.runner, self.text, self._chooser(shaping), cancelled, admit, self.model.max_rows
        )
        loop.enqueue(jobs)
        return loop.run()

    def new_step_session(self, prompt_ids: Sequence[int], rows: int) -> LlamaStepSession:
        return LlamaStepSession(self.runner, self.text, self._chooser, prompt_ids, rows)

    # --- scoring -------------------------------------------------------------------------
    def _next_token_logprobs(
        self, prefix: Sequence[int], suffixes: Sequence[Sequence[int]], top: int
    ) -> list[list[tuple[str, float]]]:
        return scoring.next_token_logprobs(self.runner, self.model.token_text, prefix, suffixes, top)

    def _score(
        self, prompt: Sequence[int], continuations: Sequence[Sequence[int]]
    ) -> list[ContinuationScore]:
        return scoring.score(self.runner, self.model.token_text, prompt, continuations)

    def close(self) -> None:
        """Free the model and its context; the engine cannot be used afterwards."""
        self.model.close()
