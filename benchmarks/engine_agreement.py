"""How often the llama.cpp and transformers engines give the same greedy answer on one GGUF.

Both engines read the same quantized weights, but llama.cpp rounds activations to 8 bits in
its quantized matrix products while transformers computes in float32 on dequantized weights,
so a near tie between two tokens can go either way. For each question (chat template of the
model), both engines answer greedily; the script prints one JSON line with how many of N agree
on the first 1, 4 and 16 tokens and on the whole answer, the mean length of the common start,
and the questions where they part at the first token (with both first tokens).

    python benchmarks/engine_agreement.py [--dataset FILE.jsonl] [--limit 40] [--tokens 24] [--model PRESET_OR_PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "src")]

from scaling_data import read_items  # noqa: E402

from h2ogpt.backends.base import SamplingParams  # noqa: E402
from h2ogpt.backends.selection import create_backend  # noqa: E402
from h2ogpt.settings import Settings  # noqa: E402

DEFAULT_DATASET = REPO.parent / "shared" / "data" / "easy_arith" / "easy_arith_shared150.jsonl"
CHECKPOINTS = (1, 4, 16)


def greedy_tokens(backend, prompts: list[str], tokens: int) -> list[list[str]]:
    """Each prompt's greedy answer as token texts (the same tokenizer on both engines)."""
    params = SamplingParams(max_new_tokens=tokens, top_logprobs=0)
    return [[t.token for t in c.logprobs] for c in backend.continue_texts(prompts, params)]


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
    args = parser.parse_args()
    questions = [item.question for item in read_items(args.dataset, args.limit)]
    answers = {}
    for engine in ("llama.cpp", "transformers"):
        backend = create_backend(Settings(data_dir=args.data_dir, base_model=args.model, engine=engine))
        prompts = [backend.apply_chat_template([{"role": "user", "content": q}]) for q in questions]
        answers[engine] = greedy_tokens(backend, prompts, args.tokens)
        backend.close()
    starts = [common_start(a, b) for a, b in zip(answers["llama.cpp"], answers["transformers"], strict=True)]
    whole = sum(a == b for a, b in zip(answers["llama.cpp"], answers["transformers"], strict=True))
    first_split = [
        {"question": q, "llama.cpp": a[:1], "transformers": b[:1]}
        for q, a, b, n in zip(questions, answers["llama.cpp"], answers["transformers"], starts, strict=True)
        if n == 0
    ]
    row = {
        "benchmark": "engine_agreement",
        "dataset": args.dataset.name,
        "model": args.model or "SmolLM2-135M-Instruct",
        "prompts": len(questions),
        "max_new_tokens": args.tokens,
        **{
            f"agree_first_{k}": sum(
                n >= min(k, len(a)) for n, a in zip(starts, answers["llama.cpp"], strict=True)
            )
            for k in CHECKPOINTS
        },
        "agree_whole": whole,
        "mean_common_start": round(statistics.mean(starts), 2),
        "first_token_splits": first_split,
    }
    print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
