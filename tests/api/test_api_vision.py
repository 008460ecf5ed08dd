"""Images in chat requests, end to end through the official ``openai`` client and our real
server: a chat model that sees (the loopback fake vision server, which decodes the pixels),
a vision model describing for the embedded local model, OCR when nobody can see, and 400s
for bad images."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import httpx
import openai
import pytest
from PIL import Image

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.remote.backend import RemoteBackend
from h2ogpt.backends.remote.spec import parse_inference_server
from h2ogpt.settings import Settings
from h2ogpt.vision.reading import not_seen_note
from openai_server.limits import MAX_BODY_BYTES
from openai_server.server import ServerHandle, serve_in_thread
from support.fake_vision import VISION_MODEL_ID, FakeVision, image_part, png, text_png

pytest_plugins = ["support.api_fixtures"]


def ask(text: str, *parts: dict) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text}, *parts]}]


@pytest.fixture(scope="module")
def seeing_api(fake_vision: FakeVision, data_dir) -> Iterator[ServerHandle]:
    """Our server whose chat model is the fake vision server (it sees); image URLs allowed."""
    settings = Settings(
        inference_server=f"vllm_chat:{fake_vision.url}",
        data_dir=data_dir,
        server_name="127.0.0.1",
        allow_image_urls=True,
    )
    backend = RemoteBackend(parse_inference_server(settings.inference_server), max_retries=0)
    with serve_in_thread(settings, Pipeline(settings, backend), port=0) as handle:
        yield handle
    backend.close()


@pytest.fixture(scope="module")
def describing_api(fake_vision: FakeVision, settings: Settings, backend) -> Iterator[ServerHandle]:
    """Our server with the embedded local model (cannot see) and the fake as --visible_vision_models."""
    described = settings.model_copy(
        update={"visible_vision_models": f"vllm_chat:{fake_vision.url}", "max_new_tokens": 12}
    )
    described = described.model_copy(update={"server_name": "127.0.0.1"})
    with serve_in_thread(described, Pipeline(described, backend), port=0) as handle:
        yield handle


def client_of(handle: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=handle.base_url, api_key="x", max_retries=0, timeout=120)


def test_a_red_square_is_answered_as_red(seeing_api, fake_vision):
    fake_vision.reset()
    client = client_of(seeing_api)
    reply = client.chat.completions.create(
        model="h2ogpt", messages=ask("What colour is this?", image_part(png("red"), "low"))
    )
    assert reply.choices[0].message.content == "Image 1: a red image, 64x64."
    assert reply.model_extra["vision"] == {
        "how": "seen",
        "by": VISION_MODEL_ID,
        "images": 1,
        "texts": [],
        "note": "",
    }
    sent = fake_vision.image_requests()[-1]["messages"][-1]["content"][1]["image_url"]
    assert sent["detail"] == "low" and sent["url"].startswith("data:image/png;base64,")


def test_two_images_arrive_in_order_streamed(seeing_api, fake_vision):
    fake_vision.reset()
    stream = client_of(seeing_api).chat.completions.create(
        model="h2ogpt",
        messages=ask("Compare them.", image_part(png("blue", (32, 48))), image_part(png("yellow", (16, 16)))),
        stream=True,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Image 1: a blue image, 32x48. Image 2: a yellow image, 16x16."
    assert [c.model_extra["vision"]["how"] for c in chunks if "vision" in (c.model_extra or {})] == ["seen"]


def test_image_urls_are_fetched_when_allowed(seeing_api, fake_vision):
    url = fake_vision.url.removesuffix("/v1") + "/images/green-20x10.png"
    part = {"type": "image_url", "image_url": {"url": url}}
    reply = client_of(seeing_api).chat.completions.create(model="h2ogpt", messages=ask("What is it?", part))
    assert reply.choices[0].message.content == "Image 1: a green image, 20x10."
    missing = {"type": "image_url", "image_url": {"url": url.replace("green-20x10", "nothing")}}
    with pytest.raises(openai.BadRequestError, match="answered HTTP 4"):
        client_of(seeing_api).chat.completions.create(model="h2ogpt", messages=ask("?", missing))


def test_a_photo_larger_than_the_usual_body_limit_is_accepted(seeing_api):
    out = io.BytesIO()
    Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3)).save(out, "PNG")  # noise: ~4.3 MB
    assert len(out.getvalue()) * 4 / 3 > MAX_BODY_BYTES
    reply = client_of(seeing_api).chat.completions.create(
        model="h2ogpt", messages=ask("What is it?", image_part(out.getvalue()))
    )
    assert reply.choices[0].message.content.endswith("image, 1200x1200.")


def test_the_chat_body_limit_follows_max_image_bytes(settings, backend):
    small = settings.model_copy(update={"max_image_bytes": 1024 * 1024, "server_name": "127.0.0.1"})
    with serve_in_thread(small, Pipeline(small, backend), port=0) as handle:
        body = b'{"messages": [{"role": "user", "content": "' + b"x" * (6 * 1024 * 1024) + b'"}]}'
        reply = httpx.post(f"{handle.url}/v1/chat/completions", content=body, timeout=60)
    assert reply.status_code == 413 and "larger than 5 MiB" in reply.json()["error"]["message"]


def test_the_local_model_answers_from_the_vision_models_description(describing_api, fake_vision):
    fake_vision.reset()
    reply = client_of(describing_api).chat.completions.create(
        model="h2ogpt", messages=ask("Which colour is the square?", image_part(png("red")))
    )
    vision = reply.model_extra["vision"]
    assert (vision["how"], vision["by"]) == ("described", VISION_MODEL_ID)
    assert vision["texts"] == ["Image 1: a red image, 64x64."]  # given to the local model as context
    assert any("Which colour is the square?" in q for q in fake_vision.questions())  # asked with the question
    assert reply.choices[0].message.content and not reply.choices[0].message.content.startswith("Note:")


def test_without_a_vision_model_the_answer_comes_from_ocr_and_says_so(client, model_id):
    reply = client.chat.completions.create(
        model=model_id,
        messages=ask("What is the invoice number?", image_part(text_png(["INVOICE 4821", "TOTAL 93 EUR"]))),
        max_tokens=12,
    )
    assert reply.choices[0].message.content.startswith(not_seen_note(1))
    vision = reply.model_extra["vision"]
    assert vision["how"] == "ocr" and "INVOICE 4821" in vision["texts"][0]


@pytest.mark.parametrize(
    ("parts", "fragment", "param"),
    [
        ([image_part(b"%PDF-1.4 this is not an image")], "not an image", "messages[0].content[1]"),
        ([image_part(png("red")[:70])], "damaged or truncated", "messages[0].content[1]"),
        ([image_part(png("red", (10_000, 5_000)))], "50.0 megapixels", "messages[0].content[1]"),
        ([image_part(png("red", (8, 8)))] * 9, "more than 8 images", "messages[0].content[9]"),
        (
            [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/cat.png"}}],
            "--allow_image_urls=True",
            "messages[0].content[1]",
        ),
        ([{"type": "image_url", "image_url": {"url": "ftp://x/cat.png"}}], "unsupported image URL", None),
        ([{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}], "must be base64", None),
        (
            [{"type": "image_url", "image_url": "data:image/png;base64,AAAA", "detail": "huge"}],
            "detail",
            None,
        ),
        ([{"type": "image_url"}], "needs", None),
    ],
)
def test_bad_images_are_400_naming_the_problem(client, model_id, parts, fragment, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model_id, messages=ask("What is this?", *parts))
    body = caught.value.body
    assert fragment in body["message"] and body["type"] == "invalid_request_error"
    if param:
        assert body["param"] == param


def test_images_only_in_user_messages(client, model_id):
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "x"}, image_part(png("red"))]},
        {"role": "user", "content": "and?"},
    ]
    with pytest.raises(openai.BadRequestError, match="only user messages may carry images"):
        client.chat.completions.create(model=model_id, messages=messages)
