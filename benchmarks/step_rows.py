"""Time of one decoding step of r sequences together, for several r, on the llama.cpp engine.

What batched sampling, self-consistency and step search pay per token: a step of r rows runs
other matrix kernels than a step of one (on an AMX CPU, our patch's few-row kernels for 2-16
rows; ``H2OGPT_AMX_FEW_ROWS=0`` gives llama.cpp's own). Each of r sequences shares one prompt
of ``--prompt-tokens`` tokens; each measurement then takes ``--steps`` steps, every row with
its own token, and reports milliseconds per step, the best of ``--repeats`` (taken round
robin over r, so that a slow spell of a shared machine spreads over every r). One JSON line
per r, and a summary with each step's cost over a one-row step's (measured in this run).

    python benchmarks/step_rows.py [--rows 1,2,4,8,12,16] [--steps 20] [--repeats 5]
                                   [--prompt-tokens 40] [--model PRESET_OR_PATH] [--data_dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import llama_cpp.llama_cpp as C  # noqa: E402
import numpy as np  # noqa: E402

from h2ogpt.backends.llamacpp import native  # noqa: E402
from h2ogpt.backends.llamacpp.engine import LlamaCppEngine  # noqa: E402
from h2ogpt.backends.model_source import resolve_model  # noqa: E402

FIRST_TOKEN = 1000  # prompt and step tokens are plain vocabulary ids from here on


def step_ms(engine: LlamaCppEngine, seqs: list[int], prompt_tokens: int, rows: int, steps: int) -> float:
    """Milliseconds per step of ``rows`` sequences, each from the end of the shared prompt."""
    runner = engine.runner
    for seq in seqs:  # back to the bare prompt: each measurement starts at the same length
        C.llama_memory_seq_rm(runner.kv.memory, seq, prompt_tokens, -1)
    started = time.perf_counter()
    for step in range(steps):
        tokens = np.arange(rows, dtype=np.int32) * 13 + FIRST_TOKEN + step
        positions = np.full(rows, prompt_tokens + step, dtype=np.int32)
        runner.batch.add_outputs(tokens, positions, np.asarray(seqs[:rows], dtype=np.int32))
        runner.decode()
        runner.outputs(rows)
    return 1000 * (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="1,2,4,8,12,16")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--prompt-tokens", type=int, default=40)
    parser.add_argument(
        "--model", default="", help="a .gguf file or a preset name (default: the embedded model)"
    )
    parser.add_argument(
        "--data_dir",
        default=os.environ.get("H2OGPT_DATA_DIR", str(REPO / ".cache" / "test-data")),
        help="where a preset's pack is joined",
    )
    parser.add_argument("--json", action="store_true", help="JSON lines only")
    args = parser.parse_args()
    rows = sorted({int(r) for r in args.rows.split(",")})

    path = resolve_model(args.model, Path(args.data_dir)).location
    engine = LlamaCppEngine.load(path, name=Path(path).stem, max_rows=max(rows))
    runner = engine.runner
    seqs = runner.kv.take(max(rows))
    runner.prefill(seqs[0], list(range(FIRST_TOKEN, FIRST_TOKEN + args.prompt_tokens)))
    for seq in seqs[1:]:
        runner.kv.copy(seqs[0], seq)

    best = {r: float("inf") for r in rows}
    for _ in range(args.repeats):
        for r in rows:
            best[r] = min(best[r], step_ms(engine, seqs, args.prompt_tokens, r, args.steps))
    common = {"benchmark": "step_rows", "model": Path(path).name, "prompt_tokens": args.prompt_tokens}
    for r in rows:
        print(json.dumps({**common, "rows": r, "step_ms": round(best[r], 3)}))
    one = best.get(1)
    print(
        json.dumps(
            {
                **common,
                "summary": True,
                "patches": sorted(native.build_patches()),
                "flash_attention": engine.model.flash_attention,
                "vs_one_row": {r: round(best[r] / one, 2) for r in rows} if one else None,
            }
        )
    )
    if not args.json:
        print("rows: " + ", ".join(f"{r}: {best[r]:.2f} ms" for r in rows), file=sys.stderr)
    engine.close()


if __name__ == "__main__":
    main()
