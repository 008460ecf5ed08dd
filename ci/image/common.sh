# shellcheck shell=bash disable=SC2034  # (sourced: the variables are used by the sourcing scripts)
# Shared settings for ci/image_build.sh and ci/image_smoke.sh (sourced, not run).
# Every value can be overridden from the environment.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${IMAGE_CACHE:-$ROOT/.cache/image}"
IMAGE="${IMAGE:-localhost/h2ogpt:cpu}"
BASE_IMAGE="${BASE_IMAGE:-localhost/debian-base:bookworm}"
PY="${PY:-$ROOT/.venv/bin/python}"

# crun cannot set up containers on this kernel's hybrid (v1 + v2) cgroup layout; runc can.
# cgroupfs and a file events log: there is no systemd (or journald) in these machines.
# --runtime is podman's global flag, so it applies to `podman build` and `podman run` alike.
PODMAN_GLOBAL=(--runtime runc --cgroup-manager=cgroupfs --events-backend=file)

podman_() {
    podman "${PODMAN_GLOBAL[@]}" "$@"
}

log() {
    printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}
