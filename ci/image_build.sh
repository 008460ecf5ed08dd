#!/usr/bin/env bash
# Build the CPU container image (Dockerfile) with podman, as on a machine with no Docker engine.
#
#   bash ci/image_build.sh            # or: make image (build, then ci/image_smoke.sh)
#
# Steps, each skipped when already done (the script is safe to re-run):
#   1. podman + runc + debootstrap installed, containers.conf fixed for this kernel;
#   2. the base image localhost/debian-base:bookworm made with debootstrap (no registry needed);
#   3. the wheelhouse .cache/image/{wheels,build-wheels} downloaded on the host: pip inside the
#      build cannot verify TLS here, so the build installs with --no-index (the air-gapped pattern);
#   4. podman build; its wall time is appended to .cache/image/build-times.log.
#
# Environment: IMAGE (tag, default localhost/h2ogpt:cpu), BASE_IMAGE (skip step 2 when it is
# not the local debootstrap image, e.g. docker.io/library/debian:bookworm-slim), DEBIAN_MIRROR,
# TARGET_PYTHON (the image's python3 version), PODMAN_BUILD_ARGS (extra `podman build` flags).
set -euo pipefail

# shellcheck source=ci/image/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/image/common.sh"

WHEELS="$CACHE/wheels"
BUILD_WHEELS="$CACHE/build-wheels"
ROOTFS="$CACHE/rootfs"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

install_podman() {
    if command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null; then
        return
    fi
    log "installing podman, runc, debootstrap"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman runc debootstrap >/dev/null
}

configure_containers() {
    # podman's default ulimits (nofile/nproc) make runc call setrlimit, which this sandboxed kernel
    # refuses; an empty list leaves the limits as they are. Edited in place, only when missing.
    local conf=/etc/containers/containers.conf
    $SUDO mkdir -p /etc/containers
    if [ ! -f "$conf" ]; then
        printf '[containers]\ndefault_ulimits = []\n' | $SUDO tee "$conf" >/dev/null
    elif ! grep -Eq '^[[:space:]]*default_ulimits[[:space:]]*=' "$conf"; then
        if grep -q '^\[containers\]' "$conf"; then
            $SUDO sed -i '/^\[containers\]/a default_ulimits = []' "$conf"
        else
            printf '\n[containers]\ndefault_ulimits = []\n' | $SUDO tee -a "$conf" >/dev/null
        fi
    fi
}

# The Debian mirror apt already uses here (deb822 .sources or a one-line sources.list), so that
# debootstrap reaches the same (possibly the only reachable) mirror.
debian_mirror() {
    local kind="$1" url=""  # kind: debian | debian-security
    if [ -n "${DEBIAN_MIRROR:-}" ] && [ "$kind" = debian ]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    url="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' |
        { if [ "$kind" = debian ]; then grep -v security; else grep security; fi; } | head -n1 || true)"
    if [ -z "$url" ] && [ -f /etc/apt/sources.list ]; then
        url="$(awk '$1 == "deb" {print $2}' /etc/apt/sources.list |
            { if [ "$kind" = debian ]; then grep -v security; else grep security; fi; } | head -n1 || true)"
    fi
    if [ -z "$url" ]; then
        [ "$kind" = debian ] && url="http://deb.debian.org/debian" || url="http://deb.debian.org/debian-security"
    fi
    echo "$url"
}

make_base_image() {
    if [ "$BASE_IMAGE" != "localhost/debian-base:bookworm" ]; then
        log "BASE_IMAGE=$BASE_IMAGE: not making the debootstrap base"
        return
    fi
    if podman_ image exists "$BASE_IMAGE"; then
        log "base image $BASE_IMAGE exists"
        return
    fi
    local mirror security
    mirror="$(debian_mirror debian)"
    security="$(debian_mirror debian-security)"
    # A half-made rootfs (interrupted run) is discarded; .complete marks a finished one.
    if [ ! -f "$ROOTFS/.complete" ]; then
        log "debootstrap bookworm from $mirror (about a minute)"
        $SUDO rm -rf "$ROOTFS"
        $SUDO debootstrap --variant=minbase bookworm "$ROOTFS" "$mirror" >"$CACHE/debootstrap.log"
        # debootstrap lists only the release itself; add its point updates and security updates so
        # `apt-get install` in the Dockerfile gets the same fixed packages as debian:bookworm-slim.
        printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
            "$mirror" "$mirror" "$security" | $SUDO tee "$ROOTFS/etc/apt/sources.list" >/dev/null
        $SUDO rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
        $SUDO touch "$ROOTFS/.complete"
    fi
    log "importing $ROOTFS as $BASE_IMAGE"
    $SUDO tar -C "$ROOTFS" --exclude=./.complete -c . |
        podman_ import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
}

