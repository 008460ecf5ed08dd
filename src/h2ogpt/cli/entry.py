"""What every command-line entry shares: --help, Settings, logging and exit codes.

Exit codes: 0 done, 1 failed, 2 bad input (flag, value, model path), 130 interrupted.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from h2ogpt.cli.flags import build_settings, help_text
from h2ogpt.errors import H2OGPTError
from h2ogpt.settings import ComposedSettings, Settings

EXIT_BAD_INPUT = 2


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else "h2ogpt: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # read when transformers is imported
        warnings.filterwarnings("ignore", category=FutureWarning)  # library deprecation notices
        for noisy in ("huggingface_hub", "httpx", "httpx2", "openai", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.ERROR)


def run_entry(
    program: str,
    argv: Sequence[str] | None,
    start: Callable[[Any], int],
    settings_class: type[ComposedSettings] = Settings,
) -> int:
    """Parse flags into ``settings_class`` and run ``start``; user errors become one line, exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--help" in argv or "-h" in argv:
        print(help_text(program, model=settings_class))
        return 0
    try:
        settings = build_settings(argv, model=settings_class)
        configure_logging(settings.verbose)
        return start(settings)
    except H2OGPTError as exc:
        print(f"{program}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
