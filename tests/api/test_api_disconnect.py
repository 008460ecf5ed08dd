"""Concurrency: admission control (429), cancellation when the client goes away, and
concurrent requests. Run against a server that admits one request at a time.

A long sampled answer and a greedy one cannot share a decode batch, so a follow-up
greedy request is answered quickly only if the abandoned generation was really stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

pytest_plugins = ["support.api_fixtures"]

LONG = {
    "messages": [{"role": "user", "content": "Write a very long story about a lighthouse keeper."}],
    "max_tokens": 2000,
    "temperature": 1.0,
}
QUICK = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0}
# greedy counting as a raw completion runs to max_tokens on every engine (a story may end early)
COUNTING = {"prompt": "1, 2, 3, 4, 5, 6, 7, 8,", "max_tokens": 2000, "temperature": 0}


def first_content_chunk(lines: Iterator[str]) -> dict:
    """The first chunk with text, read from ``lines`` (the caller keeps the iterator: a closed
    iterator closes the response, and the server then cancels the generation)."""
    for line in lines:
        if line.startswith("data: {"):
            chunk = json.loads(line.removeprefix("data: "))
            choice = chunk["choices"][0] if chunk["choices"] else {}
            if choice.get("delta", {}).get("content") or choice.get("text"):  # chat or completions
                return chunk
    raise AssertionError("the stream ended without content")


def answered_soon(url: str, budget: float = 15.0) -> float:
    """Seconds until a quick request is answered (429s, while the server notices, are retried)."""
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=budget) as http:
        while time.monotonic() - started < budget:
            reply = http.post("/v1/chat/completions", json=QUICK)
            if reply.status_code == 200:
                return time.monotonic() - started
            assert reply.status_code == 429, reply.text
            time.sleep(0.05)
    raise AssertionError(f"not answered within {budget} s")


def test_429_when_more_than_max_queue_requests_are_in_flight(busy_server):
    with (
        httpx.Client(base_url=busy_server.url, timeout=60) as http,
        http.stream("POST", "/v1/completions", json={**COUNTING, "stream": True}) as held,
    ):
        lines = held.iter_lines()
        first_content_chunk(lines)
        refused = http.post("/v1/chat/completions", json=QUICK)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert http.get("/v1/models").status_code == 200  # only model work is admitted
        client = openai.OpenAI(base_url=busy_server.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.embeddings.create(model="all-MiniLM-L6-v2", input="hi")
    assert answered_soon(busy_server.url) < 10


def test_disconnect_mid_stream_cancels_generation(busy_server):
    with (
        httpx.Client(base_url=busy_server.url, timeout=60) as http,
        http.stream("POST", "/v1/chat/completions", json={**LONG, "stream": True}) as reply,
    ):
        assert reply.status_code == 200
        first_content_chunk(reply.iter_lines())
    # leaving the block closed the connection after one chunk of a 2000-token answer
    assert answered_soon(busy_server.url) < 10


def test_disconnect_while_waiting_for_a_whole_answer_cancels_it(busy_server):
    with (
        httpx.Client(base_url=busy_server.url, timeout=httpx.Timeout(60, read=1.5)) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.post("/v1/chat/completions", json=LONG)
    assert answered_soon(busy_server.url) < 10


def test_concurrent_requests_are_all_answered(api_server):
    client = openai.OpenAI(base_url=api_server.base_url, api_key="x", max_retries=0, timeout=120)

    def ask(i: int) -> str:
        reply = client.chat.completions.create(
            model="h2ogpt", messages=[{"role": "user", "content": f"Name a color ({i})."}], max_tokens=6
        )
        return reply.choices[0].message.content

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, range(6)))
    assert len(answers) == 6 and all(answers)
