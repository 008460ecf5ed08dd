"""Run one question through every model on the page and fold the events into the
conversations as they stream (several models answer at once, each in its own thread)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from gradio_utils.image_attach import vision_record
from gradio_utils.render import Message, model_history, scaling_record, source_record
from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.events import ErrorEvent, Event, FinalAnswer, ImagesRead, SourcesFound, TokenDelta
from h2ogpt.request import AnswerRequest
from h2ogpt.scaling.types import ScalingProgress

_DONE = object()


@dataclass
class Answering:
    """The state of one model's answer while it streams."""

    message: Message
    progress: ScalingProgress | None = None
    finished: bool = False


def _apply(answering: Answering, event: Event) -> None:
    message = answering.message
    if isinstance(event, TokenDelta) and event.index == 0:
        message["content"] += event.text
    elif isinstance(event, SourcesFound):
        message["sources"] = [source_record(s) for s in event.sources]
    elif isinstance(event, ImagesRead):
        message["vision"] = vision_record(event)
    elif isinstance(event, ScalingProgress):
        answering.progress = event
    elif isinstance(event, FinalAnswer):
        message["content"] = event.text
        if event.sources or "sources" in message:
            message["sources"] = [source_record(s) for s in event.sources]
        if event.scaling is not None:
            message["scaling"] = scaling_record(event.scaling)
        if event.images is not None:
            message["vision"] = vision_record(event.images)
        answering.progress = None
        answering.finished = True
    elif isinstance(event, ErrorEvent):
        message.update(content=event.message, error=True)
        message.pop("sources", None)
        answering.progress = None
        answering.finished = True


def _pump(events: Iterator[Event], index: int, out: queue.Queue, stops: Sequence[threading.Event]) -> None:
    try:
        for event in events:
            out.put((index, event))
            if any(stop.is_set() for stop in stops):
                break
    finally:
        events.close()  # cancels the generation when the user stopped it
        out.put((index, _DONE))


def stream_answers(
    pipelines: Sequence[Pipeline],
    conversations: list[list[Message]],
    make_request: Callable[[list], AnswerRequest],
    user: str | None,
    stop: threading.Event,
) -> Iterator[list[Answering]]:
    """Ask each pipeline the last question of its conversation; yields the answers so far
    after every event. A set ``stop`` ends every answer where it is, marked as stopped."""
    requests = [make_request(model_history(c)) for c in conversations]  # bad input raises here
    answers = []
    for pipeline, conversation in zip(pipelines, conversations, strict=True):
        message = {"role": "assistant", "content": "", "model": pipeline.name}
        conversation.append(message)
        answers.append(Answering(message))
    events: queue.Queue = queue.Queue()
    abandoned = threading.Event()  # set when this generator is closed (the page went away)
    threads = [
        threading.Thread(
            target=_pump,
            args=(pipeline.answer(request, user=user), i, events, (stop, abandoned)),
            daemon=True,
        )
        for i, (pipeline, request) in enumerate(zip(pipelines, requests, strict=True))
    ]
    for thread in threads:
        thread.start()
    try:
        yield from _collect(events, answers, len(threads))
    finally:
        abandoned.set()


def _collect(events: queue.Queue, answers: list[Answering], running: int) -> Iterator[list[Answering]]:
    while running:
        index, event = events.get()
        if event is _DONE:
            running -= 1
            if not answers[index].finished:
                answers[index].message["stopped"] = True
                answers[index].progress = None
            continue
        _apply(answers[index], event)
        if isinstance(event, ScalingProgress) or events.empty():  # tokens: once per burst
            yield answers
    yield answers
