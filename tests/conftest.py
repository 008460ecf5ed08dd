"""Shared fixtures: one loaded embedded model for the whole session, and a network guard.

The converted model cache lives in ``.cache/test-data`` (git-ignored) so that only the
first run on a machine pays the GGUF conversion.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import netguard
from h2ogpt.backends import create_backend
from h2ogpt.backends.loading import converted_gguf_dir
from h2ogpt.backends.model_source import resolve_model
from h2ogpt.pipeline import Pipeline
from h2ogpt.settings import Settings

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
TEST_DATA_DIR = Path(os.environ.get("H2OGPT_TEST_DATA_DIR", REPO / ".cache" / "test-data"))
SHARED_DATA = REPO.parent / "shared" / "data"  # the team's evaluation data, beside the checkout
assert SHARED_DATA.is_dir(), f"the shared evaluation data is missing: expected it at {SHARED_DATA}"

netguard.install()


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
def backend(settings: Settings, converted_model_dir: Path):
    """The embedded model, loaded once for the session."""
    return create_backend(settings)


@pytest.fixture(scope="session")
def pipeline(settings: Settings, backend) -> Pipeline:
    return Pipeline(settings, backend)


def run_generate(
    *flags: str,
    data_dir: Path,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``python generate.py FLAGS`` under the network guard, in a clean environment."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("H2OGPT_", "HF_", "TRANSFORMERS_"))}
    base_env.update({"H2OGPT_DATA_DIR": str(data_dir), "PYTHONPATH": str(TESTS)})
    base_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", netguard.GUARDED_RUN, *flags],
        cwd=REPO,
        env=base_env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell that a test failed
    (the browser tests save a screenshot then)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
