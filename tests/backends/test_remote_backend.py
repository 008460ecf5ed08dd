"""The remote backend against a real HTTP server on loopback (tests/fake_upstream.py).

Nothing of ours is mocked: the official openai client talks HTTP to a FastAPI app that
plays vLLM, whose answers are the prompt's words reversed (see fake_upstream).
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.base import Completion, SamplingParams, TextDelta
from h2ogpt.backends.remote.backend import RemoteBackend
from h2ogpt.backends.remote.spec import OPENAI_URL, parse_inference_server
from h2ogpt.backends.selection import backend_spec, create_backend
from h2ogpt.errors import ConfigError, RequestError, UpstreamError
from h2ogpt.events import ErrorEvent, FinalAnswer, TokenDelta
from h2ogpt.request import AnswerRequest
from h2ogpt.settings import Settings
from support.fake_upstream import MAX_MODEL_LEN, MODEL_ID, FakeUpstream, token_logprob


@pytest.fixture(scope="module")
def upstream():
    server = FakeUpstream().start()
    yield server
    server.stop()


@pytest.fixture
def fake(upstream, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    upstream.reset()
    return upstream


@pytest.fixture
def make(fake):
    """RemoteBackend factory for ``kind:`` at the fake; clients are closed after the test."""
    made: list[RemoteBackend] = []

    def build(kind: str = "vllm", url: str | None = None, **options) -> RemoteBackend:
        backend = RemoteBackend(parse_inference_server(f"{kind}:{url or fake.url}"), **options)
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()


def greedy(**fields) -> SamplingParams:
    return SamplingParams(max_new_tokens=fields.pop("max_new_tokens", 16), **fields)


def by_index(events) -> dict[int, str]:
    texts: dict[int, str] = {}
    for event in events:
        if isinstance(event, TextDelta):
            texts[event.index] = texts.get(event.index, "") + event.text
    return texts


# --- --inference_server syntax -------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "kind", "url", "chat"),
    [
        ("vllm:http://10.0.0.5:8000/v1", "vllm", "http://10.0.0.5:8000/v1", False),
        ("vllm:10.0.0.5:8000", "vllm", "http://10.0.0.5:8000/v1", False),  # h2oGPT's legacy form
        ("vllm_chat:https://gpu.example:8000/v1/", "vllm_chat", "https://gpu.example:8000/v1", True),
        ("openai:", "openai", OPENAI_URL, False),
        ("openai_chat:", "openai_chat", OPENAI_URL, True),
        (
            "openai_chat:https://proxy.example/openai/v1",
            "openai_chat",
            "https://proxy.example/openai/v1",
            True,
        ),
        ("ollama:http://localhost:11434", "ollama", "http://localhost:11434/v1", True),
        ("ollama:", "ollama", "http://localhost:11434/v1", True),
        ("tgi:http://tgi:8080/v1", "tgi", "http://tgi:8080/v1", True),
        ("http://10.0.0.5:8000/v1", "openai_compatible", "http://10.0.0.5:8000/v1", True),
        (" HTTPS://box:443 ", "openai_compatible", "https://box:443/v1", True),
    ],
)
def test_inference_server_syntax(value, kind, url, chat):
    spec = parse_inference_server(value)
    assert (spec.kind, spec.base_url, spec.chat_native) == (kind, url, chat)
    chosen = backend_spec(Settings(inference_server=value))
    assert chosen.name == kind and chosen.remote
    assert chosen.create is backend_spec(Settings(inference_server="vllm:http://x:1")).create
    assert not backend_spec(Settings()).remote


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("foo:http://h:1/v1", "unknown server kind 'foo'"),
        ("vllm:", "give the server's URL"),
        ("tgi", "give the server's URL"),
        ("vllm:http://h:port/v1", "bad port"),
        ("vllm:http:///v1", "not a server URL"),
    ],
)
def test_bad_inference_server_is_a_config_error(value, says, tmp_path):
    with pytest.raises(ConfigError, match=says) as caught:
        create_backend(Settings(inference_server=value, data_dir=tmp_path))
    assert "vllm:http://localhost:8000/v1" in str(caught.value), "the message shows the syntax"


def test_api_keys(fake, make, monkeypatch):
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        parse_inference_server("openai_chat:").api_key()
    assert parse_inference_server("vllm:h:1").api_key() == "EMPTY"
    make()
    assert fake.state.requests[-1].headers["authorization"] == "Bearer EMPTY"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    make("openai_chat")
    assert fake.state.requests[-1].headers["authorization"] == "Bearer sk-test"


# --- model and context discovery -------------------------------------------------------------
def test_model_and_context_come_from_the_server(fake, make):
    backend = make()
    assert backend.info.name == MODEL_ID and backend.info.context_length == MAX_MODEL_LEN
    assert not backend.info.chat_native and make("vllm_chat").info.chat_native
    assert make(max_seq_len=1000).info.context_length == 1000, "the smaller limit wins"
    assert [r.path for r in fake.state.requests] == ["/v1/models"] * 3


def test_model_and_context_without_server_help(fake, make):
    fake.state.models = [{"id": "a", "object": "model"}, {"id": "b", "object": "model"}]
    assert (make().info.name, make().info.context_length) == ("a", 4096)
    assert make(max_seq_len=8192).info.context_length == 8192
    fake.state.requests.clear()
    backend = make(model="named", max_seq_len=512)
    assert (backend.info.name, backend.info.context_length) == ("named", 512)
    assert fake.state.requests == [], "nothing to ask when both are given"
    fake.state.models = []
    with pytest.raises(UpstreamError, match=r"lists no models.*--base_model"):
        make()


# --- primitives --------------------------------------------------------------------------------
def test_greedy_sample_maps_the_answer_usage_and_logprobs(fake, make):
    backend = make()
    [done] = backend.sample("a bb ccc", greedy())
    assert (done.index, done.text, done.finish_reason) == (0, " ccc bb a", "stop")
    assert (done.prompt_tokens, done.completion_tokens) == (3, 3)
    assert [t.token for t in done.logprobs] == [" ccc", " bb", " a"]
    assert done.logprobs[0].logprob == pytest.approx(token_logprob(" ccc")) and done.logprobs[0].top == ()
    [sent] = fake.state.posts("/completions")
    body = sent.body
    assert body["model"] == MODEL_ID and body["prompt"] == "a bb ccc" and body["stream"] is True
    assert (body["n"], body["temperature"], body["max_tokens"]) == (1, 0.0, 16)
    assert body["stream_options"] == {"include_usage": True}
    assert "top_k" not in body and "seed" not in body


def test_n_samples_stream_as_one_request_with_n(fake, make):
    backend = make()
    params = SamplingParams(max_new_tokens=16, temperature=0.8, seed=7, top_k=40, repetition_penalty=1.1)
    events = list(backend.stream("one two three", params, n=4))
    done = sorted((e for e in events if isinstance(e, Completion)), key=lambda c: c.index)
    assert [c.text for c in done] == [f" s{7 + j} three two one" for j in range(4)]
    assert by_index(events) == {c.index: c.text for c in done}, "deltas add up to each text"
    assert all(c.prompt_tokens == 3 and c.completion_tokens == 4 for c in done)
    [sent] = fake.state.posts("/completions")
    assert (sent.body["n"], sent.body["seed"], sent.body["temperature"]) == (4, 7, 0.8)
    assert (sent.body["top_k"], sent.body["repetition_penalty"]) == (40, 1.1), "vLLM's extra_body"


def test_stop_length_penalties_and_top_logprobs(fake, make):
    backend = make()
    params = greedy(stop=(" b",), presence_penalty=0.5, frequency_penalty=0.25, top_logprobs=2)
    [stopped] = backend.sample("a b c d", params)
    assert (stopped.text, stopped.finish_reason) == (" d c", "stop")
    assert stopped.logprobs[0].top == ((" d", token_logprob(" d")), (" alt1", token_logprob(" d") - 1))
    body = fake.state.posts("/completions")[-1].body
    assert body["stop"] == [" b"] and body["logprobs"] == 2
    assert (body["presence_penalty"], body["frequency_penalty"]) == (0.5, 0.25)
    [cut] = backend.sample("a b c d", greedy(max_new_tokens=2))
    assert (cut.text, cut.finish_reason, cut.completion_tokens) == (" d c", "length", 2)


def test_openai_kinds_get_no_vllm_extensions(fake, make, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    backend = make("openai")
    backend.sample("x", SamplingParams(temperature=0.5, top_k=40, repetition_penalty=1.2))
    body = fake.state.posts("/completions")[-1].body
    assert "top_k" not in body and "repetition_penalty" not in body


def test_continue_texts_is_one_request_with_a_list_prompt(fake, make):
    backend = make()
    texts = ["a b", "c d e", "f"]
    done = backend.continue_texts(texts, greedy(stop=(" c",)))
    assert [c.text for c in done] == [" b a", " e d", " f"]
    assert [c.index for c in done] == [0, 1, 2] and [c.prompt_tokens for c in done] == [2, 3, 1]
    [sent] = fake.state.posts("/completions")
    assert sent.body["prompt"] == texts and sent.body["n"] == 1
    assert backend.continue_texts([], greedy()) == []


def test_score_continuations(fake, make):
    backend = make()
    scores = backend.score_continuations("The answer is", [" 42", " forty two"])
    assert scores[0].tokens == (" 42",) and scores[0].logprobs == (token_logprob(" 42"),)
    assert scores[1].tokens == (" forty", " two")
    assert scores[1].total == pytest.approx(token_logprob(" forty") + token_logprob(" two"))
    [sent] = fake.state.posts("/completions")
    assert sent.body["prompt"] == ["The answer is 42", "The answer is forty two"]
    assert (sent.body["echo"], sent.body["logprobs"], sent.body["max_tokens"]) == (True, 1, 0)
    [straddle] = backend.score_continuations("The ans", ["wer is"])
    assert straddle.tokens == (" answer", " is"), "a token across the boundary counts"


def test_score_continuations_falls_back_to_max_tokens_1(fake, make):
    fake.state.reject_zero_max_tokens = True
    backend = make()
    first = backend.score_continuations("a b", [" c"])
    again = backend.score_continuations("a b", [" c"])
    assert first == again and first[0].tokens == (" c",), "the generated token is left out"
    assert [r.body["max_tokens"] for r in fake.state.posts("/completions")] == [0, 1, 1]


def test_score_without_prompt_logprobs_is_a_clear_error(fake, make):
    fake.state.no_prompt_logprobs = True
    with pytest.raises(RequestError, match="no prompt log-probabilities"):
        make().score_continuations("a", [" b"])


def test_stream_chat(fake, make):
    backend = make("vllm_chat")
    assert backend.apply_chat_template([{"role": "user", "content": "x"}]) is None
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "red green blue"}]
    events = list(backend.stream_chat(messages, SamplingParams(temperature=1.0, top_logprobs=1), n=2))
    done = [e for e in events if isinstance(e, Completion)]
    assert [c.text for c in done] == ["s0 blue green red", "s1 blue green red"]
    assert by_index(events) == {0: done[0].text, 1: done[1].text}
    assert done[0].prompt_tokens == 2 + 3 + 2 * 3 and done[0].completion_tokens == 4
    assert done[0].logprobs[1].token == " blue" and len(done[0].logprobs[1].top) == 1
    [sent] = fake.state.posts("/chat/completions")
    assert sent.body["messages"] == messages and sent.body["n"] == 2
    assert sent.body["logprobs"] is True and sent.body["top_logprobs"] == 1


def test_server_that_ignores_n_is_asked_again(fake, make):
    fake.state.ignore_n = True
    done = make("ollama").sample("x y", SamplingParams(temperature=1.0, seed=3), n=3)
    assert [c.text for c in done] == [" s3 y x", " s4 y x", " s5 y x"]
    assert [r.body["n"] for r in fake.state.posts("/completions")] == [3, 2, 1]


def test_rejected_optional_fields_are_dropped_once(fake, make):
    fake.state.reject_fields = ("stream_options", "logprobs")
    backend = make()
    assert backend.sample("a b", greedy())[0].text == " b a"
    assert backend.sample("a b", greedy())[0].text == " b a"
    last = fake.state.posts("/completions")[-1].body
    assert "stream_options" not in last and "logprobs" not in last
    assert len(fake.state.posts("/completions")) == 4, "two refusals the first time, none after"


def test_max_time_returns_what_came(fake, make):
    fake.state.token_delay = 0.05
    start = time.monotonic()
    [done] = make().sample(" ".join(f"w{i}" for i in range(40)), greedy(max_new_tokens=40, max_time=0.5))
    assert time.monotonic() - start < 2.5
    assert (
        done.finish_reason == "time" and done.text.startswith(" w39 w38") and 0 < done.completion_tokens < 40
    )


def test_closing_the_stream_closes_the_connection(fake, make):
    fake.state.token_delay = 0.05
    events = make().stream(" ".join(f"w{i}" for i in range(100)), greedy(max_new_tokens=100))
    assert next(e for e in events if isinstance(e, TextDelta)).text == " w99"
    events.close()
    deadline = time.monotonic() + 5
    while fake.state.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (fake.state.disconnects, fake.state.streams_done) == (1, 0)


# --- failures ----------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_then_succeeds(fake, make, status):
    backend = make()
    fake.state.fail_status, fake.state.fail_times = status, 2
    assert backend.sample("a b", greedy())[0].text == " b a"
    assert len(fake.state.posts("/completions")) == 3


def test_keeps_failing_is_an_upstream_error(fake, make):
    backend = make(max_retries=1)
    fake.state.fail_status, fake.state.fail_times, fake.state.fail_message = 503, 10, "overloaded"
    with pytest.raises(UpstreamError, match=r"kept failing.*HTTP 503: overloaded") as caught:
        backend.sample("a", greedy())
    assert fake.url in str(caught.value) and len(fake.state.posts("/completions")) == 2


def test_bad_request_is_a_request_error_without_retry(fake, make):
    backend = make()
    fake.state.fail_status, fake.state.fail_times = 400, 1
    fake.state.fail_message = "This model's maximum context length is 2048 tokens"
    with pytest.raises(RequestError, match="maximum context length is 2048") as caught:
        backend.sample("a", greedy())
    assert fake.url in str(caught.value) and len(fake.state.posts("/completions")) == 1


def test_timeout_is_an_upstream_error(fake, make):
    backend = make(max_retries=1)
    fake.state.delay = 3.0
    start = time.monotonic()
    with pytest.raises(UpstreamError, match=r"did not answer within 0.3 s.*2 attempts") as caught:
        backend.sample("a", greedy(max_time=0.3))
    assert time.monotonic() - start < 2.5 and fake.url in str(caught.value)


def test_unreachable_server_is_an_upstream_error(make):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(UpstreamError, match="cannot reach the inference server") as caught:
        make(url=url, max_retries=0)
    assert url in str(caught.value) and "--inference_server" in str(caught.value)


# --- through the real core ---------------------------------------------------------------------
def test_pipeline_with_a_chat_server(fake, tmp_path):
    settings = Settings(inference_server=f"vllm_chat:{fake.url}", data_dir=tmp_path)
    backend = create_backend(settings)
    events = list(Pipeline(settings, backend).answer(AnswerRequest.from_prompt("hi there")))
    deltas, final = [e for e in events if isinstance(e, TokenDelta)], events[-1]
    assert isinstance(final, FinalAnswer) and final.text == "there hi" and final.model == MODEL_ID
    assert "".join(d.text for d in deltas) == "there hi" and len(deltas) == 2
    assert final.usage.completion_tokens == 2
    assert fake.state.posts("/chat/completions")[-1].body["messages"] == [
        {"role": "user", "content": "hi there"}
    ]
    backend.close()


def test_pipeline_with_a_completions_server_and_prompt_type(fake, tmp_path):
    settings = Settings(inference_server=f"vllm:{fake.url}", prompt_type="chatml", data_dir=tmp_path)
    backend = create_backend(settings)
    events = list(Pipeline(settings, backend).answer(AnswerRequest.from_prompt("hi")))
    final = events[-1]
    assert isinstance(final, FinalAnswer) and any(isinstance(e, TokenDelta) for e in events)
    body = fake.state.posts("/completions")[-1].body
    assert body["prompt"] == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert "<|im_end|>" in body["stop"]
    assert final.text == " <|im_start|>assistant hi", "the fake's reversed words, cut at <|im_end|>"
    backend.close()


def test_json_object_answers_ask_the_server_for_json(fake, make, tmp_path):
    settings = Settings(inference_server=f"vllm_chat:{fake.url}", data_dir=tmp_path)
    request = AnswerRequest.from_prompt("hi there", response_format="json_object")
    final = list(Pipeline(settings, make("vllm_chat")).answer(request))[-1]
    assert isinstance(final, FinalAnswer) and json.loads(final.text) == {"reversed": "there_hi"}
    assert fake.state.posts("/chat/completions")[-1].body["response_format"] == {"type": "json_object"}


def test_pipeline_reports_server_errors_as_events(fake, make, tmp_path):
    settings = Settings(inference_server=f"vllm_chat:{fake.url}", data_dir=tmp_path)
    pipeline = Pipeline(settings, make("vllm_chat", max_retries=0))
    fake.state.fail_status, fake.state.fail_times, fake.state.fail_message = 400, 1, "bad stop"
    [bad] = list(pipeline.answer(AnswerRequest.from_prompt("hi")))
    assert isinstance(bad, ErrorEvent) and bad.kind == "bad_request" and "bad stop" in bad.message
    fake.state.fail_status, fake.state.fail_times = 502, 1
    [down] = list(pipeline.answer(AnswerRequest.from_prompt("hi")))
    assert isinstance(down, ErrorEvent) and down.kind == "upstream" and fake.url in down.message
