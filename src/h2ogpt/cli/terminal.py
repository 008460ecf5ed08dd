"""The terminal chat (``python generate.py --cli=True``): streams answers, keeps history.

Commands inside the chat: ``/reset`` forgets the conversation, ``/exit`` quits.
Ctrl-C while an answer streams stops that answer and keeps the chat going. With ``--speak``
the answers are also spoken, sentence by sentence as they stream (``speaker.py``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.answering.prompting import check_prompt_type
from h2ogpt.cli.speaker import Speaker, open_speaker
from h2ogpt.core import build_pipeline
from h2ogpt.errors import ConfigError
from h2ogpt.events import ErrorEvent, FinalAnswer, ImagesRead, SourcesFound, TokenDelta
from h2ogpt.request import AnswerRequest, ChatMessage
from h2ogpt.scaling.types import ScalingProgress, ScalingResult
from h2ogpt.settings import Settings
from h2ogpt.vision.images import ImageInput, ImageLimits
from h2ogpt.vision.sources import image_files

log = logging.getLogger(__name__)

EXIT_COMMANDS = {"/exit", "/quit"}
RESET_COMMAND = "/reset"
USER_PROMPT = "\nYou: "


def describe_progress(progress: ScalingProgress) -> str:
    """One status line of a scaled answer in progress (a note before it starts: its message)."""
    if not progress.done and progress.message:
        return f"[{progress.algorithm}] {progress.message}"
    unit = "step" if progress.step is not None else "candidate"
    parts = [f"[{progress.algorithm}] {unit} {progress.done}/{progress.total}"]
    if progress.votes:
        parts.append("votes " + ", ".join(f"{a[:20]}: {v}" for a, v in list(progress.votes.items())[:4]))
    if progress.weights:
        parts.append("weights " + " ".join(f"{w:.2f}" for w in progress.weights[:8]))
    if progress.message:
        parts.append(progress.message)
    return "; ".join(parts)


def describe_images(read: ImagesRead) -> str:
    """One status line: who looked at the question's images."""
    images = "the image" if read.count == 1 else f"the {read.count} images"
    if read.how == "seen":
        return f"[{images} sent to {read.by}]"
    if read.how == "described":
        return f"[{images} described by the vision model {read.by}]"
    whose = "its" if read.count == 1 else "their"
    return f"[{images} not seen: no vision model is configured; {whose} text was read by {read.by}]"


def describe_result(result: ScalingResult) -> str:
    """The closing line of a scaled answer: what was chosen among how many."""
    chosen = result.the_one
    why = f"{result.votes.get(chosen.answer, 0)} votes" if result.votes else f"score {chosen.score:.3f}"
    early = ", stopped early" if result.stopped_early else ""
    return (
        f"[{result.algorithm}, budget {result.budget}: chose candidate {result.selected_index + 1} of "
        f"{len(result.candidates)} ({why}{early})]"
    )


class TerminalChat:
    """One conversation in the terminal, rendered from pipeline events."""

    def __init__(
        self,
        pipeline: Pipeline,
        out: TextIO = sys.stdout,
        err: TextIO = sys.stderr,
        speaker: Speaker | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.out = out
        self.err = err
        self.speaker = speaker
        self.history: list[ChatMessage] = []

    def reset(self) -> None:
        self.history.clear()

    def ask(self, question: str, images: Sequence[ImageInput] = ()) -> ErrorEvent | None:
        """Stream one answer to ``out``; the exchange joins the history unless it failed.
        ``images`` (from ``--image``) go with the question."""
        asked = ChatMessage(role="user", content=question, images=list(images))
        request = AnswerRequest(messages=[*self.history, asked])
        events = self.pipeline.answer(request)
        text = ""
        try:
            for event in events:
                if isinstance(event, TokenDelta):
                    text += event.text
                    self.out.write(event.text)
                    self.out.flush()
                    if self.speaker is not None:
                        self.speaker.feed(event.text)
                elif isinstance(event, ScalingProgress):
                    self.err.write(describe_progress(event) + "\n")
                elif isinstance(event, ImagesRead):
                    self.err.write(describe_images(event) + "\n")
                elif isinstance(event, SourcesFound) and not event.sources:
                    self.err.write(f"[nothing relevant found in {event.collection}]\n")
                elif isinstance(event, FinalAnswer):
                    text = event.text
                    if event.scaling is not None:
                        self.err.write("\n" + describe_result(event.scaling))
                    for source in event.sources:
                        self.err.write(f"\n  [{source.number}] {source.label}")
                    if event.trim:
                        self.err.write(
                            f"\n[history trimmed: the {event.trim.dropped_messages} oldest messages "
                            "were left out to fit the model's context]"
                        )
                elif isinstance(event, ErrorEvent):
                    self.err.write(f"error: {event.message}\n")
                    if self.speaker is not None:
                        self.speaker.stop()
                    return event
        except KeyboardInterrupt:
            events.close()
            self.err.write("\n[stopped]")
            if self.speaker is not None:
                self.speaker.stop()
        self.out.write("\n")
        self.out.flush()
        if self.speaker is not None:
            self.speaker.finish(text)
        self.history += [
            asked,
            ChatMessage(role="assistant", content=text),
        ]
        return None

    def loop(self, stdin: TextIO, images: Sequence[ImageInput] = ()) -> int:
        """Chat until /exit or end of input; ``images`` go with the first question."""
        info = self.pipeline.backend.info
        self.err.write(
            f"Chatting with {info.name} ({info.device}). {RESET_COMMAND} clears the history, "
            f"{'/exit'} quits.\n"
        )
        while True:
            self.out.write(USER_PROMPT)
            self.out.flush()
            line = stdin.readline()
            if not line:
                self.out.write("\n")
                return 0
            question = line.strip()
            if not question:
                continue
            if question in EXIT_COMMANDS:
                return 0
            if question == RESET_COMMAND:
                self.reset()
                self.err.write("[history cleared]\n")
                continue
            self.out.write("Bot: ")
            self.ask(question, images)
            images = ()


def one_shot_prompt(settings: Settings, stdin: TextIO) -> str:
    """The question for ``--cli_loop=False``: ``--prompt``, else whatever stdin holds."""
    prompt = settings.prompt.strip()
    if not prompt and not stdin.isatty():
        prompt = stdin.read().strip()
    if not prompt:
        raise ConfigError('--cli_loop=False needs a question: pass --prompt="..." or pipe it on stdin')
    return prompt


def run_cli(settings: Settings, stdin: TextIO = sys.stdin, pipeline: Pipeline | None = None) -> int:
    """Terminal chat, or one answer with ``--cli_loop=False``. Returns the exit code.

    ``pipeline``: one already loaded (shared with another face); else the model loads here.
    """
    check_prompt_type(settings.prompt_type)  # before the slow model load
    question = None if settings.cli_loop else one_shot_prompt(settings, stdin)
    images = image_files(settings.image, ImageLimits.from_settings(settings))  # before the model load
    speaker = open_speaker(settings, sys.stderr) if settings.speak else None
    chat = TerminalChat(pipeline or build_pipeline(settings), speaker=speaker)
    try:
        if question is None:
            return chat.loop(stdin, images)
        error = chat.ask(question, images)
    finally:
        if speaker is not None:
            speaker.close()
    if error is None:
        return 0
    return 2 if error.kind == "bad_request" else 1
