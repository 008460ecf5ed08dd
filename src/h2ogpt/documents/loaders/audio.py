"""Audio and video files as transcripts: one document per timed segment (``start``/``end`` in
seconds), which chunking groups into time-spanned chunks (see ``chunking.group_timed_segments``).

Speech-to-text is the process-wide engine of ``h2ogpt.speech``; which settings it runs with
(``--enable_transcriptions``, ``--enable_stt``, ``--asr_model``) is set for the duration of an
ingest by :func:`transcription_settings` (plain ``load_file`` calls use the defaults).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.documents import Document

from h2ogpt.documents.loaders.common import make_doc
from h2ogpt.documents.loaders.registry import RegisterHook, Source
from h2ogpt.documents.types import DocumentLoadError

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".mp3", ".m4a", ".ogg", ".opus", ".flac", ".webm", ".mp4")
NO_SPEECH = 0.8  # a segment Whisper thinks is this likely silence or noise is left out ("You" on silence)
_SETTINGS: ContextVar[Any] = ContextVar("h2ogpt_transcription_settings", default=None)


@contextmanager
def transcription_settings(settings: Any) -> Iterator[None]:
    """Transcribe the audio files loaded inside this block with ``settings``."""
    token = _SETTINGS.set(settings)
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def _settings() -> Any:
    settings = _SETTINGS.get()
    if settings is None:
        from h2ogpt.settings import Settings

        settings = Settings()
    return settings


def load_audio(source: Source) -> list[Document]:
    """The transcript of an audio file (or a video's audio track), one document per segment."""
    from h2ogpt.speech import AudioError, SpeechUnavailable, speech_services

    settings = _settings()
    if not getattr(settings, "enable_transcriptions", True):
        raise DocumentLoadError(
            source.name,
            "audio and video files are not transcribed (--enable_transcriptions=False): "
            "start with --enable_transcriptions=True to add them",
        )
    try:
        transcript = speech_services(settings).transcribe(source.read_bytes(), name=source.filename)
    except AudioError as exc:
        raise DocumentLoadError(source.name, f"cannot be decoded as audio: {exc}") from exc
    except SpeechUnavailable as exc:
        raise DocumentLoadError(source.name, f"cannot be transcribed: {exc}") from exc
    log.info("%s: %.1f s of audio, %d segments", source.name, transcript.duration, len(transcript.segments))
    docs = [
        make_doc(
            segment.text.strip(),
            source,
            start=round(float(segment.start), 2),
            end=round(float(segment.end), 2),
            duration=round(float(transcript.duration), 2),
        )
        for segment in transcript.segments
        if segment.text.strip() and segment.no_speech_prob < NO_SPEECH
    ]
    if not docs:
        raise DocumentLoadError(source.name, "no speech was recognized in the audio")
    return docs


def register(add: RegisterHook) -> None:
    """Register the audio (and video soundtrack) loader."""
    add(AUDIO_EXTENSIONS, load_audio)
