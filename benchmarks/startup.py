"""Start-to-answer time of ``generate.py --cli=True --cli_loop=False``, first and second run.

For each engine, the first run in an empty data dir (transformers converts the GGUF model
there; llama.cpp loads it as it is) and the second run. Each run reports its wall time, the
answer, whether it names the expected word, and whether the process imported torch. Prints
one JSON line per engine.

    python benchmarks/startup.py [--engine llama.cpp,transformers] [--data_dir=DIR]
        [--question "What is the capital of France?"] [--expect Paris]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# generate.py, reporting at exit whether torch was imported
CHILD = (
    "import atexit, runpy, sys;"
    "atexit.register(lambda: print('TORCH-IMPORTED', 'torch' in sys.modules, file=sys.stderr));"
    "sys.argv = ['generate.py', *sys.argv[1:]];"
    "runpy.run_path('generate.py', run_name='__main__')"
)


def run_once(data_dir: str, engine: str, question: str, expect: str) -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            "--cli=True",
            "--cli_loop=False",
            f"--engine={engine}",
            f"--prompt={question}",
        ],
        cwd=REPO,
        env={**os.environ, "H2OGPT_DATA_DIR": data_dir},
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "answer": result.stdout.strip()[:200],
        "names_expected": expect.lower() in result.stdout.lower(),
        "torch_imported": "TORCH-IMPORTED True" in result.stderr,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="llama.cpp,transformers")
    parser.add_argument("--data_dir", default="", help="default: a new temporary folder per engine")
    parser.add_argument("--question", default="What is the capital of France?")
    parser.add_argument("--expect", default="Paris")
    args = parser.parse_args()
    for engine in [e.strip() for e in args.engine.split(",") if e.strip()]:
        data_dir = args.data_dir or tempfile.mkdtemp(prefix="h2ogpt-startup-")
        first = run_once(data_dir, engine, args.question, args.expect)
        second = run_once(data_dir, engine, args.question, args.expect)
        report = {"benchmark": "startup", "engine": engine, "question": args.question, "first_run": first}
        print(json.dumps({**report, "second_run": second}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
