"""Decode throughput of the local engines on one GGUF model, each in its own process.

For each engine: load seconds, resident memory after loading (VmRSS), batch-1 greedy
tok/s, and aggregate tok/s of n = 1, 4, 8 sampled answers (temperature 0.7, fixed seed)
in one call. Engines:

- ``llama.cpp``: h2oGPT's llama.cpp engine (``h2ogpt.backends.llamacpp``);
- ``transformers``: h2oGPT's transformers engine (the GGUF converted by transformers);
- ``reference``: llama-cpp-python's own ``Llama`` on the same file, what a user of the
  binding alone gets: its default threads, and the same threads as ours
  (``reference_same_threads``), timing only generation (its ``generate`` loop, greedy).

Greedy rates (``greedy_tok_per_s``) time generation only, after the first token (as the
reference); ``greedy_end_to_end_tok_per_s`` and the sampled rates include the prefill.
Prints one JSON line per engine and a ``summary`` line with the ratios the llama.cpp
engine is held to (>= 0.9x the reference, >= 2.5x transformers, n=8 >= 3x n=1).

    python benchmarks/decode.py [--engine llama.cpp,reference,transformers] [--model PATH]
                                [--tokens 64] [--repeats 3] [--threads 0] [--json]
                                [--n 1,4,8] [--n-gpu-layers 0]  (-1: every layer on a CUDA build's GPU)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
SAMPLED_N = (1, 4, 8)
SEED = 1234
TEMPERATURE = 0.7


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cpu_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


# --- h2oGPT engines ----------------------------------------------------------------------
def load_engine(kind: str, model: str, data_dir: str, threads: int, n_gpu_layers: int = 0, amx: str = "auto"):
    """(backend, info) for ``llama.cpp`` or ``transformers``."""
    if kind == "llama.cpp":
        from h2ogpt.backends.llamacpp.engine import LlamaCppEngine

        engine = LlamaCppEngine.load(
            model, name=Path(model).stem, n_threads=threads, n_gpu_layers=n_gpu_layers, amx=amx
        )
        loaded = engine.model
        return engine, {
            "threads": loaded.n_threads,
            "kv_cells": loaded.kv_cells,
            "flash_attention": loaded.flash_attention,
        }
    from h2ogpt.backends.model_source import embedded_gguf_path
    from h2ogpt.backends.selection import create_backend
    from h2ogpt.settings import Settings

    fields = {"data_dir": data_dir, "engine": "transformers"}
    if Path(model).resolve() != embedded_gguf_path().resolve():
        fields["base_model"] = model
    backend = create_backend(Settings(**fields))
    import torch

    return backend, {"threads": torch.get_num_threads()}


def greedy_rate(backend, prompt: str, tokens: int) -> tuple[float, float, int]:
    """(generation-only tok/s after the first token, end-to-end tok/s, tokens) of one answer."""
    from h2ogpt.backends.base import Completion, SamplingParams

    started = time.perf_counter()
    first = None
    done = None
    for event in backend.stream(prompt, SamplingParams(max_new_tokens=tokens)):
        if first is None:
            first = time.perf_counter()
        if isinstance(event, Completion):
            done = event
    ended = time.perf_counter()
    produced = done.completion_tokens
    generation = (produced - 1) / (ended - first) if produced > 1 and ended > first else float("nan")
    return generation, produced / (ended - started), produced


def sampled_rate(backend, prompt: str, tokens: int, n: int) -> tuple[float, int]:
    from h2ogpt.backends.base import SamplingParams

    params = SamplingParams(max_new_tokens=tokens, temperature=TEMPERATURE, seed=SEED)
    started = time.perf_counter()
    done = backend.sample(prompt, params, n=n)
    wall = time.perf_counter() - started
    produced = sum(c.completion_tokens for c in done)
    return produced / wall, produced


def _ratios_to_n1(sampled: list[dict]) -> dict:
    """``n{N}_vs_n1``: aggregate tok/s of N samples over one sample's, for each N measured."""
    rates = {s["n"]: s["tok_per_s"] for s in sampled}
    if not rates.get(1):
        return {}
    return {f"n{n}_vs_n1": round(rate / rates[1], 2) for n, rate in rates.items() if n != 1}


