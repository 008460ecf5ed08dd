"""Run the blocking ``pipeline.answer`` iterator from async code, and cancel it on disconnect.

Each ``next()`` runs in a worker thread (bounded by a CapacityLimiter sized to
``--max_queue``, so generation never waits for threads that other work holds). Closing
the source closes the core's iterator, which cancels generation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TypeVar

import anyio
from starlette.requests import Request

from h2ogpt.events import ErrorEvent, Event, FinalAnswer
from openai_server.errors import from_event

T = TypeVar("T")


def _next_or_none(events: Iterator[Event]) -> Event | None:
    return next(events, None)


class EventSource:
    """The core's event iterator, advanced in a worker thread one event at a time."""

    def __init__(self, events: Iterator[Event], limiter: anyio.CapacityLimiter) -> None:
        self._events = events
        self._limiter = limiter
        self._closed = False

    async def next(self) -> Event | None:
        """The next event; None when the answer is complete or the source was closed.

        A cancelled caller waits for the running step to end (one token), so the core's
        iterator is never closed while a thread is inside it.
        """
        if self._closed:
            return None
        event = await anyio.to_thread.run_sync(_next_or_none, self._events, limiter=self._limiter)
        if event is None:
            self._closed = True
        return event

    async def aclose(self) -> None:
        """Cancel generation: close the core's iterator, even while being cancelled.

        In a thread (a remote backend may close a connection), but not under the
        generation limiter, so that a cancellation never waits for other requests.
        """
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._events.close)

    async def result(self) -> FinalAnswer | ErrorEvent:
        """Consume the stream; the final answer or the error."""
        try:
            while (event := await self.next()) is not None:
                if isinstance(event, FinalAnswer | ErrorEvent):
                    return event
            return ErrorEvent("the answer ended without a result", "internal")
        finally:
            await self.aclose()


class ClientDisconnected(Exception):
    """The client went away before the answer was ready."""


async def _wait_for_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def until_disconnect(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work``; if the client disconnects first, cancel it and raise ClientDisconnected.

    Only call this after the request body has been read.
    """
    outcome: list[T] = []
    failure: list[Exception] = []
    async with anyio.create_task_group() as group:

        async def run() -> None:
            try:
                outcome.append(await work())
            except Exception as exc:  # re-raised below as itself, not in an ExceptionGroup
                failure.append(exc)
            group.cancel_scope.cancel()

        async def watch() -> None:
            await _wait_for_disconnect(request)
            group.cancel_scope.cancel()

        group.start_soon(run)
        group.start_soon(watch)
    if failure:
        raise failure[0]
    if not outcome:
        raise ClientDisconnected
    return outcome[0]


async def first_event(request: Request, source: EventSource) -> Event:
    """The first event of a stream, before any byte is sent: an error still gets its status."""
    try:
        event = await until_disconnect(request, source.next)
    except BaseException:
        await source.aclose()
        raise
    if event is None or isinstance(event, ErrorEvent):
        await source.aclose()
        raise from_event(event or ErrorEvent("the answer ended without a result", "internal"))
    return event


async def final_answers(request: Request, sources: Sequence[EventSource]) -> list[FinalAnswer]:
    """The final answers of several sources, generated concurrently; the first error raises."""

    async def run_all() -> list[FinalAnswer | ErrorEvent]:
        results: list[FinalAnswer | ErrorEvent] = [ErrorEvent("not run", "internal")] * len(sources)

        async def one(i: int) -> None:
            results[i] = await sources[i].result()

        async with anyio.create_task_group() as group:
            for i in range(len(sources)):
                group.start_soon(one, i)
        return results

    try:
        results = await until_disconnect(request, run_all)
    finally:
        for source in sources:
            await source.aclose()
    for result in results:
        if isinstance(result, ErrorEvent):
            raise from_event(result)
    return results  # type: ignore[return-value]
