"""A fake vLLM / OpenAI-compatible server: a real FastAPI app on loopback, for tests.

Its "model" is deterministic so tests can assert exact results:

- text is split into tokens with :func:`tokenize` (a word with its leading spaces);
- a completion answers with the prompt's words in reverse order, each with a leading
  space (``"a b c"`` -> ``" c b a"``); a chat answer is the last message's words reversed
  (``"a b c"`` -> ``"c b a"``);
- when ``temperature > 0`` sample ``j`` starts with the word ``s{seed + j}`` (seed 0 if none);
- a token's log-probability is :func:`token_logprob`; the first prompt token has none;
- with ``response_format`` ``json_object`` the answer is one token: ``{"reversed":"..."}``
  (the words joined by ``_``);
- ``max_tokens`` (default 16) cuts the answer (finish ``length``); ``stop`` strings end it
  (finish ``stop``, the stop string left out).

Failure modes are switches on :class:`FakeState` (reset before each test), and every
HTTP attempt is recorded in ``state.requests``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from support.loopback import LoopbackServer

MODEL_ID = "fake-model"
MAX_MODEL_LEN = 2048


def tokenize(text: str) -> list[str]:
    return re.findall(r"\s*\S+|\s+", text)


def token_logprob(token: str) -> float:
    return -(1 + len(token.strip())) / 10


def _top(token: str, k: int) -> list[tuple[str, float]]:
    """The token itself, then made-up alternatives, most likely first."""
    lp = token_logprob(token)
    return [(token, lp)] + [(f" alt{i}", lp - i) for i in range(1, k)]


@dataclass
class Recorded:
    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeState:
    models: list[dict[str, Any]] = field(
        default_factory=lambda: [{"id": MODEL_ID, "object": "model", "max_model_len": MAX_MODEL_LEN}]
    )
    fail_status: int = 0  # answer this HTTP status ...
    fail_times: int = 0  # ... to this many requests, then behave
    fail_message: str = "simulated failure"
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    token_delay: float = 0.0  # seconds between streamed chunks
    ignore_n: bool = False  # Ollama: one choice whatever n says
    reject_zero_max_tokens: bool = False  # vLLM: "max_tokens must be at least 1"
    reject_fields: tuple[str, ...] = ()  # 400 when the body has one of these fields
    no_prompt_logprobs: bool = False  # echo=True gives no logprobs
    no_usage: bool = False  # ignore stream_options.include_usage
    requests: list[Recorded] = field(default_factory=list)
    disconnects: int = 0  # streams the client closed before the end
    streams_done: int = 0  # streams sent to the end

    def posts(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(path)]


def _answer_words(text: str, index: int, body: dict[str, Any]) -> list[str]:
    words = text.split()[::-1]
    if (body.get("temperature") or 0) > 0:
        words = [f"s{(body.get('seed') or 0) + index}", *words]
    if (body.get("response_format") or {}).get("type") == "json_object":
        words = [json.dumps({"reversed": "_".join(words)}, separators=(",", ":"))]
    return words


def _generate(tokens: list[str], body: dict[str, Any]) -> tuple[list[str], str]:
    """Cut ``tokens`` by max_tokens and stop strings: (tokens, finish_reason)."""
    max_tokens = body.get("max_tokens")
    max_tokens = 16 if max_tokens is None else max_tokens
    finish = "length" if len(tokens) > max_tokens else "stop"
    tokens = tokens[:max_tokens]
    stops = body.get("stop") or []
    stops = [stops] if isinstance(stops, str) else stops
    text = "".join(tokens)
    cut = min((text.find(s) for s in stops if s in text), default=-1)
    if cut < 0:
        return tokens, finish
    kept, used = [], 0
    for tok in tokens:
        if used + len(tok) > cut:
            if cut > used:
                kept.append(tok[: cut - used])
            break
        kept.append(tok)
        used += len(tok)
    return kept, "stop"


def _legacy_logprobs(tokens: list[str], k: int, first_none: bool, start: int = 0) -> dict[str, Any]:
    offsets, pos = [], start
    for tok in tokens:
        offsets.append(pos)
        pos += len(tok)
    values = [token_logprob(t) for t in tokens]
    tops: list[Any] = [dict(_top(t, max(k, 1))) for t in tokens]
    if first_none and tokens:
        values[0], tops[0] = None, None
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}


def _chat_logprobs(tokens: list[str], k: int) -> dict[str, Any]:
    return {
        "content": [
            {
                "token": t,
                "logprob": token_logprob(t),
                "bytes": list(t.encode()),
                "top_logprobs": [{"token": a, "logprob": v, "bytes": None} for a, v in _top(t, k)[:k]],
            }
            for t in tokens
        ]
    }


def _samples(prompts: list[str], body: dict[str, Any], chat: bool, state: FakeState) -> list[dict]:
    """Per choice: index, prompt tokens, answer tokens, finish reason."""
    n = 1 if state.ignore_n else int(body.get("n") or 1)
    out = []
    for p, prompt in enumerate(prompts):
        for j in range(n):
            words = _answer_words(prompt, j, body)
            tokens = [w if chat and i == 0 else f" {w}" for i, w in enumerate(words)]
            generated, finish = _generate(tokens, body)
            out.append({"index": p * n + j, "prompt": prompt, "tokens": generated, "finish": finish})
    return out


def _usage(prompt_tokens: int, samples: list[dict]) -> dict[str, int]:
    completion = sum(len(s["tokens"]) for s in samples)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }


def _error(status: int, message: str) -> JSONResponse:
    """vLLM's error body."""
    return JSONResponse({"object": "error", "message": message, "type": "error", "code": status}, status)


