"""The local engines the backend-level tests run on."""

from __future__ import annotations

import pytest

ENGINES = ("llama.cpp", "transformers")


def engine_backend(request: pytest.FixtureRequest):
    """The session's backend for the engine ``request.param`` names (see tests/conftest.py)."""
    return request.getfixturevalue(
        "default_backend" if request.param == "llama.cpp" else "transformers_backend"
    )
