"""What every local engine does with the tokens it chose, whatever computes the logits.

A :class:`Row` is one sample being generated. :class:`Detokenizer` turns each row's chosen
tokens into text: it detokenizes incrementally (never splitting a multi-byte character),
holds back text that could still grow into a stop string, cuts at a stop string, and
applies ``max_new_tokens`` and ``max_time``. No torch here, so engines that do not need
it (llama.cpp) share this with the transformers engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from h2ogpt.backends.base import Completion, FinishReason, SamplingParams, StepOutput, TextDelta, TokenLogprob
from h2ogpt.backends.json_mode import JsonConstraint


@dataclass(frozen=True)
class DecodeJob:
    """One prompt, how many samples of it, and their own limits.

    Of ``params``, the stop strings, ``max_new_tokens``, ``max_time`` and
    ``top_logprobs`` apply to this job's rows alone; the token-choosing rules come from
    the batch the job runs in.
    """

    prompt_ids: Sequence[int]
    n: int
    params: SamplingParams


@dataclass
class Row:
    """One sample being generated."""

    index: int
    prompt_ids: list[int]
    params: SamplingParams
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    emitted: int = 0
    prefix_offset: int = 0
    read_offset: int = 0
    logprobs: list[TokenLogprob] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    generated: int = 0
    finish_reason: FinishReason | None = None
    json: JsonConstraint | None = None

    def __post_init__(self) -> None:
        if self.params.json_object:
            self.json = JsonConstraint()


def partial_stop_len(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could still grow into a stop string."""
    best = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:size]):
                best = size
                break
    return best


def find_stop(text: str, start: int, stops: Sequence[str]) -> int:
    """Position of the first stop string found at or after ``start``; -1 if none."""
    hits = [p for p in (text.find(s, start) for s in stops) if p >= 0]
    return min(hits) if hits else -1


class Detokenizer:
    """Tokens -> text for rows: detokenizing, stop strings, limits, completions.

    ``decode`` turns token ids into text (special tokens skipped); ``token_text`` gives one
    token's text (for log-probabilities and JSON mode).
    """

    def __init__(
        self,
        decode: Callable[[Sequence[int]], str],
        token_text: Callable[[int], str],
        eos_token_ids: set[int],
    ) -> None:
        self.decode = decode
        self.token_text = token_text
        self.eos_token_ids = eos_token_ids

    def _append(self, row: Row, token: int) -> None:
        """Add a token's text once it is whole (no half of a multi-byte character)."""
        row.tokens.append(token)
        prefix = self.decode(row.tokens[row.prefix_offset : row.read_offset])
        full = self.decode(row.tokens[row.prefix_offset :])
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            row.text += full[len(prefix) :]
            row.prefix_offset, row.read_offset = row.read_offset, len(row.tokens)

    def advance(self, row: Row, token: int) -> str:
        """Add a token to a row; returns the text now safe to emit and sets finish_reason.

        The token's log-probability, when recorded, must already be on ``row.logprobs``.
        """
        params = row.params
        row.generated += 1
        if token in self.eos_token_ids:
            row.finish_reason = "stop"
            if len(row.logprobs) == row.generated:
                row.logprobs.pop()  # the end-of-sequence token is not part of the text
        else:
            self._append(row, token)
            if row.json is not None:
                row.json.advance(self.token_text(token))
            stop_at = find_stop(row.text, row.emitted, params.stop) if params.stop else -1
            if stop_at >= 0:
                row.text = row.text[:stop_at]
                row.finish_reason = "stop"
            elif row.generated >= params.max_new_tokens:
                row.finish_reason = "length"
        end = len(row.text) if row.finish_reason else len(row.text) - partial_stop_len(row.text, params.stop)
        delta = row.text[row.emitted : max(end, row.emitted)]
        row.emitted = max(end, row.emitted)
        return delta

    @staticmethod
    def completion(row: Row) -> Completion:
        return Completion(
            index=row.index,
            text=row.text,
            finish_reason=row.finish_reason or "length",
            prompt_tokens=len(row.prompt_ids),
            completion_tokens=row.generated,
            logprobs=row.logprobs,
        )

    def step(
        self, rows: Sequence[Row], chosen: Sequence[int], cancelled: Callable[[int], bool] | None
    ) -> Iterator[TextDelta | Completion]:
        """Give each row its chosen token and yield what it produced; returns the positions
        of the rows that go on (``keep = yield from ...``)."""
        now = time.monotonic()
        keep: list[int] = []
        for i, (row, token) in enumerate(zip(rows, chosen, strict=True)):
            if cancelled is not None and cancelled(row.index):
                continue
            delta = self.advance(row, token)
            limit = row.params.max_time
            if not row.finish_reason and limit is not None and now - row.started > limit:
                row.finish_reason = "time"
                delta += row.text[row.emitted :]
                row.emitted = len(row.text)
            if delta:
                yield TextDelta(row.index, delta)
            if row.finish_reason:
                yield self.completion(row)
            else:
                keep.append(i)
        return keep


def step_output(row: Row, end_of_sequence: bool) -> StepOutput:
    """What a step session reports for a row whose step ended (see ``StepSession.extend``)."""
    logprobs = [t.logprob for t in row.logprobs]
    return StepOutput(
        text=row.text,
        token_ids=tuple(row.tokens),
        ended=end_of_sequence or row.finish_reason == "length",
        completion_tokens=row.generated,
        mean_logprob=sum(logprobs) / len(logprobs) if logprobs else 0.0,
    )