def build_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    async def check(request: Request, body: dict[str, Any]) -> JSONResponse | None:
        state.requests.append(Recorded(request.method, request.url.path, body, dict(request.headers)))
        if state.fail_times > 0:
            state.fail_times -= 1
            return _error(state.fail_status, state.fail_message)
        if state.delay:
            await asyncio.sleep(state.delay)
        for name in state.reject_fields:
            if name in body:
                return _error(400, f"unsupported field: {name}")
        return None

    @app.get("/v1/models")
    async def models(request: Request):
        if failure := await check(request, {}):
            return failure
        return {"object": "list", "data": state.models}

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await request.json()
        if failure := await check(request, body):
            return failure
        if body.get("max_tokens") == 0 and state.reject_zero_max_tokens:
            return _error(400, "max_tokens must be at least 1, got 0.")
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        samples = _samples(prompts, body, False, state)
        k = body.get("logprobs")
        prompt_tokens = sum(len(tokenize(p)) for p in prompts)
        if body.get("stream"):
            return _stream(request, body, samples, prompt_tokens, chat=False)
        choices = []
        for s in samples:
            echo = tokenize(s["prompt"]) if body.get("echo") else []
            logprobs = None
            if k is not None and not (echo and state.no_prompt_logprobs):
                logprobs = _legacy_logprobs(echo + s["tokens"], k, first_none=bool(echo))
            text = "".join(echo + s["tokens"])
            choices.append(
                {"index": s["index"], "text": text, "logprobs": logprobs, "finish_reason": s["finish"]}
            )
        return {
            "id": "cmpl-fake",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": choices,
            "usage": _usage(prompt_tokens, samples),
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        if failure := await check(request, body):
            return failure
        messages = body["messages"]
        samples = _samples([messages[-1]["content"]], body, True, state)
        prompt_tokens = sum(len(tokenize(m["content"])) + 3 for m in messages)
        if body.get("stream"):
            return _stream(request, body, samples, prompt_tokens, chat=True)
        choices = [
            {
                "index": s["index"],
                "message": {"role": "assistant", "content": "".join(s["tokens"])},
                "logprobs": _chat_logprobs(s["tokens"], body.get("top_logprobs") or 0)
                if body.get("logprobs")
                else None,
                "finish_reason": s["finish"],
            }
            for s in samples
        ]
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": choices,
            "usage": _usage(prompt_tokens, samples),
        }

    def _stream(request: Request, body: dict, samples: list[dict], prompt_tokens: int, chat: bool):
        chunks = list(_chunks(body, samples, chat))
        if (body.get("stream_options") or {}).get("include_usage") and not state.no_usage:
            chunks.append({"choices": [], "usage": _usage(prompt_tokens, samples)})

        async def events():
            finished = False
            try:
                for chunk in chunks:
                    if state.token_delay:
                        await asyncio.sleep(state.token_delay)
                    if await request.is_disconnected():
                        return
                    base = {"id": "fake", "created": 0, "model": body.get("model"), "usage": None}
                    base["object"] = "chat.completion.chunk" if chat else "text_completion"
                    yield f"data: {json.dumps({**base, **chunk})}\n\n"
                yield "data: [DONE]\n\n"
                finished = True
            finally:
                if finished:
                    state.streams_done += 1
                else:
                    state.disconnects += 1

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def _chunks(body: dict, samples: list[dict], chat: bool):
    """Choices interleaved token by token, as vLLM streams them."""
    k = body.get("top_logprobs") or 0 if chat else body.get("logprobs")
    want_logprobs = bool(body.get("logprobs")) if chat else k is not None
    if chat:
        for s in samples:
            yield {
                "choices": [
                    {
                        "index": s["index"],
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ]
            }
    longest = max((len(s["tokens"]) for s in samples), default=0)
    for position in range(longest + 1):
        for s in samples:
            if position > len(s["tokens"]):
                continue
            last = position == len(s["tokens"])
            token = "" if last else s["tokens"][position]
            logprobs = None
            if want_logprobs and not last:
                logprobs = _chat_logprobs([token], k) if chat else _legacy_logprobs([token], k or 0, False)
            choice: dict[str, Any] = {
                "index": s["index"],
                "logprobs": logprobs,
                "finish_reason": s["finish"] if last else None,
            }
            if chat:
                choice["delta"] = {"content": token}
            else:
                choice["text"] = token
            yield {"choices": [choice]}


class FakeUpstream(LoopbackServer):
    """The fake server, run by uvicorn in a thread on 127.0.0.1 at a free port."""

    label = "fake upstream server"

    def __init__(self) -> None:
        super().__init__()
        self.state = FakeState()
        self.app = build_app(self.state)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reset(self) -> FakeState:
        """Back to normal behaviour with an empty request log (same object, same app)."""
        fresh = FakeState()
        for name in fresh.__dataclass_fields__:
            setattr(self.state, name, getattr(fresh, name))
        return self.state
