"""POST /v1/audio/transcriptions and /v1/audio/speech: OpenAI's audio API over h2ogpt.speech.

Transcriptions take multipart form data (``file`` plus fields, as the official clients send
it); speech takes a JSON body and always streams, sentence by sentence, so the first audio
leaves before the rest of the text is synthesized.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.datastructures import FormData, UploadFile
from starlette.requests import ClientDisconnect

from h2ogpt.speech import AudioError, SpeechServices, SpeechUnavailable, decode_audio, speech_services
from h2ogpt.speech.audio import MIME_TYPES, OUTPUT_FORMATS, AudioStreamEncoder, resample
from h2ogpt.speech.specs import SpeechRequestError
from h2ogpt.speech.types import Segment, Transcript, join_segments
from openai_server import transcript_formats as formats
from openai_server.errors import ERROR_RESPONSES, ApiError, bad_request
from openai_server.schemas import SpeechRequest
from openai_server.sse import SSEResponse, sse_data
from openai_server.state import ServerState

log = logging.getLogger(__name__)
router = APIRouter(tags=["audio"])
T = TypeVar("T")

TRANSCRIPTION_MODELS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
SPEECH_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
)
PCM_RATE = 24000  # OpenAI's pcm: 24 kHz, 16-bit signed little-endian, mono
FORM_FIELDS = {
    "file", "model", "language", "prompt", "temperature", "response_format", "stream",
    "timestamp_granularities[]", "timestamp_granularities", "include[]", "chunking_strategy",
}  # fmt: skip


# --- shared ------------------------------------------------------------------------------------
def _services(request: Request) -> SpeechServices:
    state: ServerState = request.app.state.server
    return speech_services(state.settings)


async def _run(request: Request, work: Callable[..., T], *args: Any) -> T:
    """Blocking speech work in a worker thread; user errors become 4xx, a missing model 503."""
    state: ServerState = request.app.state.server
    try:
        return await anyio.to_thread.run_sync(work, *args, limiter=state.limiter)
    except AudioError as exc:
        raise bad_request(str(exc), "file", "invalid_audio") from None
    except SpeechRequestError as exc:
        raise bad_request(str(exc)) from None
    except SpeechUnavailable as exc:
        raise ApiError(503, str(exc), code="model_unavailable") from None


def _check_model(
    request: Request, requested: str | None, served: str | None, aliases: tuple[str, ...], what: str
) -> None:
    """``model``: empty, the served speech model's id or one of OpenAI's names for it."""
    if requested in (None, "", served, *aliases):
        return
    state: ServerState = request.app.state.server
    if requested in (state.model_id, state.embedding_model_id()):
        raise ApiError(400, f"model '{requested}' cannot do {what}; use '{served}'", param="model",
                       code="wrong_model")  # fmt: skip
    raise ApiError(
        404,
        f"model '{requested}' does not exist; {what} uses '{served}' (or {', '.join(aliases)})",
        param="model",
        code="model_not_found",
    )


def _unavailable(reason: str | None) -> ApiError:
    return ApiError(503, reason or "speech is unavailable", code="model_unavailable")


async def _iterate(request: Request, chunks: Iterator[T]) -> AsyncIterator[T]:
    """A blocking iterator, each step in a worker thread; closed when the client leaves."""
    state: ServerState = request.app.state.server
    done = object()
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, chunks, done, limiter=state.limiter)
            if item is done:
                return
            yield item  # type: ignore[misc]
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close)


# --- transcriptions ----------------------------------------------------------------------------
def _text_field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name}: send a text value, not a file", name)
    return value.strip()


def _float_field(form: FormData, name: str, low: float, high: float, default: float) -> float:
    text = _text_field(form, name)
    if text in (None, ""):
        return default
    try:
        value = float(text)  # type: ignore[arg-type]
    except ValueError:
        raise bad_request(f"{name}: '{text}' is not a number", name) from None
    if not low <= value <= high:
        raise bad_request(f"{name}: give a number between {low} and {high}, not {text}", name)
    return value


def _bool_field(form: FormData, name: str) -> bool:
    text = (_text_field(form, name) or "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise bad_request(f"{name}: give true or false, not '{text}'", name)
    return text in ("true", "1")


class TranscriptionForm:
    """The transcription request's fields, checked (400 naming the field)."""

    def __init__(self, form: FormData) -> None:
        unknown = sorted(set(form.keys()) - FORM_FIELDS)
        if unknown:
            raise bad_request(f"unknown field '{unknown[0]}'", unknown[0], "unknown_parameter")
        upload = form.get("file")
        if upload is None:
            raise bad_request("file: this field is required (the audio file, as multipart form data)",
                              "file", "missing_required_parameter")  # fmt: skip
        if not isinstance(upload, UploadFile):
            raise bad_request("file: send the audio as a file part of multipart form data", "file")
        self.upload = upload
        self.name = upload.filename or "file"
        self.model = _text_field(form, "model")
        self.language = _text_field(form, "language") or None
        self.prompt = _text_field(form, "prompt") or None
        self.temperature = _float_field(form, "temperature", 0.0, 1.0, 0.0)
        self.response_format = _text_field(form, "response_format") or "json"
        if self.response_format not in formats.TRANSCRIPT_FORMATS:
            raise bad_request(f"response_format: '{self.response_format}' is not supported; choose one of "
                              f"{', '.join(formats.TRANSCRIPT_FORMATS)}", "response_format")  # fmt: skip
        self.stream = _bool_field(form, "stream")
        if self.stream and self.response_format not in ("json", "text"):
            raise bad_request("stream: streaming sends text events; use response_format json or text with "
                              "stream=true", "stream", "unsupported_value")  # fmt: skip
        grains = [*form.getlist("timestamp_granularities[]"), *form.getlist("timestamp_granularities")]
        self.granularities = {str(g).strip() for g in grains}
        bad = self.granularities - {"word", "segment"}
        if bad:
            raise bad_request(f"timestamp_granularities[]: '{sorted(bad)[0]}' is not one of word, segment",
                              "timestamp_granularities[]")  # fmt: skip
        if self.granularities and self.response_format != "verbose_json":
            raise bad_request("timestamp_granularities[]: needs response_format=verbose_json",
                              "timestamp_granularities[]", "unsupported_value")  # fmt: skip


