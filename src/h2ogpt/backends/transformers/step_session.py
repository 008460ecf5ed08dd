"""Step-by-step generation that keeps every row's KV cache between steps.

Beam search and particle methods extend many partial answers one step at a time and then
keep, drop or copy them. Re-encoding the prompt and the steps so far on each step would
make step ``k`` cost ``O(prompt + k steps)``; here the prompt is prefilled once, each step
feeds only its new tokens, and resampling reorders or copies cache rows.

Rows that finish their step early wait, masked out, while the others finish theirs, so
a step is one batch.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import torch

from h2ogpt.backends.base import SamplingParams, StepOutput
from h2ogpt.backends.sequences import Row, step_output
from h2ogpt.backends.transformers.decoding import Decoder, LogitsShaper


class KVStepSession:
    """``rows`` copies of one prompt, prefilled once; see the module docstring."""

    def __init__(self, decoder: Decoder, prompt_ids: Sequence[int], rows: int) -> None:
        self.decoder = decoder
        self.prompt_ids = list(prompt_ids)
        self.prompt_tokens = len(self.prompt_ids)
        self.prompt_encodes = 0
        with torch.inference_mode():
            self._cache, self._mask, self._logits = decoder._prefill([self.prompt_ids])
        self.prompt_encodes = 1
        self._positions = self._mask.sum(-1)
        self._history: list[list[int]] = [[]]
        self.select([0] * rows)

    @property
    def rows(self) -> int:
        return len(self._history)

    @torch.inference_mode()
    def select(self, rows: Sequence[int]) -> None:
        index = torch.tensor(list(rows), dtype=torch.long, device=self.decoder.device)
        self._cache.batch_select_indices(index)
        self._mask, self._logits, self._positions = (
            self._mask[index],
            self._logits[index],
            self._positions[index],
        )
        self._history = [list(self._history[r]) for r in rows]

    @torch.inference_mode()
    def add(self, prefixes: Sequence[Sequence[StepOutput]]) -> None:
        """New rows after these steps; equal prefixes are encoded once and copied."""
        if not prefixes:
            return
        generated = [[t for step in prefix for t in step.token_ids] for prefix in prefixes]
        distinct = list(dict.fromkeys(tuple(g) for g in generated))
        cache, mask, logits = self.decoder._prefill([self.prompt_ids + list(g) for g in distinct])
        self.prompt_encodes += len(distinct)
        expand = torch.tensor([distinct.index(tuple(g)) for g in generated], device=self.decoder.device)
        cache.batch_select_indices(expand)
        mask, logits = mask[expand], logits[expand]
        self._cache, self._mask, self._logits, _ = self.decoder._join(
            (self._cache, self._mask, self._logits, []), (cache, mask, logits, [])
        )
        self._positions = torch.cat([self._positions, mask.sum(-1)])
        self._history += generated

    @torch.inference_mode()
    def extend(self, rows: Sequence[int], params: SamplingParams) -> list[StepOutput]:
        decoder = self.decoder
        rng, shaper = decoder._rng(params.seed), LogitsShaper(params)
        outputs: dict[int, StepOutput] = {}
        stepping: list[tuple[int, Row]] = []
        for r in rows:
            left = params.max_new_tokens - len(self._history[r])
            if left <= 0:
                outputs[r] = StepOutput("", (), True, 0, 0.0)
                continue
            row_params = dataclasses.replace(params, max_new_tokens=left)
            stepping.append(
                (r, Row(index=r, prompt_ids=self.prompt_ids + self._history[r], params=row_params))
            )
        started = time.monotonic()
        while stepping:
            if params.max_time is not None and time.monotonic() - started > params.max_time:
                for r, row in stepping:  # out of time: the answer ends where it is
                    outputs[r] = dataclasses.replace(step_output(row, False), ended=True)
                break
            index = torch.tensor([r for r, _ in stepping], device=decoder.device)
            logits = self._logits[index]
            step_rows = [row for _, row in stepping]
            chosen = shaper.choose(shaper.penalize(logits.clone(), step_rows), rng)
            decoder._record_logprobs(step_rows, logits, chosen)
            fed: dict[int, int] = {}
            waiting: list[tuple[int, Row]] = []
            for (r, row), token in zip(stepping, chosen.tolist(), strict=True):
                end_of_sequence = token in decoder.eos_token_ids
                decoder.text.advance(row, token)
                if not end_of_sequence:
                    fed[r] = token
                    self._history[r].append(token)
                if row.finish_reason:
                    outputs[r] = step_output(row, end_of_sequence)
                else:
                    waiting.append((r, row))
            if fed:
                self._feed(fed)
            stepping = waiting
        return [outputs[r] for r in rows]

    def _feed(self, tokens: dict[int, int]) -> None:
        """Run one token for each row in ``tokens``; the other rows wait (masked out)."""
        ids = torch.full((self.rows, 1), self.decoder.pad_id, dtype=torch.long, device=self.decoder.device)
        fed_mask = torch.zeros((self.rows, 1), dtype=self._mask.dtype, device=self.decoder.device)
        index = torch.tensor(list(tokens), dtype=torch.long, device=self.decoder.device)
        ids[index, 0] = torch.tensor(list(tokens.values()), dtype=torch.long, device=self.decoder.device)
        fed_mask[index, 0] = 1
        self._mask = torch.cat([self._mask, fed_mask], dim=-1)
        out = self.decoder._forward(
            input_ids=ids,
            attention_mask=self._mask,
            position_ids=self._positions[:, None],
            past_key_values=self._cache,
        )
        self._logits[index] = out.logits[index, -1, :].float()
        self._positions[index] += 1

    def close(self) -> None:
        self._cache = None
