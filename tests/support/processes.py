"""Run the real entry points as child processes, under the network guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import netguard
from support.paths import REPO, TEST_PLUGINS, TESTS


def run_generate(
    *flags: str,
    data_dir: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``python generate.py FLAGS`` under the network guard, in a clean environment."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("H2OGPT_", "HF_", "TRANSFORMERS_"))}
    base_env.update(
        {"H2OGPT_DATA_DIR": str(data_dir), "PYTHONPATH": os.pathsep.join([str(TESTS), str(TEST_PLUGINS)])}
    )
    base_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", netguard.GUARDED_RUN, *flags],
        cwd=REPO,
        env=base_env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for_ui_url(process: subprocess.Popen, seconds: float) -> str:
    """The browser UI's address, read from a starting ``generate.py``'s stderr ("Browser UI: URL").
    When it exits or does not say within ``seconds``: the process is killed and an AssertionError
    shows its last lines."""
    import re
    import time

    deadline = time.monotonic() + seconds
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"Browser UI: (http://\S+)", line)
        if found:
            return found.group(1)
    process.kill()
    process.wait()
    raise AssertionError("the UI did not start:\n" + "".join(lines[-30:]))
