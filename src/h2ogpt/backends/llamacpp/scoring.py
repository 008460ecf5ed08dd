"""Scoring after one shared prefix: continuation log-probabilities, next-token candidates.

The prefix is decoded once on its own sequence and copied to one sequence per suffix;
all suffixes then go through llama_decode together (in calls of at most the batch size
and ``MAX_OUTPUTS_PER_CALL`` logits rows), asking logits only where they are needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from h2ogpt.backends.base import ContinuationScore
from h2ogpt.backends.llamacpp.runner import MAX_OUTPUTS_PER_CALL, Runner
from h2ogpt.backends.llamacpp.sampling import top_ids

NORMALIZE_ROWS = 32  # rows of the scratch buffer used at a time


def log_normalizers(runner: Runner, logits: np.ndarray) -> np.ndarray:
    """log(sum(exp(row))) of each row (float64), through the scratch buffer."""
    result = np.empty(len(logits), dtype=np.float64)
    for begin in range(0, len(logits), NORMALIZE_ROWS):
        part = logits[begin : begin + NORMALIZE_ROWS]
        best = part.max(axis=1)
        work = runner.scratch(len(part))[:, : runner.n_vocab]
        np.subtract(part, best[:, None], out=work)
        np.exp(work, out=work)
        result[begin : begin + len(part)] = best + np.log(work.sum(axis=1).astype(np.float64))
    return result


class _Shared:
    """A prefix prefilled on its own sequence, and sequences that continue after it."""

    def __init__(self, runner: Runner, prefix: Sequence[int]) -> None:
        self.runner, self.kv = runner, runner.kv
        self.kv.reap()
        self.length = len(prefix)
        self.cells = len(prefix)
        self.kv.reserve(self.cells, "the shared prefix")
        (self.seq,) = self.kv.take(1)
        self.seqs: list[int] = []
        try:
            self.after_prefix = runner.prefill(self.seq, prefix)
        except BaseException:
            self.close()
            raise

    def branches(self, suffixes: Sequence[Sequence[int]]) -> Iterator[list[int]]:
        """Chunks of suffix numbers, each given its own copy of the prefix, for decoding."""
        pending = list(range(len(suffixes)))
        while pending:
            self._drop_branches()
            room = max(1, self.kv.free_seqs)
            chunk, tokens, cells = [], 0, 0
            for i in pending:
                size = len(suffixes[i])
                if chunk and (len(chunk) >= room or cells + size > self.kv.free_cells):
                    break
                chunk.append(i)
                tokens += size
                cells += size
            self.kv.reserve(cells, "scoring")
            self.cells += cells
            self.seqs = self.kv.take(len(chunk))
            for seq in self.seqs:
                self.kv.copy(self.seq, seq)
            yield chunk
            pending = pending[len(chunk) :]

    def _drop_branches(self) -> None:
        if self.seqs:
            self.kv.give_back(self.seqs)
            self.seqs = []

    def close(self) -> None:
        self._drop_branches()
        self.kv.give_back([self.seq])
        self.kv.release(self.cells)


def _feed(
    runner: Runner,
    items: Sequence[tuple[int, Sequence[int], int, Sequence[bool]]],
    on_outputs: Callable[[list[tuple[int, int]], np.ndarray], None],
) -> None:
    """Decode each ``(seq, tokens, start, wanted)``, asking logits where ``wanted``; calls
    ``on_outputs([(item, token offset), ...], logits)`` after each llama_decode."""
    batch = runner.batch
    where: list[tuple[int, int]] = []
    for number, (seq, tokens, start, wanted) in enumerate(items):
        for offset, token in enumerate(tokens):
            if batch.size == batch.capacity or len(where) == MAX_OUTPUTS_PER_CALL:
                runner.decode()
                if where:
                    on_outputs(where, runner.outputs(len(where)))
                where = []
            batch.add_outputs([token], [start + offset], [seq])
            if wanted[offset]:
                where.append((number, offset))
            else:
                batch.logits[batch.size - 1] = 0
    if batch.size:
        runner.decode()
        if where:
            on_outputs(where, runner.outputs(len(where)))


def score(
    runner: Runner,
    token_text: Callable[[int], str],
    prompt: Sequence[int],
    continuations: Sequence[Sequence[int]],
) -> list[ContinuationScore]:
    """Per-token log-probabilities of each continuation after ``prompt`` (one prefill)."""
    shared = _Shared(runner, prompt)
    try:
        first = shared.after_prefix[None, :]
        norm = log_normalizers(runner, first)[0]
        scores: list[list[float]] = [[float(first[0, c[0]] - norm)] if c else [] for c in continuations]
        longer = [i for i, c in enumerate(continuations) if len(c) >= 2]
        for chunk in shared.branches([continuations[i][:-1] for i in longer]):
            items = []
            for seq, i in zip(shared.seqs, chunk, strict=True):
                body = continuations[longer[i]][:-1]
                items.append((seq, body, shared.length, [True] * len(body)))
            runner.prefill_tokens += sum(len(item[1]) for item in items)

            def collect(where, logits, chunk=chunk):
                norms = log_normalizers(runner, logits)
                for (item, offset), row, row_norm in zip(where, logits, norms, strict=True):
                    cont = continuations[longer[chunk[item]]]
                    scores[longer[chunk[item]]].append(float(row[cont[offset + 1]] - row_norm))

            _feed(runner, items, collect)
    finally:
        shared.close()
    return [
        ContinuationScore(tuple(token_text(t) for t in c), tuple(s))
        for c, s in zip(continuations, scores, strict=True)
    ]


def next_token_logprobs(
    runner: Runner,
    token_text: Callable[[int], str],
    prefix: Sequence[int],
    suffixes: Sequence[Sequence[int]],
    top: int,
) -> list[list[tuple[str, float]]]:
    """The ``top`` likeliest next tokens after ``prefix + suffix`` for each suffix."""
    shared = _Shared(runner, prefix)
    try:
        after: list[np.ndarray | None] = [None] * len(suffixes)
        filled = [i for i, s in enumerate(suffixes) if s]
        for chunk in shared.branches([suffixes[i] for i in filled]):
            items = []
            for seq, i in zip(shared.seqs, chunk, strict=True):
                suffix = suffixes[filled[i]]
                items.append((seq, suffix, shared.length, [False] * (len(suffix) - 1) + [True]))
            runner.prefill_tokens += sum(len(item[1]) for item in items)

            def collect(where, logits, chunk=chunk):
                for (item, _offset), row in zip(where, logits, strict=True):
                    after[filled[chunk[item]]] = np.array(row)

            _feed(runner, items, collect)
        rows = np.stack([shared.after_prefix if a is None else a for a in after]) if suffixes else None
    finally:
        shared.close()
    if rows is None:
        return []
    norms = log_normalizers(runner, rows)
    result = []
    for row, norm in zip(rows, norms, strict=True):
        ids = top_ids(row, top)
        result.append([(token_text(t), float(row[t] - norm)) for t in ids.tolist()])
    return result
