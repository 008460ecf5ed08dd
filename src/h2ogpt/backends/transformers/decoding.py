"""Batched token-by-token decoding over one KV cache, as a generator.

Prompts are left-padded and prefilled together once; each prompt's cache rows are then
repeated ``n`` times, so ``n`` samples of one prompt share a single prefill. Finished
rows leave the batch, stop strings are held back until they can be ruled out, and
closing the generator cancels the work.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator, Sequence

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from h2ogpt.backends.base import (
    Completion,
    ContinuationScore,
    SamplingParams,
    TextDelta,
    TokenLogprob,
)
from h2ogpt.backends.sequences import DecodeJob, Detokenizer, Row

JSON_CANDIDATES = (64, 4096)  # tokens checked per step in JSON mode, then a wider net


def _left_pad(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """``tensor`` with zeros added before its start along ``dim`` up to ``width``."""
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _can_join(cache: DynamicCache) -> bool:
    """Rows can be spliced into a running cache only when every layer keeps its full history."""
    return all(type(layer) is DynamicLayer for layer in cache.layers)


class LogitsShaper:
    """Penalties, temperature, top-k and top-p applied to a batch of next-token logits."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params

    def penalize(self, logits: torch.Tensor, rows: Sequence[Row]) -> torch.Tensor:
        p = self.params
        if p.repetition_penalty != 1.0:
            for i, row in enumerate(rows):
                ids = torch.tensor(sorted(set(row.prompt_ids) | set(row.tokens)), device=logits.device)
                scores = logits[i, ids]
                logits[i, ids] = torch.where(
                    scores > 0, scores / p.repetition_penalty, scores * p.repetition_penalty
                )
        if p.presence_penalty or p.frequency_penalty:
            for i, row in enumerate(rows):
                if row.tokens:
                    ids, counts = torch.tensor(row.tokens, device=logits.device).unique(return_counts=True)
                    logits[i, ids] -= p.presence_penalty + p.frequency_penalty * counts.to(logits.dtype)
        return logits

    def choose(self, logits: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        p = self.params
        if p.greedy:
            return logits.argmax(dim=-1)
        logits = logits / p.temperature
        # extreme penalties or temperatures must not turn probabilities into inf/nan
        logits = torch.nan_to_num(logits, nan=float("-inf"), posinf=torch.finfo(logits.dtype).max)
        if p.top_k and p.top_k < logits.shape[-1]:
            kth = torch.topk(logits, p.top_k, dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if p.top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
            probs = torch.softmax(sorted_logits, dim=-1)
            drop = probs.cumsum(dim=-1) - probs > p.top_p
            sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=rng).squeeze(-1)


class Decoder:
    """Runs batched generation and scoring for one causal LM and its tokenizer."""

    def __init__(self, model, tokenizer, eos_token_ids: set[int]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_token_ids = eos_token_ids
        self.text = Detokenizer(self._decode, self.token_text, eos_token_ids)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_token_ids)
        self.forward_calls = 0
        self.prefill_tokens = 0  # prompt tokens run through the model (counted for tests)
        self._token_texts: dict[int, str] = {}

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def token_text(self, token: int) -> str:
        text = self._token_texts.get(token)
        if text is None:
            text = self._token_texts[token] = self.tokenizer.decode([token])
        return text

    def _json_allowed(self, row: Row, logits: torch.Tensor) -> list[int]:
        """Tokens that keep a JSON-mode row a valid JSON-object prefix (most likely first).

        A token is allowed only if the object can still be closed within the tokens left
        after it, so an answer cut by ``max_new_tokens`` is still one complete object.
        """
        if row.json.complete:
            return sorted(self.eos_token_ids)
        budget = row.params.max_new_tokens - row.generated - 1
        if not row.json.closing_only:
            for width in JSON_CANDIDATES:
                ids = torch.topk(logits, min(width, logits.shape[-1])).indices.tolist()
                allowed = [
                    t
                    for t in ids
                    if t not in self.eos_token_ids and row.json.allows(self.token_text(t), budget)
                ]
                if allowed:
                    return allowed
        row.json.closing_only = True  # nothing likely fits any more: write the closing text
        first = self.tokenizer.encode(row.json.closing(), add_special_tokens=False)[:1]
        if first and row.json.allows_closing(self.token_text(first[0])):
            return first
        return sorted(self.eos_token_ids)

    def _constrain(self, logits: torch.Tensor, rows: Sequence[Row]) -> torch.Tensor:
        for i, row in enumerate(rows):
            if row.json is not None:
                allowed = torch.tensor(self._json_allowed(row, logits[i]), device=logits.device)
                keep = logits[i, allowed]
                logits[i] = float("-inf")
                logits[i, allowed] = keep
        return logits

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _forward(self, **inputs):
        self.forward_calls += 1
        return self.model(**inputs, use_cache=True)

    def _logits_at(self, positions: torch.Tensor, **inputs) -> torch.Tensor:
        """One forward returning only the logits at ``positions`` (one per row), ``[rows, vocab]``.

        The vocabulary projection is the costliest part of a forward over many tokens of a
        small model; where the model takes ``logits_to_keep`` it runs for these positions only.
        """
        if self._keeps_logits:
            out = self._forward(**inputs, logits_to_keep=positions[:, None])
            return out.logits.reshape(len(positions), -1).float()
        rows = torch.arange(len(positions), device=self.device)
        return self._forward(**inputs).logits[rows, positions].float()

    @functools.cached_property
    def _keeps_logits(self) -> bool:
        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return "logits_to_keep" in inspect.signature(model.forward).parameters

    def _prefill(self, prompts: Sequence[Sequence[int]]) -> tuple[DynamicCache, torch.Tensor, torch.Tensor]:
        """Prefill left-padded prompts; returns cache, attention mask and last logits."""
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, prompt in enumerate(prompts):
            ids[i, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[i, width - len(prompt) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        self.prefill_tokens += sum(len(p) for p in prompts)
        cache = DynamicCache()
        logits = self._logits_at(
            torch.full((len(prompts),), width - 1, dtype=torch.long, device=self.device),
            input_ids=ids,
            attention_mask=mask,
            position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
            past_key_values=cache,
        )
        return cache, mask, logits

    def _rng(self, seed: int | None) -> torch.Generator:
        seed = int.from_bytes(os.urandom(8), "little") >> 1 if seed is None else seed
        return torch.Generator(device=self.device).manual_seed(seed)

    def _record_logprobs(self, rows: Sequence[Row], raw: torch.Tensor, chosen: torch.Tensor) -> None:
        top = max(row.params.top_logprobs for row in rows)
        logprobs = torch.log_softmax(raw, dim=-1)
        picked = logprobs.gather(-1, chosen[:, None]).squeeze(-1).tolist()
        tops: list[tuple[tuple[str, float], ...]] = [()] * len(rows)
        if top:
            values, ids = torch.topk(logprobs, top, dim=-1)
            tops = [
                tuple(zip(map(self.token_text, i), v, strict=True))
                for i, v in zip(ids.tolist(), values.tolist(), strict=True)
            ]
        tokens = [self.token_text(t) for t in chosen.tolist()]
        for row, tok, lp, tp in zip(rows, tokens, picked, tops, strict=True):
            row.logprobs.append(TokenLogprob(tok, lp, tp[: row.params.top_logprobs]))

    def stream(
        self, prompts: Sequence[Sequence[int]], params: SamplingParams, n: int = 1
    ) -> Iterator[TextDelta | Completion]:
        """Generate ``n`` samples for each prompt; sample ``k`` of prompt ``i`` has index ``i*n+k``."""
        return self.stream_jobs([DecodeJob(p, n, params) for p in prompts], params)

    def _start(self, jobs: Sequence[DecodeJob], first_index: int):
        """Prefill ``jobs`` and expand each prompt's rows ``n`` times (one prefill per prompt)."""
        cache, mask, logits = self._prefill([job.prompt_ids for job in jobs])
        if any(job.n != 1 for job in jobs):
            counts = torch.tensor([job.n for job in jobs], device=self.device)
            expand = torch.repeat_interleave(torch.arange(len(jobs), device=self.device), counts)
            cache.batch_select_indices(expand)
            mask, logits = mask[expand], logits[expand]
        rows = [
            Row(index=0, prompt_ids=list(job.prompt_ids), params=job.params)
            for job in jobs
            for _ in range(job.n)
        ]
        for offset, row in enumerate(rows):
            row.index = first_index + offset
        return cache, mask, logits, rows

    def _join(self, running: tuple, joining: tuple) -> tuple:
        """Splice freshly prefilled rows into a running batch, left-padding to one width."""
        (cache, mask, logits, rows), (new_cache, new_mask, new_logits, new_rows) = running, joining
        width = max(mask.shape[1], new_mask.shape[1])
        for layer, new_layer in zip(cache.layers, new_cache.layers, strict=True):
            layer.keys = torch.cat([_left_pad(layer.keys, width, 2), _left_pad(new_layer.keys, width, 2)])
            layer.values = torch.cat(
                [_left_pad(layer.values, width, 2), _left_pad(new_layer.values, width, 2)]
            )
        mask = torch.cat([_left_pad(mask, width, 1), _left_pad(new_mask, width, 1)])
        return cache, mask, torch.cat([logits, new_logits]), rows + new_rows

    @torch.inference_mode()
    def stream_jobs(
        self,
        jobs: Sequence[DecodeJob],
        shaping: SamplingParams,
        cancelled: Callable[[int], bool] | None = None,
        admit: Callable[[int], Sequence[DecodeJob]] | None = None,
    ) -> Iterator[TextDelta | Completion]:
        """Decode every job's samples in one batch, rows numbered job by job.

        ``shaping`` gives the token-choosing rules shared by the batch (temperature,
        top-p/k, penalties, seed). A row for which ``cancelled(index)`` turns true leaves
        the batch without any further event. Between steps, ``admit(active_rows)`` may
        hand over more jobs (same rules): they are prefilled and join the running batch,
        their rows numbered after all earlier ones.
        """
        rng = self._rng(shaping.seed)
        shaper = LogitsShaper(shaping)
        cache, mask, logits, rows = self._start(jobs, 0)
        numbered = len(rows)
        positions = mask.sum(-1)
        while True:
            joining = admit(len(rows)) if admit is not None and _can_join(cache) else ()
            if joining:
                new = self._start(joining, numbered)
                numbered += len(new[3])
                positions = torch.cat([positions, new[1].sum(-1)])
                cache, mask, logits, rows = self._join((cache, mask, logits, rows), new)
            chosen = shaper.choose(self._constrain(shaper.penalize(logits.clone(), rows), rows), rng)
            self._record_logprobs(rows, logits, chosen)
            keep = yield from self.text.step(rows, chosen.tolist(), cancelled)
            if not keep:
                return
            if len(keep) < len(rows):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                rows = [rows[i] for i in keep]
                mask, positions, chosen = mask[index], positions[index], chosen[index]
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=-1)
            out = self._forward(
                input_ids=chosen[:, None],
                attention_mask=mask,
                position_ids=positions[:, None],
                past_key_values=cache,
            )
            positions = positions + 1
            logits = out.logits[:, -1, :].float()

    def _prefix_then_suffixes(
        self,
        prefix: Sequence[int],
        suffixes: Sequence[Sequence[int]],
        min_width: int = 1,
        last_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Prefill ``prefix`` once, then run every suffix after it (right-padded, one batch).

        Returns the logits after the prefix, and the suffixes' logits: ``[k, width, vocab]``,
        or with ``last_only`` ``[k, vocab]`` after each suffix's last token (the prefix's
        for an empty suffix). None when no suffix is ``min_width`` tokens long.
        """
        cache, mask, last_logits = self._prefill([prefix])
        k, width = len(suffixes), max((len(s) for s in suffixes), default=0)
        if width < min_width:
            return last_logits[0], None
        cache.batch_repeat_interleave(k)
        ids = torch.full((k, width), self.pad_id, dtype=torch.long)
        suffix_mask = torch.zeros((k, width), dtype=torch.long)
        for i, suffix in enumerate(suffixes):
            ids[i, : len(suffix)] = torch.tensor(suffix, dtype=torch.long)
            suffix_mask[i, : len(suffix)] = 1
        ids, suffix_mask = ids.to(self.device), suffix_mask.to(self.device)
        self.prefill_tokens += int(suffix_mask.sum())
        inputs = {
            "input_ids": ids,
            "attention_mask": torch.cat([mask.repeat_interleave(k, 0), suffix_mask], dim=-1),
            "position_ids": torch.arange(len(prefix), len(prefix) + width, device=self.device).expand(k, -1),
            "past_key_values": cache,
        }
        if not last_only:
            return last_logits[0], self._forward(**inputs).logits.float()
        last = (suffix_mask.sum(-1) - 1).clamp(min=0)
        after = self._logits_at(last, **inputs)
        empty = torch.tensor([not s for s in suffixes], device=self.device)
        return last_logits[0], torch.where(empty[:, None], last_logits, after)

    @torch.inference_mode()
    def next_token_logprobs(
        self, prefix: Sequence[int], suffixes: Sequence[Sequence[int]], top: int
    ) -> list[list[tuple[str, float]]]:
        """The ``top`` most likely next tokens after ``prefix + suffix``, for each suffix, with
        the shared prefix prefilled once (judging many answers to one question)."""
        after_prefix, after_suffixes = self._prefix_then_suffixes(prefix, suffixes, last_only=True)
        logits = after_suffixes if after_suffixes is not None else after_prefix.expand(len(suffixes), -1)
        values, ids = torch.topk(torch.log_softmax(logits, dim=-1), top, dim=-1)
        return [
            [(self.token_text(t), v) for t, v in zip(row_ids, row_values, strict=True)]
            for row_ids, row_values in zip(ids.tolist(), values.tolist(), strict=True)
        ]

    @torch.inference_mode()
    def score(self, prompt: Sequence[int], continuations: Sequence[Sequence[int]]) -> list[ContinuationScore]:
        """Per-token log-probabilities of each continuation after ``prompt`` (one prefill)."""
        after_prompt, after_tokens = self._prefix_then_suffixes(prompt, continuations, min_width=2)
        first = torch.log_softmax(after_prompt, dim=-1)
        scores: list[list[float]] = [[first[c[0]].item()] if c else [] for c in continuations]
        if after_tokens is not None:
            logprobs = torch.log_softmax(after_tokens, dim=-1)
            for i, cont in enumerate(continuations):
                for j in range(1, len(cont)):
                    scores[i].append(logprobs[i, j - 1, cont[j]].item())
        return [
            ContinuationScore(tuple(self.token_text(t) for t in c), tuple(s))
            for c, s in zip(continuations, scores, strict=True)
        ]
