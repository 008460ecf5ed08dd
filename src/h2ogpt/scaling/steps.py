"""Step generation for beam search and particle methods.

A path is a partial answer made of steps. A step ends at ``step_token`` (default a blank
line); a path stops when a step contains ``stop_pattern`` (default ``\\boxed``), when the
answer ends (end of sequence, ``max_new_tokens``) or after ``max_steps`` steps, as in
its_hub's StepGeneration (whose check counts the steps before the new one, so its paths
can take ``max_steps + 1`` steps; ours take at most ``max_steps``). On a local model the
paths live in a KV-cache step session; on other backends a text session re-sends
prompt + steps each time (a server's prefix cache then does the reuse).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from h2ogpt.backends.base import SamplingParams, StepOutput, StepSession
from h2ogpt.errors import RequestError
from h2ogpt.scaling.task import ScalingTask


@dataclass(eq=False)  # paths are compared by identity: copies are distinct particles
class Path:
    """A partial answer: its steps, whether it is finished, and its scores so far."""

    steps: list[StepOutput] = field(default_factory=list)
    stopped: bool = False
    scores: list[float] = field(default_factory=list)  # aggregated reward after each step
    row: int | None = None  # its row in the step session while it is still growing

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.steps]

    def copy(self) -> Path:
        return Path(list(self.steps), self.stopped, list(self.scores), self.row)


def answer_text(path: Path, step_token: str) -> str:
    """The full answer of a path, steps joined by the step token (its_hub's _post_process)."""
    return step_token.join(path.texts)


class TextStepSession:
    """A step session for backends without one: each step re-sends prompt + steps so far."""

    def __init__(self, task: ScalingTask, rows: int) -> None:
        self.task = task
        self.prompt_tokens = task.backend.count_tokens(task.prompt or "")
        self.prompt_encodes = 0
        self._prefixes: list[list[StepOutput]] = [[] for _ in range(rows)]

    @property
    def rows(self) -> int:
        return len(self._prefixes)

    def extend(self, rows: Sequence[int], params: SamplingParams) -> list[StepOutput]:
        step_token = self.task.options.step_token
        texts = [self.task.prompt + "".join(s.text + step_token for s in self._prefixes[r]) for r in rows]
        self.prompt_encodes += len(rows)
        outputs = []
        for r, completion in zip(rows, self.task.backend.continue_texts(texts, params), strict=True):
            used = sum(s.completion_tokens for s in self._prefixes[r]) + completion.completion_tokens
            # a server does not say whether "stop" was the step token or the end of sequence;
            # after the end of sequence the next step comes back empty, which ends the path
            ended = (
                completion.finish_reason != "stop"
                or used >= params.max_new_tokens
                or not completion.text.strip()
            )
            logprob = completion.mean_logprob if completion.logprobs else 0.0
            step = StepOutput(completion.text, (), ended, completion.completion_tokens, logprob)
            self._prefixes[r] = [*self._prefixes[r], step]
            outputs.append(step)
        return outputs

    def select(self, rows: Sequence[int]) -> None:
        self._prefixes = [list(self._prefixes[r]) for r in rows]

    def add(self, prefixes: Sequence[Sequence[StepOutput]]) -> None:
        self._prefixes += [list(p) for p in prefixes]

    def close(self) -> None:
        self._prefixes = []


class StepGenerator:
    """Extends paths by one step each, in one batched call per step."""

    def __init__(self, task: ScalingTask, rows: int) -> None:
        if task.prompt is None:
            raise RequestError(
                "step search (beam-search, particle-filtering, particle-gibbs) needs a local model or a "
                "/completions server; this chat-only server cannot continue a partial answer"
            )
        if rows > task.max_batch:
            raise RequestError(
                f"budget={task.options.budget}: {task.options.scaling_algorithm} would grow {rows} paths in one "
                f"batch; at most --max_batch_rows={task.max_batch}: lower the budget (or raise beam_width, "
                "num_iterations)"
            )
        options = task.options
        self.task = task
        self.step_token = options.step_token
        stops = tuple(dict.fromkeys((options.step_token, *task.params.stop)))
        self.params = dataclasses.replace(task.params, stop=stops)
        self.session: StepSession = (
            task.backend.open_steps(task.prompt, self.params, rows)
            if task.backend.capabilities.step_sessions
            else TextStepSession(task, rows)
        )
        task.usage.add_generation(self.session.prompt_tokens, 0)

    def extend(self, paths: Sequence[Path]) -> None:
        """Add the next step to every growing path (those with a session row)."""
        growing = [p for p in paths if not p.stopped]
        if not growing:
            return
        outputs = self.session.extend([p.row for p in growing], self.task.timed(self.params))
        for path, step in zip(growing, outputs, strict=True):
            path.steps.append(step)
            self.task.usage.completion_tokens += step.completion_tokens
            path.stopped = (
                step.ended
                or len(path.steps) >= self.task.options.max_steps
                or (bool(self.task.options.stop_pattern) and self.task.options.stop_pattern in step.text)
            )

    def grow(self, paths: Sequence[Path], score: Callable[[list[Path]], list[float]]) -> None:
        """Extend every growing path by one step, then append ``score``'s value for it."""
        growing = [p for p in paths if not p.stopped]
        self.extend(growing)
        for path, value in zip(growing, score(growing), strict=True):
            path.scores.append(value)

    def stop_if_out_of_time(self, paths: Sequence[Path]) -> bool:
        """When the run's time is up, end every growing path where it is; True if so."""
        if not self.task.out_of_time():
            return False
        for path in paths:
            path.stopped = True
        return True

    def regroup(self, paths: Sequence[Path]) -> None:
        """Make the session's rows the growing paths' rows, in order (copies for duplicates)."""
        growing = [p for p in paths if not p.stopped]
        self.session.select([p.row for p in growing])
        for row, path in enumerate(growing):
            path.row = row

    def restart(self, paths: Sequence[Path]) -> None:
        """Give session rows to paths that continue from earlier steps (after the rows kept)."""
        first = self.session.rows
        self.session.add([p.steps for p in paths])
        for offset, path in enumerate(paths):
            path.row = first + offset

    def close(self) -> None:
        self.session.close()
