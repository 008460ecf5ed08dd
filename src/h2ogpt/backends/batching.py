"""Serve many threads with one local engine: concurrent calls are decoded together.

Any :class:`~h2ogpt.backends.local_engine.LocalEngine` works (the transformers and the
llama.cpp engines are).

One worker thread owns the model. Calls queue up as jobs; each time the worker is free
it takes the oldest job and every waiting job whose token-choosing rules match
(temperature, top-p/k, penalties) and decodes them all in one batch, up to
``max_batch_rows`` sequences. While that batch runs, matching jobs that arrive join it
between two decoding steps (continuous batching), as long as the oldest waiting job
matches, so a job with other rules is never starved. Stop strings, lengths and time
limits stay per job. A sampled job with a seed runs alone, so the seed reproduces its
samples exactly.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from h2ogpt.backends.base import (
    Completion,
    ContinuationScore,
    OptionalPrimitives,
    SamplingParams,
    StepOutput,
    StepSession,
    TextDelta,
)
from h2ogpt.backends.local_engine import LocalEngine, completions
from h2ogpt.backends.sequences import DecodeJob

log = logging.getLogger(__name__)

_DONE = object()
_unique = itertools.count()


def shaping_key(params: SamplingParams) -> tuple:
    """Jobs with equal keys can share a batch: they choose tokens by the same rules."""
    if params.greedy:
        return ("greedy", params.repetition_penalty, params.presence_penalty, params.frequency_penalty)
    seed_part = ("seeded", next(_unique)) if params.seed is not None else ("random",)
    return (
        params.temperature,
        params.top_p,
        params.top_k,
        params.repetition_penalty,
        params.presence_penalty,
        params.frequency_penalty,
        *seed_part,
    )


@dataclass(eq=False)
class _Job:
    """Work queued by one caller: prompts to decode, or a function to run on the model."""

    decode: list[DecodeJob]
    params: SamplingParams
    call: Callable[[], Any] | None = None
    key: tuple = ()
    events: queue.Queue = field(default_factory=queue.Queue)
    cancelled: bool = False

    @property
    def rows(self) -> int:
        return sum(d.n for d in self.decode)


class BatchingBackend(OptionalPrimitives):
    """A local engine shared by threads; see the module docstring."""

    def __init__(self, engine: LocalEngine | None, max_batch_rows: int = 32) -> None:
        self.max_batch_rows = max_batch_rows
        self.batches_run = 0
        self._pending: deque[_Job] = deque()
        self._wakeup = threading.Condition()
        self._worker: threading.Thread | None = None
        self._closed = False
        if engine is not None:
            self._attach(engine)

    def _attach(self, engine: LocalEngine) -> None:
        self.engine = engine
        self.info = engine.info
        self.capabilities = engine.capabilities
        # At exit, stop the worker before the engine's own finalizers (registered when it was
        # made; atexit runs last-registered first) free the model it may still be using; and
        # torch aborts the process if a thread that ran it is still alive at exit.
        atexit.register(self.close)

    @classmethod
    def load_on_worker(cls, load: Callable[[], LocalEngine], max_batch_rows: int = 32) -> BatchingBackend:
        """Load the engine on the worker thread that will run it.

        llama.cpp's CPU threads (OpenMP) belong to the thread that first computes with them.
        A model loaded on one thread (AMX repacks its weights in parallel there) and run on
        another keeps two thread teams on the cores, and libgomp then sleeps at every barrier:
        128 tokens took 3x as long, with ~100,000 context switches instead of a few.
        """
        backend = cls(None, max_batch_rows)
        try:
            backend._attach(backend.on_worker(load))
        except BaseException:
            backend.close()
            raise
        return backend

    # --- what needs no model time --------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)

    def apply_chat_template(self, messages: Sequence[dict[str, str]]) -> str | None:
        return self.engine.apply_chat_template(messages)

    # --- batched primitives --------------------------------------------------------------
    def stream(self, prompt: str, params: SamplingParams, n: int = 1) -> Iterator[TextDelta | Completion]:
        ids = self.engine.prompt_ids(prompt, params, n)  # a bad request fails here, in the caller
        return self._run_job(_Job([DecodeJob(ids, n, params)], params, key=shaping_key(params)))

    def sample(self, prompt: str, params: SamplingParams, n: int = 1) -> list[Completion]:
        return completions(self.stream(prompt, params, n))

    def continue_texts(self, texts: Sequence[str], params: SamplingParams) -> list[Completion]:
        if not texts:
            return []
        decode = [DecodeJob(self.engine.prompt_ids(t, params), 1, params) for t in texts]
        return completions(self._run_job(_Job(decode, params, key=shaping_key(params))))

    def score_continuations(self, prompt: str, continuations: Sequence[str]) -> list[ContinuationScore]:
        return self.on_worker(lambda: self.engine.score_continuations(prompt, continuations))

    def next_token_logprobs(
        self, prefix: str, suffixes: Sequence[str], top: int
    ) -> list[list[tuple[str, float]]]:
        return self.on_worker(lambda: self.engine.next_token_logprobs(prefix, suffixes, top))

    def open_steps(self, prompt: str, params: SamplingParams, rows: int) -> WorkerStepSession:
        """A step session whose every call runs on the model's worker thread."""
        ids = self.engine.prompt_ids(prompt, params, rows)  # a bad request fails here, in the caller
        return WorkerStepSession(self, self.on_worker(lambda: self.engine.new_step_session(ids, rows)))

    def on_worker(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` on the model's worker thread between batches; return its result."""
        (result,) = list(self._run_job(_Job([], SamplingParams(), call=call)))
        return result

    # --- the queue -----------------------------------------------------------------------
    def _run_job(self, job: _Job) -> Iterator[Any]:
        """Queue ``job`` when first iterated; yield its events; closing cancels it."""
        self._submit(job)
        try:
            while True:
                item = job.events.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            job.cancelled = True
            with self._wakeup:
                if job in self._pending:
                    self._pending.remove(job)

    def _submit(self, job: _Job) -> None:
        with self._wakeup:
            if self._closed:
                raise RuntimeError("the model worker has been shut down")
            if self._worker is None:
                self._worker = threading.Thread(target=self._serve, name="h2ogpt-model", daemon=True)
                self._worker.start()
            self._pending.append(job)
            self._wakeup.notify()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker after the batch it is running; waiting jobs are cancelled."""
        with self._wakeup:
            self._closed = True
            for job in self._pending:
                job.events.put(RuntimeError("the model worker has been shut down"))
            self._pending.clear()
            self._wakeup.notify_all()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout)

    def _next_batch(self) -> list[_Job]:
        """The oldest job and every waiting job that can join it (called with the lock held)."""
        first = self._pending.popleft()
        if first.call is not None:
            return [first]
        batch, rows = [first], first.rows
        for job in list(self._pending):
            if job.call is None and job.key == first.key and rows + job.rows <= self.max_batch_rows:
                batch.append(job)
                rows += job.rows
                self._pending.remove(job)
        return batch

    def _serve(self) -> None:
        while True:
            with self._wakeup:
                while not self._pending and not self._closed:
                    self._wakeup.wait()
                if self._closed:
                    return
                batch = self._next_batch()
            try:
                if batch[0].call is not None:
                    batch[0].events.put(batch[0].call())
                    batch[0].events.put(_DONE)
                else:
                    self._decode(batch)
            except Exception as exc:  # deliver the failure to every caller in the batch
                for job in batch:
                    job.events.put(exc)

    def _admit(self, key: tuple, active_rows: int, owners: list, remaining: dict) -> list[DecodeJob]:
        """Waiting jobs that join the running batch now: from the front of the queue, while
        they match its rules and fit in ``max_batch_rows``."""
        joining: list[DecodeJob] = []
        with self._wakeup:
            while self._pending and not self._closed:
                job = self._pending[0]
                if job.call is not None or job.key != key or active_rows + job.rows > self.max_batch_rows:
                    break
                self._pending.popleft()
                active_rows += job.rows
                owners += [(job, local) for local in range(job.rows)]
                remaining[id(job)] = job.rows
                joining += job.decode
        return joining

    def _decode(self, batch: list[_Job]) -> None:
        """Decode a batch of jobs in one call, routing each row's events to its job."""
        owners: list[tuple[_Job, int]] = []  # global row -> (job, the job's own row index)
        for job in batch:
            owners += [(job, local) for local in range(job.rows)]
        remaining = {id(job): job.rows for job in batch}
        self.batches_run += 1
        if len(batch) > 1:
            log.debug("Decoding %d requests (%d rows) in one batch", len(batch), len(owners))
        events = self.engine.stream_jobs(
            [d for job in batch for d in job.decode],
            batch[0].params,
            cancelled=lambda i: self._closed or owners[i][0].cancelled,
            admit=lambda active: self._admit(batch[0].key, active, owners, remaining),
        )
        for event in events:
            job, local = owners[event.index]
            if isinstance(event, TextDelta):
                job.events.put(TextDelta(local, event.text))
                continue
            event.index = local
            job.events.put(event)
            remaining[id(job)] -= 1
            if not remaining[id(job)]:
                job.events.put(_DONE)
        for job, _ in owners:  # cancelled jobs left the batch without completions
            if remaining[id(job)] and (job.cancelled or self._closed):
                remaining[id(job)] = 0
                job.events.put(_DONE)


class WorkerStepSession:
    """An engine's step session used from any thread: each call is queued for the model worker."""

    def __init__(self, backend: BatchingBackend, session: StepSession) -> None:
        self._backend, self._session = backend, session

    @property
    def prompt_tokens(self) -> int:
        return self._session.prompt_tokens

    @property
    def prompt_encodes(self) -> int:
        return self._session.prompt_encodes

    @property
    def rows(self) -> int:
        return self._session.rows

    def extend(self, rows: Sequence[int], params: SamplingParams) -> list[StepOutput]:
        return self._backend.on_worker(lambda: self._session.extend(rows, params))

    def select(self, rows: Sequence[int]) -> None:
        self._backend.on_worker(lambda: self._session.select(rows))

    def add(self, prefixes: Sequence[Sequence[StepOutput]]) -> None:
        self._backend.on_worker(lambda: self._session.add(prefixes))

    def close(self) -> None:
        self._backend.on_worker(self._session.close)
