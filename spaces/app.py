"""Hugging Face Spaces entry: h2oGPT's browser UI on the embedded model, on port 7860.

Flags can be added as Space variables named ``H2OGPT_<NAME>`` (see README.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from generate import entrypoint_main


def data_dir() -> Path:
    """/data when the Space has persistent storage, else a folder beside this file."""
    persistent = Path("/data")
    if persistent.is_dir() and os.access(persistent, os.W_OK):
        return persistent / "h2ogpt"
    return Path(__file__).resolve().parent / "data"


def main() -> int:
    os.environ.setdefault("H2OGPT_DATA_DIR", str(data_dir()))
    os.environ.setdefault("H2OGPT_ENABLE_STT", "False")
    os.environ.setdefault("H2OGPT_ENABLE_TTS", "False")
    return entrypoint_main(["--server_name=0.0.0.0", "--server_port=7860"])


if __name__ == "__main__":
    sys.exit(main())
