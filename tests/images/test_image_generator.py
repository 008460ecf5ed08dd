"""The image-generation core against a real loopback fake image server (no mocks)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from h2ogpt.errors import ConfigError, RequestError, UpstreamError
from h2ogpt.images.generator import ImageGenerator, ImageRequest, ImagesUnavailable, ImageTimeout
from h2ogpt.images.sizes import ImageSize, parse_size
from h2ogpt.settings import Settings
from support.fake_image_server import MISBEHAVE, FakeImageServer, colour_for


@pytest.fixture(scope="module")
def image_server() -> Iterator[FakeImageServer]:
    with FakeImageServer() as server:
        yield server


@pytest.fixture
def generator(image_server: FakeImageServer) -> ImageGenerator:
    return ImageGenerator.from_settings(Settings(image_server=image_server.flag, image_timeout=30))


def test_generates_checked_pngs_of_the_asked_size(generator: ImageGenerator, image_server) -> None:
    images = generator.generate(ImageRequest("a red fox", n=3, size="96x64"))
    assert len(images) == 3
    for index, generated in enumerate(images):
        with Image.open(io.BytesIO(generated.png)) as image:
            assert image.format == "PNG" and image.size == (96, 64)
            assert image.getpixel((5, 5)) == colour_for("a red fox", index)
        assert generated.size == ImageSize(96, 64)
    sent = image_server.state.requests[-1]
    assert sent["response_format"] == "b64_json" and sent["n"] == 3 and sent["size"] == "96x64"
    assert "model" not in sent  # no --image_model: the server's default


def test_openai_names_mean_the_configured_model(image_server) -> None:
    settings = Settings(image_server=image_server.flag, image_model="sd-turbo")
    generator = ImageGenerator.from_settings(settings)
    generator.generate(ImageRequest("x", model="dall-e-3", extra={"quality": "hd", "style": None}))
    sent = image_server.state.requests[-1]
    assert sent["model"] == "sd-turbo" and sent["quality"] == "hd" and "style" not in sent


@pytest.mark.parametrize(
    ("trick", "expected"),
    [
        ("garbage", "not a valid image"),
        ("truncated", "not a valid image"),
        ("wrong_size", "instead of the asked 64x64"),
        ("not_json", "OpenAI's JSON"),
        ("status_500", "HTTP 500"),
    ],
)
def test_a_misbehaving_server_is_an_upstream_error_naming_it(
    generator, image_server, trick, expected
) -> None:
    with pytest.raises(UpstreamError) as caught:
        generator.generate(ImageRequest(f"{MISBEHAVE}{trick}", size="64x64"))
    assert expected in str(caught.value) and image_server.url in str(caught.value)


@pytest.mark.parametrize("trick", ["as_data_url", "as_link"])
def test_data_urls_and_links_on_the_image_server_are_read(generator, image_server, trick) -> None:
    prompt = f"{MISBEHAVE}{trick}"
    images = generator.generate(ImageRequest(prompt, n=2, size="64x64"))
    for index, generated in enumerate(images):
        with Image.open(io.BytesIO(generated.png)) as image:
            assert image.size == (64, 64) and image.getpixel((1, 1)) == colour_for(prompt, index)


def test_links_to_other_hosts_are_not_followed(generator) -> None:
    with pytest.raises(UpstreamError, match=r"link to another host \(images\.example\.com\)"):
        generator.generate(ImageRequest(f"{MISBEHAVE}foreign_link", size="64x64"))


def test_a_rejected_request_is_the_requests_fault(generator) -> None:
    with pytest.raises(RequestError, match=r"rejected the request \(HTTP 400\): this server does not draw"):
        generator.generate(ImageRequest(f"{MISBEHAVE}reject"))


def test_a_slow_server_times_out(image_server) -> None:
    generator = ImageGenerator.from_settings(Settings(image_server=image_server.flag, image_timeout=0.5))
    with pytest.raises(ImageTimeout, match=r"did not answer within 0\.5 s.*--image_timeout"):
        generator.generate(ImageRequest(f"{MISBEHAVE}slow", size="64x64"))


def test_an_unreachable_server_names_the_flag() -> None:
    generator = ImageGenerator.from_settings(Settings(image_server="openai:http://127.0.0.1:9/v1"))
    with pytest.raises(
        UpstreamError, match=r"cannot reach the image server at http://127\.0\.0\.1:9/v1.*--image_server"
    ):
        generator.generate(ImageRequest("x", size="64x64"))


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (ImageRequest("   "), "prompt: describe"),
        (ImageRequest("x" * 4001), "prompt: at most 4000"),
        (ImageRequest("x", n=0), "n: ask for 1 to 10"),
        (ImageRequest("x", n=11), "n: ask for 1 to 10"),
        (ImageRequest("x", size="big"), "size: 'big' is not WIDTHxHEIGHT"),
        (ImageRequest("x", size="8x8"), "each side must be 64 to 4096"),
    ],
)
def test_bad_requests_name_the_field(generator, image_server, request_, expected) -> None:
    before = len(image_server.state.requests)
    with pytest.raises(RequestError, match=expected):
        generator.generate(request_)
    assert len(image_server.state.requests) == before  # nothing was sent


def test_sizes() -> None:
    assert parse_size("512x512") == ImageSize(512, 512)
    assert parse_size(" 1792 X 1024 ") == ImageSize(1792, 1024)
    assert parse_size("auto") is None and parse_size(None) is None


def test_off_without_the_flag_and_bad_flags_name_it() -> None:
    with pytest.raises(ImagesUnavailable, match="--image_server=openai:http://host:port/v1"):
        ImageGenerator.from_settings(Settings())
    with pytest.raises(ImagesUnavailable, match="--enable_image=False"):
        ImageGenerator.from_settings(Settings(image_server="http://127.0.0.1:9/v1", enable_image=False))
    with pytest.raises(ConfigError, match="--image_server=nope:x: unknown server kind"):
        Settings(image_server="nope:x")
