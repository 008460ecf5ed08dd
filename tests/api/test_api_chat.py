"""POST /v1/chat/completions through the official openai client and langchain-openai."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["support.api_fixtures"]

QUESTION = [{"role": "user", "content": "What is the capital of Japan?"}]


def chat_body(content: str = "Say hello.", **fields) -> dict:
    return {"messages": [{"role": "user", "content": content}], "max_tokens": 8, **fields}


def test_chat_answers_with_the_openai_client(client, model_id):
    reply = client.chat.completions.create(model=model_id, messages=QUESTION, max_tokens=12, temperature=0)
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-")
    assert reply.model == model_id and choice.index == 0
    assert choice.message.role == "assistant" and "Tokyo" in choice.message.content
    assert choice.finish_reason in ("stop", "length") and choice.logprobs is None
    usage = reply.usage
    assert usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_matches_the_whole_answer(client, model_id):
    whole = client.chat.completions.create(model=model_id, messages=QUESTION, max_tokens=10, temperature=0)
    chunks = list(
        client.chat.completions.create(
            model=model_id,
            messages=QUESTION,
            max_tokens=10,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == [whole.choices[0].finish_reason]
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage.model_dump() == whole.usage.model_dump()
    assert len({c.id for c in chunks}) == 1


def test_n_choices_whole_and_streamed(client, model_id):
    args = {"model": model_id, "messages": QUESTION, "max_tokens": 6, "temperature": 1.0, "seed": 7, "n": 3}
    whole = client.chat.completions.create(**args)
    assert [c.index for c in whole.choices] == [0, 1, 2]
    texts: dict[int, str] = {0: "", 1: "", 2: ""}
    reasons = {}
    for chunk in client.chat.completions.create(**args, stream=True):
        for c in chunk.choices:
            texts[c.index] += c.delta.content or ""
            if c.finish_reason:
                reasons[c.index] = c.finish_reason
    assert texts == {c.index: c.message.content for c in whole.choices}
    assert sorted(reasons) == [0, 1, 2]


def test_stop_ends_the_answer_before_the_stop_text(client, model_id):
    free = client.chat.completions.create(model=model_id, messages=QUESTION, max_tokens=12, temperature=0)
    text = free.choices[0].message.content
    word = text.split()[1]
    stopped = client.chat.completions.create(
        model=model_id, messages=QUESTION, max_tokens=12, temperature=0, stop=[word, "zzz"]
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == text[: text.index(word)]
    single = client.chat.completions.create(model=model_id, messages=QUESTION, max_tokens=12, stop=word)
    assert single.choices[0].message.content == stopped.choices[0].message.content


def test_same_seed_same_text(client, model_id):
    def sample(seed: int) -> str:
        reply = client.chat.completions.create(
            model=model_id, messages=QUESTION, max_tokens=10, temperature=1.0, seed=seed
        )
        return reply.choices[0].message.content

    first = sample(1234)
    assert sample(1234) == first
    assert len({first, sample(1), sample(2)}) > 1  # a different seed samples something else


def test_logprobs_in_the_chat_shape(client, model_id):
    reply = client.chat.completions.create(
        model=model_id, messages=QUESTION, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3
    )
    choice = reply.choices[0]
    content = choice.logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert "".join(t.token for t in content) == choice.message.content
    for entry in content:
        assert entry.logprob <= 0 and bytes(entry.bytes).decode() == entry.token
        assert len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[-1].logprob
    assert content[0].top_logprobs[0].token == content[0].token  # greedy picks the most likely


def test_streamed_logprobs_come_with_the_last_chunk(client, model_id):
    chunks = list(
        client.chat.completions.create(
            model=model_id, messages=QUESTION, max_tokens=5, temperature=0, logprobs=True, stream=True
        )
    )
    last = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "".join(t.token for t in last.choices[0].logprobs.content) == text


def test_max_completion_tokens_and_parts(client, model_id):
    reply = client.chat.completions.create(
        model=model_id,
        messages=[
            {"role": "developer", "content": "Answer briefly."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is the capital"},
                    {"type": "text", "text": "of France?"},
                ],
            },
        ],
        max_completion_tokens=3,
        user="someone",
    )
    assert reply.usage.completion_tokens <= 3


def test_json_mode_is_accepted(client, model_id):
    for fmt in (
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object"}}},
        {"type": "text"},
    ):
        reply = client.chat.completions.create(
            model=model_id, messages=QUESTION, max_tokens=4, response_format=fmt
        )
        assert reply.choices[0].message.content is not None


def test_extra_core_fields_are_accepted(http):
    body = chat_body(
        system_prompt="You are a pirate.",
        top_k=5,
        repetition_penalty=1.1,
        max_time=30,
        prompt_type="",
    )
    reply = http.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200, reply.text


def test_model_may_be_omitted_or_the_alias(http, model_id):
    for body in (chat_body(), chat_body(model="h2ogpt"), chat_body(model="")):
        reply = http.post("/v1/chat/completions", json=body)
        assert reply.status_code == 200 and reply.json()["model"] == model_id


def test_time_limit_reports_length(http):
    reply = http.post("/v1/chat/completions", json=chat_body(max_tokens=200, max_time=0.05)).json()
    assert reply["choices"][0]["finish_reason"] == "length"


def test_langchain_chat_openai_invoke_and_stream(api_server, model_id):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model=model_id,
        base_url=api_server.base_url,
        api_key="unused",
        max_tokens=8,
        temperature=0,
        max_retries=0,
    )
    answer = llm.invoke("What is the capital of Japan?")
    assert "Tokyo" in answer.content
    streamed = "".join(chunk.content for chunk in llm.stream("What is the capital of Japan?"))
    assert streamed == answer.content


def test_raw_sse_lines(http):
    with http.stream("POST", "/v1/chat/completions", json=chat_body(stream=True)) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in reply.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        chunk = json.loads(line.removeprefix("data: "))
        assert chunk["object"] == "chat.completion.chunk" and "usage" not in chunk


@pytest.mark.parametrize("temperature", [1e-30, 5e-324])
def test_tiny_temperature_is_greedy(http, temperature):
    greedy = http.post("/v1/chat/completions", json=chat_body(temperature=0)).json()
    tiny = http.post("/v1/chat/completions", json=chat_body(temperature=temperature)).json()
    assert tiny["choices"][0]["message"] == greedy["choices"][0]["message"]
