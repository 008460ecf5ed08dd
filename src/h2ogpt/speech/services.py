"""SpeechServices: speech-to-text and text-to-speech for every face, from one place.

``speech_services(settings)`` gives the process-wide holder for those settings. Models load
lazily on first use, once per process (shared by every face and every Settings naming the
same model), and each model has its own lock, so a transcription never waits for speech
synthesis and vice versa.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from h2ogpt import plugins
from h2ogpt.speech.audio import Audio, decode_audio
from h2ogpt.speech.sentences import split_sentences
from h2ogpt.speech.specs import (
    SpeechEngineSpec,
    SpeechRequestError,
    SpeechToText,
    SpeechUnavailable,
    TextToSpeech,
)
from h2ogpt.speech.types import Segment, Transcript, join_segments

if TYPE_CHECKING:
    from h2ogpt.settings import Settings

__all__ = ["SpeechRequestError", "SpeechServices", "SpeechUnavailable", "speech_services"]

log = logging.getLogger(__name__)

WHISPER_RATE = 16000  # what Whisper models listen at
MIN_SPEED, MAX_SPEED = 0.25, 4.0
SENTENCE_PAUSE = 0.25  # seconds of silence between spoken sentences (at speed 1)
# control characters and lone surrogates: nothing to say, and the phonemizer refuses them
_UNSPEAKABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass
class _Loaded:
    """One engine's model (or the reason it cannot load), with its lock."""

    spec: SpeechEngineSpec
    key: str
    lock: threading.Lock
    model: Any = None


_models: dict[tuple[str, str, str], _Loaded] = {}
_services: dict[tuple[Any, ...], SpeechServices] = {}
_registry_lock = threading.Lock()


def _locate(registry: plugins.Registry, model: str) -> tuple[SpeechEngineSpec, str]:
    """The engine that serves ``model`` (plug-ins registered later are asked first)."""
    for entry in reversed(registry.entries()):
        key = entry.value.locate(model)
        if key is not None:
            return entry.value, key
    flag = "--asr_model" if registry is plugins.speech_to_text else "--tts_model"
    raise SpeechUnavailable(
        f"{flag}={model}: no {registry.kind} engine can use it (engines: {', '.join(registry.names())})"
    )


def _loaded(kind: str, spec: SpeechEngineSpec, key: str) -> _Loaded:
    with _registry_lock:
        entry = _models.get((kind, spec.name, key))
        if entry is None:
            entry = _models[(kind, spec.name, key)] = _Loaded(spec, key, threading.Lock())
        return entry


class _Side:
    """One direction (speech-to-text or text-to-speech): its flag, its model, loaded lazily."""

    def __init__(self, kind: str, registry: plugins.Registry, enabled: bool, model: str, flag: str) -> None:
        self.kind, self.registry, self.enabled, self.model, self.flag = kind, registry, enabled, model, flag
        self._entry: _Loaded | None = None
        self._error: SpeechUnavailable | None = None

    def entry(self) -> _Loaded:
        if not self.enabled:
            raise SpeechUnavailable(
                f"{self.kind} is switched off (--{self.flag}=False); start with --{self.flag}=True to use it"
            )
        if self._entry is None:
            if self._error is None:
                try:
                    self._entry = _loaded(self.kind, *_locate(self.registry, self.model))
                except SpeechUnavailable as exc:
                    self._error = exc
            if self._error is not None:
                raise self._error
        assert self._entry is not None
        return self._entry

    @property
    def available(self) -> bool:
        try:
            self.entry()
        except SpeechUnavailable:
            return False
        return True

    def model_id(self) -> str | None:
        if not self.available:
            return None
        entry = self.entry()
        return entry.spec.model_id(entry.key)

    def model_object(self) -> Any:
        """The loaded model (loads it the first time; blocking)."""
        entry = self.entry()
        if entry.model is None:
            with entry.lock:
                if entry.model is None:
                    try:
                        entry.model = entry.spec.load(entry.key)
                    except SpeechUnavailable:
                        raise
                    except Exception as exc:
                        log.exception("%s model %s failed to load", self.kind, entry.key)
                        raise SpeechUnavailable(
                            f"{self.kind}: the model {entry.key} failed to load ({exc}); check --"
                            f"{'asr_model' if self.flag == 'enable_stt' else 'tts_model'}"
                        ) from None
        return entry.model