# pip's config on these machines lists file:// indexes that are not all there; its warnings say
# nothing about the wheelhouse, so they are filtered out.
pip_quiet() {
    "$PY" -m pip "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}

# The image's interpreter is Debian bookworm's python3, 3.11.2, older than this host's venv Python:
# the wheelhouse is resolved for it (some releases need a newer 3.11, e.g. soupsieve >= 3.11.5).
TARGET_PYTHON="${TARGET_PYTHON:-3.11.2}"

make_wheelhouse() {
    # The wheelhouse is a function of the requirement files: a stamp of their hashes says whether
    # it is up to date; when not, it is made again from scratch (no stale wheels left behind).
    local stamp="$CACHE/wheelhouse.sha256" want llama_req sdist reqs
    want="$( (cat requirements.txt reqs_optional/requirements_optional_embedded.txt \
        ci/image/build-requirements.txt && echo "$TARGET_PYTHON") | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        log "wheelhouse up to date"
        return
    fi
    log "downloading the wheelhouse into $CACHE (for Python $TARGET_PYTHON)"
    rm -rf "$WHEELS" "$BUILD_WHEELS" "$stamp"
    mkdir -p "$WHEELS" "$BUILD_WHEELS"
    local target=(--only-binary=:all: --python-version "$TARGET_PYTHON")
    # Build-time tools (pip, setuptools, scikit-build-core, cmake, ninja).
    pip_quiet download -q -d "$BUILD_WHEELS" "${target[@]}" --no-deps -r ci/image/build-requirements.txt
    # llama-cpp-python has no wheel on PyPI: only its sdist is fetched; the builder stage compiles it.
    llama_req="$(grep -E '^llama-cpp-python==' requirements.txt | cut -d' ' -f1)"
    pip_quiet download -q -d "$BUILD_WHEELS" --no-deps --no-binary :all: "$llama_req"
    sdist="$(compgen -G "$BUILD_WHEELS/llama_cpp_python-*.tar.gz")"
    # Runtime wheels (the CPU torch included: pip here finds it on this disk): requirements.txt
    # without llama-cpp-python, plus llama-cpp-python's own dependencies, read from its sdist's
    # metadata (--only-binary cannot take the sdist itself).
    reqs="$CACHE/runtime-requirements.txt"
    {
        grep -vE '^llama-cpp-python==' requirements.txt
        tar -xzOf "$sdist" "$(basename "$sdist" .tar.gz)/PKG-INFO" |
            sed -n 's/^Requires-Dist: //p' | grep -v 'extra =='
    } >"$reqs"
    pip_quiet download -q -d "$WHEELS" "${target[@]}" -r "$reqs"
    # The embedded model packages go in with --no-deps, exactly as `make install` does.
    pip_quiet download -q -d "$WHEELS" "${target[@]}" --no-deps \
        -r reqs_optional/requirements_optional_embedded.txt
    # Never a CUDA torch in the CPU image: its nvidia-* wheels would add gigabytes.
    # (globs, not `ls | grep -q`: under pipefail an early-exiting grep fails the pipe with SIGPIPE)
    if compgen -G "$WHEELS/nvidia_*" >/dev/null || compgen -G "$WHEELS/triton-*" >/dev/null ||
        ! compgen -G "$WHEELS/torch-*+cpu-*.whl" >/dev/null; then
        log "the wheelhouse must hold the CPU torch build and no nvidia-*/triton wheels"
        exit 1
    fi
    echo "$want" >"$stamp"
}

build_image() {
    local start elapsed version revision
    version="$(cat version.txt)"
    revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    log "podman build -> $IMAGE (the first build compiles llama.cpp: ~8 min on 2 cores)"
    start="$(date +%s)"
    # --network host: apt-get inside the build uses the host's network (pip never does).
    # --format docker: the OCI format has no HEALTHCHECK, podman would drop it.
    # PODMAN_BUILD_ARGS: extra flags, e.g. --no-cache for a cold build.
    # shellcheck disable=SC2086  # (word splitting of the extra flags is intended)
    podman_ build --network host --format docker --layers ${PODMAN_BUILD_ARGS:-} \
        --build-arg BASE_IMAGE="$BASE_IMAGE" \
        --build-arg VERSION="$version" --build-arg REVISION="$revision" \
        -f Dockerfile -t "$IMAGE" .
    elapsed=$(($(date +%s) - start))
    printf '%s build %ss %s\n' "$(date -u +%FT%TZ)" "$elapsed" "$IMAGE" >>"$CACHE/build-times.log"
    log "built $IMAGE in ${elapsed}s; size $(($(podman_ image inspect --format '{{.Size}}' "$IMAGE") / 1000000)) MB"
}

cd "$ROOT"
mkdir -p "$CACHE"
install_podman
configure_containers
make_base_image
make_wheelhouse
build_image
