#!/usr/bin/env bash
# Smoke-test the image built by ci/image_build.sh, with no network at all (--network none):
#   - the HEALTHCHECK (GET /health on the API) turns healthy within HEALTH_TIMEOUT seconds;
#   - it runs as a non-root user and really has no network;
#   - the openai Python client gets a chat answer from the API, and the browser UI renders in
#     headless Chromium (screenshot: .cache/image/ui.png) -- see ci/image/smoke.py.
# The container and its data volume are removed on exit, whatever happened.
set -euo pipefail

# shellcheck source=ci/image/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/image/common.sh"

NAME="h2ogpt-smoke-$$"
VOLUME="h2ogpt-smoke-data-$$"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-180}"

cleanup() {
    podman_ rm -f -t 5 "$NAME" >/dev/null 2>&1 || true
    podman_ volume rm -f "$VOLUME" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() {
    log "FAIL: $*"
    log "container logs (last 80 lines):"
    podman_ logs --tail 80 "$NAME" >&2 || true
    exit 1
}

cd "$ROOT"
podman_ image exists "$IMAGE" || {
    log "no image $IMAGE: run bash ci/image_build.sh first"
    exit 1
}
log "image $IMAGE: $(($(podman_ image inspect --format '{{.Size}}' "$IMAGE") / 1000000)) MB"

# A named volume for /data: podman fills it from the image's /data, owned by the app's UID 1000.
podman_ volume create "$VOLUME" >/dev/null
# podman logs an error that it cannot reach systemd to schedule the HEALTHCHECK's timer; without
# systemd that is expected (the check is run by hand below), so that one message is filtered out.
podman_ run -d --name "$NAME" --network none -v "$VOLUME:/data" "$IMAGE" \
    2> >(grep -v 'unable to get systemd connection' >&2) >/dev/null
log "started $NAME with --network none; waiting up to ${HEALTH_TIMEOUT}s for healthy"

# There is no systemd here to run podman's healthcheck timer, so the image's own HEALTHCHECK
# command is run by hand until it passes (exit 0) or the time is up.
start=$(date +%s)
until podman_ healthcheck run "$NAME" >/dev/null 2>&1; do
    [ "$(podman_ inspect -f '{{.State.Running}}' "$NAME")" = true ] || fail "the container exited"
    [ $(($(date +%s) - start)) -lt "$HEALTH_TIMEOUT" ] || fail "not healthy after ${HEALTH_TIMEOUT}s"
    sleep 3
done
log "healthy after $(($(date +%s) - start))s"

uid="$(podman_ exec "$NAME" id -u)"
[ "$uid" != 0 ] || fail "the container runs as root"
log "runs as uid $uid ($(podman_ exec "$NAME" id -un))"

# No network: a TCP connect to a public address must fail inside the container.
if podman_ exec "$NAME" python -c \
    'import socket; socket.create_connection(("1.1.1.1", 443), timeout=3)' >/dev/null 2>&1; then
    fail "the container reached 1.1.1.1:443 although it runs with --network none"
fi
log "no network: connect to 1.1.1.1:443 fails"

# llama.cpp: the image's patched, portable libraries, with the CPU module chosen for this host.
engine="$(podman_ exec "$NAME" python -c 'from h2ogpt.backends.llamacpp import native
print(native.cpu_backend_library().name, ",".join(sorted(native.build_patches())))')" ||
    fail "llama.cpp's libraries do not load"
read -r module patches <<<"$engine"
[ -n "${patches:-}" ] || fail "llama.cpp's CPU module $module has none of our patches"
log "llama.cpp CPU module $module, patches $patches"

# nsenter switches only the network namespace: the host's Python, openai client, Playwright and
# Chromium run, but 127.0.0.1 is the container's loopback, where the UI and API listen.
pid="$(podman_ inspect -f '{{.State.Pid}}' "$NAME")"
nsenter --target "$pid" --net -- "$PY" ci/image/smoke.py --screenshot "$CACHE/ui.png" ||
    fail "API/UI checks (ci/image/smoke.py)"

log "smoke test passed: $IMAGE"
