#!/usr/bin/env bash
# Install mlflow-gitops from this checkout into its own virtual environment, isolated from the
# repository it will work on: the GitHub Action (action.yml) and the GitLab CI example both call it.
#
#   scripts/install.sh DEST      ->  DEST/bin/mlflow-gitops
#
# Dependencies come from requirements/tool.txt: every package pinned to the version in uv.lock,
# with its hashes (`uv export`, kept in sync by tests/unit/test_requirements.py), so each CI run
# gets exactly the MLflow client the tool was tested with. The interpreter is $MLFLOW_GITOPS_PYTHON,
# else python3 (>= 3.10). Rerunning with an existing DEST does nothing.
set -euo pipefail

dest=${1:?usage: install.sh DEST}
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${MLFLOW_GITOPS_PYTHON:-python3}

if [ -x "$dest/bin/mlflow-gitops" ] && "$dest/bin/mlflow-gitops" --version >/dev/null 2>&1; then
  exit 0
fi
rm -rf "$dest"
"$python" -m venv --without-pip "$dest"
# uv (pinned, with its hashes) installs in seconds what pip takes minutes for; it lives beside the
# tool's environment, not in it.
"$python" -m venv "$dest/.uv"
"$dest/.uv/bin/python" -m pip --disable-pip-version-check --no-input --quiet install \
  --require-hashes --no-deps -r "$source_dir/requirements/bootstrap.txt"
uv=("$dest/.uv/bin/uv" pip install --quiet --python "$dest/bin/python")
"${uv[@]}" --require-hashes --no-deps --only-binary :all: -r "$source_dir/requirements/tool.txt"
# The tool itself, from this checkout (the pinned ref); its dependencies are all in place already.
"${uv[@]}" --no-deps "$source_dir"
"$dest/bin/mlflow-gitops" --version
