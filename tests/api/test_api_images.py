"""/v1/images/generations through the official client, on a real server, against a real
loopback fake image server that renders PNGs with Pillow (tests/support/fake_image_server.py)."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import httpx
import openai
import pytest
from PIL import Image

from openai_server.server import ServerHandle
from support.api_fixtures import API_KEYS, start
from support.fake_image_server import MISBEHAVE, SLOW_SECONDS, FakeImageServer, colour_for

pytest_plugins = ["support.api_fixtures"]


@pytest.fixture(scope="module")
def image_server() -> Iterator[FakeImageServer]:
    with FakeImageServer() as server:
        yield server


@pytest.fixture(scope="module")
def images_api(settings, pipeline, image_server: FakeImageServer) -> Iterator[ServerHandle]:
    """Our server with --image_server pointing at the fake, and an API key required."""
    with start(settings, pipeline, image_server=image_server.flag, api_keys=API_KEYS[0]) as handle:
        yield handle


@pytest.fixture(scope="module")
def images_client(images_api: ServerHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=images_api.base_url, api_key=API_KEYS[0], max_retries=0, timeout=60)


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _error(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def _post(handle: ServerHandle, body: dict, key: str | None = API_KEYS[0]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{handle.base_url}/images/generations", json=body, headers=headers, timeout=60)


@pytest.mark.parametrize("size", ["256x256", "512x512", "320x192"])
def test_b64_json_images_are_pngs_of_the_asked_size(images_client, size) -> None:
    result = images_client.images.generate(
        prompt="a lighthouse at dusk", n=2, size=size, response_format="b64_json"
    )
    assert len(result.data) == 2
    width, height = (int(side) for side in size.split("x"))
    for index, item in enumerate(result.data):
        image = _png(base64.b64decode(item.b64_json))
        assert image.format == "PNG" and image.size == (width, height)
        assert image.getpixel((width // 2, height // 2)) == colour_for("a lighthouse at dusk", index)
        assert item.url is None
    assert result.output_format == "png"


def test_url_format_is_a_data_url_and_n_is_honoured(images_client) -> None:
    result = images_client.images.generate(prompt="three cats", n=3, size="64x64", response_format="url")
    assert len(result.data) == 3
    colours = set()
    for item in result.data:
        assert item.b64_json is None and item.url.startswith("data:image/png;base64,")
        image = _png(base64.b64decode(item.url.partition(",")[2]))
        assert image.size == (64, 64)
        colours.add(image.getpixel((0, 0)))
    assert len(colours) == 3  # three different images


def test_default_format_is_url_and_openai_model_names_are_accepted(images_client, image_server) -> None:
    for model in ("dall-e-2", "dall-e-3", "gpt-image-1"):
        result = images_client.images.generate(
            model=model, prompt="a boat", size="64x64", quality="hd", style="vivid", user="u-1"
        )
        assert len(result.data) == 1 and result.data[0].url.startswith("data:image/png;base64,")
        sent = image_server.state.requests[-1]
        assert "model" not in sent  # no --image_model: the image server's default model
        assert sent["quality"] == "hd" and sent["style"] == "vivid" and "user" not in sent
        assert sent["response_format"] == "b64_json"


@pytest.mark.shared_data
def test_the_answer_conforms_to_openais_schema(images_api) -> None:
    import jsonschema_rs
    import yaml
    from test_api_conformance import SPEC, _nullable_to_anyof  # the pinned OpenAI spec

    with SPEC.open() as f:
        spec = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    schema = {
        "$ref": "#/components/schemas/ImagesResponse",
        "components": _nullable_to_anyof(spec["components"]),
    }
    validator = jsonschema_rs.Draft202012Validator(schema)
    for response_format in ("b64_json", "url"):
        body = {"prompt": "x", "n": 2, "size": "64x64", "response_format": response_format}
        response = _post(images_api, {**body, "background": "opaque", "moderation": "low"})
        assert response.status_code == 200, response.text
        errors = [f"{e.instance_path}: {e.message}"[:200] for e in validator.iter_errors(response.json())]
        assert not errors, errors


def test_our_api_key_is_checked_and_not_forwarded(images_api, image_server) -> None:
    assert _post(images_api, {"prompt": "x", "size": "64x64"}, key=None).status_code == 401
    assert _post(images_api, {"prompt": "x", "size": "64x64"}).status_code == 200
    assert API_KEYS[0] not in image_server.state.headers[-1].get("authorization", "")


@pytest.mark.parametrize(
    ("body", "param", "expected"),
    [
        ({"prompt": ""}, "prompt", "describe the image"),
        ({"prompt": "   "}, "prompt", "describe the image"),
        ({"prompt": "x" * 4001}, "prompt", "at most 4000 characters"),
        ({"size": "64x64"}, "prompt", "required"),
        ({"prompt": "x", "n": 0}, "n", "1 to 10"),
        ({"prompt": "x", "n": 11}, "n", "1 to 10"),
        ({"prompt": "x", "size": "huge"}, "size", "is not WIDTHxHEIGHT"),
        ({"prompt": "x", "size": "10000x10"}, "size", "64 to 4096"),
        ({"prompt": "x", "response_format": "png"}, "response_format", "b64_json"),
        ({"prompt": "x", "output_format": "jpeg"}, "output_format", "png"),
        ({"prompt": "x", "steps": 20}, "steps", "unknown field"),
        ({"prompt": "x", "stream": True}, "stream", "not supported"),
    ],
)
def test_bad_requests_are_400_naming_the_field(images_api, image_server, body, param, expected) -> None:
    before = len(image_server.state.requests)
    response = _post(images_api, body)
    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["param"] == param and expected in error["message"], error
    assert len(image_server.state.requests) == before  # nothing reached the image server


def test_bad_size_through_the_official_client_is_a_bad_request(images_client) -> None:
    with pytest.raises(openai.BadRequestError, match="size"):
        images_client.images.generate(prompt="x", size="12x12")


@pytest.mark.parametrize(
    ("trick", "expected"),
    [
        ("garbage", "not a valid image"),
        ("truncated", "not a valid image"),
        ("wrong_size", "at 72x64 instead of the asked 64x64"),
        ("not_json", "OpenAI's JSON"),
        ("status_500", "HTTP 500): CUDA out of memory"),
    ],
)
def test_a_misbehaving_image_server_is_a_502_naming_it(images_api, image_server, trick, expected) -> None:
    response = _post(images_api, {"prompt": f"{MISBEHAVE}{trick}", "size": "64x64"})
    assert response.status_code == 502, response.text
    error = _error(response)
    assert error["type"] == "server_error" and error["code"] == "upstream_error"
    assert image_server.url in error["message"] and expected in error["message"], error


def test_the_image_servers_rejection_is_a_400(images_client) -> None:
    with pytest.raises(openai.BadRequestError, match="this server does not draw that"):
        images_client.images.generate(prompt=f"{MISBEHAVE}reject")


def test_a_slow_image_server_is_a_504(settings, pipeline, image_server) -> None:
    assert SLOW_SECONDS > 1
    with start(settings, pipeline, image_server=image_server.flag, image_timeout=0.5) as handle:
        response = _post(handle, {"prompt": f"{MISBEHAVE}slow", "size": "64x64"}, key=None)
        assert response.status_code == 504, response.text
        assert "did not answer within 0.5 s" in _error(response)["message"]


def test_an_unreachable_image_server_is_a_502(settings, pipeline) -> None:
    with start(settings, pipeline, image_server="openai:http://127.0.0.1:9/v1") as handle:
        response = _post(handle, {"prompt": "x", "size": "64x64"}, key=None)
        assert response.status_code == 502
        assert "cannot reach the image server at http://127.0.0.1:9/v1" in _error(response)["message"]


def test_without_image_server_the_route_is_a_404_naming_the_flag(client) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.images.generate(prompt="a red square", size="256x256")
    error = caught.value.body
    assert "--image_server=openai:http://host:port/v1" in error["message"]
    assert error["code"] == "image_generation_not_configured"


def test_enable_image_false_turns_it_off(settings, pipeline, image_server) -> None:
    with start(settings, pipeline, image_server=image_server.flag, enable_image=False) as handle:
        response = _post(handle, {"prompt": "x"}, key=None)
        assert response.status_code == 404 and "--enable_image=False" in _error(response)["message"]
