"""Start-to-answer time of ``generate.py --cli=True --cli_loop=False``, first and second run.

The first run in an empty data dir converts the GGUF model; the second loads the cached
copy. Prints one JSON object.

    python benchmarks/startup.py [--data_dir=DIR]   (default: a new temporary folder)
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
QUESTION = "What is the capital of France?"


def run_once(data_dir: str) -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "generate.py", "--cli=True", "--cli_loop=False", f"--prompt={QUESTION}"],
        cwd=REPO,
        env={**os.environ, "H2OGPT_DATA_DIR": data_dir},
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "answer": result.stdout.strip(),
        "mentions_paris": "Paris" in result.stdout,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data_dir", default="")
    args = parser.parse_args()
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="h2ogpt-startup-")
    first = run_once(data_dir)
    second = run_once(data_dir)
    report = {"benchmark": "startup", "question": QUESTION, "first_run": first, "second_run": second}
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
