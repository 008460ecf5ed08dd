"""The llama.cpp engine's primitives with the model on the CPU and offloaded to a GPU, side by side.

Needs a GPU build of llama-cpp-python (CUDA, ...). Loads the same GGUF twice, once with
``n_gpu_layers=0`` and once with ``--n-gpu-layers`` (default -1: every layer), and prints one
JSON line per check:

- ``greedy``: per prompt, how many leading tokens of the two greedy answers agree (an answer
  may end before ``--tokens``), and how many answers are identical;
- ``score``: the largest difference between the two placements' continuation log-probabilities;
- ``next_token``: overlap of the two top-5 next-token lists after each suffix;
- ``samples``: n seeded samples of one prompt on the GPU, twice: identical both times, how many
  distinct, and the prompt's tokens prefilled once per call;
- ``json``: ``json_object`` answers on the GPU parse;
- ``steps``: a step session on the GPU (extend, select, add) encodes its prompt once;
- ``speed``: greedy and n=8 tok/s on each placement, measured as ``decode.py`` does (its full
  benchmark has the reference loop and n=1, 4).

    python benchmarks/engine_devices.py [--model PATH] [--n-gpu-layers -1] [--tokens 32]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from decode import greedy_rate, sampled_rate

import h2ogpt  # noqa: F401  (before llama_cpp: a CUDA build needs its set-up)
from h2ogpt.backends.base import SamplingParams
from h2ogpt.backends.llamacpp.engine import LlamaCppEngine
from h2ogpt.backends.model_source import embedded_gguf_path

QUESTIONS = (
    "What is the capital of France?",
    "Name three primary colors.",
    "What is 12 + 30?",
    "Write one sentence about the sea.",
    "Translate 'good morning' into Spanish.",
    "List the days of the week.",
)
SCORED = ("Paris", "The capital of France is Paris.", "Berlin is the capital of Germany.")
SUFFIXES = ("", "Yes", "No, it is")


def chat(engine: LlamaCppEngine, question: str) -> str:
    return engine.apply_chat_template([{"role": "user", "content": question}]) or question


def emit(check: str, **fields) -> None:
    print(json.dumps({"benchmark": "engine_devices", "check": check, **fields}), flush=True)


def agreeing_prefix(a: list[int], b: list[int]) -> int:
    differ = (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    return next(differ, min(len(a), len(b)))


def greedy_ids(engine: LlamaCppEngine, prompt: str, tokens: int) -> list[int]:
    (done,) = engine.sample(prompt, SamplingParams(max_new_tokens=tokens))
    return engine.encode(done.text)


def check_greedy(cpu: LlamaCppEngine, gpu: LlamaCppEngine, tokens: int) -> None:
    agree, lengths, identical = [], [], 0
    for question in QUESTIONS:
        prompt = chat(cpu, question)
        left, right = greedy_ids(cpu, prompt, tokens), greedy_ids(gpu, prompt, tokens)
        agree.append(agreeing_prefix(left, right))
        lengths.append(max(len(left), len(right)))
        identical += left == right
    emit(
        "greedy",
        prompts=len(QUESTIONS),
        max_tokens=tokens,
        agreeing_tokens=agree,
        answer_tokens=lengths,
        identical=identical,
        first_8_agree=sum(n >= min(8, length) for n, length in zip(agree, lengths, strict=True)),
    )


def check_scores(cpu: LlamaCppEngine, gpu: LlamaCppEngine) -> None:
    prompt = chat(cpu, QUESTIONS[0])
    left, right = cpu.score_continuations(prompt, SCORED), gpu.score_continuations(prompt, SCORED)
    diffs = [
        abs(a - b)
        for x, y in zip(left, right, strict=True)
        for a, b in zip(x.logprobs, y.logprobs, strict=True)
    ]
    emit("score", continuations=len(SCORED), tokens=len(diffs), max_abs_diff=round(max(diffs), 4))

    top_left = cpu.next_token_logprobs(prompt, SUFFIXES, top=5)
    top_right = gpu.next_token_logprobs(prompt, SUFFIXES, top=5)
    overlap = [len({t for t, _ in a} & {t for t, _ in b}) for a, b in zip(top_left, top_right, strict=True)]
    first_same = sum(a[0][0] == b[0][0] for a, b in zip(top_left, top_right, strict=True))
    emit("next_token", suffixes=len(SUFFIXES), top5_overlap=overlap, same_first=first_same)


def check_samples(gpu: LlamaCppEngine, n: int = 8) -> None:
    prompt = chat(gpu, "Tell me a short fact about cats.")
    params = SamplingParams(max_new_tokens=24, temperature=0.8, top_k=50, seed=7)
    prefill = gpu.prefill_tokens
    first = [done.text for done in gpu.sample(prompt, params, n=n)]
    prefilled = gpu.prefill_tokens - prefill
    second = [done.text for done in gpu.sample(prompt, params, n=n)]
    emit(
        "samples",
        n=n,
        reproducible=first == second,
        distinct=len(set(first)),
        prompt_tokens=len(gpu.encode(prompt)),
        prefilled_tokens=prefilled,
    )


def check_json(gpu: LlamaCppEngine) -> None:
    params = SamplingParams(max_new_tokens=40, temperature=0.7, seed=3, json_object=True)
    answers = gpu.sample(chat(gpu, "Describe a cat as JSON."), params, n=4)
    parsed = 0
    for done in answers:
        with contextlib.suppress(ValueError):
            parsed += isinstance(json.loads(done.text), dict)
    emit("json", answers=len(answers), parse=parsed)


def check_steps(gpu: LlamaCppEngine) -> None:
    params = SamplingParams(max_new_tokens=30, stop=("\n",))
    session = gpu.open_steps(chat(gpu, "Count from 1 to 30, one number per line."), params, rows=2)
    try:
        first = session.extend([0, 1], params)
        session.select([1, 0, 0])
        second = session.extend([0, 2], params)
        session.add([[first[0], second[0]]])
        regrown = session.extend([0, 3], params)
        emit(
            "steps",
            rows=session.rows,
            prompt_encodes=session.prompt_encodes,
            steps=[first[0].text, second[0].text, regrown[0].text],
            regrown_matches=regrown[0].text == regrown[1].text,
        )
    finally:
        session.close()


def check_speed(engines: dict[str, LlamaCppEngine], tokens: int) -> None:
    """Rates as ``decode.py`` measures them (greedy: after the first token), best of three."""
    for placement, engine in engines.items():
        prompt = chat(engine, "Write a long, detailed story about a lighthouse keeper and a storm.")
        greedy_rate(engine, prompt, 8)  # warm-up
        emit(
            "speed",
            placement=placement,
            device=engine.info.device,
            greedy_tok_per_s=round(max(greedy_rate(engine, prompt, tokens)[0] for _ in range(3)), 1),
            n8_tok_per_s=round(max(sampled_rate(engine, prompt, tokens, 8)[0] for _ in range(3)), 1),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="", help="a GGUF file (default: the embedded model)")
    parser.add_argument("--n-gpu-layers", type=int, default=-1)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    model = args.model or str(embedded_gguf_path())
    cpu = LlamaCppEngine.load(model, name="cpu", max_rows=8)
    gpu = LlamaCppEngine.load(model, name="gpu", n_gpu_layers=args.n_gpu_layers, max_rows=8)
    emit("load", model=Path(model).name, cpu_device=cpu.info.device, gpu_device=gpu.info.device)
    if gpu.info.device != "gpu":
        sys.exit("this llama-cpp-python build offloads nothing to a GPU (a CPU build, or no GPU visible)")
    check_greedy(cpu, gpu, args.tokens)
    check_scores(cpu, gpu)
    check_samples(gpu)
    check_json(gpu)
    check_steps(gpu)
    check_speed({"cpu": cpu, "gpu": gpu}, args.tokens * 2)
    gpu.close()
    cpu.close()


if __name__ == "__main__":
    main()
