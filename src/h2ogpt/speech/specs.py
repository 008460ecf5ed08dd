"""What a speech engine plug-in registers, and the two engine contracts.

A plug-in registers a :class:`SpeechEngineSpec` through ``register_speech_to_text`` or
``register_text_to_speech``. ``locate(model)`` turns the flag's value (``--asr_model`` /
``--tts_model``; empty means the embedded default) into the key of a model this engine can
load, None when the value is not for this engine, or raises SpeechUnavailable saying what is
missing. ``load(key)`` builds the engine (called once per key and process); ``model_id(key)`` names
the model (the API's /v1/models lists it) without loading it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from h2ogpt.errors import H2OGPTError, RequestError
from h2ogpt.speech.audio import Audio
from h2ogpt.speech.types import Segment


class SpeechUnavailable(H2OGPTError, RuntimeError):
    """Speech-to-text or text-to-speech is switched off, or its model or package is missing."""


class SpeechRequestError(RequestError, ValueError):
    """A speech request that cannot be done as given (unknown voice, unsupported language)."""


@dataclass(frozen=True)
class SpeechEngineSpec:
    name: str
    locate: Callable[[str], str | None]
    load: Callable[[str], Any]
    model_id: Callable[[str], str]
    description: str = ""


class SpeechToText(Protocol):
    """A loaded speech-to-text model."""

    model_id: str
    languages: list[str]  # ISO-639-1 codes it transcribes; ["en"] for an English-only model

    def segments(
        self,
        audio: Audio,
        *,
        language: str | None,
        prompt: str | None,
        temperature: float,
        word_timestamps: bool,
    ) -> tuple[str, Iterator[Segment]]:
        """The language (given or detected) and the segments, produced as they are decoded."""
        ...


class TextToSpeech(Protocol):
    """A loaded text-to-speech model with one or more voices."""

    model_id: str
    voices: list[str]  # the first is the default
    sample_rate: int

    def synthesize(self, text: str, *, voice: str, speed: float) -> np.ndarray:
        """One piece of text (a sentence or more) as int16 samples at ``sample_rate``."""
        ...
