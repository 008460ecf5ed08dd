"""Attached images without a browser: their checks, how a conversation keeps them (and a saved
chat, exported and imported), what the model gets, and how they and their reading are shown."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from gradio_utils.image_attach import (
    attached_images,
    image_count,
    images_of,
    images_read_html,
    thumbnails_html,
    vision_record,
)
from gradio_utils.render import chatbot_messages, model_history
from h2ogpt.events import ImagesRead
from h2ogpt.persistence.chats import ChatStore
from h2ogpt.vision.images import ImageError, ImageLimits
from support.fake_vision import png


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    made = {"red.png": png("red", (64, 64)), "blue.png": png("blue", (32, 48))}
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "fake.png").write_text("hello", encoding="utf-8")
    (tmp_path / "cut.png").write_bytes(png("green", (300, 300))[:200])
    return {name: str(tmp_path / name) for name in ("red.png", "blue.png", "fake.png", "cut.png")}


def test_attached_images_become_records_in_order(files) -> None:
    records = attached_images([files["red.png"], files["blue.png"]], ImageLimits())
    assert [(r["name"], r["mime"], r["width"], r["height"]) for r in records] == [
        ("red.png", "image/png", 64, 64),
        ("blue.png", "image/png", 32, 48),
    ]
    images = images_of({"role": "user", "content": "", "images": records})
    assert [i.data for i in images] == [
        Path(files["red.png"]).read_bytes(),
        Path(files["blue.png"]).read_bytes(),
    ]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("fake.png", r"image 1 \(fake\.png\): not an image"),
        ("cut.png", r"image 1 \(cut\.png\): .*(damaged|truncated)"),
    ],
)
def test_a_bad_file_is_an_error_naming_it(files, name, says) -> None:
    with pytest.raises(ImageError, match=says):
        attached_images([files[name]], ImageLimits())


def test_limits_name_their_flag(files) -> None:
    with pytest.raises(ImageError, match=r"--max_image_pixels"):
        attached_images([files["red.png"]], ImageLimits(max_pixels=1000))
    with pytest.raises(
        ImageError, match=r"3 images with this question \(the chat's earlier questions hold 2\).*--max_images"
    ):
        attached_images([files["red.png"]], ImageLimits(max_images=2), already=2)
    # the numbering goes on after the chat's earlier images
    with pytest.raises(ImageError, match=r"image 3 \(fake\.png\)"):
        attached_images([files["fake.png"]], ImageLimits(), already=2)


def test_the_model_gets_each_questions_images_and_old_messages_load(files) -> None:
    records = attached_images([files["red.png"]], ImageLimits())
    conversation = [
        {"role": "user", "content": "An old question"},  # saved before images existed
        {"role": "assistant", "content": "An old answer"},
        {"role": "user", "content": "What colour?", "images": records},
    ]
    history = model_history(conversation)
    assert [len(m.images) for m in history] == [0, 0, 1]
    assert history[2].images[0].width == 64
    assert image_count(conversation) == 1


def test_images_survive_a_saved_chat_and_its_export(files, tmp_path) -> None:
    records = attached_images([files["red.png"], files["blue.png"]], ImageLimits())
    store = ChatStore(tmp_path / "chats.sqlite")
    messages = [
        {"role": "user", "content": "Colours?", "images": records},
        {"role": "assistant", "content": "Red, blue.", "vision": {"how": "described", "by": "m", "count": 2}},
    ]
    saved = store.save("ann", messages)
    for reopened in (
        store.get("ann", saved.id).messages,
        store.import_json("bob", store.export_json("ann"))[0].messages,
    ):
        assert [i.data for i in images_of(reopened[0])] == [i.data for i in images_of(messages[0])]
        assert reopened[1]["vision"]["by"] == "m"


def _pixel(data_url: str) -> tuple[int, ...]:
    data = base64.b64decode(data_url.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as img:
        assert max(img.size) <= 160
        return img.convert("RGB").getpixel((img.width // 2, img.height // 2))


def test_a_question_shows_thumbnails_before_its_text(files) -> None:
    records = attached_images([files["red.png"]], ImageLimits())
    records[0]["name"] = '<b>"x".png'
    shown = chatbot_messages([{"role": "user", "content": "What colour?", "images": records}], "m0-")
    content = shown[0]["content"]
    assert content.index('<div class="attached-images">') < content.index("What colour?")
    assert "&lt;b&gt;&quot;x&quot;.png" in content and '<b>"x"' not in content
    src = content.split('src="', 1)[1].split('"', 1)[0]
    red, green, blue = _pixel(src)
    assert red > 200 and green < 60 and blue < 60
    assert thumbnails_html({"role": "user", "content": "no images"}) == ""


def test_a_damaged_record_shows_its_name_and_never_breaks_the_chat() -> None:
    message = {"role": "user", "content": "q", "images": [{"data": "AAAA", "name": "lost.png"}]}
    assert "[image 1: lost.png]" in thumbnails_html(message)


def test_the_answer_says_how_the_images_were_read() -> None:
    described = vision_record(ImagesRead("described", "vlm", 2, ("Image 1: red. Image 2: <blue>.",)))
    line = images_read_html(described)
    assert "2 images described by <b>vlm</b>" in line and "Image 2: &lt;blue&gt;." in line
    assert "1 image seen by <b>chat</b>" in images_read_html(vision_record(ImagesRead("seen", "chat", 1)))
    ocr = images_read_html(vision_record(ImagesRead("ocr", "OCR (RapidOCR)", 1, ("Total 93 EUR",), "Note")))
    assert "not seen" in ocr and "Total 93 EUR" in ocr
    answer = {"role": "assistant", "content": "It is red.", "vision": described}
    shown = chatbot_messages([{"role": "user", "content": "q"}, answer], "m0-")
    assert shown[1]["content"].startswith('<div class="images-read">') and shown[1]["content"].endswith(
        "It is red."
    )
    assert images_read_html(None) == "" and json.dumps(described)  # a plain JSON record
