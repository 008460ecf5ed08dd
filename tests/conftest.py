"""Shared fixtures: one loaded embedded model for the whole session, and a network guard.

The converted model cache lives in ``.cache/test-data`` (git-ignored) so that only the
first run on a machine pays the GGUF conversion. Helpers live in ``tests/support/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from support.paths import SHARED_DATA, TEST_DATA_DIR, TEST_PLUGINS

sys.path.append(str(TEST_PLUGINS))  # the example plug-in: found before h2ogpt loads its plug-ins

from h2ogpt.answering.pipeline import Pipeline
from h2ogpt.backends.model_source import resolve_model
from h2ogpt.backends.selection import create_backend
from h2ogpt.backends.transformers.loading import converted_gguf_dir
from h2ogpt.settings import Settings
from support import netguard

# fixtures that test modules also import helpers from: registered before any module imports them
pytest_plugins = [
    "support.api_fixtures",
    "support.speech",
    "support.postgres",
    "support.chroma",
    "support.fake_vision",
    "support.ui_fixtures",
]

netguard.install()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Data-driven tests (marked ``shared_data``) fail clearly when the evaluation data is missing."""
    if item.get_closest_marker("shared_data") and not SHARED_DATA.is_dir():
        pytest.fail(f"this test reads the shared evaluation data, expected at {SHARED_DATA}", pytrace=False)


@pytest.fixture(autouse=True)
def no_network():
    """Every test fails if anything in this process tried to reach a non-loopback host."""
    netguard.violations.clear()
    yield
    assert not netguard.violations, f"outbound network access attempted: {netguard.violations}"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    TEST_DATA_DIR.mkdir(parents=True, exist_ok=True)
    return TEST_DATA_DIR


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture(scope="session")
def converted_model_dir(data_dir: Path) -> Path:
    """The embedded GGUF model converted to a transformers folder (cached)."""
    return converted_gguf_dir(resolve_model(""), data_dir)


@pytest.fixture(scope="session")
def default_backend(settings: Settings):
    """The embedded model on the default engine (llama.cpp for its GGUF), loaded once."""
    return create_backend(settings)


@pytest.fixture(scope="session")
def transformers_backend(settings: Settings, converted_model_dir: Path):
    """The embedded model on the transformers engine, loaded once."""
    return create_backend(settings.model_copy(update={"engine": "transformers"}))


@pytest.fixture(scope="session")
def backend(default_backend):
    """The backend most tests use: the default engine. ``tests/backends``, ``tests/scaling`` and
    ``tests/answering`` override it to run on every local engine (their conftest.py)."""
    return default_backend


@pytest.fixture(scope="session")
def pipeline(settings: Settings, backend) -> Pipeline:
    return Pipeline(settings, backend)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell that a test failed
    (the browser tests save a screenshot then)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
