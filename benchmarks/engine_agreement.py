"""How often the llama.cpp and transformers engines give the same greedy answer on one GGUF.

Both engines read the same quantized weights, but llama.cpp rounds activations to 8 bits in
its quantized matrix products while transformers computes in float32 on dequantized weights,
so a near tie between two tokens can go either way. For each question (chat template of the
model), both engines answer greedily; the script prints one JSON line with how many of N agree
on the first 1, 4 and 16 tokens and on the whole answer, the mean length of the common start,
and the questions where they part at the first token (with both first tokens).

It also measures how far llama.cpp's numbers are from float32 ones, which agreement alone cannot
say (a near tie flips on any rounding): the transformers engine's answers are scored by the
llama.cpp engine, token by token, and ``logprob_error`` gives the mean and root mean square of
the differences in log-probability over those tokens, and the largest. Compare settings of the
llama.cpp engine with it (``--llama-amx off``; ``H2OGPT_FA_FEW_ROWS=0`` turns our flash-attention
kernel off, and with it flash attention): a kernel change that moves the answers is worse only
if it moves them away from float32.

    python benchmarks/engine_agreement.py [--dataset FILE.jsonl] [--limit 40] [--tokens 24]
                                          [--model PRESET_OR_PATH] [--llama-amx auto|on|off]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from scaling_data import read_items  # noqa: E402

from h2ogpt.backends.base import Completion, SamplingParams  # noqa: E402
from h2ogpt.backends.llamacpp import native  # noqa: E402
from h2ogpt.backends.selection import create_backend  # noqa: E402
from h2ogpt.settings import Settings  # noqa: E402

DEFAULT_DATASET = REPO.parent / "shared" / "data" / "easy_arith" / "easy_arith_shared150.jsonl"
CHECKPOINTS = (1, 4, 16)


def greedy_answers(backend, prompts: list[str], tokens: int) -> list[Completion]:
    """Each prompt's greedy answer, with its tokens' texts and log-probabilities."""
    return backend.continue_texts(prompts, SamplingParams(max_new_tokens=tokens, top_logprobs=0))


def token_texts(completion: Completion) -> list[str]:
    return [t.token for t in completion.logprobs]


def logprob_differences(backend, prompts: list[str], answers: list[Completion]) -> list[float]:
    """``backend``'s log-probability of each token of ``answers`` minus the answer's own, for
    the answers whose text tokenizes back to the tokens that were generated."""
    differences = []
    for prompt, answer in zip(prompts, answers, strict=True):
        if not answer.text:
            continue
        (score,) = backend.score_continuations(prompt, [answer.text])
        if list(score.tokens) == token_texts(answer):
            differences += [a - b.logprob for a, b in zip(score.logprobs, answer.logprobs, strict=True)]
    return differences


def common_start(a: list[str], b: list[str]) -> int:
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=24)
    parser.add_argument(
        "--model", default="", help="a preset name or a .gguf file (default: the embedded model)"
    )
    parser.add_argument(
        "--data_dir", default=os.environ.get("H2OGPT_DATA_DIR", str(REPO / ".cache" / "test-data"))
    )
    parser.add_argument("--llama-amx", choices=("auto", "on", "off"), default="auto")
    args = parser.parse_args()
    questions = [item.question for item in read_items(args.dataset, args.limit)]
    answers: dict[str, list[Completion]] = {}
    for engine in ("transformers", "llama.cpp"):
        settings = Settings(
            data_dir=args.data_dir, base_model=args.model, engine=engine, llama_amx=args.llama_amx
        )
        backend = create_backend(settings)
        prompts = [backend.apply_chat_template([{"role": "user", "content": q}]) for q in questions]
        answers[engine] = greedy_answers(backend, prompts, args.tokens)
        if engine == "llama.cpp":
            differences = logprob_differences(backend, prompts, answers["transformers"])
        backend.close()
    ours, theirs = ([token_texts(c) for c in answers[e]] for e in ("llama.cpp", "transformers"))
    starts = [common_start(a, b) for a, b in zip(ours, theirs, strict=True)]
    whole = sum(a == b for a, b in zip(ours, theirs, strict=True))
    first_split = [
        {"question": q, "llama.cpp": a[:1], "transformers": b[:1]}
        for q, a, b, n in zip(questions, ours, theirs, starts, strict=True)
        if n == 0
    ]
    row = {
        "benchmark": "engine_agreement",
        "dataset": args.dataset.name,
        "model": args.model or "SmolLM2-135M-Instruct",
        "llama_amx": args.llama_amx,
        "flash_attention_kernel": native.fast_cpu_flash_attention(),
        "prompts": len(questions),
        "max_new_tokens": args.tokens,
        **{
            f"agree_first_{k}": sum(n >= min(k, len(a)) for n, a in zip(starts, ours, strict=True))
            for k in CHECKPOINTS
        },
        "agree_whole": whole,
        "mean_common_start": round(statistics.mean(starts), 2),
        "logprob_error": {
            "tokens": len(differences),
            "mean_abs": round(statistics.mean(abs(d) for d in differences), 4),
            "rms": round(math.sqrt(statistics.mean(d * d for d in differences)), 4),
            "max_abs": round(max(abs(d) for d in differences), 3),
        },
        "first_token_splits": first_split,
    }
    print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
