"""The multi-sequence decode loop behind ``stream_jobs``: one llama_decode per step.

Every row (sample) owns a sequence id. A job's prompt is decoded once, on the sequence of
its first row, and copied (``llama_memory_seq_cp``: shared KV cells) to its other rows;
then each step decodes one token of every running row together, a multi-sequence batch
whose logits come back as one ``[rows, vocab]`` matrix. Rows that end or are cancelled
give their sequence back at once (``llama_memory_seq_rm``), so long runs never exhaust
the cache. Jobs handed over by ``admit`` between two steps are prefilled in the same
llama_decode as the running rows' next tokens and join the batch.

A row starts only when it has a free sequence id, room among ``max_rows`` running rows,
and KV cells reserved for its prompt (once per group of rows sharing it) and its
``max_new_tokens``; rows that do not fit wait for earlier ones to end (their prompt is
then prefilled again for them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from h2ogpt.backends.base import Completion, TextDelta
from h2ogpt.backends.llamacpp.runner import Runner
from h2ogpt.backends.llamacpp.sampling import Chooser
from h2ogpt.backends.sequences import DecodeJob, Detokenizer, Row
from h2ogpt.errors import RequestError


@dataclass(eq=False)
class _Group:
    """Rows of one job started together: one prefill shared through sequence copies."""

    cells: int  # the prompt's reserved cells, released when its last row ends
    live: int


@dataclass(eq=False)
class _Live:
    row: Row
    seq: int
    pos: int  # where the row's next token goes
    group: _Group
    cells: int  # the row's own reserved cells (its answer)


@dataclass(eq=False)
class _Waiting:
    job: DecodeJob
    indices: list[int] = field(default_factory=list)


class DecodeLoop:
    """One ``stream_jobs`` call; ``run()`` is the generator of its events."""

    def __init__(
        self,
        runner: Runner,
        text: Detokenizer,
        chooser: Chooser,
        cancelled: Callable[[int], bool] | None,
        admit: Callable[[int], Sequence[DecodeJob]] | None,
        max_rows: int,
    ) -> None:
        self.runner = runner
        self.kv = runner.kv
        self.text = text
        self.chooser = chooser
        self.cancelled = cancelled
        self.admit = admit
        self.max_rows = max_rows
        self.waiting: deque[_Waiting] = deque()
        self.numbered = 0
        self.held_seqs: set[int] = set()
        self.held_cells = 0

    def enqueue(self, jobs: Sequence[DecodeJob]) -> None:
        for job in jobs:
            self.waiting.append(_Waiting(job, list(range(self.numbered, self.numbered + job.n))))
            self.numbered += job.n

    def run(self) -> Iterator[TextDelta | Completion]:
        live: list[_Live] = []
        feed: list[int] = []  # the chosen token of each live row, to decode next
        try:
            while True:
                self.kv.reap()
                if self.admit is not None:
                    joining = self.admit(len(live) + sum(len(w.indices) for w in self.waiting))
                    if joining:
                        self.enqueue(joining)
                starting = self._start(len(live))
                if not live and not starting:
                    if self.waiting:
                        raise RequestError(
                            f"no room to start a row: {self.kv.free_seqs} free sequences and "
                            f"{self.kv.free_cells} free KV cells; close step sessions, ask for fewer "
                            "tokens, or load the model with more kv_cells"
                        )
                    return
                outputs = self._decode(live, feed, starting)
                for group_rows in starting:
                    live += group_rows
                logits = self.runner.outputs(outputs[-1] + 1)
                if len(outputs) != len(logits):
                    logits = logits[np.asarray(outputs)]
                rows = [one.row for one in live]
                chosen = self.chooser.choose(logits, rows)
                keep = yield from self.text.step(rows, chosen, self.cancelled)
                if len(keep) < len(live):
                    kept = set(keep)
                    for i, one in enumerate(live):
                        if i not in kept:
                            self._end(one)
                    live = [live[i] for i in keep]
                feed = [chosen[i] for i in keep]
                if not live and not self.waiting:
                    return
        finally:
            if self.held_seqs or self.held_cells:  # closed early or failed: clear later
                self.kv.retire(self.held_seqs, self.held_cells)
                self.held_seqs, self.held_cells = set(), 0

    # --- rows come and go ----------------------------------------------------------------
    def _start(self, running: int) -> list[list[_Live]]:
        """Rows that start now, grouped by the prompt they share (FIFO, no skipping)."""
        kv, starting = self.kv, []
        room = self.max_rows - running
        while self.waiting and room > 0:
            waiting = self.waiting[0]
            if self.cancelled is not None:
                waiting.indices = [i for i in waiting.indices if not self.cancelled(i)]
            if not waiting.indices:
                self.waiting.popleft()
                continue
            job = waiting.job
            prompt_cells, row_cells = len(job.prompt_ids), max(1, job.params.max_new_tokens)
            count = min(len(waiting.indices), room, kv.free_seqs, (kv.free_cells - prompt_cells) // row_cells)
            if count <= 0:
                break
            cells = prompt_cells + count * row_cells
            kv.reserve(cells, "a decoding batch")
            seqs = kv.take(count)
            self.held_cells += cells
            self.held_seqs.update(seqs)
            group = _Group(prompt_cells, count)
            prompt = list(job.prompt_ids)
            starting.append(
                [
                    _Live(
                        Row(index=i, prompt_ids=prompt, params=job.params), seq, len(prompt), group, row_cells
                    )
                    for i, seq in zip(waiting.indices[:count], seqs, strict=True)
                ]
            )
            del waiting.indices[:count]
            if not waiting.indices:
                self.waiting.popleft()
            room -= count
        return starting

    def _end(self, one: _Live) -> None:
        kv = self.kv
        kv.give_back([one.seq])
        self.held_seqs.discard(one.seq)
        released = one.cells
        one.group.live -= 1
        if not one.group.live:
            released += one.group.cells
        kv.release(released)
        self.held_cells -= released

    # --- one llama_decode ----------------------------------------------------------------
    def _decode(self, live: list[_Live], feed: list[int], starting: list[list[_Live]]) -> list[int]:
        """Decode the live rows' next tokens and the new groups' prompts; returns each row's
        output index (live rows first, then the new rows, a group's rows sharing one)."""
        runner, batch = self.runner, self.runner.batch
        bodies = sum(len(group[0].row.prompt_ids) - 1 for group in starting)
        inline = bodies <= batch.capacity - len(live) - len(starting)
        if not inline:  # long prompts: their bodies first, in full batches without outputs
            for group in starting:
                first = group[0]
                self._add_span(first.row.prompt_ids[:-1], 0, first.seq)
            runner.decode()
        outputs = list(range(len(live)))
        if live:
            batch.add_outputs(feed, [one.pos for one in live], [one.seq for one in live])
            for one in live:
                one.pos += 1
        for number, group in enumerate(starting, start=len(live)):
            first, prompt = group[0], group[0].row.prompt_ids
            if inline:
                batch.add(prompt, 0, first.seq, output_last=True)
            else:
                batch.add(prompt[-1:], len(prompt) - 1, first.seq, output_last=True)
            runner.prefill_tokens += len(prompt)
            outputs += [number] * len(group)
        runner.decode()
        for group in starting:
            for other in group[1:]:
                self.kv.copy(group[0].seq, other.seq)
        return outputs

    def _add_span(self, tokens: Sequence[int], start: int, seq: int) -> None:
        batch, offset = self.runner.batch, 0
        while offset < len(tokens):
            space = batch.capacity - batch.size
            if not space:
                self.runner.decode()
                space = batch.capacity
            piece = tokens[offset : offset + space]
            batch.add(piece, start + offset, seq, output_last=False)
            offset += len(piece)
