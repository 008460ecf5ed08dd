"""Voice: speech-to-text and text-to-speech speed and accuracy on the embedded models.

1. Transcription: the twenty test sentences (tests/support/speech.py) spoken by espeak-ng, one
   file each and all in one file: real-time factor (processing seconds / audio seconds; below 1
   is faster than real time) and word error rate.
2. Synthesis: a five-sentence answer spoken by the Piper voice: real-time factor, and the time
   to the first audio when streamed sentence by sentence versus synthesized whole.

Prints one JSON object per line (``--json``: nothing else). Needs espeak-ng (``make test-tools``).

    python benchmarks/voice.py --json [--repeats=3]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from h2ogpt.settings import Settings  # noqa: E402
from h2ogpt.speech import decode_audio, encode_audio, speech_services  # noqa: E402
from support.speech import SENTENCES, espeak_batch, espeak_wav, word_error_rate  # noqa: E402

ANSWER = (
    "The water cycle moves water between the land, the sea and the sky. Heat from the sun makes "
    "water evaporate from oceans and lakes. The vapour rises, cools and condenses into clouds. "
    "When the droplets grow heavy enough, they fall as rain or snow. Rivers and groundwater then "
    "carry the water back to the sea, and the cycle starts again."
)


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def timed(work, *args, **kwargs):
    started = time.perf_counter()
    result = work(*args, **kwargs)
    return result, time.perf_counter() - started


def transcription(services, folder: Path) -> None:
    _, load = timed(lambda: services.transcribe(espeak_wav("Warm up.", folder / "warm.wav")))
    files = espeak_batch(SENTENCES, folder / "sentences")
    clips = [decode_audio(path) for path in files]
    heard, seconds = [], 0.0
    for clip in clips:
        transcript, took = timed(services.transcribe, clip)
        heard.append(transcript.text)
        seconds += took
    audio = sum(clip.duration for clip in clips)
    emit({
        "benchmark": "transcription", "model": services.stt_model_id, "files": len(clips),
        "audio_s": round(audio, 2), "processing_s": round(seconds, 2), "rtf": round(seconds / audio, 4),
        "wer": round(word_error_rate(list(SENTENCES), heard), 4), "first_call_s": round(load, 2),
    })  # fmt: skip
    passage = decode_audio(espeak_wav(" ".join(SENTENCES), folder / "all.wav"))
    transcript, took = timed(services.transcribe, passage)
    emit({
        "benchmark": "transcription_long", "model": services.stt_model_id, "audio_s": round(passage.duration, 2),
        "processing_s": round(took, 2), "rtf": round(took / passage.duration, 4),
        "segments": len(transcript.segments), "wer": round(word_error_rate([" ".join(SENTENCES)], [transcript.text]), 4),
    })  # fmt: skip


def synthesis(services, repeats: int) -> None:
    _, load = timed(services.synthesize, "Warm up.")
    rate = services.tts_sample_rate
    whole_times, first_times, stream_totals, rtfs, encode_times = [], [], [], [], []
    for _ in range(repeats):
        samples, whole = timed(services.synthesize, ANSWER)
        whole_times.append(whole)
        rtfs.append(whole / (len(samples) / rate))
        _, encode = timed(encode_audio, samples, rate, "mp3")
        encode_times.append(encode)
        started = time.perf_counter()
        first = None
        for _chunk in services.synthesize_stream(ANSWER):
            first = first if first is not None else time.perf_counter() - started
        first_times.append(first or 0.0)
        stream_totals.append(time.perf_counter() - started)
    median = statistics.median
    emit({
        "benchmark": "synthesis", "model": services.tts_model_id, "sentences": 5, "repeats": repeats,
        "audio_s": round(len(samples) / rate, 2), "rtf": round(median(rtfs), 4),
        "whole_s": round(median(whole_times), 3), "first_audio_streamed_s": round(median(first_times), 3),
        "first_audio_whole_s": round(median(whole_times), 3), "streamed_total_s": round(median(stream_totals), 3),
        "mp3_encode_s": round(median(encode_times), 3), "first_call_s": round(load, 2),
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON lines")
    parser.add_argument("--repeats", type=int, default=3, help="synthesis runs (the median is reported)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING if args.json else logging.INFO)
    services = speech_services(Settings())
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as folder:
        transcription(services, Path(folder))
    synthesis(services, args.repeats)


if __name__ == "__main__":
    main()
