"""A GGUF model loaded by llama.cpp: weights, one context (its KV cache), and the vocabulary.

The context has a *unified* KV cache of ``kv_cells`` cells shared by up to ``n_seq_max``
sequences: a cell holds one token's keys and values and the set of sequences that see
it, so a prompt decoded once on one sequence and copied (``llama_memory_seq_cp``) to
others occupies its cells once. Each sequence may reach ``context_length`` positions.
"""

from __future__ import annotations

import ctypes
import logging
import os
import time
import weakref
from collections.abc import Sequence
from typing import Any

import llama_cpp.llama_cpp as C

from h2ogpt.backends.llamacpp import native
from h2ogpt.backends.llamacpp.chat_template import ChatTemplate
from h2ogpt.backends.llamacpp.gguf import check_gguf_file, load_failure
from h2ogpt.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_CAP = 8192  # per-sequence context when n_ctx is not given
UNKNOWN_TRAIN_CONTEXT = 2048
CELLS_PER_ROW = 256  # default KV room per row beyond one full context (see LlamaModel)


def _free(ctx: int | None, model: int | None) -> None:
    if ctx:
        C.llama_free(ctx)
    if model:
        C.llama_model_free(model)


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class LlamaModel:
    """Model, context and vocabulary of one GGUF file. Not thread-safe: one thread uses it.

    ``context_length`` (per sequence) is ``n_ctx`` capped by the training context, or the
    training context capped at 8192. ``kv_cells`` (all sequences together) defaults to
    ``context_length + max_rows * 256``: one full-length prompt plus a 256-token answer per
    row; the decode loop reserves cells before it starts rows, so it never overflows them.
    ``flash_attention`` defaults to on with a GPU, or on the CPU with our patched build's
    kernel (``native.fast_cpu_flash_attention``); see ``_create_context``.
    """

    def __init__(
        self,
        path: str,
        *,
        n_ctx: int = 0,
        n_threads: int = 0,
        n_gpu_layers: int = 0,
        amx: str = "auto",
        max_rows: int = 32,
        kv_cells: int = 0,
        n_batch: int = 2048,
        n_ubatch: int = 512,
        flash_attention: bool | None = None,
    ) -> None:
        check_gguf_file(path)
        native.init()
        self.path = path
        started = time.monotonic()
        model = _load_weights(path, n_gpu_layers, native.amx_kernels_allowed(amx))
        self._model = model
        self.vocab = C.llama_model_get_vocab(model)
        self.n_vocab = C.llama_vocab_n_tokens(self.vocab)
        train = C.llama_model_n_ctx_train(model) or UNKNOWN_TRAIN_CONTEXT
        self.context_length = min(n_ctx, train) if n_ctx > 0 else min(train, DEFAULT_CONTEXT_CAP)
        self.max_rows = max(1, max_rows)
        cells = kv_cells or self.context_length + self.max_rows * CELLS_PER_ROW
        self.kv_cells = -(-max(cells, self.context_length) // 256) * 256
        self.n_seq_max = min(
            int(C.llama_max_parallel_sequences()), max(4 * self.max_rows, self.max_rows + 16)
        )
        self.n_batch = max(n_batch, 2 * self.n_seq_max)
        self.n_threads = n_threads if n_threads > 0 else default_threads()
        gpu = n_gpu_layers != 0 and native.gpu_offload_supported()
        if flash_attention is None:
            flash_attention = gpu or native.fast_cpu_flash_attention()
        self.flash_attention = flash_attention
        ctx = self._create_context(min(n_ubatch, self.n_batch), flash_attention=flash_attention)
        self.ctx = ctx
        self.memory = C.llama_get_memory(ctx)
        self._finalizer = weakref.finalize(self, _free, ctx, model)
        self.load_seconds = time.monotonic() - started
        self.device = "gpu" if gpu else "cpu"
        self.dtype = (C.llama_ftype_name(C.llama_model_ftype(model)) or b"unknown").decode()
        self.eog_ids = {t for t in range(self.n_vocab) if C.llama_vocab_is_eog(self.vocab, t)}
        self.bos_id = C.llama_vocab_bos(self.vocab)
        self.eos_id = C.llama_vocab_eos(self.vocab)
        self.bos_text = self._special_text(self.bos_id)
        self.eos_text = self._special_text(self.eos_id)
        template = self.meta("tokenizer.chat_template")
        self.chat_template = ChatTemplate(template, self.bos_text, self.eos_text) if template else None

        self._pieces: dict[int, str] = {}
        self._texts: dict[int, str] = {}
        self._ids = (C.llama_token * 64)()
        self._chars = ctypes.create_string_buffer(1024)
        self._log_loaded()

    def _log_loaded(self) -> None:
        log.debug(
            "llama.cpp: %s loaded in %.2f s (%s, %s, context %d per sequence, %d KV cells, "
            "%d sequences, %d threads, flash attention %s, patches: %s)",
            self.path,
            self.load_seconds,
            self.dtype,
            self.device,
            self.context_length,
            self.kv_cells,
            self.n_seq_max,
            self.n_threads,
            "on" if self.flash_attention else "off",
            ", ".join(sorted(native.build_patches())) or "none",
        )

    def _create_context(self, n_ubatch: int, *, flash_attention: bool) -> Any:
        """The decoding context: one unified KV cache of ``kv_cells`` for ``n_seq_max`` sequences."""
        cparams = C.llama_context_default_params()
        cparams.n_ctx = self.kv_cells
        cparams.n_batch = self.n_batch
        cparams.n_ubatch = n_ubatch
        cparams.n_seq_max = self.n_seq_max
        cparams.kv_unified = True  # copied prompt cells are shared, not duplicated per sequence
        cparams.n_outputs_max_per_seq = 0  # scoring needs logits at every position of a sequence
        cparams.n_threads = self.n_threads
        cparams.n_threads_batch = self.n_threads
        if not flash_attention:
            # Without flash attention a row's logits depend a little on the other rows of its
            # batch (its attention sums over the shared cache round differently, and llama.cpp's
            # 8-bit activations amplify it: up to ~0.5 logit on the embedded model); with it each
            # row's logits are those it gets alone. llama.cpp's own CPU kernel for it is slower
            # than none for several rows and long contexts (8 samples after a 1,470-token prompt:
            # 8.3 s vs 6.1 s), which is why only a build with our kernel turns it on by default.
            cparams.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.no_perf = True
        ctx = C.llama_init_from_model(self._model, cparams)
        if not ctx:
            C.llama_model_free(self._model)
            raise ConfigError(
                f"llama.cpp could not create a context for {self.path} with {self.kv_cells} KV cells and "
                f"{self.n_seq_max} sequences: {native.last_error('out of memory?')}; lower n_ctx or max_rows"
            )
        return ctx

    # --- adapters ------------------------------------------------------------------------
    def apply_lora(self, path: str, scale: float = 1.0) -> None:
        """Apply a GGUF LoRA adapter (made by ``finetune.py --export_gguf`` or llama.cpp's
        ``convert_lora_to_gguf.py``); a peft adapter folder is refused with what to do."""
        path = os.path.expanduser(path)
        if os.path.isdir(path):
            raise ConfigError(
                f"--lora_weights={path}: a peft adapter folder; the llama.cpp engine applies GGUF LoRA "
                "adapters: export one with `python finetune.py ... --export_gguf=True` (or llama.cpp's "
                "convert_lora_to_gguf.py), or run the adapter with --engine=transformers"
            )
        check_gguf_file(path)
        native.recent_errors.clear()
        adapter = C.llama_adapter_lora_init(self._model, path.encode("utf-8"))
        if not adapter:
            raise ConfigError(
                f"--lora_weights={path}: llama.cpp refused the adapter ({native.last_error('no reason given')}); "
                "it must be a LoRA adapter for this very base model"
            )
        adapters = (C.llama_adapter_lora_p_ctypes * 1)(adapter)
        scales = (ctypes.c_float * 1)(scale)
        if C.llama_set_adapters_lora(self.ctx, adapters, 1, scales) != 0:
            raise ConfigError(f"--lora_weights={path}: llama.cpp could not apply the adapter")
        self.lora = (adapter, path)  # freed with the model

    # --- metadata ------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        size = C.llama_model_meta_val_str(self._model, key.encode(), None, 0)
        if size < 0:
            return None
        buffer = ctypes.create_string_buffer(size + 1)
        C.llama_model_meta_val_str(self._model, key.encode(), buffer, size + 1)
        return buffer.value.decode("utf-8", "replace")

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        text = C.llama_vocab_get_text(self.vocab, token)
        return text.decode("utf-8", "replace") if text else ""

    # --- tokens --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if not self._model:
            raise RuntimeError("the llama.cpp engine is closed")

    def tokenize(self, text: str, add_special: bool, parse_special: bool = True) -> list[int]:
        self._check_open()
        data = text.encode("utf-8")
        capacity = len(data) + 16
        ids = (C.llama_token * capacity)()
        count = C.llama_tokenize(self.vocab, data, len(data), ids, capacity, add_special, parse_special)
        if count < 0:
            capacity = -count
            ids = (C.llama_token * capacity)()
            count = C.llama_tokenize(self.vocab, data, len(data), ids, capacity, add_special, parse_special)
        return ids[:count]

    def _detokenize(self, ids: Sequence[int], special: bool) -> str:
        self._check_open()
        count = len(ids)
        if count > len(self._ids):
            self._ids = (C.llama_token * (2 * count))()
        self._ids[:count] = ids
        size = C.llama_detokenize(self.vocab, self._ids, count, self._chars, len(self._chars), False, special)
        if size < 0:
            self._chars = ctypes.create_string_buffer(-size + 64)
            size = C.llama_detokenize(
                self.vocab, self._ids, count, self._chars, len(self._chars), False, special
            )
        return self._chars.raw[:size].decode("utf-8", "replace")

    def detokenize(self, ids: Sequence[int]) -> str:
        """Text of ``ids``, special tokens skipped (a cut multi-byte character ends in U+FFFD)."""
        if len(ids) == 1:
            token = ids[0]
            text = self._pieces.get(token)
            if text is None:
                text = self._pieces[token] = self._detokenize(ids, False)
            return text
        if not ids:
            return ""
        return self._detokenize(ids, False)

    def token_text(self, token: int) -> str:
        """One token's text, special tokens shown (log-probabilities, JSON mode)."""
        text = self._texts.get(token)
        if text is None:
            text = self._texts[token] = self._detokenize([token], True)
        return text

    def close(self) -> None:
        self._finalizer()
        self.ctx = None
        self._model = None


def _load_weights(path: str, n_gpu_layers: int, extra_buffer_types: bool) -> Any:
    """The model's weights (``n_gpu_layers`` of them offloaded to a GPU build's device);
    ``extra_buffer_types``: let llama.cpp repack them for its AMX / repacked CPU kernels."""
    params = C.llama_model_default_params()
    params.n_gpu_layers = n_gpu_layers
    params.use_extra_bufts = extra_buffer_types
    native.recent_errors.clear()
    model = C.llama_model_load_from_file(path.encode("utf-8"), params)
    if not model:
        raise load_failure(path, native.last_error("llama.cpp gave no reason"))
    return model
