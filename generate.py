"""h2oGPT: ``python generate.py [--name=value ...]`` (``--help`` lists every flag).

A thin entry: it parses the Settings and starts a face over the core package.
"""

from __future__ import annotations

import os
import sys

try:
    import h2ogpt  # noqa: F401
except ImportError:  # running from a checkout that was not pip-installed
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from h2ogpt.entry import run_entry
from h2ogpt.settings import Settings


def start(settings: Settings) -> int:
    """Start the face the Settings ask for (until the browser UI exists: the terminal chat)."""
    from h2ogpt.cli import run_cli

    return run_cli(settings)


def entrypoint_main(argv: list[str] | None = None) -> int:
    return run_entry("generate.py", argv, start)


if __name__ == "__main__":
    sys.exit(entrypoint_main())
