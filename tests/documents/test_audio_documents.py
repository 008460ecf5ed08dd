"""Audio documents on the real stack: espeak-ng speech -> Whisper transcript -> time-spanned
chunks in Chroma and FAISS -> an answer whose citations name the file and the time."""

from __future__ import annotations

import json
import re
import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from langchain_core.documents import Document

from gradio_utils.render import source_record, sources_html
from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.documents.chunking import group_timed_segments
from h2ogpt.documents.citations import source_label, time_span
from h2ogpt.documents.library import DocumentLibrary
from h2ogpt.documents.make_db import main as make_db
from h2ogpt.events import ErrorEvent, FinalAnswer, SourcesFound
from h2ogpt.request import AnswerRequest
from openai_server.render import sources_list

MEETING = [
    "Welcome to the weekly meeting of the garden club.",
    "First, the tomatoes in the east bed are growing well this summer.",
    "Second, we need volunteers to water the roses on Saturday morning.",
    "Third, the compost heap behind the old shed is almost full.",
    "Finally, remember that the secret password for the shed is purple elephant.",
]
LIBRARY = "The village library opens at six o'clock every morning. It closes at noon."
SPAN = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")


def speak(text: str, path: Path) -> Path:
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(path), text], check=True)
    return path


def convert(wav: Path, target: Path, codec: str, rate: int) -> Path:
    """The same speech in another container and codec (PyAV, no ffmpeg binary)."""
    with av.open(str(wav)) as source, av.open(str(target), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


def video(wav: Path, target: Path) -> Path:
    """A small black video with the speech as its audio track (mpeg4 + aac in .mp4)."""
    with av.open(str(wav)) as source, av.open(str(target), "w") as out:
        picture = out.add_stream("mpeg4", rate=5, width=64, height=48, pix_fmt="yuv420p")
        sound = out.add_stream("aac", rate=22050, layout="mono")
        for index in range(25):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            frame.pts = index
            out.mux(picture.encode(frame))
        out.mux(picture.encode(None))
        for frame in source.decode(audio=0):
            frame.pts = None
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return target


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("recordings")
    meeting = speak(" ".join(MEETING), folder / "meeting.wav")
    library = speak(LIBRARY, folder / "library-source.wav")
    ogg = convert(library, folder / "library.ogg", "libopus", 48000)
    mp4 = video(library, folder / "library.mp4")
    broken = folder / "broken.mp3"
    broken.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 40)
    silence = folder / "silence.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(64000))
    return {"meeting": meeting, "ogg": ogg, "mp4": mp4, "broken": broken, "silence": silence}


@pytest.fixture(scope="module")
def audio_settings(settings, tmp_path_factory):
    # small chunks, so the meeting becomes several chunks with their own time spans
    update = {
        "data_dir": tmp_path_factory.mktemp("audio"),
        "chunk_size": 24,
        "chunk_overlap": 0,
        "top_k_docs": 2,
    }
    return settings.model_copy(update=update)


@pytest.fixture(scope="module")
def library(audio_settings, recordings):
    library = DocumentLibrary(audio_settings)
    files = [(recordings[n].name, recordings[n].open("rb")) for n in ("meeting", "broken", "silence")]
    report = library.ingest_uploads(files, collection="Meetings")
    for _, handle in files:
        handle.close()
    library.report = report
    yield library
    library.close()


def seconds(clock: str) -> int:
    minutes, secs = clock.split(":")[-2:]
    return int(minutes) * 60 + int(secs)


def test_time_span_labels():
    assert time_span(92.4, 117.2) == "01:32-01:58"
    assert time_span(3599.0, 3725.5) == "00:59:59-01:02:06"
    assert source_label("/up/meeting.mp3", None, 0.0, 6.6) == "meeting.mp3, 00:00-00:07"
    assert (
        source_label("/docs/memo.pdf", 3) == "memo.pdf, page 3" and source_label("a/notes.txt") == "notes.txt"
    )


