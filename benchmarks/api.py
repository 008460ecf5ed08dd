"""What the OpenAI-compatible API costs on top of the core, and how it holds under load.

Prints one JSON object:

- ``ttft``: streaming time to first token through the server (HTTP + SSE on loopback)
  against ``pipeline.answer`` called directly, same prompt, greedy; medians over
  ``--repeats`` runs, alternating so drift hits all alike. The server runs as it is
  deployed, in its own process (``python openai_server/server.py``); it is also measured
  in this process (``serve_in_thread``, as beside the terminal chat), where the HTTP
  client, the server and the model share one GIL.
- ``load``: 1, 8 and 32 concurrent streaming clients (asyncio + httpx, one event loop)
  against the server process: requests/s, mean and p95 latency, mean time to first token,
  completion tokens/s. Each level runs ``--rounds`` requests per client, and stops early
  after ``--time_limit`` seconds. ``direct_*`` is the same load from as many threads
  calling ``pipeline.answer`` in this process: what the core alone achieves.

    python benchmarks/api.py [--max_tokens=16] [--repeats=5] [--concurrency=1,8,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from h2ogpt.answering.pipeline import Pipeline  # noqa: E402
from h2ogpt.backends.selection import create_backend  # noqa: E402
from h2ogpt.events import TokenDelta  # noqa: E402
from h2ogpt.request import AnswerRequest  # noqa: E402
from h2ogpt.settings import Settings  # noqa: E402
from openai_server.server import serve_in_thread  # noqa: E402

PROMPT = "Write a short story about a lighthouse keeper."


def direct_ttft(pipeline: Pipeline, max_tokens: int) -> float:
    """Seconds until the core yields the first text; the rest is generated, then dropped."""
    started = time.perf_counter()
    events = pipeline.answer(AnswerRequest.from_prompt(PROMPT, max_new_tokens=max_tokens, temperature=0))
    try:
        for event in events:
            if isinstance(event, TokenDelta) and event.text:
                return time.perf_counter() - started
    finally:
        events.close()
    raise RuntimeError("no text was generated")


def direct_answer(pipeline: Pipeline, content: str, max_tokens: int) -> dict:
    """One whole answer from the core: time to first text and total time."""
    started, first = time.perf_counter(), None
    request = AnswerRequest.from_prompt(content, max_new_tokens=max_tokens, temperature=0)
    for event in pipeline.answer(request):
        if first is None and isinstance(event, TokenDelta) and event.text:
            first = time.perf_counter() - started
    latency = time.perf_counter() - started
    return {"ttft": latency if first is None else first, "latency": latency}


def direct_level(pipeline: Pipeline, clients: int, rounds: int, max_tokens: int, time_limit: float) -> dict:
    """The load of ``load_level`` from threads calling the core directly."""
    started = time.perf_counter()

    def client_loop(who: int) -> list[dict]:
        done = []
        for r in range(rounds):
            if r and time.perf_counter() - started > time_limit:
                break
            done.append(direct_answer(pipeline, question(who, r), max_tokens))
        return done

    with ThreadPoolExecutor(clients) as pool:
        results = [r for done in pool.map(client_loop, range(clients)) for r in done]
    wall = time.perf_counter() - started
    return {
        "direct_requests_per_s": round(len(results) / wall, 3),
        "direct_mean_latency_s": round(statistics.mean(r["latency"] for r in results), 3),
        "direct_mean_ttft_s": round(statistics.mean(r["ttft"] for r in results), 3),
    }


def question(who: int, round_: int) -> str:
    return f"Tell me one fact about the number {who * 100 + round_}."


async def stream_once(client: httpx.AsyncClient, content: str, max_tokens: int) -> dict:
    """One streamed chat request: time to first content, total time, completion tokens."""
    body = {
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first, tokens = None, 0
    async with client.stream("POST", "/v1/chat/completions", json=body) as reply:
        reply.raise_for_status()
        async for line in reply.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - started
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    latency = time.perf_counter() - started
    return {"ttft": latency if first is None else first, "latency": latency, "tokens": tokens}


async def server_ttft(url: str, max_tokens: int) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        return (await stream_once(client, PROMPT, max_tokens))["ttft"]


async def load_level(url: str, clients: int, rounds: int, max_tokens: int, time_limit: float) -> dict:
    """``clients`` concurrent streaming clients, each sending up to ``rounds`` requests in turn."""
    results: list[dict] = []
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)

    async def client_loop(client: httpx.AsyncClient, who: int) -> None:
        for r in range(rounds):
            if r and time.perf_counter() - started > time_limit:
                return
            results.append(await stream_once(client, question(who, r), max_tokens))

    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        await asyncio.gather(*(client_loop(client, who) for who in range(clients)))
    wall = time.perf_counter() - started
    latencies = sorted(r["latency"] for r in results)
    return {
        "clients": clients,
        "requests": len(results),
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(results) / wall, 3),
        "mean_latency_s": round(statistics.mean(latencies), 3),
        "p95_latency_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3),
        "mean_ttft_s": round(statistics.mean(r["ttft"] for r in results), 3),
        "completion_tok_per_s": round(sum(r["tokens"] for r in results) / wall, 2),
    }


@contextmanager
def server_process(args: argparse.Namespace) -> Iterator[str]:
    """``python openai_server/server.py`` on a free loopback port; its URL once the model is loaded."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    flags = [
        f"--openai_port={port}",
        "--server_name=127.0.0.1",
        f"--max_queue={max(64, 2 * args.max_clients)}",
    ]
    flags += [f"--base_model={args.base_model}"] if args.base_model else []
    flags += [f"--data_dir={args.data_dir}"] if args.data_dir else []
    process = subprocess.Popen(
        [sys.executable, str(REPO / "openai_server" / "server.py"), *flags], stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API server process did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--max_tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", default="1,8,32", help="concurrent clients at each level")
    parser.add_argument("--rounds", type=int, default=2, help="requests per client at each level")
    parser.add_argument("--time_limit", type=float, default=60.0, help="seconds per level, then stop")
    parser.add_argument("--data_dir", default=os.environ.get("H2OGPT_DATA_DIR"))
    parser.add_argument("--base_model", default="")
    args = parser.parse_args()
    args.max_clients = max(int(c) for c in args.concurrency.split(","))
    return args


def measure_ttft(pipeline: Pipeline, urls: dict[str, str], args: argparse.Namespace) -> dict:
    """Median time to first token, directly and through each server (milliseconds)."""
    direct_ttft(pipeline, 4)  # warm-up, every path
    for url in urls.values():
        asyncio.run(server_ttft(url, 4))
    runs: dict[str, list[float]] = {"direct_pipeline": [], **{name: [] for name in urls}}
    for _ in range(args.repeats):
        runs["direct_pipeline"].append(direct_ttft(pipeline, args.max_tokens))
        for name, url in urls.items():
            runs[name].append(asyncio.run(server_ttft(url, args.max_tokens)))
    medians = {f"{name}_ms": round(statistics.median(times) * 1000, 1) for name, times in runs.items()}
    for name in urls:
        medians[f"{name}_overhead_ms"] = round(medians[f"{name}_ms"] - medians["direct_pipeline_ms"], 1)
    return {**medians, "repeats": args.repeats}


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(base_model=args.base_model, **({"data_dir": args.data_dir} if args.data_dir else {}))
    pipeline = Pipeline(settings, create_backend(settings))
    with server_process(args) as url, serve_in_thread(settings, pipeline, port=0) as handle:
        ttft = measure_ttft(pipeline, {"server_process": url, "server_in_process": handle.url}, args)
        handle.stop()  # the load test runs against the server process only
        levels = []
        for clients in (int(c) for c in args.concurrency.split(",")):
            level = asyncio.run(load_level(url, clients, args.rounds, args.max_tokens, args.time_limit))
            level.update(direct_level(pipeline, clients, args.rounds, args.max_tokens, args.time_limit))
            levels.append(level)
    report = {
        "benchmark": "api",
        "model": pipeline.backend.info.name,
        "device": pipeline.backend.info.device,
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": platform.machine(),
        "max_tokens": args.max_tokens,
        "ttft": ttft,
        "load": levels,
    }
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
