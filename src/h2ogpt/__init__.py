"""h2oGPT: private, offline LLM chat and document QA.

Importing the package keeps the process offline: hub downloads, telemetry and analytics
are switched off before any Hugging Face, Chroma or Gradio module reads its environment
(a variable the user set explicitly is left as it is).
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
}


def enforce_offline() -> None:
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def _version() -> str:
    """version.txt when running from a checkout, else the installed distribution's."""
    checkout_file = Path(__file__).resolve().parents[2] / "version.txt"
    if checkout_file.is_file():
        return checkout_file.read_text().strip()
    try:
        return metadata.version("h2ogpt")
    except metadata.PackageNotFoundError:
        return "0.0.0"


enforce_offline()
__version__ = _version()

__all__ = ["OFFLINE_ENVIRONMENT", "__version__", "enforce_offline"]
