"""The version, read from version.txt when running from a checkout."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path


def _version() -> str:
    checkout_file = Path(__file__).resolve().parents[2] / "version.txt"
    if checkout_file.is_file():
        return checkout_file.read_text().strip()
    try:
        return metadata.version("h2ogpt")
    except metadata.PackageNotFoundError:
        return "0.0.0"


__version__ = _version()
