"""Images are checked by decoding their bytes: formats, damage, limits, and the request shape."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from h2ogpt.answering.model_lock import locked_models
from h2ogpt.cli.flags import build_settings
from h2ogpt.errors import ConfigError
from h2ogpt.request import AnswerRequest, ChatMessage
from h2ogpt.settings import Settings
from h2ogpt.vision.images import ImageError, ImageInput, ImageLimits, check_images, load_image
from h2ogpt.vision.server import vision_server
from h2ogpt.vision.sources import data_url_bytes, image_files
from support.fake_vision import png


def encoded(fmt: str, size=(40, 30), colour="blue") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_each_format_is_read_from_its_bytes(fmt, mime):
    image = load_image(encoded(fmt), name="photo.png", detail="high")  # the name's extension is ignored
    assert (image.mime, image.width, image.height, image.detail) == (mime, 40, 30, "high")
    assert image.data_url().startswith(f"data:{mime};base64,")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "the file is empty"),
        (b"GIF89a but not really", "not an image"),
        (b"%PDF-1.4 not an image at all", "not an image"),
        (png("red")[:60], "damaged or truncated"),
        (encoded("BMP"), "a BMP image; send PNG, JPEG, WebP or GIF"),
    ],
)
def test_bad_bytes_are_refused_naming_the_image(data, fragment):
    with pytest.raises(ImageError, match=fragment) as caught:
        load_image(data, name="upload.png", number=3)
    assert str(caught.value).startswith("image 3 (upload.png): ")


def test_a_50_megapixel_image_is_refused_before_decoding():
    big = encoded("PNG", size=(10_000, 5_000), colour="red")  # small file, 50 MP of pixels
    with pytest.raises(ImageError, match=r"10000x5000 is 50.0 megapixels.*--max_image_pixels"):
        load_image(big)


def test_a_decompression_bomb_is_refused():
    out = io.BytesIO()
    Image.new("1", (20_000, 10_000)).save(out, "PNG")  # 200 megapixels in a few KB
    with pytest.raises(ImageError, match="too many pixels"):
        load_image(out.getvalue())


def test_size_and_count_limits():
    limits = ImageLimits(max_bytes=2048, max_pixels=10_000, max_images=2)
    with pytest.raises(ImageError, match=r"larger than the.*--max_image_bytes"):
        load_image(b"\x89PNG" + b"0" * 4096, limits=limits)
    small = load_image(png("red", (10, 10)), limits=limits)
    check_images([small, small], limits)
    with pytest.raises(ImageError, match=r"3 images in one request; at most 2.*--max_images"):
        check_images([small] * 3, limits)


def test_images_ride_on_user_messages_and_survive_json():
    red = load_image(png("red"), name="red.png")
    request = AnswerRequest.from_prompt("What colour?", images=[red])
    assert request.images == [red]
    assert ChatMessage(role="user", content="hi").model_dump() == {"role": "user", "content": "hi"}
    again = AnswerRequest.model_validate_json(request.model_dump_json())
    assert again.images[0].data == red.data and again.images[0].mime == "image/png"
    with pytest.raises(ValueError, match="only user messages may carry images"):
        ChatMessage(role="assistant", content="x", images=[red])
    with pytest.raises(ValueError, match="not an image"):
        ImageInput(data=b"plain text")  # built directly, the bytes are still checked


def test_data_urls_must_be_base64():
    assert data_url_bytes("data:image/png;base64,aGk=", "x") == b"hi"
    with pytest.raises(ImageError, match="must be base64"):
        data_url_bytes("data:image/png,rawbytes", "x")
    with pytest.raises(ImageError, match="not valid base64"):
        data_url_bytes("data:image/png;base64,***", "x")


def test_image_flag_repeats_and_files_are_checked(tmp_path):
    (tmp_path / "a.png").write_bytes(png("red"))
    (tmp_path / "notes.png").write_text("just text")
    settings = build_settings(
        [f"--image={tmp_path / 'a.png'}", "--image", str(tmp_path / "a.png")], environ={}
    )
    assert len(image_files(settings.image, ImageLimits.from_settings(settings))) == 2
    with pytest.raises(ImageError, match=r"^--image=.*notes.png: not an image"):
        image_files([str(tmp_path / "notes.png")], ImageLimits())
    with pytest.raises(ImageError, match=r"^--image=/no/such.png: no such file"):
        image_files(["/no/such.png"], ImageLimits())


def test_vision_model_flag_is_checked():
    assert Settings(visible_vision_models="vllm_chat:http://127.0.0.1:8000/v1").visible_vision_models
    with pytest.raises(
        ConfigError, match=r"--visible_vision_models=vllm:http://x/v1: a vision model must be served"
    ):
        build_settings(["--visible_vision_models=vllm:http://x/v1"], environ={})


def test_vision_model_may_be_a_served_model_lock_entry():
    """h2oGPT's other form: --visible_vision_models names a --model_lock model (name or base_model)."""
    lock = json.dumps(
        [
            {"name": "chat", "base_model": "llama"},
            {"name": "eyes", "inference_server": "vllm_chat:http://127.0.0.1:8001/v1"},
        ]
    )
    settings = Settings(model_lock=lock, visible_vision_models="eyes")
    assert vision_server(settings).base_url == "http://127.0.0.1:8001/v1"
    compared = [own for _, own in locked_models(settings)]  # each model keeps the vision model
    assert [vision_server(own).base_url for own in compared] == ["http://127.0.0.1:8001/v1"] * 2
    with pytest.raises(ConfigError, match=r"--visible_vision_models=chat: .*runs on this machine"):
        build_settings([f"--model_lock={lock}", "--visible_vision_models=chat"], environ={})
    with pytest.raises(ConfigError, match=r"--visible_vision_models=glasses: .*--model_lock entry"):
        build_settings([f"--model_lock={lock}", "--visible_vision_models=glasses"], environ={})
