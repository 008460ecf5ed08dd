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
    """Start the faces the Settings ask for.

    ``--openai_server=True`` serves the OpenAI-compatible API: beside the terminal chat
    with ``--cli=True`` (one loaded model for both), otherwise on its own (the browser UI
    is not part of this version yet). Without it: the terminal chat.
    """
    from h2ogpt.cli import run_cli

    if not settings.openai_server:
        return run_cli(settings)
    from openai_server.server import run_server, serve_in_thread

    if not settings.cli:
        return run_server(settings)
    from h2ogpt.core import build_pipeline

    pipeline = build_pipeline(settings)
    with serve_in_thread(settings, pipeline):
        return run_cli(settings, pipeline=pipeline)


def entrypoint_main(argv: list[str] | None = None) -> int:
    return run_entry("generate.py", argv, start)


if __name__ == "__main__":
    sys.exit(entrypoint_main())
