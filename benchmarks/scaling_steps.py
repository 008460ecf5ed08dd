"""Per-step time of step search vs the length of the steps so far.

For each prefix length, ``--particles`` rows that already hold that many generated tokens
take one step of ``--step_tokens`` tokens:

- ``kv``: a KV-cache step session (what beam search and particle methods use locally):
  the step feeds only its new tokens;
- ``resend``: the same step as a server without sessions gets it: prompt + prefix sent
  again and encoded, then the step generated.

Prints one JSON line per (mode, prefix length) and a summary line with each mode's time
at the longest prefix divided by its time at the shortest (measured in this run, so the
machine's speed cancels out). ``--plot PATH`` writes a PNG.

    python benchmarks/scaling_steps.py [--prefixes 0,256,512,1024,2048] [--plot steps.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from h2ogpt.backends.base import SamplingParams, StepOutput
from h2ogpt.backends.selection import create_backend
from h2ogpt.settings import Settings

PROMPT = [{"role": "user", "content": "Summarize the following notes step by step."}]
FILLER_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad2_docqa" / "corpus"


def filler_tokens(backend, count: int) -> list[int]:
    """``count`` tokens of real prose to stand for the steps already generated."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(FILLER_FILE.glob("*.txt"))[:3])
    ids = backend.engine.tokenize(text)
    if len(ids) < count:
        raise SystemExit(f"not enough filler text for a {count}-token prefix")
    return ids[:count]


def kv_step(backend, prompt: str, prefix: list[int], particles: int, step_tokens: int) -> float:
    """Seconds for one step of every row of a session whose rows hold ``prefix``."""
    params = SamplingParams(max_new_tokens=len(prefix) + step_tokens, temperature=0.8, seed=0)
    session = backend.open_steps(prompt, SamplingParams(max_new_tokens=len(prefix) + step_tokens), 1)
    try:
        if prefix:
            session.add([[StepOutput("", tuple(prefix), False, len(prefix), 0.0)]] * particles)
            session.select(list(range(1, particles + 1)))
        else:
            session.select([0] * particles)
        started = time.perf_counter()
        session.extend(list(range(particles)), params)
        return time.perf_counter() - started
    finally:
        session.close()


def resend_step(backend, prompt: str, prefix: list[int], particles: int, step_tokens: int) -> float:
    text = prompt + backend.engine.detokenize(prefix)
    params = SamplingParams(max_new_tokens=step_tokens, temperature=0.8, seed=0)
    started = time.perf_counter()
    backend.continue_texts([text] * particles, params)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefixes", default="0,256,512,1024,2048", help="prefix lengths in tokens")
    parser.add_argument("--particles", type=int, default=4)
    parser.add_argument("--step_tokens", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--plot", help="write a PNG of step time vs prefix length here")
    parser.add_argument(
        "--engine", default="auto", help="auto (llama.cpp for the embedded GGUF), llama.cpp, transformers"
    )
    args = parser.parse_args()
    backend = create_backend(Settings(engine=args.engine))
    prompt = backend.apply_chat_template(PROMPT)
    lengths = [int(x) for x in args.prefixes.split(",")]
    kv_step(backend, prompt, filler_tokens(backend, 8), args.particles, 4)  # warm-up
    times: dict[str, list[float]] = {"kv": [], "resend": []}
    for length in lengths:
        prefix = filler_tokens(backend, length)
        for mode, step in (("kv", kv_step), ("resend", resend_step)):
            runs = [
                step(backend, prompt, prefix, args.particles, args.step_tokens) for _ in range(args.repeats)
            ]
            seconds = statistics.median(runs)
            times[mode].append(seconds)
            line = {
                "engine": backend.info.engine,
                "mode": mode,
                "prefix_tokens": length,
                "particles": args.particles,
            }
            print(
                json.dumps({**line, "step_tokens": args.step_tokens, "step_s": round(seconds, 4)}), flush=True
            )
    summary = {f"{mode}_longest_over_shortest": round(t[-1] / t[0], 2) for mode, t in times.items()}
    print(
        json.dumps({"summary": True, "engine": backend.info.engine, "prefixes": lengths, **summary}),
        flush=True,
    )
    if args.plot:
        plot(lengths, times, args.plot)


def plot(lengths: list[int], times: dict[str, list[float]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    labels = {"kv": "KV-cache step session", "resend": "prompt + prefix re-sent"}
    for mode, seconds in times.items():
        axis.plot(lengths, seconds, marker="o", label=labels[mode])
    axis.set_xlabel("tokens already generated (prefix)")
    axis.set_ylabel("seconds per step")
    axis.set_title("Step time vs prefix length")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
