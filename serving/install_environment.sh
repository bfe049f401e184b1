#!/bin/sh
# Builds the served model's own Python environment in /opt/venv: the Python major.minor its
# python_env.yaml names (fetch_model.py wrote it to python-version) and its requirements.txt,
# including the MLflow version it was logged with. Fails the build with the installer's reason.
set -eu
spec=${1:?usage: install_environment.sh <folder with requirements.txt and python-version>}
python=$(cat "$spec/python-version")
model=${MODEL_NAME:-the model}
version=${MODEL_VERSION:-?}

if ! uv python install "$python"; then
    echo "model $model version $version: Python $python (from its python_env.yaml) cannot be installed" >&2
    exit 1
fi
uv venv --python "$python" /opt/venv
if ! VIRTUAL_ENV=/opt/venv uv pip install --requirement "$spec/requirements.txt"; then
    echo "model $model version $version: its requirements.txt cannot be installed (the reason is above)." >&2
    echo "Fix the pins the model was logged with (mlflow.<flavour>.log_model(pip_requirements=...)), register a new version and deploy it." >&2
    exit 1
fi
running=$(/opt/venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$running" != "$python" ]; then
    echo "model $model version $version was logged with Python $python but the image's environment runs Python $running" >&2
    exit 1
fi