async def _read_form(request: Request) -> FormData:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise bad_request("send the audio as multipart/form-data with a 'file' part and a 'model' field",
                          code="invalid_content_type")  # fmt: skip
    try:
        return await request.form(max_files=1, max_fields=32)
    except ClientDisconnect:
        raise
    except Exception as exc:  # malformed multipart, too many parts
        raise bad_request(f"the multipart form could not be read: {exc}", code="invalid_form") from None


def _transcript_response(transcript: Transcript, form: TranscriptionForm) -> Response:
    fmt = form.response_format
    if fmt == "text":
        return PlainTextResponse(transcript.text + "\n")
    if fmt == "srt":
        return PlainTextResponse(formats.srt(transcript.segments), media_type="application/x-subrip")
    if fmt == "vtt":
        return PlainTextResponse(formats.vtt(transcript.segments), media_type="text/vtt")
    if fmt == "verbose_json":
        return JSONResponse(formats.verbose_json(transcript, form.granularities))
    return JSONResponse({"text": transcript.text, "usage": formats.usage(transcript)})


async def _transcript_events(request: Request, segments: Iterator[Segment]) -> AsyncIterator[str]:
    """OpenAI's transcription stream: a ``transcript.text.delta`` per segment, then ``.done``."""
    found: list[Segment] = []
    async for segment in _iterate(request, segments):
        delta = segment.text if found else segment.text.lstrip()
        found.append(segment)
        yield sse_data({"type": "transcript.text.delta", "delta": delta})
    text = join_segments(found)
    produced = sum(len(segment.tokens) for segment in found)  # the audio is not counted in tokens
    usage = {"type": "tokens", "input_tokens": 0, "output_tokens": produced, "total_tokens": produced}
    yield sse_data({"type": "transcript.text.done", "text": text, "usage": usage})


