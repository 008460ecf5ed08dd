"""Audio in and out, through PyAV (FFmpeg's libraries, bundled in the ``av`` wheel).

``decode_audio`` reads any audio file FFmpeg knows (wav, mp3, m4a, ogg/opus, flac, webm, the
audio track of mp4, ...) into mono float32 samples at one sample rate. ``encode_audio`` writes
samples as one of ``OUTPUT_FORMATS``; ``AudioStreamEncoder`` does the same chunk by chunk, so
speech can be sent while later sentences are still being synthesized.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".m4a", ".ogg", ".opus", ".flac", ".webm", ".mp4"})

# response format -> (container, codec, sample rates the codec takes, MIME type); pcm is raw
_FORMATS: dict[str, tuple[str, str, tuple[int, ...], str]] = {
    "wav": ("", "", (), "audio/wav"),  # our own 44-byte header, then the raw samples
    "pcm": ("", "", (), "audio/pcm"),
    "flac": ("flac", "flac", (), "audio/flac"),
    "mp3": ("mp3", "libmp3lame", (44100, 48000, 32000, 22050, 24000, 16000), "audio/mpeg"),
    "opus": ("ogg", "libopus", (48000, 24000, 16000, 12000, 8000), "audio/ogg"),
    "aac": ("adts", "aac", (48000, 44100, 32000, 24000, 22050, 16000), "audio/aac"),
}
OUTPUT_FORMATS: tuple[str, ...] = tuple(_FORMATS)
MIME_TYPES = {name: spec[3] for name, spec in _FORMATS.items()}
_BITRATES = {"mp3": 64_000, "opus": 32_000, "aac": 64_000}
_MUX_BUFFER = 4096  # bytes the muxer holds before writing: small, so chunks leave at once


class AudioError(ValueError):
    """Audio that cannot be used: empty, corrupt, or without an audio track."""


@dataclass
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / float(self.sample_rate) if self.sample_rate else 0.0


def _open(data: bytes | Path) -> Any:
    import av

    source: Any = str(data) if isinstance(data, Path) else io.BytesIO(data)
    return av.open(source, mode="r", metadata_errors="ignore")


def _what_to_do(name: str) -> str:
    return (
        f"send {name} again as an audio file (wav, mp3, m4a, ogg/opus, flac, webm or the audio track of mp4)"
    )


def decode_audio(data: bytes | Path, *, name: str = "audio", sample_rate: int = 16000) -> Audio:
    """``data`` (the file's bytes or its path) as mono float32 samples at ``sample_rate`` Hz.

    Raises AudioError naming ``name`` when the data is empty, is not a media file FFmpeg can
    read, has no audio track, or holds no samples.
    """
    import av

    if isinstance(data, Path):
        if not data.is_file():
            raise AudioError(f"{name}: no such file {data}")
        if data.stat().st_size == 0:
            raise AudioError(f"{name} is empty (0 bytes); {_what_to_do(name)}")
    elif not data:
        raise AudioError(f"{name} is empty (0 bytes); {_what_to_do(name)}")
    try:
        with _open(data) as container:
            if not container.streams.audio:
                raise AudioError(f"{name} has no audio track; {_what_to_do(name)}")
            samples = _decode_stream(container, sample_rate)
    except AudioError:
        raise
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise AudioError(f"{name} is not a readable audio file ({exc}); {_what_to_do(name)}") from None
    if samples.size == 0:
        raise AudioError(f"{name} holds no audio samples; {_what_to_do(name)}")
    return Audio(samples, sample_rate)


def _decode_stream(container: Any, sample_rate: int) -> np.ndarray:
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    pieces: list[np.ndarray] = []
    decoded = 0
    for frame in _frames(container):
        frame.pts = None  # containers from browsers carry timestamps the resampler rejects
        decoded += 1
        for out in resampler.resample(frame):
            pieces.append(out.to_ndarray().reshape(-1))
    if decoded:
        for out in resampler.resample(None):
            pieces.append(out.to_ndarray().reshape(-1))
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(pieces).astype(np.float32, copy=False)


def _frames(container: Any) -> Iterator[Any]:
    """The audio frames of the first audio track; a few bad packets are skipped, not fatal."""
    import av

    frames = container.decode(audio=0)
    bad = 0
    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.InvalidDataError:
            bad += 1
            if bad > 100:
                raise


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float samples in [-1, 1] (or int16 as they are) as int16."""
    if samples.dtype == np.int16:
        return samples
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Mono int16 samples from ``rate`` to ``new_rate`` Hz (FFmpeg's resampler)."""
    if rate == new_rate or samples.size == 0:
        return to_int16(samples)
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=new_rate)
    frame = av.AudioFrame.from_ndarray(to_int16(samples).reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    pieces = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.int16) if pieces else np.zeros(0, dtype=np.int16)


def encode_audio(samples: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Mono samples (int16, or float32 in [-1, 1]) as a complete file of format ``fmt``.

    ``pcm`` is the raw samples, 16-bit signed little-endian, at ``sample_rate``. Formats whose
    codec cannot take ``sample_rate`` (opus, mp3, aac) are resampled to a rate they take.
    """
    total = len(samples) if fmt == "wav" else None  # a whole wav file declares its length
    encoder = AudioStreamEncoder(fmt, sample_rate, total_samples=total)
    return encoder.encode(samples) + encoder.finish()


def wav_header(sample_rate: int, data_bytes: int = 0xFFFFFFFF - 36) -> bytes:
    """The 44-byte header of a mono 16-bit WAV file; the default length means 'streamed, unknown'."""
    return (
        b"RIFF"
        + struct.pack("<I", min(data_bytes + 36, 0xFFFFFFFF))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", min(data_bytes, 0xFFFFFFFF))
    )


class _Sink(io.RawIOBase):
    """A write-only, non-seekable file the muxer writes into; ``take()`` empties it."""

    def __init__(self) -> None:
        super().__init__()
        self._data = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        self._data += bytes(data)
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._data)
        self._data.clear()
        return data


class AudioStreamEncoder:
    """Encodes mono audio chunk by chunk; the bytes of every call, joined, make one valid file.

    wav is streamed with a header that declares an unknown length (as OpenAI does), unless
    ``total_samples`` is known; pcm is raw 16-bit little-endian samples.
    """

    def __init__(self, fmt: str, sample_rate: int, total_samples: int | None = None) -> None:
        if fmt not in _FORMATS:
            raise AudioError(f"response_format={fmt}: choose one of {', '.join(OUTPUT_FORMATS)}")
        self.fmt = fmt
        self.input_rate = sample_rate
        self._total = total_samples
        self._started = False
        self._container: Any = None
        self._stream: Any = None
        self._sink: _Sink | None = None
        container, codec, rates, _ = _FORMATS[fmt]
        self.sample_rate = sample_rate if not rates or sample_rate in rates else rates[0]
        if container:
            self._open(container, codec)

    def _open(self, container: str, codec: str) -> None:
        import av

        self._sink = _Sink()
        options = {"page_duration": "100000"} if container == "ogg" else {}  # Ogg pages of 0.1 s
        self._container = av.open(
            self._sink, mode="w", format=container, buffer_size=_MUX_BUFFER, options=options
        )
        self._stream = self._container.add_stream(codec, rate=self.sample_rate, layout="mono")
        if self.fmt in _BITRATES:
            self._stream.bit_rate = _BITRATES[self.fmt]

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.fmt]

    def encode(self, samples: np.ndarray) -> bytes:
        """The bytes of the next chunk (possibly empty while the codec fills a frame)."""
        pcm = resample(to_int16(samples), self.input_rate, self.sample_rate)
        if self._container is None:
            head = b""
            if self.fmt == "wav" and not self._started:
                total = self._total
                head = wav_header(self.sample_rate, 0xFFFFFFFF - 36 if total is None else total * 2)
            self._started = True
            return head + pcm.astype("<i2").tobytes()
        self._started = True
        import av

        if pcm.size:
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = self.sample_rate
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        assert self._sink is not None
        return self._sink.take()

    def finish(self) -> bytes:
        """The last bytes: the codec's buffered frames and the container's trailer."""
        if self._container is None:
            if self.fmt == "wav" and not self._started:
                return wav_header(self.sample_rate, 0)
            return b""
        if not self._started:  # an empty file is still a valid file
            self._started = True
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None
        assert self._sink is not None
        return self._sink.take()
