#!/usr/bin/env bash
# Assemble a Hugging Face Space (Gradio SDK) from this checkout: the project's files plus
# spaces/README.md (the Space's front matter), spaces/app.py and spaces/requirements.txt at the
# Space's root. Then push the folder to the Space's git repository.
# Usage: bash ci/spaces_bundle.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:?usage: bash ci/spaces_bundle.sh OUT_DIR}"
mkdir -p "$out"
# Only what the app needs at run time and what `pip install .` reads.
git ls-files -z -- src gradio_utils openai_server models generate.py finetune.py make_db.py \
  setup.py pyproject.toml requirements.txt version.txt LICENSE* NOTICE* \
  | xargs -0 -I{} cp --parents {} "$out"
cp spaces/README.md spaces/app.py spaces/requirements.txt "$out"/
echo "Space assembled in $out ($(du -sh "$out" | cut -f1)): push it to the Space's repository"
