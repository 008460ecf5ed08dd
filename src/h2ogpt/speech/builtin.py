"""The built-in speech engines, registered as any plug-in registers its own: faster-whisper
(speech-to-text) and Piper (text-to-speech)."""

from __future__ import annotations

from h2ogpt.plugins import hookimpl
from h2ogpt.speech.specs import SpeechEngineSpec


def _whisper_locate(model: str) -> str | None:
    from h2ogpt.speech import whisper

    return whisper.locate(model)


def _whisper_load(key: str):
    from h2ogpt.speech import whisper

    return whisper.load(key)


def _whisper_id(key: str) -> str:
    from h2ogpt.speech import whisper

    return whisper.model_id_for(key)


def _piper_id(key: str) -> str:
    from h2ogpt.speech import piper

    return piper.model_id_for(key)


def _piper_locate(model: str) -> str | None:
    from h2ogpt.speech import piper

    return piper.locate(model)


def _piper_load(key: str):
    from h2ogpt.speech import piper

    return piper.load(key)


@hookimpl
def register_speech_to_text(register) -> None:
    register(
        SpeechEngineSpec(
            "faster-whisper",
            _whisper_locate,
            _whisper_load,
            _whisper_id,
            "faster-whisper: the embedded Whisper tiny.en, or a CTranslate2 Whisper folder (--asr_model)",
        )
    )


@hookimpl
def register_text_to_speech(register) -> None:
    register(
        SpeechEngineSpec(
            "piper",
            _piper_locate,
            _piper_load,
            _piper_id,
            "Piper: the embedded en_US joe voice, or .onnx voices (--tts_model)",
        )
    )
