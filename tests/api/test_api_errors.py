"""Every error status in OpenAI's error shape: 400, 401, 404, 405, 413, 429 (see
test_api_disconnect.py), 500/502 mapping and 503 while the model loads."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from h2ogpt.errors import ModelNotFoundError
from h2ogpt.events import ErrorEvent
from openai_server.auth import key_matches, load_api_keys
from openai_server.errors import from_event
from openai_server.limits import MAX_BODY_BYTES
from openai_server.server import serve_in_thread
from openai_server.state import ServerState

pytest_plugins = ["support.api_fixtures"]

USER = [{"role": "user", "content": "Hi"}]


def assert_error(reply: httpx.Response, status: int, fragment: str = "", param: str | None = "") -> dict:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert fragment in error["message"]
    if param != "":
        assert error["param"] == param
    return error


@pytest.mark.parametrize(
    "body, fragment, param",
    [
        (b"{not json", "not valid JSON", None),
        (b"[1, 2]", "must be a JSON object", None),
        (b'{"messages": "\xff"}', "could not be read", None),
        (b'{"messages": []}', "at least 1 item", "messages"),
        (b'{"max_tokens": 3}', "required", "messages"),
        (
            b'{"messages": [{"role": "user", "content": "Hi"}], "max_new_tokens": 3}',
            "use 'max_tokens'",
            "max_new_tokens",
        ),
        (b'{"messages": [{"role": "user", "content": "Hi"}], "bogus": 1}', "unknown field 'bogus'", "bogus"),
        (b'{"messages": [{"role": "user", "content": "Hi"}], "temperature": "hot"}', "number", "temperature"),
        (
            b'{"messages": [{"role": "user", "content": "Hi"}], "temperature": 9}',
            "less than or equal",
            "temperature",
        ),
        (b'{"messages": [{"role": "user", "content": "Hi"}], "n": 65}', "less than or equal to 64", "n"),
        (b'{"messages": [{"role": "user", "content": "Hi"}], "top_k": -1}', "greater than", "top_k"),
        (b'{"messages": [{"role": "user", "content": "Hi"}], "stop": [""]}', "must not be empty", "stop"),
        (
            b'{"messages": [{"role": "user", "content": "Hi"}], "temperature": 1, "repetition_penalty": 1e-40}',
            "greater than or equal to 0.01",
            "repetition_penalty",
        ),
        (b'{"messages": [{"role": "user", "content": "Hi"}], "seed": 1e400}', "", "seed"),
        (b'{"messages": [{"role": "user", "content": "Hi"}], "top_p": NaN}', "finite", "top_p"),
        (b'{"messages": [{"role": "wizard", "content": "Hi"}]}', "", "messages[0].role"),
        (b'{"messages": [{"role": "system", "content": "Hi"}]}', "at least one user", None),
        (b'{"messages": [{"role": "user", "content": "a\\ud800"}]}', "lone surrogate", "messages[0].content"),
        (b'{"messages": [{"role": "user"}]}', "needs content", "messages"),
        (b'{"messages": [{"role": "tool", "content": "1", "tool_call_id": "x"}]}', "tool", "messages[0]"),
        (
            b'{"messages": [{"role": "user", "content": "Hi"}], "tools": [{"type": "function"}]}',
            "tool",
            "tools",
        ),
        (
            b'{"messages": [{"role": "user", "content": "Hi"}], "top_logprobs": 2}',
            "needs logprobs",
            "top_logprobs",
        ),
        (b'{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 100000}', "context", None),
    ],
)
def test_bad_chat_bodies_are_400(http, body, fragment, param):
    reply = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    error = assert_error(reply, 400, fragment, param)
    assert error["type"] == "invalid_request_error"


def test_audio_part_is_refused_by_name(client, model_id):
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": [{"type": "text", "text": "What?"}, audio]}]
        )
    assert caught.value.body["param"] == "messages[0].content[1]"
    assert "audio parts (input_audio) are not supported" in caught.value.body["message"]


def test_broken_image_part_is_named(client, model_id):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": [{"type": "text", "text": "What?"}, image]}]
        )
    assert caught.value.body["param"] == "messages[0].content[1]"
    assert "not an image" in caught.value.body["message"]


def test_unknown_model_route_and_method(http, client):
    assert_error(
        http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER}), 404, "gpt-4o", "model"
    )
    assert_error(
        http.post("/v1/completions", json={"model": "gpt-4o", "prompt": "x"}), 404, "gpt-4o", "model"
    )
    assert_error(http.get("/v1/nothing"), 404, "unknown route GET /v1/nothing")
    assert_error(http.get("/v1/chat/completions"), 405, "not allowed")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=USER)


def test_body_too_large_with_and_without_content_length(http):
    big = b'{"prompt": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    assert_error(http.post("/v1/completions", content=big), 413, "larger than 4 MiB")

    def chunked():  # a generator body is sent chunked, without Content-Length
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    assert_error(http.post("/v1/completions", content=chunked()), 413, "larger than")
    assert http.get("/health").status_code == 200  # the server is fine afterwards


def test_api_keys(auth_server):
    url = auth_server.url
    assert_error(httpx.get(f"{url}/v1/models"), 401, "missing API key")
    wrong = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer nope"})
    assert_error(wrong, 401, "invalid API key")
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert_error(httpx.post(f"{url}/v1/chat/completions", content=b"{bad"), 401)  # the key comes first
    assert_error(httpx.get(f"{url}/version", headers={"Authorization": "Basic abc"}), 401)
    assert httpx.get(f"{url}/health").status_code == 200  # open: for load balancers
    assert httpx.get(f"{url}/openapi.json").status_code == 200
    good = openai.OpenAI(base_url=auth_server.base_url, api_key="test-key-two", max_retries=0)
    assert good.chat.completions.create(model="h2ogpt", messages=USER, max_tokens=2).choices
    bad = openai.OpenAI(base_url=auth_server.base_url, api_key="test-key-three", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_api_keys_from_a_file_or_a_list(tmp_path):
    keys = tmp_path / "keys.txt"
    keys.write_text("# one key per line\nalpha\n\n beta \n")
    assert load_api_keys(str(keys)) == (b"alpha", b"beta")
    assert load_api_keys(" alpha, beta ,") == (b"alpha", b"beta")
    assert load_api_keys("") == ()
    assert key_matches(b"beta", (b"alpha", b"beta")) and not key_matches(b"bet", (b"alpha", b"beta"))
    keys.write_text("# nothing\n")
    with pytest.raises(Exception, match="has no keys"):
        load_api_keys(str(keys))


def test_core_error_kinds_map_to_statuses():
    assert from_event(ErrorEvent("bad", "bad_request")).status == 400
    assert from_event(ErrorEvent("server down", "upstream")).status == 502
    upstream = from_event(ErrorEvent("server down", "upstream")).body()["error"]
    assert upstream == {
        "message": "server down",
        "type": "server_error",
        "param": None,
        "code": "upstream_error",
    }
    assert from_event(ErrorEvent("bug", "internal")).status == 500


def test_503_while_the_model_loads_then_200(settings, pipeline):
    release = threading.Event()

    def slow_loader(_settings):
        release.wait(30)
        return pipeline

    state = ServerState(settings, loader=slow_loader)
    with serve_in_thread(settings, port=0, state=state) as handle, httpx.Client(base_url=handle.url) as http:
        health = http.get("/health")
        assert health.status_code == 503 and health.json()["status"] == "loading"
        error = assert_error(http.post("/v1/chat/completions", json={"messages": USER}), 503, "still loading")
        assert error["code"] == "model_loading"
        assert_error(http.get("/v1/models"), 503)
        release.set()
        assert state.wait_loaded(30)
        assert http.get("/health").status_code == 200
        reply = http.post("/v1/chat/completions", json={"messages": USER, "max_tokens": 2})
        assert reply.status_code == 200


def test_503_when_the_model_fails_to_load(settings):
    def failing_loader(_settings):
        raise ModelNotFoundError("--base_model=/nowhere: no such model")

    state = ServerState(settings, loader=failing_loader)
    with serve_in_thread(settings, port=0, state=state) as handle, httpx.Client(base_url=handle.url) as http:
        state.wait_loaded(30)
        health = http.get("/health").json()
        assert health["status"] == "error" and "/nowhere" in health["error"]
        assert_error(http.post("/v1/completions", json={"prompt": "x"}), 503, "/nowhere")
    assert state.user_error
