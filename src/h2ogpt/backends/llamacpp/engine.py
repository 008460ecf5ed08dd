"""LlamaCppEngine: the local engine for GGUF models, run by llama.cpp without torch.

Same public surface and semantics as the transformers engine (``local.TransformersEngine``):
tokens, the model's chat template, and the batched primitives (``stream``, ``sample``,
``continue_texts``, ``score_continuations``, ``next_token_logprobs``, step sessions),
plus ``stream_jobs`` and ``new_step_session`` for the worker of ``BatchingBackend``.

Not thread-safe: one thread at a time (the batching worker) uses an engine. See
``batch`` for how rows share prefills and decode together, ``model`` for how the KV
cache is sized, ``sampling`` for how tokens are chosen.
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
    TextDelta,
)
from h2ogpt.backends.llamacpp import scoring
from h2ogpt.backends.llamacpp.batch import DecodeLoop
from h2ogpt.backends.llamacpp.model import LlamaModel
from h2ogpt.backends.llamacpp.runner import Runner
from h2ogpt.backends.llamacpp.sampling import Chooser
from h2ogpt.backends.llamacpp.steps import LlamaStepSession
from h2ogpt.backends.sequences import DecodeJob, RowText
from h2ogpt.errors import RequestError

CAPABILITIES = Capabilities(
    streaming=True,
    batched_sampling=True,
    raw_continuation=True,
    logprobs=True,
    prefix_sharing=True,
    step_sessions=True,
    json_object=True,
    vision=False,
)


class LlamaCppEngine(OptionalPrimitives):
    """Batched generation and scoring with a GGUF model in llama.cpp; see the module docstring."""

    capabilities = CAPABILITIES

    def __init__(self, model: LlamaModel, name: str) -> None:
        self.model = model
        self.runner = Runner(model)
        self.text = RowText(model.detokenize, model.token_text, set(model.eog_ids))
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
        max_rows: int = 32,
        kv_cells: int = 0,
        lora: str = "",
    ) -> LlamaCppEngine:
        """Load a GGUF file. ``n_ctx``: tokens per sequence (0: the training context, at
        most 8192); ``n_threads`` 0: every core; ``max_rows``: rows decoded together;
        ``kv_cells``: KV cells for all sequences together (0: ``n_ctx + 256 * max_rows``);
        ``lora``: a GGUF LoRA adapter to apply."""
        model = LlamaModel(
            str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_gpu_layers=n_gpu_layers,
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
    def encode(self, text: str) -> list[int]:
        """Token ids of a prompt; a text that already starts with BOS gets no second one."""
        bos = self.model.bos_text
        return self.model.tokenize(text, add_special=not (bos and text.startswith(bos)))

    def _encode_plain(self, text: str) -> list[int]:
        return self.model.tokenize(text, add_special=False)

    def count_tokens(self, text: str) -> int:
        return len(self._encode_plain(text))

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        template = self.model.chat_template
        return template.render(messages) if template is not None else None

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

    # --- decoding ------------------------------------------------------------------------
    def _chooser(self, params: SamplingParams) -> Chooser:
        return Chooser(
            params,
            self.model.n_vocab,
            self.runner.scratch,
            self.model.token_text,
            self._encode_plain,
            self.eos_token_ids,
        )

    def stream_jobs(
        self,
        jobs: Sequence[DecodeJob],
        shaping: SamplingParams,
        cancelled: Callable[[int], bool] | None = None,
        admit: Callable[[int], Sequence[DecodeJob]] | None = None,
    ) -> Iterator[TextDelta | Completion]:
        """Decode every job's samples in one batch, rows numbered job by job (as
        ``Decoder.stream_jobs``): ``shaping`` gives the shared token-choosing rules; a row
        for which ``cancelled(index)`` turns true leaves without further events; between
        steps ``admit(active_rows)`` may hand over more jobs, which join the batch."""
        loop = DecodeLoop(
            self.runner, self.text, self._chooser(shaping), cancelled, admit, self.model.max_rows
        )
        loop.enqueue(jobs)
        return loop.run()

    def stream(self, prompt: str, params: SamplingParams, n: int = 1) -> Iterator[TextDelta | Completion]:
        return self.stream_jobs([DecodeJob(self.prompt_ids(prompt, params, n), n, params)], params)

    def sample(self, prompt: str, params: SamplingParams, n: int = 1) -> list[Completion]:
        return _completions(self.stream(prompt, params, n))

    def continue_texts(self, texts: Sequence[str], params: SamplingParams) -> list[Completion]:
        if not texts:
            return []
        jobs = [DecodeJob(self.prompt_ids(t, params), 1, params) for t in texts]
        return _completions(self.stream_jobs(jobs, params))

    # --- step sessions -------------------------------------------------------------------
    def new_step_session(self, prompt_ids: Sequence[int], rows: int) -> LlamaStepSession:
        """A step session of ``rows`` copies of already validated prompt ids."""
        return LlamaStepSession(self.runner, self.text, self._chooser, prompt_ids, rows)

    def open_steps(self, prompt: str, params: SamplingParams, rows: int) -> LlamaStepSession:
        """``rows`` copies of ``prompt`` to extend step by step (prompt decoded once)."""
        return self.new_step_session(self.prompt_ids(prompt, params, rows), rows)

    # --- scoring -------------------------------------------------------------------------
    def next_token_logprobs(
        self, prefix: str, suffixes: Sequence[str], top: int
    ) -> list[list[tuple[str, float]]]:
        """The ``top`` likeliest next tokens after ``prefix + suffix`` for each suffix (the
        prefix decoded once)."""
        prefix_ids = self.encode(prefix)
        suffix_ids = [self._encode_plain(s) for s in suffixes]
        longest = len(prefix_ids) + max((len(s) for s in suffix_ids), default=0)
        if not prefix_ids or longest >= self.info.context_length:
            raise RequestError("a judge prompt is empty or longer than the model's context")
        return scoring.next_token_logprobs(self.runner, self.model.token_text, prefix_ids, suffix_ids, top)

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[ContinuationScore]:
        prompt_ids = self.encode(prompt)
        if not prompt_ids:
            raise RequestError("the prompt is empty: scoring needs a prompt to condition on")
        conts = [self._encode_plain(c) for c in continuations]
        if len(prompt_ids) + max((len(c) for c in conts), default=0) > self.info.context_length:
            raise RequestError("prompt plus continuation is longer than the model's context")
        return scoring.score(self.runner, self.model.token_text, prompt_ids, conts)

    def close(self) -> None:
        """Free the model and its context; the engine cannot be used afterwards."""
        self.model.close()


def _completions(events: Iterator[TextDelta | Completion]) -> list[Completion]:
    return sorted((e for e in events if isinstance(e, Completion)), key=lambda c: c.index)
