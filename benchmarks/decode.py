"""Decode throughput of the local backend: batch-1 greedy and n-sample aggregate tok/s.

Prints one JSON object. ``speedup_vs_n1`` compares aggregate throughput at each n with
n=1 measured in the same run (absolute numbers on shared machines are noise). The
``sequential_n8`` entry does the same 8 samples as 8 separate calls, to show what the
single batched call with a shared prefill buys.

    python benchmarks/decode.py [--max_new_tokens=64] [--repeats=3] [--data_dir=DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

from h2ogpt.backends import create_backend
from h2ogpt.backends.base import SamplingParams
from h2ogpt.settings import Settings

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."


def measure(
    backend, prompt: str, params: SamplingParams, n: int, repeats: int, separate: bool = False
) -> dict:
    rates, walls, tokens = [], [], []
    for repeat in range(repeats):
        seeded = SamplingParams(**{**params.__dict__, "seed": repeat})
        started = time.perf_counter()
        if separate:
            done = [
                backend.sample(prompt, SamplingParams(**{**seeded.__dict__, "seed": repeat * 100 + i}))[0]
                for i in range(n)
            ]
        else:
            done = backend.sample(prompt, seeded, n=n)
        wall = time.perf_counter() - started
        produced = sum(c.completion_tokens for c in done)
        rates.append(produced / wall)
        walls.append(wall)
        tokens.append(produced)
    return {
        "n": n,
        "tok_per_s": round(statistics.median(rates), 2),
        "wall_s": round(statistics.median(walls), 3),
        "tokens": int(statistics.median(tokens)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data_dir", default=os.environ.get("H2OGPT_DATA_DIR"))
    parser.add_argument("--base_model", default="")
    args = parser.parse_args()

    settings = Settings(base_model=args.base_model, **({"data_dir": args.data_dir} if args.data_dir else {}))
    backend = create_backend(settings)
    prompt = backend.apply_chat_template([{"role": "user", "content": PROMPT}])
    backend.sample(prompt, SamplingParams(max_new_tokens=8))  # warm-up

    greedy = measure(backend, prompt, SamplingParams(max_new_tokens=args.max_new_tokens), 1, args.repeats)
    sampling = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.8, top_p=0.95)
    batched = [measure(backend, prompt, sampling, n, args.repeats) for n in (1, 4, 8)]
    sequential = measure(backend, prompt, sampling, 8, 1, separate=True)
    base_rate = batched[0]["tok_per_s"]
    for row in batched:
        row["speedup_vs_n1"] = round(row["tok_per_s"] / base_rate, 2)
    report = {
        "benchmark": "decode",
        "model": backend.info.name,
        "device": backend.info.device,
        "dtype": backend.info.dtype,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "prompt_tokens": backend.count_tokens(prompt),
        "max_new_tokens": args.max_new_tokens,
        "batch1_greedy_tok_per_s": greedy["tok_per_s"],
        "sampled": batched,
        "sequential_n8": {
            **sequential,
            "batched_speedup": round(batched[2]["tok_per_s"] / sequential["tok_per_s"], 2),
        },
    }
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
