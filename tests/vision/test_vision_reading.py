"""Who looks at a question's images, through the real pipeline: a chat model that sees (the
loopback fake vision server as the chat backend), a separate vision model describing them for
the embedded local model, or OCR of printed text when no model can see."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.remote.backend import RemoteBackend
from h2ogpt.backends.remote.spec import parse_inference_server
from h2ogpt.events import ErrorEvent, FinalAnswer, ImagesRead, TokenDelta
from h2ogpt.request import AnswerRequest
from h2ogpt.settings import Settings
from h2ogpt.vision.images import load_image
from h2ogpt.vision.reading import not_seen_note
from support.fake_vision import VISION_MODEL_ID, FakeVision, png, text_png

RED, BLUE = load_image(png("red"), name="red.png"), load_image(png("blue", (32, 48)), name="blue.png")
INVOICE = load_image(text_png(["INVOICE 4821", "TOTAL 93 EUR"]), name="invoice.png")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVision]:
    server = FakeVision().start()
    yield server
    server.stop()


@pytest.fixture
def vision(fake: FakeVision) -> FakeVision:
    fake.reset()
    return fake


def run(pipeline: Pipeline, request: AnswerRequest) -> list:
    events = list(pipeline.answer(request))
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert not errors, errors
    return events


def test_a_chat_model_that_sees_gets_the_images_in_order(vision, settings):
    remote = settings.model_copy(update={"inference_server": f"vllm_chat:{vision.url}"})
    backend = RemoteBackend(parse_inference_server(remote.inference_server), max_retries=0)
    try:
        events = run(
            Pipeline(remote, backend), AnswerRequest.from_prompt("What do you see?", images=[RED, BLUE])
        )
    finally:
        backend.close()
    read = events[0]
    assert isinstance(read, ImagesRead) and (read.how, read.by, read.count) == ("seen", VISION_MODEL_ID, 2)
    final = events[-1]
    assert final.text == "Image 1: a red image, 64x64. Image 2: a blue image, 32x48."
    assert final.images == read
    (body,) = vision.image_requests()
    parts = body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    assert parts[0]["text"] == "What do you see?"


def test_a_vision_model_describes_the_images_for_a_model_that_cannot_see(vision, settings, backend):
    described = settings.model_copy(update={"visible_vision_models": f"vllm_chat:{vision.url}"})
    pipeline = Pipeline(described, backend)  # the embedded local model: it cannot see
    request = AnswerRequest.from_prompt("What colour is this picture?", images=[RED], max_new_tokens=8)
    prepared, read = pipeline.images.prepare(request)
    assert (read.how, read.by, read.texts) == (
        "described",
        VISION_MODEL_ID,
        ("Image 1: a red image, 64x64.",),
    )
    prompt = prepared.messages[-1]
    assert not prompt.images and "a red image, 64x64" in prompt.content  # the description is in the prompt
    assert prompt.content.endswith("What colour is this picture?")
    assert f"described by the vision model {VISION_MODEL_ID}" in prompt.content
    assert any("What colour is this picture?" in q for q in vision.questions())  # asked with the question

    events = run(pipeline, request)
    assert isinstance(events[0], ImagesRead) and events[0].how == "described"
    final = events[-1]
    assert isinstance(final, FinalAnswer) and final.images == events[0]
    assert not final.text.startswith("Note:")  # the image was seen, by the vision model


def test_scaled_candidates_share_one_description(vision, settings, backend):
    described = settings.model_copy(update={"visible_vision_models": f"vllm_chat:{vision.url}"})
    request = AnswerRequest.from_prompt(
        "Which colour?",
        images=[RED],
        max_new_tokens=6,
        scaling_algorithm="self-consistency",
        budget=3,
        seed=1,
    )
    events = run(Pipeline(described, backend), request)
    # self-consistency may stop early once its votes agree: at least two candidates shared the description
    assert events[-1].scaling is not None and len(events[-1].scaling.candidates) >= 2
    assert len(vision.image_requests()) == 1  # described once, seen by every candidate


def test_without_a_vision_model_the_ocr_text_is_used_and_the_answer_says_so(settings, backend):
    pipeline = Pipeline(settings, backend)
    request = AnswerRequest.from_prompt("What is the invoice total?", images=[INVOICE], max_new_tokens=12)
    prepared, read = pipeline.images.prepare(request)
    assert read.how == "ocr" and "INVOICE 4821" in read.texts[0] and "TOTAL 93 EUR" in read.texts[0]
    assert "INVOICE 4821\nTOTAL 93 EUR" in prepared.messages[-1].content  # the OCR text is in the prompt
    assert "was not seen" in prepared.messages[-1].content

    events = run(pipeline, request)
    note = not_seen_note(1)
    assert note.startswith("Note: the image itself was not seen")
    first_text = next(e for e in events if isinstance(e, TokenDelta))
    assert first_text.text == note
    final = events[-1]
    assert final.text.startswith(note) and final.images.how == "ocr"


def test_ocr_note_stays_out_of_a_json_answer(settings, backend):
    request = AnswerRequest.from_prompt(
        "Give the total as JSON.", images=[INVOICE], max_new_tokens=16, response_format="json_object"
    )
    final = run(Pipeline(settings, backend), request)[-1]
    assert final.text.lstrip().startswith("{") and final.images.note == not_seen_note(1)


def test_images_over_the_limits_are_a_request_error(settings, backend):
    few = Settings.model_validate({**settings.model_dump(), "max_images": 1})
    events = list(Pipeline(few, backend).answer(AnswerRequest.from_prompt("?", images=[RED, BLUE])))
    assert isinstance(events[-1], ErrorEvent) and events[-1].kind == "bad_request"
    assert "2 images in one request; at most 1" in events[-1].message


def test_a_failing_vision_model_is_named(vision, settings, backend):
    vision.state.fail_status, vision.state.fail_times, vision.state.fail_message = 400, 5, "model overloaded"
    described = settings.model_copy(update={"visible_vision_models": f"vllm_chat:{vision.url}"})
    events = list(Pipeline(described, backend).answer(AnswerRequest.from_prompt("?", images=[RED])))
    assert isinstance(events[-1], ErrorEvent)
    assert "the vision model (--visible_vision_models) failed" in events[-1].message
    assert "model overloaded" in events[-1].message


def test_the_vision_model_may_be_named_by_its_model_lock_entry(vision, settings, backend):
    lock = json.dumps([{"name": "eyes", "inference_server": f"vllm_chat:{vision.url}"}])
    named = settings.model_copy(update={"model_lock": lock, "visible_vision_models": "eyes"})
    request = AnswerRequest.from_prompt("What colour is this?", images=[BLUE], max_new_tokens=4)
    _, read = Pipeline(named, backend).images.prepare(request)
    assert (read.how, read.texts) == ("described", ("Image 1: a blue image, 32x48.",))
