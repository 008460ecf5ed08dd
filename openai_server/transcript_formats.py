"""A Transcript in OpenAI's response formats: json, text, srt, vtt and verbose_json."""

from __future__ import annotations

import math
from typing import Any

from h2ogpt.speech.types import Segment, Transcript

TRANSCRIPT_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")

# verbose_json names the language (as OpenAI's whisper-1 does); other codes are given as they are
LANGUAGE_NAMES = {
    "en": "english", "de": "german", "es": "spanish", "fr": "french", "it": "italian",
    "pt": "portuguese", "nl": "dutch", "ru": "russian", "zh": "chinese", "ja": "japanese",
    "ko": "korean", "ar": "arabic", "hi": "hindi", "pl": "polish", "tr": "turkish",
    "sv": "swedish", "uk": "ukrainian", "cs": "czech", "el": "greek", "fi": "finnish",
}  # fmt: skip


def usage(transcript: Transcript) -> dict[str, Any]:
    """OpenAI's usage of a whisper-1 transcription: the audio's whole seconds."""
    return {"type": "duration", "seconds": math.ceil(transcript.duration)}


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(segments: list[Segment]) -> str:
    """SubRip: numbered cues from 1, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``."""
    cues = [
        f"{index}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n"
        for index, s in enumerate(segments, 1)
    ]
    return "\n".join(cues)


def vtt(segments: list[Segment]) -> str:
    """WebVTT: the header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    cues = [f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def _segment(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "seek": segment.seek,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": segment.avg_logprob,
        "compression_ratio": segment.compression_ratio,
        "no_speech_prob": segment.no_speech_prob,
    }


def verbose_json(transcript: Transcript, granularities: set[str]) -> dict[str, Any]:
    """OpenAI's verbose transcription: language, duration, text, segments and/or words."""
    body: dict[str, Any] = {
        "task": "transcribe",
        "language": LANGUAGE_NAMES.get(transcript.language, transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [_segment(s) for s in transcript.segments]
    if "word" in granularities:
        body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in transcript.words]
    body["usage"] = usage(transcript)
    return body
