"""Sequence ids and KV cells of one llama.cpp context, shared by every user of it.

The decode loop, step sessions and scoring all run on one context, so they take sequence
ids from one pool and reserve KV cells from one budget. A sequence given back is cleared
(``llama_memory_seq_rm``) before it is handed out again. Work that ends outside the
model's thread (a generator closed by the garbage collector) *retires* its sequences
instead; they are cleared by the next operation on the model's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import llama_cpp.llama_cpp as C

from h2ogpt.errors import RequestError


class KvSpace:
    def __init__(self, memory, n_seq: int, cells: int) -> None:
        self.memory = memory
        self.n_seq = n_seq
        self.cells = cells
        self.reserved = 0
        self._free = list(range(n_seq - 1, -1, -1))  # pop() hands out the lowest id
        self._retired: list[tuple[list[int], int]] = []
        self._lock = threading.Lock()

    # --- sequences -----------------------------------------------------------------------
    @property
    def free_seqs(self) -> int:
        return len(self._free)

    @property
    def free_cells(self) -> int:
        return self.cells - self.reserved

    def take(self, count: int) -> list[int]:
        if count > len(self._free):
            raise RequestError(
                f"{count} more sequences are needed but only {len(self._free)} of {self.n_seq} are free; "
                "close step sessions or ask for fewer rows"
            )
        return [self._free.pop() for _ in range(count)]

    def give_back(self, seqs: Iterable[int]) -> None:
        """Clear these sequences and make them available again (on the model's thread)."""
        for seq in seqs:
            C.llama_memory_seq_rm(self.memory, seq, -1, -1)
            self._free.append(seq)
        self._free.sort(reverse=True)

    def copy(self, source: int, target: int) -> None:
        """Let ``target`` see every cell of ``source`` (shared cells, nothing is copied)."""
        C.llama_memory_seq_cp(self.memory, source, target, -1, -1)

    # --- cells ---------------------------------------------------------------------------
    def try_reserve(self, cells: int) -> bool:
        if self.reserved + cells > self.cells:
            return False
        self.reserved += cells
        return True

    def reserve(self, cells: int, what: str) -> None:
        if not self.try_reserve(cells):
            raise RequestError(
                f"{what} needs {cells} KV cells but only {self.free_cells} of {self.cells} are free; "
                "ask for fewer rows or tokens, or load the model with more kv_cells"
            )

    def release(self, cells: int) -> None:
        self.reserved = max(0, self.reserved - cells)

    # --- work that ended elsewhere -------------------------------------------------------
    def retire(self, seqs: Iterable[int], cells: int) -> None:
        """Give back sequences and cells later, from the model's thread (thread-safe)."""
        with self._lock:
            self._retired.append((list(seqs), cells))

    def reap(self) -> None:
        """Clear what was retired; every operation calls this first."""
        if not self._retired:
            return
        with self._lock:
            retired, self._retired = self._retired, []
        for seqs, cells in retired:
            self.give_back(seqs)
            self.release(cells)
