"""Typed events the pipeline yields; every face only renders these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from h2ogpt.backends.base import FinishReason, TokenLogprob
from h2ogpt.documents.citations import CitedSource
from h2ogpt.scaling.types import ScalingProgress, ScalingResult


@dataclass(frozen=True)
class TokenDelta:
    """New answer text for choice ``index``."""

    text: str
    index: int = 0


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class HistoryTrim:
    """Oldest messages left out so the conversation fits the model's context."""

    dropped_messages: int
    dropped_tokens: int


@dataclass(frozen=True)
class Choice:
    index: int
    text: str
    finish_reason: FinishReason
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass(frozen=True)
class SourcesFound:
    """The document chunks the answer will be grounded in, numbered as cited: [1], [2]..."""

    collection: str
    sources: list[CitedSource]


@dataclass(frozen=True)
class ImagesRead:
    """How the question's images reached the answer, before any answer text.

    ``how``: ``seen`` (the chat model itself looked at them), ``described`` (the vision model
    ``by`` described them and the chat model answered from that), or ``ocr`` (no model could
    see them: only the text OCR read in them was used, and ``note`` says so in the answer).
    ``texts`` holds, per message with images, the description or the OCR text given to the model.
    """

    how: Literal["seen", "described", "ocr"]
    by: str
    count: int
    texts: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class FinalAnswer:
    choices: list[Choice]
    usage: Usage
    model: str
    trim: HistoryTrim | None = None
    sources: list[CitedSource] = field(default_factory=list)  # those the first choice cites
    scaling: ScalingResult | None = None  # the candidates, votes and scores of a scaled answer
    images: ImagesRead | None = None  # how the question's images were read (None: no images)

    @property
    def text(self) -> str:
        return self.choices[0].text


@dataclass(frozen=True)
class ErrorEvent:
    """The answer could not be produced; ``kind`` tells whose fault it was: the request's,
    a remote inference server's, or ours."""

    message: str
    kind: Literal["bad_request", "upstream", "internal"] = "bad_request"


Event = TokenDelta | SourcesFound | ScalingProgress | ImagesRead | FinalAnswer | ErrorEvent
