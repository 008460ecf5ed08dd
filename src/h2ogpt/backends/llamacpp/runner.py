"""Runs ``llama_decode`` on one reusable batch and exposes its logits as numpy views.

Logits come zero-copy: after a decode with ``m`` outputs, ``outputs(m)`` is an ``[m,
vocab]`` float32 view of llama.cpp's own buffer (``llama_get_logits``: the output rows in
batch order), valid until the next decode. ``scratch`` hands out one reusable work buffer
so that choosing tokens allocates nothing big per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import llama_cpp.llama_cpp as C
import numpy as np

from h2ogpt.backends.llamacpp import native
from h2ogpt.backends.llamacpp.kv import KvSpace
from h2ogpt.backends.llamacpp.model import LlamaModel
from h2ogpt.errors import RequestError

BLOCK = 256  # the scratch width is padded to a multiple of this (blocked sampling)
MAX_OUTPUTS_PER_CALL = 128  # each output row holds vocab floats in llama.cpp's buffer


class Runner:
    """llama_decode, its counters, its logits; see the module docstring."""

    def __init__(self, model: LlamaModel) -> None:
        self.model = model
        self.ctx = model.ctx
        self.n_vocab = model.n_vocab
        self.padded_vocab = -(-model.n_vocab // BLOCK) * BLOCK
        self.batch = native.NativeBatch(model.n_batch)
        self.kv = KvSpace(model.memory, model.n_seq_max, model.kv_cells)
        self.prefill_tokens = 0  # prompt tokens run through llama_decode (counted for tests)
        self.decode_calls = 0
        self._view_address = 0
        self._view: np.ndarray | None = None
        self._scratch = np.zeros((0, self.padded_vocab), dtype=np.float32)

    # --- decoding ------------------------------------------------------------------------
    def decode(self) -> None:
        """Run the batch as filled; its output logits are then ``outputs(...)``."""
        if not self.batch.size:
            return
        if not self.model.ctx:
            self.batch.clear()
            raise RuntimeError("the llama.cpp engine is closed")
        code = C.llama_decode(self.ctx, self.batch.finish())
        self.decode_calls += 1
        self.batch.clear()
        if code == 1:
            raise RequestError(
                "llama.cpp found no room in its KV cache for this batch; ask for fewer rows or "
                "tokens, or load the model with more kv_cells"
            )
        if code != 0:
            raise RuntimeError(f"llama_decode failed (code {code}): {native.last_error('no reason given')}")

    def outputs(self, count: int) -> np.ndarray:
        """The last decode's first ``count`` output rows, ``[count, vocab]``, zero-copy."""
        address = native.logits_address(self.ctx)
        view = self._view
        if view is None or address != self._view_address or count > len(view):
            if not address:
                raise RuntimeError("llama.cpp returned no logits")
            view = self._view = native.float_view(address, count, self.n_vocab)
            self._view_address = address
        return view[:count]

    def prefill(self, seq: int, tokens: Sequence[int], start: int = 0) -> np.ndarray:
        """Decode ``tokens`` on ``seq`` from position ``start`` (in chunks of the batch size);
        returns a copy of the logits after the last one."""
        self.prefill_tokens += len(tokens)
        capacity = self.batch.capacity
        for begin in range(0, len(tokens), capacity):
            chunk = tokens[begin : begin + capacity]
            last = begin + capacity >= len(tokens)
            self.batch.add(chunk, start + begin, seq, output_last=last)
            self.decode()
        return np.array(self.outputs(1)[0])

    # --- work buffers --------------------------------------------------------------------
    def scratch(self, rows: int) -> np.ndarray:
        """A reusable ``[rows, padded_vocab]`` float32 buffer whose padding columns are 0."""
        if len(self._scratch) < rows:
            self._scratch = np.zeros((max(rows, 2 * len(self._scratch)), self.padded_vocab), dtype=np.float32)
        return self._scratch[:rows]