def measure_engine(kind: str, args) -> dict:
    started = time.perf_counter()
    backend, extra = load_engine(kind, args.model, args.data_dir, args.threads, args.n_gpu_layers, args.amx)
    load_s = time.perf_counter() - started
    rss = rss_mb()
    prompt = backend.apply_chat_template([{"role": "user", "content": PROMPT}])
    greedy_rate(backend, prompt, 8)  # warm-up
    runs = [greedy_rate(backend, prompt, args.tokens) for _ in range(args.repeats)]
    sampled = []
    for n in args.n:
        rates = [sampled_rate(backend, prompt, args.tokens, n) for _ in range(args.repeats)]
        sampled.append(
            {
                "n": n,
                "tok_per_s": round(statistics.median(r for r, _ in rates), 2),
                "tokens": int(statistics.median(t for _, t in rates)),
            }
        )
    info = backend.info
    return {
        "benchmark": "decode",
        "engine": kind,
        "model": info.name,
        "device": info.device,
        "dtype": info.dtype,
        **extra,
        "load_s": round(load_s, 3),
        "rss_mb": rss,
        "prompt_tokens": backend.count_tokens(prompt),
        "tokens": args.tokens,
        "greedy_tok_per_s": round(statistics.median(r[0] for r in runs), 2),
        "greedy_end_to_end_tok_per_s": round(statistics.median(r[1] for r in runs), 2),
        "greedy_tokens": int(statistics.median(r[2] for r in runs)),
        "sampled": sampled,
        **_ratios_to_n1(sampled),
        "rss_mb_end": rss_mb(),
    }


# --- llama-cpp-python alone --------------------------------------------------------------
def _without_amx_repacking(amx: str) -> bool:
    """Skip llama.cpp's extra (AMX-repacked) buffer types where the h2oGPT engine does: an AMX
    build without the tile-config fix crashes (SIGSEGV) on batches of more than one token."""
    import llama_cpp.llama_cpp as C

    from h2ogpt.backends.llamacpp import native

    if native.amx_kernels_allowed(amx):
        return False
    default = C.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p

    C.llama_model_default_params = params
    return True


