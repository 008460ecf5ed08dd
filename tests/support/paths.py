"""Where the tests find the checkout, their cache and the team's evaluation data."""

from __future__ import annotations

import os
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
TEST_DATA_DIR = Path(os.environ.get("H2OGPT_TEST_DATA_DIR", REPO / ".cache" / "test-data"))
# The shared evaluation data, beside the checkout. Only tests marked ``shared_data`` read it;
# they fail (never skip) when it is missing.
SHARED_DATA = REPO.parent / "shared" / "data"
# The example plug-in (tests/plugins/example_plugin), installed here by `make test` (never into
# the app's own environment); conftest puts it on sys.path, run_generate on PYTHONPATH.
TEST_PLUGINS = REPO / ".cache" / "test-plugins"