class SpeechServices:
    """Transcription and speech synthesis as ``settings`` configure them."""

    def __init__(self, settings: Settings) -> None:
        self.default_speed = float(settings.tts_speed)
        self._stt = _Side(
            "speech-to-text", plugins.speech_to_text, settings.enable_stt, settings.asr_model, "enable_stt"
        )
        self._tts = _Side(
            "text-to-speech", plugins.text_to_speech, settings.enable_tts, settings.tts_model, "enable_tts"
        )

    # --- what is on ---------------------------------------------------------------------------
    @property
    def stt_enabled(self) -> bool:
        """--enable_stt is on and its model and engine are installed (nothing is loaded)."""
        return self._stt.available

    @property
    def tts_enabled(self) -> bool:
        """--enable_tts is on and its voice and engine are installed (nothing is loaded)."""
        return self._tts.available

    def stt_unavailable_reason(self) -> str | None:
        try:
            self._stt.entry()
        except SpeechUnavailable as exc:
            return str(exc)
        return None

    def tts_unavailable_reason(self) -> str | None:
        try:
            self._tts.entry()
        except SpeechUnavailable as exc:
            return str(exc)
        return None

    @property
    def stt_model_id(self) -> str | None:
        """The speech-to-text model's id (nothing is loaded); None when it is unavailable."""
        return self._stt.model_id()

    @property
    def tts_model_id(self) -> str | None:
        """The text-to-speech model's id (nothing is loaded); None when it is unavailable."""
        return self._tts.model_id()

    # --- speech to text -------------------------------------------------------------------------
    def _stt_model(self) -> SpeechToText:
        return self._stt.model_object()

    def transcribe(
        self,
        audio: Audio | bytes | Path,
        *,
        name: str = "audio",
        language: str | None = None,
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool = False,
    ) -> Transcript:
        """The whole transcript of ``audio`` (an Audio, a file's bytes or a path).

        Raises AudioError for unusable audio, SpeechRequestError for an unsupported language,
        SpeechUnavailable when speech-to-text is off or not installed."""
        clip = self._as_audio(audio, name)
        language_used, segments = self._segments(clip, language, prompt, temperature, word_timestamps)
        found = list(segments)
        return Transcript(join_segments(found), language_used, clip.duration, found)

    def transcribe_segments(
        self,
        audio: Audio | bytes | Path,
        *,
        name: str = "audio",
        language: str | None = None,
        prompt: str | None = None,
        temperature: float = 0.0,
        word_timestamps: bool = False,
    ) -> Iterator[Segment]:
        """The segments of ``audio`` one by one, each as soon as it is decoded (for streaming).

        The audio is checked and the model loaded before this returns, so errors come at once.
        Close the iterator when stopping early: the model stays locked while it runs."""
        clip = self._as_audio(audio, name)
        _, segments = self._segments(clip, language, prompt, temperature, word_timestamps)
        return segments

    def _as_audio(self, audio: Audio | bytes | Path, name: str) -> Audio:
        self._stt.entry()  # a switched-off side says so before the audio is decoded
        if isinstance(audio, Audio):
            if audio.sample_rate != WHISPER_RATE:
                from h2ogpt.speech.audio import resample

                rate = audio.sample_rate
                samples = resample(audio.samples, rate, WHISPER_RATE).astype(np.float32) / 32768.0
                return Audio(samples, WHISPER_RATE)
            return audio
        return decode_audio(audio, name=name, sample_rate=WHISPER_RATE)

    def _segments(
        self, clip: Audio, language: str | None, prompt: str | None, temperature: float, words: bool
    ) -> tuple[str, Iterator[Segment]]:
        model = self._stt_model()
        if language is not None and language not in model.languages:
            only = "English" if model.languages == ["en"] else ", ".join(model.languages)
            raise SpeechRequestError(
                f"language={language}: the speech model {model.model_id} transcribes {only} only; "
                "leave language out or use --asr_model with a multilingual Whisper model"
            )
        lock = self._stt.entry().lock
        language_used = language or (model.languages[0] if len(model.languages) == 1 else "")

        def run() -> Iterator[Segment]:
            nonlocal language_used
            with lock:  # released when the segments end or the iterator is closed
                detected, segments = model.segments(
                    clip, language=language, prompt=prompt, temperature=temperature, word_timestamps=words
                )
                language_used = detected
                yield from segments

        if language_used:
            return language_used, run()
        found = list(run())  # a multilingual model detects the language first
        return language_used, iter(found)

    # --- text to speech -------------------------------------------------------------------------
    def _tts_model(self) -> TextToSpeech:
        return self._tts.model_object()

    def voices(self) -> list[str]:
        """The installed voices, the default first (loads the voice model)."""
        return list(self._tts_model().voices)

    @property
    def tts_sample_rate(self) -> int:
        """The sample rate of synthesized speech (loads the voice model)."""
        return int(self._tts_model().sample_rate)

    def synthesize(self, text: str, *, voice: str | None = None, speed: float | None = None) -> np.ndarray:
        """``text`` spoken, as int16 samples at ``tts_sample_rate`` (speed None: --tts_speed)."""
        pieces = list(self.synthesize_stream(text, voice=voice, speed=speed))
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)

    def synthesize_stream(
        self, text: str, *, voice: str | None = None, speed: float | None = None
    ) -> Iterator[np.ndarray]:
        """``text`` spoken sentence by sentence: one int16 chunk per sentence, each yielded as soon
        as it is synthesized (a short pause ends every chunk but the last).

        The voice and speed are checked before this returns (SpeechRequestError)."""
        model = self._tts_model()
        chosen = self._voice(model, voice)
        rate = self._speed(speed)
        sentences = split_sentences(_UNSPEAKABLE.sub(" ", text))
        return self._spoken(model, sentences, chosen, rate)

    def _spoken(
        self, model: TextToSpeech, sentences: list[str], voice: str, speed: float
    ) -> Iterator[np.ndarray]:
        pause = np.zeros(int(model.sample_rate * SENTENCE_PAUSE / speed), dtype=np.int16)
        lock = self._tts.entry().lock
        for index, sentence in enumerate(sentences):
            with lock:
                samples = model.synthesize(sentence, voice=voice, speed=speed)
            if index < len(sentences) - 1:
                samples = np.concatenate([samples, pause])
            yield samples

    @staticmethod
    def _voice(model: TextToSpeech, voice: str | None) -> str:
        if voice in (None, ""):
            return model.voices[0]
        if voice not in model.voices:
            raise SpeechRequestError(f"voice={voice}: no such voice; choose one of {', '.join(model.voices)}")
        return voice

    def _speed(self, speed: float | None) -> float:
        value = self.default_speed if speed is None else float(speed)
        if not MIN_SPEED <= value <= MAX_SPEED:
            raise SpeechRequestError(f"speed={value}: choose a speed between {MIN_SPEED} and {MAX_SPEED}")
        return value


def speech_services(settings: Settings) -> SpeechServices:
    """The process-wide SpeechServices for these settings' speech options."""
    key = (
        settings.enable_stt,
        settings.enable_tts,
        settings.asr_model,
        settings.tts_model,
        settings.tts_speed,
    )
    with _registry_lock:
        services = _services.get(key)
        if services is None:
            services = _services[key] = SpeechServices(settings)
        return services