def measure_reference(args, threads: int | None) -> dict:
    import llama_cpp

    no_amx = _without_amx_repacking(args.amx)
    started = time.perf_counter()
    kwargs = {"n_threads": threads, "n_threads_batch": threads} if threads else {}
    kwargs["n_gpu_layers"] = args.n_gpu_layers
    llm = llama_cpp.Llama(args.model, n_ctx=2048, verbose=False, **kwargs)
    load_s = time.perf_counter() - started
    rss = rss_mb()
    messages = [{"role": "user", "content": PROMPT}]
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = llm.metadata.get("tokenizer.chat_template")
    prompt = (
        ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        .from_string(template)
        .render(messages=messages, add_generation_prompt=True)
        if template
        else PROMPT
    )
    prompt_ids = llm.tokenize(prompt.encode(), add_bos=True, special=True)

    def generate(tokens: int) -> float:
        count, first = 0, None
        for _token in llm.generate(prompt_ids, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
            count += 1
            if first is None:
                first = time.perf_counter()
            if count >= tokens:
                break
        return (count - 1) / (time.perf_counter() - first)

    def completion(tokens: int) -> float:
        started = time.perf_counter()
        out = llm.create_completion(prompt, max_tokens=tokens, temperature=0.0)
        return out["usage"]["completion_tokens"] / (time.perf_counter() - started)

    generate(8)  # warm-up
    rates = [generate(args.tokens) for _ in range(args.repeats)]
    ends = [completion(args.tokens) for _ in range(args.repeats)]
    return {
        "benchmark": "decode",
        "engine": "reference" if threads is None else "reference_same_threads",
        "what": "llama_cpp.Llama(model, n_ctx=2048).generate(), greedy",
        "threads": llm.n_threads,
        "amx_repacking_skipped": no_amx,
        "load_s": round(load_s, 3),
        "rss_mb": rss,
        "prompt_tokens": len(prompt_ids),
        "tokens": args.tokens,
        "greedy_tok_per_s": round(statistics.median(rates), 2),
        "create_completion_tok_per_s": round(statistics.median(ends), 2),
    }


# --- the parent: one child process per engine --------------------------------------------
def run_child(engine: str, args) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        engine,
        "--model",
        args.model,
        "--tokens",
        str(args.tokens),
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
        "--data_dir",
        args.data_dir,
        "--n-gpu-layers",
        str(args.n_gpu_layers),
        "--n",
        ",".join(str(n) for n in args.n),
        "--amx",
        args.amx,
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {
            "benchmark": "decode",
            "engine": engine,
            "error": f"exit {done.returncode}: {' | '.join(tail)}",
        }
    return json.loads(lines[-1])


def summary(results: dict[str, dict], threads: int) -> dict:
    ours = results.get("llama.cpp", {})
    line: dict = {
        "benchmark": "decode",
        "engine": "summary",
        "cpu_threads": threads,
        "machine": platform.machine(),
    }

    def ratio(name: str, a: dict, key_a: str, b: dict, key_b: str) -> None:
        if a.get(key_a) and b.get(key_b):
            line[name] = round(a[key_a] / b[key_b], 2)

    ratio(
        "vs_reference_same_threads",
        ours,
        "greedy_tok_per_s",
        results.get("reference_same_threads", {}),
        "greedy_tok_per_s",
    )
    ratio("vs_reference_default", ours, "greedy_tok_per_s", results.get("reference", {}), "greedy_tok_per_s")
    ratio("vs_transformers", ours, "greedy_tok_per_s", results.get("transformers", {}), "greedy_tok_per_s")
    if "n8_vs_n1" in ours:
        line["n8_vs_n1"] = ours["n8_vs_n1"]
    bars = {
        "vs_reference_same_threads": 0.9,
        "vs_transformers": 2.5,
        "n8_vs_n1": 3.0,
    }
    line["meets"] = {name: line[name] >= bar for name, bar in bars.items() if name in line}
    line["load_average"] = load_average()
    return line


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="llama.cpp,reference,transformers")
    parser.add_argument(
        "--model", default="", help="a .gguf file or a preset name (default: the embedded model)"
    )
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: every core)")
    parser.add_argument(
        "--n-gpu-layers", type=int, default=0, help="llama.cpp layers offloaded to a GPU (-1: all)"
    )
    parser.add_argument(
        "--n", default=",".join(map(str, SAMPLED_N)), help="sample counts for the aggregate rates"
    )
    parser.add_argument(
        "--amx", choices=("auto", "on", "off"), default="auto", help="llama.cpp's AMX kernels (--llama_amx)"
    )
    parser.add_argument(
        "--data_dir", default=os.environ.get("H2OGPT_DATA_DIR", str(REPO / ".cache" / "test-data"))
    )
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    parser.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.n = [int(n) for n in args.n.split(",") if n.strip()]
    from h2ogpt.backends.model_source import resolve_model

    args.model = resolve_model(args.model, Path(args.data_dir)).location  # a preset becomes its file

    if args.child:
        if args.child == "reference":
            result = measure_reference(args, None)
        elif args.child == "reference_same_threads":
            result = measure_reference(args, args.threads or cpu_threads())
        else:
            result = measure_engine(args.child, args)
        print(json.dumps(result), flush=True)
        return

    engines = [e.strip() for e in args.engine.split(",") if e.strip()]
    if "reference" in engines:
        engines.insert(engines.index("reference") + 1, "reference_same_threads")
    results: dict[str, dict] = {}
    for engine in engines:
        if not args.json:
            print(f"# measuring {engine} (load average {load_average()}) ...", file=sys.stderr, flush=True)
        results[engine] = run_child(engine, args)
        print(json.dumps(results[engine]), flush=True)
    print(json.dumps(summary(results, args.threads or cpu_threads())), flush=True)


if __name__ == "__main__":
    main()
