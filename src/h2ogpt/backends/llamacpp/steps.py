"""Step sessions on llama.cpp: each row keeps its own sequence (its KV) between steps.

The prompt is decoded once, on a *pristine* sequence kept for the whole session, and
copied to every row (shared cells). A step decodes only the rows' new tokens, all rows in
one llama_decode per token. ``select`` keeps, drops and copies rows by reassigning and
copying sequence ids (a permutation moves no cache at all); ``add`` grows a new row from
the pristine prompt sequence plus only the given steps' tokens, so prompt tokens are
decoded once per session (``prompt_encodes`` stays 1).

Same semantics as the transformers engine's ``KVStepSession``: rows that finish their
step early wait while the others finish theirs; a row's answer ends at end of sequence,
``max_new_tokens`` over all its steps, or ``max_time``; JSON mode is not applied per step.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from h2ogpt.backends.base import SamplingParams, StepOutput
from h2ogpt.backends.llamacpp.kv import KvSpace
from h2ogpt.backends.llamacpp.runner import Runner
from h2ogpt.backends.llamacpp.sampling import Chooser
from h2ogpt.backends.sequences import Detokenizer, Row, step_output


@dataclasses.dataclass
class _Holdings:
    """What a session holds in the shared KV space (released by close or the GC)."""

    seqs: set[int] = dataclasses.field(default_factory=set)
    cells: int = 0


def _retire(kv: KvSpace, holdings: _Holdings) -> None:
    if holdings.seqs or holdings.cells:
        kv.retire(holdings.seqs, holdings.cells)
        holdings.seqs, holdings.cells = set(), 0


class LlamaStepSession:
    """``rows`` copies of one prompt, decoded once; see the module docstring."""

    def __init__(
        self,
        runner: Runner,
        text: Detokenizer,
        chooser: Callable[[SamplingParams], Chooser],
        prompt_ids: Sequence[int],
        rows: int,
    ) -> None:
        self.runner, self.kv, self.text, self._chooser = runner, runner.kv, text, chooser
        self.prompt_ids = list(prompt_ids)
        self.prompt_tokens = len(self.prompt_ids)
        self.prompt_encodes = 0
        self._held = _Holdings()
        self._finalizer = weakref.finalize(self, _retire, self.kv, self._held)
        self.kv.reap()
        self._reserve(self.prompt_tokens, "a step session's prompt")
        self._pristine = self._take(1)[0]
        self._prompt_logits = runner.prefill(self._pristine, self.prompt_ids)
        self.prompt_encodes = 1
        self._seqs: list[int] = []
        self._history: list[list[int]] = []
        self._logits: list[np.ndarray] = []  # each row's logits for its next token
        for seq in self._take(rows):
            self.kv.copy(self._pristine, seq)
            self._seqs.append(seq)
            self._history.append([])
            self._logits.append(self._prompt_logits)

    @property
    def rows(self) -> int:
        return len(self._seqs)

    # --- holdings ------------------------------------------------------------------------
    def _take(self, count: int) -> list[int]:
        seqs = self.kv.take(count)
        self._held.seqs.update(seqs)
        return seqs

    def _give_back(self, seqs: Sequence[int]) -> None:
        self.kv.give_back(seqs)
        self._held.seqs.difference_update(seqs)

    def _reserve(self, cells: int, what: str) -> None:
        self.kv.reserve(cells, what)
        self._held.cells += cells

    # --- rows ----------------------------------------------------------------------------
    def select(self, rows: Sequence[int]) -> None:
        """Keep these rows in this order; a row named twice is copied (shared cells)."""
        self.kv.reap()
        rows = list(rows)
        named = set(rows)
        self._give_back([seq for i, seq in enumerate(self._seqs) if i not in named])
        claimed: set[int] = set()
        seqs: list[int] = []
        for r in rows:
            if r in claimed:
                (seq,) = self._take(1)
                self.kv.copy(self._seqs[r], seq)
            else:
                claimed.add(r)
                seq = self._seqs[r]
            seqs.append(seq)
        self._seqs = seqs
        self._history = [list(self._history[r]) for r in rows]
        self._logits = [self._logits[r] for r in rows]
        # the kept rows occupy at most the prompt and their own histories: release the rest
        bound = self.prompt_tokens + sum(len(h) for h in self._history)
        if self._held.cells > bound:
            self.kv.release(self._held.cells - bound)
            self._held.cells = bound

    def add(self, prefixes: Sequence[Sequence[StepOutput]]) -> None:
        """New rows after these steps: the pristine prompt plus each distinct prefix's tokens
        (decoded together in one batch); equal prefixes are decoded once and copied."""
        if not prefixes:
            return
        self.kv.reap()
        generated = [[t for step in prefix for t in step.token_ids] for prefix in prefixes]
        distinct = list(dict.fromkeys(tuple(g) for g in generated))
        self._reserve(sum(len(d) for d in distinct), "new step-session rows")
        seqs = self._take(len(distinct))
        for seq in seqs:
            self.kv.copy(self._pristine, seq)
        logits = self._decode_prefixes(seqs, distinct)
        first_use: set[int] = set()
        for g in generated:
            d = distinct.index(tuple(g))
            if d in first_use:
                (seq,) = self._take(1)
                self.kv.copy(seqs[d], seq)
            else:
                first_use.add(d)
                seq = seqs[d]
            self._seqs.append(seq)
            self._history.append(list(g))
            self._logits.append(logits[d])

    def _decode_prefixes(self, seqs: Sequence[int], prefixes: Sequence[tuple[int, ...]]) -> list[np.ndarray]:
        runner, batch = self.runner, self.runner.batch
        logits: list[np.ndarray | None] = [None if p else self._prompt_logits for p in prefixes]
        waiting: list[int] = []  # prefixes whose last token is in the current batch
        for number, (seq, prefix) in enumerate(zip(seqs, prefixes, strict=True)):
            offset = 0
            while offset < len(prefix):
                space = batch.capacity - batch.size
                if not space:
                    self._flush(waiting, logits)
                    space = batch.capacity
                piece = prefix[offset : offset + space]
                last = offset + len(piece) == len(prefix)
                batch.add(piece, self.prompt_tokens + offset, seq, output_last=last)
                if last:
                    waiting.append(number)
                offset += len(piece)
            runner.prefill_tokens += len(prefix)
        self._flush(waiting, logits)
        return logits

    def _flush(self, waiting: list[int], logits: list) -> None:
        self.runner.decode()
        if waiting:
            out = self.runner.outputs(len(waiting))
            for i, number in enumerate(waiting):
                logits[number] = np.array(out[i])
        waiting.clear()

    # --- steps ---------------------------------------------------------------------------
    def extend(self, rows: Sequence[int], params: SamplingParams) -> list[StepOutput]:
        self.kv.reap()
        chooser = self._chooser(params)
        eos = self.text.eos_token_ids
        outputs: dict[int, StepOutput] = {}
        stepping: list[tuple[int, Row]] = []
        for r in rows:
            left = params.max_new_tokens - len(self._history[r])
            if left <= 0:
                outputs[r] = StepOutput("", (), True, 0, 0.0)
                continue
            row_params = dataclasses.replace(params, max_new_tokens=left, json_object=False)
            stepping.append(
                (r, Row(index=r, prompt_ids=self.prompt_ids + self._history[r], params=row_params))
            )
        started = time.monotonic()
        current: np.ndarray | None = None  # the stepping rows' logits from the last decode
        while stepping:
            if params.max_time is not None and time.monotonic() - started > params.max_time:
                for i, (r, row) in enumerate(stepping):  # out of time: the answer ends where it is
                    if current is not None:
                        self._logits[r] = np.array(current[i])
                    outputs[r] = dataclasses.replace(step_output(row, False), ended=True)
                break
            logits = current if current is not None else np.stack([self._logits[r] for r, _ in stepping])
            chosen = chooser.choose(logits, [row for _, row in stepping])
            fed: list[tuple[int, int]] = []  # (row, token)
            going_on: list[tuple[int, Row]] = []
            for i, ((r, row), token) in enumerate(zip(stepping, chosen, strict=True)):
                end_of_sequence = token in eos
                self.text.advance(row, token)
                if end_of_sequence:
                    self._logits[r] = np.array(logits[i])
                else:
                    fed.append((r, token))
                    self._history[r].append(token)
                if row.finish_reason:
                    outputs[r] = step_output(row, end_of_sequence)
                else:
                    going_on.append((r, row))
            current = self._feed(fed, {r for r, _ in going_on}) if fed else None
            if current is not None and len(going_on) != len(fed):
                position = {r: i for i, (r, _) in enumerate(fed)}
                current = current[[position[r] for r, _ in going_on]]
            stepping = going_on
        return [outputs[r] for r in rows]

    def _feed(self, fed: list[tuple[int, int]], going_on: set[int]) -> np.ndarray:
        """Decode one token for each fed row (one batch); rows whose step ended keep a copy
        of their logits, the others' are returned as a view for the next choice."""
        self._reserve(len(fed), "a step")
        tokens = [token for _, token in fed]
        positions = [self.prompt_tokens + len(self._history[r]) - 1 for r, _ in fed]
        self.runner.batch.add_outputs(tokens, positions, [self._seqs[r] for r, _ in fed])
        self.runner.decode()
        out = self.runner.outputs(len(fed))
        for i, (r, _) in enumerate(fed):
            if r not in going_on:
                self._logits[r] = np.array(out[i])
        return out

    def close(self) -> None:
        if self._seqs or self._held.seqs:
            self.kv.give_back(sorted(self._held.seqs))
            self.kv.release(self._held.cells)
            self._held.seqs, self._held.cells = set(), 0
            self._seqs, self._history, self._logits = [], [], []
        self._finalizer.detach()
