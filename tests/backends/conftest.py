"""The tests here run on every local engine: ``backend`` (and the ``pipeline`` over it) is each one in turn."""

from __future__ import annotations

import pytest

from support.engines import ENGINES, engine_backend


@pytest.fixture(scope="session", params=ENGINES)
def backend(request):
    return engine_backend(request)