def test_consecutive_segments_are_grouped_up_to_the_chunk_size():
    def segment(i: int, source: str = "talk.wav") -> Document:
        return Document(f"word{i} " * 5, metadata={"source": source, "start": i * 2.0, "end": i * 2.0 + 2})

    page = Document("a page", metadata={"source": "memo.pdf", "page": 1})
    groups = group_timed_segments([*map(segment, range(5)), page], lambda t: len(t.split()), 10, 5)
    spans = [(g.metadata.get("start"), g.metadata.get("end")) for g in groups]
    assert spans == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 10.0), (None, None)]
    assert groups[0].page_content.split() == ["word0"] * 5 + ["word1"] * 5 and groups[-1] is page


def test_audio_upload_is_answered_with_a_time_span_citation(library, audio_settings, backend):
    by_name = {Path(r.source).name: r for r in library.report.results}
    assert by_name["meeting.wav"].status == "added" and by_name["meeting.wav"].chunks >= 3
    broken = by_name["broken.mp3"]
    assert broken.status == "failed" and "broken.mp3" in broken.reason
    assert "cannot be decoded" in broken.reason
    assert by_name["silence.wav"].status == "failed" and "no speech" in by_name["silence.wav"].reason

    request = AnswerRequest.from_prompt(
        "What is the secret password for the shed?", max_new_tokens=32, collection="Meetings"
    )
    events = list(Pipeline(audio_settings, backend, library).answer(request))
    assert not any(isinstance(e, ErrorEvent) for e in events), events[-1]
    found = next(e for e in events if isinstance(e, SourcesFound))
    final = events[-1]
    assert isinstance(final, FinalAnswer) and final.sources
    best = found.sources[0]
    assert "elephant" in best.text.lower() and best.page is None
    match = SPAN.match(best.label.removeprefix("meeting.wav, "))
    assert best.label.startswith("meeting.wav, ") and match, best.label
    assert 0 < seconds(best.label[-11:-6]) < seconds(best.label[-5:]) <= 30  # not the whole recording

    cited = sources_list(final)[0]  # the API's citation objects
    assert cited["source"].endswith("meeting.wav") and cited["page"] is None
    assert 0 < cited["start"] < cited["end"]
    assert final.sources[0].label in sources_html([source_record(final.sources[0])], "a")  # the UI's


def test_ogg_and_mp4_time_spans_survive_faiss_and_a_reopen(audio_settings, recordings, library):
    settings = audio_settings.model_copy(
        update={"db_type": "faiss", "data_dir": audio_settings.data_dir / "faiss"}
    )
    first = DocumentLibrary(settings, embedder=library.embedder)
    report = first.ingest([recordings["ogg"], recordings["mp4"]], collection="Village")
    first.close()
    assert [r.status for r in report.results] == ["added", "added"], report.results
    reopened = DocumentLibrary(settings, embedder=library.embedder)
    hits = reopened.search("Village", "When does the village library open?", k=2)
    reopened.close()
    assert {Path(h.source).suffix for h in hits} == {".ogg", ".mp4"}
    for hit in hits:
        assert "village" in hit.text.lower() and hit.start == 0.0 and 2 < hit.end < 8, hit
        label = source_label(hit.source, hit.page, hit.start, hit.end)
        assert re.fullmatch(r"library\.(ogg|mp4), 00:00-00:0\d", label), label


@pytest.mark.parametrize(
    ("flag", "reason"),
    [("enable_transcriptions", "--enable_transcriptions=False"), ("enable_stt", "--enable_stt=False")],
)
def test_audio_off_fails_audio_files_alone(flag, reason, audio_settings, recordings, library, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("The shed key hangs by the door.", encoding="utf-8")
    settings = audio_settings.model_copy(update={flag: False, "data_dir": tmp_path})
    off = DocumentLibrary(settings, embedder=library.embedder)
    report = off.ingest([recordings["meeting"], notes], collection="Off")
    off.close()
    status = {Path(r.source).name: r for r in report.results}
    assert status["notes.txt"].status == "added"
    assert status["meeting.wav"].status == "failed" and reason in status["meeting.wav"].reason


def test_make_db_ingests_audio(recordings, tmp_path, capsys):
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "library.ogg").write_bytes(recordings["ogg"].read_bytes())
    code = make_db([f"--user_path={folder}", f"--data_dir={tmp_path / 'data'}", "--json_output"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["files_ok"] == 1 and result["chunks_added"] >= 1, result
