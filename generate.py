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

from h2ogpt.cli.entry import run_entry
from h2ogpt.errors import ConfigError
from h2ogpt.settings import Settings


def start(settings: Settings) -> int:
    """Start the faces the Settings ask for.

    By default the browser UI (``--gradio``); ``--cli=True``: the terminal chat instead.
    ``--openai_server=True`` also serves the OpenAI-compatible API beside either (one
    loaded model for both), or on its own with ``--gradio=False``.
    """
    if settings.cli and not settings.openai_server:
        from h2ogpt.cli.terminal import run_cli

        return run_cli(settings)
    if not settings.cli and not settings.gradio:
        if not settings.openai_server:
            raise ConfigError("--gradio=False: nothing to serve; add --openai_server=True or --cli=True")
        from openai_server.server import run_server

        return run_server(settings)
    from h2ogpt.core import build_pipelines

    pipelines = build_pipelines(settings)
    if not settings.openai_server:
        return _run_face(settings, pipelines)
    from openai_server.server import serve_in_thread

    with serve_in_thread(settings, pipelines[0]):
        return _run_face(settings, pipelines)


def _run_face(settings: Settings, pipelines: list) -> int:
    if settings.cli:
        from h2ogpt.cli.terminal import run_cli

        return run_cli(settings, pipeline=pipelines[0])
    from gradio_utils.app import launch_ui

    launch_ui(settings, pipelines, block=True)
    return 0


def entrypoint_main(argv: list[str] | None = None) -> int:
    return run_entry("generate.py", argv, start)


if __name__ == "__main__":
    sys.exit(entrypoint_main())
