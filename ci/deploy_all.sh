#!/usr/bin/env bash
# Every deployment check, as CI runs them outside `make test`: the static checks (hadolint, the
# compose schema, the Helm chart rendered and validated for every values file), then the real
# CPU image built with podman and smoke-tested with --network none.
set -euo pipefail
cd "$(dirname "$0")/.."
make deploy-lint
make image