@router.post("/v1/audio/transcriptions", responses=ERROR_RESPONSES)
async def create_transcription(request: Request) -> Response:
    """Transcribe an audio file (multipart ``file`` + ``model``); OpenAI's fields and formats."""
    form = TranscriptionForm(await _read_form(request))
    services = _services(request)
    if not services.stt_enabled:
        raise _unavailable(services.stt_unavailable_reason())
    _check_model(request, form.model, services.stt_model_id, TRANSCRIPTION_MODELS, "transcription")
    data = await form.upload.read()
    audio = await _run(request, lambda: decode_audio(data, name=form.name))
    options = {
        "language": form.language,
        "prompt": form.prompt,
        "temperature": form.temperature,
        "word_timestamps": "word" in form.granularities,
    }
    if form.stream:
        segments = await _run(request, lambda: services.transcribe_segments(audio, name=form.name, **options))
        return SSEResponse(_transcript_events(request, segments))
    transcript = await _run(request, lambda: services.transcribe(audio, name=form.name, **options))
    return _transcript_response(transcript, form)


# --- speech -----------------------------------------------------------------------------------
def _voice(requested: str | None, voices: list[str]) -> str:
    """An installed voice, or OpenAI's voice names mapped onto the installed ones in turn."""
    if requested in (None, ""):
        return voices[0]
    if requested in voices:
        return requested  # type: ignore[return-value]
    if requested in OPENAI_VOICES:
        return voices[OPENAI_VOICES.index(requested) % len(voices)]
    raise bad_request(
        f"voice: '{requested}' is not a voice here; choose one of {', '.join([*voices, *OPENAI_VOICES])}",
        "voice",
    )


def _speech_chunks(
    services: SpeechServices, body: SpeechRequest, voice: str, speed: float
) -> tuple[AudioStreamEncoder, Iterator[bytes]]:
    """The encoder and an iterator of encoded bytes, one item per sentence plus the ending."""
    rate = services.tts_sample_rate
    fmt = body.response_format or "mp3"
    encoder = AudioStreamEncoder(fmt, PCM_RATE if fmt == "pcm" else rate)
    sentences = services.synthesize_stream(body.input, voice=voice, speed=speed)

    def encoded() -> Iterator[bytes]:
        try:
            for samples in sentences:
                piece = encoder.encode(resample(samples, rate, PCM_RATE) if fmt == "pcm" else samples)
                if piece:
                    yield piece
            last = encoder.finish()
            if last:
                yield last
        finally:
            sentences.close()  # type: ignore[attr-defined]

    return encoder, encoded()


async def _audio_bytes(request: Request, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    async for piece in _iterate(request, chunks):
        yield piece


async def _audio_events(request: Request, chunks: Iterator[bytes], characters: int) -> AsyncIterator[str]:
    async for piece in _iterate(request, chunks):
        yield sse_data({"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode("ascii")})
    tokens = {"input_tokens": characters, "output_tokens": 0, "total_tokens": characters}
    yield sse_data({"type": "speech.audio.done", "usage": tokens})


@router.post("/v1/audio/speech", responses=ERROR_RESPONSES)
async def create_speech(body: SpeechRequest, request: Request) -> Response:
    """Speak ``input``: audio in ``response_format``, streamed sentence by sentence (or as SSE)."""
    services = _services(request)
    if not services.tts_enabled:
        raise _unavailable(services.tts_unavailable_reason())
    _check_model(request, body.model, services.tts_model_id, SPEECH_MODELS, "speech")
    voices = await _run(request, services.voices)
    voice = _voice(body.voice, voices)
    speed = services.default_speed if body.speed is None else body.speed
    encoder, chunks = await _run(request, _speech_chunks, services, body, voice, speed)
    if body.stream_format == "sse":
        return SSEResponse(_audio_events(request, chunks, len(body.input)))
    return StreamingResponse(_audio_bytes(request, chunks), media_type=MIME_TYPES[encoder.fmt])


__all__ = ["OUTPUT_FORMATS", "router"]
