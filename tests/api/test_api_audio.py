"""/v1/audio/transcriptions and /v1/audio/speech through the official client, on a real server.

Speech made by espeak-ng from ordinary sentences is transcribed by the embedded Whisper
tiny.en; the embedded Piper voice speaks text that is transcribed back.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from pathlib import Path

import httpx
import openai
import pytest

from h2ogpt.speech import OUTPUT_FORMATS, decode_audio, speech_services
from support.api_fixtures import API_KEYS, start
from support.paths import SHARED_DATA
from support.speech import SENTENCES, word_error_rate, words

pytest_plugins = ["support.api_fixtures"]

STT_MODEL = "whisper-tiny.en"
TTS_MODEL = "piper-en_US-joe-medium"
TEN = SENTENCES[:10]


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def _transcribe(http: httpx.Client, data: bytes, name: str = "clip.wav", **fields) -> httpx.Response:
    return http.post(
        "/v1/audio/transcriptions", files={"file": (name, data)}, data={"model": "whisper-1", **fields}
    )


# --- transcriptions -----------------------------------------------------------------------------
def test_espeak_sentences_are_transcribed_within_15_percent_wer(client, spoken_sentences):
    heard = []
    for path in spoken_sentences:
        with path.open("rb") as audio:
            heard.append(client.audio.transcriptions.create(model="whisper-1", file=audio).text)
    wer = word_error_rate(list(SENTENCES), heard)
    assert wer <= 0.15, (wer, heard)


def test_verbose_json_segments_and_words_cover_the_audio(client, spoken_passage):
    duration = decode_audio(spoken_passage).duration
    result = client.audio.transcriptions.create(
        model="gpt-4o-transcribe",
        file=spoken_passage,
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert result.language == "english"
    assert result.duration == pytest.approx(duration, abs=0.05)
    segments = result.segments
    assert segments and segments[0].start < 1.0 and segments[-1].end >= duration - 1.5
    for before, after in itertools.pairwise(segments):
        assert before.start < before.end <= after.start + 0.01 and after.id == before.id + 1
    assert segments[-1].end <= duration + 0.5
    assert word_error_rate([" ".join(SENTENCES[:5])], [result.text]) <= 0.15
    spoken = [w.word for w in result.words]
    assert abs(len(words(" ".join(spoken))) - len(words(" ".join(SENTENCES[:5])))) <= 4
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and all(0 <= w.start <= w.end <= duration + 0.5 for w in result.words)


CUE = re.compile(r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d) --> (\d\d):(\d\d):(\d\d)[,.](\d\d\d)")


def _seconds(parts: tuple[str, ...]) -> float:
    h, m, s, ms = (int(p) for p in parts)
    return h * 3600 + m * 60 + s + ms / 1000


def _cues(blocks: list[str], numbered: bool) -> list[tuple[float, float, str]]:
    cues = []
    for index, block in enumerate(blocks, 1):
        lines = block.strip().splitlines()
        if numbered:
            assert lines[0] == str(index)
            lines = lines[1:]
        match = CUE.fullmatch(lines[0])
        assert match, lines[0]
        cues.append((_seconds(match.groups()[:4]), _seconds(match.groups()[4:]), " ".join(lines[1:])))
    return cues


def test_srt_and_vtt_parse_with_ordered_timestamps(client, spoken_passage):
    duration = decode_audio(spoken_passage).duration
    srt = client.audio.transcriptions.create(model="whisper-1", file=spoken_passage, response_format="srt")
    vtt = client.audio.transcriptions.create(model="whisper-1", file=spoken_passage, response_format="vtt")
    srt_cues = _cues(srt.strip().split("\n\n"), numbered=True)
    assert vtt.startswith("WEBVTT\n\n")
    vtt_cues = _cues(vtt[len("WEBVTT\n\n") :].strip().split("\n\n"), numbered=False)
    assert [c[2] for c in srt_cues] == [c[2] for c in vtt_cues]
    assert [t for c in srt_cues for t in c[:2]] == pytest.approx([t for c in vtt_cues for t in c[:2]])
    for begin, end, text in srt_cues:
        assert 0 <= begin < end <= duration + 0.5 and text
    assert all(a[1] <= b[0] + 0.01 for a, b in itertools.pairwise(srt_cues))
    assert word_error_rate([" ".join(SENTENCES[:5])], [" ".join(c[2] for c in srt_cues)]) <= 0.15


def test_text_json_and_streamed_transcripts_agree(client, spoken_passage):
    plain = client.audio.transcriptions.create(model="whisper-1", file=spoken_passage, response_format="text")
    events = list(client.audio.transcriptions.create(model="whisper-1", file=spoken_passage, stream=True))
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    assert deltas and events[-1].type == "transcript.text.done" and len(events) == len(deltas) + 1
    assert "".join(d.delta for d in deltas) == events[-1].text == plain.strip()


def test_transcription_errors_are_4xx_naming_the_problem(http, api_server, spoken_sentences):
    wav = spoken_sentences[0].read_bytes()
    empty = _transcribe(http, b"", "empty.wav")
    assert empty.status_code == 400 and "empty.wav is empty" in _error(empty)["message"]
    corrupt = _transcribe(http, b"RIFF\x00\x00\x00\x00WAVEjunk" * 50, "broken.mp3")
    error = _error(corrupt)
    assert corrupt.status_code == 400 and "broken.mp3 is not a readable audio file" in error["message"]
    assert error["param"] == "file" and error["code"] == "invalid_audio"
    huge = _transcribe(http, wav + b"\x00" * (5 * 1024 * 1024))
    assert huge.status_code == 413 and "larger than" in _error(huge)["message"]
    no_file = http.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"x": ("a", b"")})
    assert no_file.status_code == 400 and _error(no_file)["param"] in ("x", "file")
    missing = http.post("/v1/audio/transcriptions", files={"model": (None, "whisper-1")})
    assert missing.status_code == 400 and _error(missing)["param"] == "file"
    french = _transcribe(http, wav, language="fr")
    assert french.status_code == 400 and "English only" in _error(french)["message"]
    grains = _transcribe(http, wav, **{"timestamp_granularities[]": "word"})
    assert grains.status_code == 400 and "verbose_json" in _error(grains)["message"]
    fmt = _transcribe(http, wav, response_format="docx")
    assert fmt.status_code == 400 and "verbose_json" in _error(fmt)["message"]
    temperature = _transcribe(http, wav, temperature="3")
    assert temperature.status_code == 400 and _error(temperature)["param"] == "temperature"
    model = http.post("/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, data={"model": "whisper-9"})
    assert model.status_code == 404 and _error(model)["code"] == "model_not_found"
    assert api_server.state.model_id
    chat = http.post(
        "/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, data={"model": api_server.state.model_id}
    )
    assert chat.status_code == 400 and _error(chat)["code"] == "wrong_model"


# --- speech -----------------------------------------------------------------------------------
def _speech_duration(data: bytes, fmt: str) -> float:
    if fmt == "pcm":
        return len(data) / 2 / 24000
    return decode_audio(data, name=f"speech.{fmt}").duration


def test_round_trip_of_ten_sentences_within_10_percent_wer(client, tmp_path):
    speech = client.audio.speech.create(
        model="tts-1", voice="alloy", input=" ".join(TEN), response_format="wav"
    )
    path = tmp_path / "ten.wav"
    speech.write_to_file(path)
    heard = client.audio.transcriptions.create(model="whisper-1", file=path).text
    assert word_error_rate([" ".join(TEN)], [heard]) <= 0.10, heard


def test_speed_two_is_about_half_as_long(client):
    text = " ".join(SENTENCES[10:13])
    lengths = {}
    for speed in (1.0, 2.0):
        audio = client.audio.speech.create(model=TTS_MODEL, voice="en_US-joe-medium", input=text,
                                           response_format="wav", speed=speed)  # fmt: skip
        lengths[speed] = _speech_duration(audio.content, "wav")
    assert 0.4 <= lengths[2.0] / lengths[1.0] <= 0.65, lengths


def test_speech_streams_its_first_bytes_before_half_the_synthesis(http, api_server):
    text = " ".join(TEN[:6])
    services = speech_services(api_server.state.settings)
    started = time.monotonic()
    services.synthesize(text)
    whole = time.monotonic() - started
    arrivals = []
    started = time.monotonic()
    with http.stream("POST", "/v1/audio/speech", json={"model": "tts-1", "input": text, "voice": "nova",
                                                        "response_format": "pcm"}) as response:  # fmt: skip
        assert response.status_code == 200 and response.headers["content-type"] == "audio/pcm"
        data = b""
        for chunk in response.iter_raw():
            arrivals.append(time.monotonic() - started)
            data += chunk
    streamed = arrivals[-1]
    assert arrivals[0] < whole / 2 and arrivals[0] < streamed / 2, (arrivals[0], whole, streamed)
    assert len(arrivals) >= 3  # sentence by sentence, not one piece at the end
    assert _speech_duration(data, "pcm") > 10


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_every_output_format_decodes_to_the_right_duration(client, fmt):
    text = SENTENCES[3]
    reference = _speech_duration(client.audio.speech.create(model="tts-1", voice="echo", input=text,
                                                            response_format="wav").content, "wav")  # fmt: skip
    audio = client.audio.speech.create(model="tts-1", voice="echo", input=text, response_format=fmt)
    assert audio.response.headers["content-type"].startswith("audio/")
    # Piper's phoneme durations vary a little from run to run (its noise): 12 %; exact durations
    # of every format are checked on fixed samples in tests/speech/test_audio.py
    assert _speech_duration(audio.content, fmt) == pytest.approx(reference, rel=0.12)


def test_speech_as_server_sent_events(http):
    events = []
    body = {"model": "gpt-4o-mini-tts", "input": " ".join(SENTENCES[:3]), "stream_format": "sse",
            "response_format": "wav"}  # fmt: skip
    with http.stream("POST", "/v1/audio/speech", json=body) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/event-stream"
        )
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: ") :]))
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["input_tokens"] > 0
    assert len(events) >= 4
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert decode_audio(audio).duration > 4


def test_speech_errors_are_400_naming_the_field(http):
    def speak(**fields) -> httpx.Response:
        return http.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hello there.", **fields})

    voice = speak(voice="darth")
    assert voice.status_code == 400 and _error(voice)["param"] == "voice"
    assert "en_US-joe-medium" in _error(voice)["message"] and "alloy" in _error(voice)["message"]
    fmt = speak(response_format="ogg")
    assert fmt.status_code == 400 and _error(fmt)["param"] == "response_format"
    assert "mp3, opus, aac" in _error(fmt)["message"] or "aac" in _error(fmt)["message"]
    for speed in (0.1, 4.5):
        slow = speak(speed=speed)
        assert (
            slow.status_code == 400 and _error(slow)["param"] == "speed" and "0.25" in _error(slow)["message"]
        )
    long = speak(input="word " * 1000)
    assert long.status_code == 400 and _error(long)["param"] == "input" and "4096" in _error(long)["message"]
    blank = speak(input="   ")
    assert blank.status_code == 400 and _error(blank)["param"] == "input"
    model = speak(model="tts-9")
    assert model.status_code == 404 and _error(model)["code"] == "model_not_found"
    extra = speak(volume=2)
    assert extra.status_code == 400 and _error(extra)["code"] == "unknown_parameter"


# --- models, keys, switched off ----------------------------------------------------------------
def test_models_list_the_speech_models(client):
    ids = [m.id for m in client.models.list().data]
    assert ids[-2:] == [STT_MODEL, TTS_MODEL]
    assert client.models.retrieve(TTS_MODEL).id == TTS_MODEL


def test_audio_routes_need_a_key_like_the_others(auth_server, spoken_sentences):
    wav = spoken_sentences[0].read_bytes()
    with httpx.Client(base_url=auth_server.url, timeout=60) as http:
        refused = http.post(
            "/v1/audio/transcriptions", files={"file": ("a.wav", wav)}, data={"model": "whisper-1"}
        )
        assert refused.status_code == 401 and _error(refused)["code"] == "invalid_api_key"
        speech = http.post("/v1/audio/speech", json={"input": "Hi."})
        assert speech.status_code == 401
    keyed = openai.OpenAI(base_url=auth_server.base_url, api_key=API_KEYS[0], max_retries=0)
    assert keyed.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav)).text


def test_switched_off_speech_is_503_saying_which_flag(settings, pipeline, spoken_sentences):
    with (
        start(settings, pipeline, enable_stt=False, enable_tts=False) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        stt = _transcribe(http, spoken_sentences[0].read_bytes())
        assert stt.status_code == 503 and "--enable_stt=False" in _error(stt)["message"]
        tts = http.post("/v1/audio/speech", json={"input": "Hello."})
        assert tts.status_code == 503 and "--enable_tts=False" in _error(tts)["message"]
        ids = [m["id"] for m in http.get("/v1/models").json()["data"]]
        assert STT_MODEL not in ids and TTS_MODEL not in ids


def test_speech_models_are_shared_with_the_core(api_server):
    services = speech_services(api_server.state.settings)
    assert services.stt_enabled and services.tts_enabled and services.voices() == ["en_US-joe-medium"]


def test_spoken_files_exist(spoken_sentences: list[Path]):
    assert len(spoken_sentences) == 20 and all(p.stat().st_size > 10_000 for p in spoken_sentences)


@pytest.mark.shared_data
def test_bodies_and_events_match_openais_spec(http, spoken_sentences):
    """Every audio body and stream event validated against OpenAI's OpenAPI spec (a pinned copy)."""
    import jsonschema_rs
    import yaml

    with (SHARED_DATA / "openai-openapi" / "openapi.yaml").open() as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    components = json.loads(
        json.dumps(spec["components"], default=str).replace('"nullable": true', '"x-n": 1')
    )

    def check(name: str, instance: dict) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": components}
        errors = [
            f"{e.instance_path}: {e.message}"
            for e in jsonschema_rs.Draft202012Validator(schema).iter_errors(instance)
        ]
        assert not errors, (name, errors[:3])

    audio = spoken_sentences[1].read_bytes()
    check("CreateTranscriptionResponseJson", _transcribe(http, audio).json())
    verbose = _transcribe(
        http, audio, response_format="verbose_json", **{"timestamp_granularities[]": ["word", "segment"]}
    )
    check("CreateTranscriptionResponseVerboseJson", verbose.json())
    assert verbose.json()["words"] and verbose.json()["segments"]
    with http.stream("POST", "/v1/audio/transcriptions", files={"file": ("a.wav", audio)},
                     data={"model": "whisper-1", "stream": "true"}) as reply:  # fmt: skip
        events = [json.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: ")]
    for event in events:
        check(
            "TranscriptTextDeltaEvent" if event["type"].endswith("delta") else "TranscriptTextDoneEvent",
            event,
        )
    body = {"input": "Hello there. Goodbye.", "voice": "coral", "stream_format": "sse"}
    with http.stream("POST", "/v1/audio/speech", json=body) as reply:
        events = [json.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: ")]
    for event in events:
        check("SpeechAudioDeltaEvent" if event["type"].endswith("delta") else "SpeechAudioDoneEvent", event)
