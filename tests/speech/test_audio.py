"""Decoding every accepted audio format (made with PyAV from espeak-ng speech) and encoding every
output format, on real audio."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from h2ogpt.speech import AUDIO_SUFFIXES, OUTPUT_FORMATS, Audio, AudioError, decode_audio, encode_audio
from h2ogpt.speech.audio import AudioStreamEncoder, resample
from support.speech import SENTENCES, word_error_rate

# suffix -> (container, audio codec, audio rate, with a video track)
CONTAINERS = {
    ".wav": ("wav", "pcm_s16le", 22050, False),
    ".mp3": ("mp3", "libmp3lame", 22050, False),
    ".m4a": ("ipod", "aac", 22050, False),
    ".ogg": ("ogg", "libopus", 48000, False),
    ".opus": ("opus", "libopus", 48000, False),
    ".flac": ("flac", "flac", 22050, False),
    ".webm": ("webm", "libopus", 48000, False),
    ".mp4": ("mp4", "aac", 44100, True),
}


def write_media(samples: np.ndarray, rate: int, suffix: str, path: Path) -> Path:
    """``samples`` (int16 mono at ``rate``) in the container and codec of ``suffix``; mp4 also
    gets a small video track, so its audio is read from a real video file."""
    container_name, codec, codec_rate, video = CONTAINERS[suffix]
    pcm = resample(samples, rate, codec_rate)
    with av.open(str(path), "w", format=container_name) as container:
        picture = None
        if video:
            picture = container.add_stream("mpeg4", rate=10)
            picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        sound = container.add_stream(codec, rate=codec_rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = codec_rate
        for packet in [*sound.encode(frame), *sound.encode(None)]:
            container.mux(packet)
        if picture is not None:
            for index in range(int(len(pcm) / codec_rate * 10)):
                image = np.full((48, 64, 3), index * 7 % 255, dtype=np.uint8)
                still = av.VideoFrame.from_ndarray(image, format="rgb24")
                container.mux(picture.encode(still))
            container.mux(picture.encode(None))
    return path


@pytest.fixture(scope="module")
def sentence(spoken_sentences) -> Audio:
    return decode_audio(spoken_sentences[0], sample_rate=22050)


def test_every_accepted_suffix_decodes_to_the_same_speech(sentence, tmp_path, speech):
    samples = (sentence.samples * 32767).astype(np.int16)
    assert set(CONTAINERS) == AUDIO_SUFFIXES
    heard = []
    for suffix in sorted(AUDIO_SUFFIXES):
        path = write_media(samples, 22050, suffix, tmp_path / f"speech{suffix}")
        audio = decode_audio(path, name=path.name)
        assert audio.sample_rate == 16000 and audio.samples.dtype == np.float32
        assert audio.duration == pytest.approx(sentence.duration, abs=0.1), suffix
        heard.append(speech.transcribe(audio).text)
    assert word_error_rate([SENTENCES[0]] * len(heard), heard) <= 0.1, heard


def test_bytes_and_paths_decode_alike(spoken_sentences):
    path = spoken_sentences[0]
    from_path = decode_audio(path, sample_rate=8000)
    from_bytes = decode_audio(path.read_bytes(), sample_rate=8000)
    assert np.array_equal(from_path.samples, from_bytes.samples) and from_path.sample_rate == 8000


def test_unusable_audio_is_an_error_naming_it(tmp_path):
    with pytest.raises(AudioError, match=r"meeting.wav is empty"):
        decode_audio(b"", name="meeting.wav")
    with pytest.raises(AudioError, match=r"notes.mp3 is not a readable audio file.*send notes.mp3 again"):
        decode_audio(b"this is text, not audio" * 100, name="notes.mp3")
    silent_video = tmp_path / "silent.webm"
    with av.open(str(silent_video), "w") as container:
        picture = container.add_stream("libvpx", rate=10)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            image = np.full((48, 64, 3), index * 40, dtype=np.uint8)
            container.mux(picture.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(picture.encode(None))
    with pytest.raises(AudioError, match=r"silent.webm has no audio track"):
        decode_audio(silent_video, name="silent.webm")
    with pytest.raises(AudioError, match=r"nothing.wav: no such file"):
        decode_audio(tmp_path / "nothing.wav", name="nothing.wav")
    assert issubclass(AudioError, ValueError)


def _tone(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_every_output_format_round_trips_with_its_duration(fmt):
    tone = _tone(2.5, 22050)
    data = encode_audio(tone, 22050, fmt)
    if fmt == "pcm":
        assert len(data) == len(tone) * 2
        back = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767
        assert np.abs(back - tone).max() < 1e-3
        return
    audio = decode_audio(data, name=f"tone.{fmt}", sample_rate=22050)
    assert audio.duration == pytest.approx(2.5, abs=0.1)  # mp3/aac add a frame of padding
    assert np.sqrt(np.mean(audio.samples**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.15)
    assert encode_audio(tone.astype(np.float32), 22050, fmt)[:4] == data[:4]


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_streamed_encoding_is_one_valid_file_sent_as_it_goes(fmt):
    encoder = AudioStreamEncoder(fmt, 22050)
    pieces = [encoder.encode(_tone(0.5, 22050)) for _ in range(6)] + [encoder.finish()]
    assert sum(1 for piece in pieces[:-1] if piece) >= 4, [len(p) for p in pieces]  # not all at the end
    data = b"".join(pieces)
    if fmt == "pcm":
        assert len(data) == 6 * 11025 * 2
    else:
        assert decode_audio(data, name=f"stream.{fmt}").duration == pytest.approx(3.0, abs=0.1)


def test_an_unknown_output_format_is_refused():
    with pytest.raises(
        AudioError, match=r"response_format=ogg: choose one of wav, pcm, flac, mp3, opus, aac"
    ):
        encode_audio(_tone(0.1, 16000), 16000, "ogg")
