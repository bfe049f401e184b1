#!/bin/sh
# Builds the served model's own Python environment: the Python major.minor its python_env.yaml
# names (fetch_model.py wrote it to python-version) and its requirements.txt, including the MLflow
# version it was logged with, rewritten for serving by serving_requirements.py (mlflow==3.x becomes
# mlflow-skinny==3.x plus pandas and prometheus-client). Fails the build with the installer's reason.
#
#   sh install_environment.sh <folder with requirements.txt and python-version>
#
# VENV_DIR: the environment to create (default /opt/venv). A Python that `uv python find` already
# finds is used as is (UV_PYTHON_PREFERENCE=only-system: the machine's own); otherwise uv installs
# one (the image sets UV_PYTHON_PREFERENCE=only-managed, so it always installs its own).
# SERVING_REQUIREMENTS: the rewriting helper (default: serving_requirements.py beside this script).
set -eu
case "${1:-}" in
    -h|--help|"")
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        [ -n "${1:-}" ] && exit 0
        exit 2
        ;;
esac
spec=$1
venv=${VENV_DIR:-/opt/venv}
here=$(dirname "$0")
helper=${SERVING_REQUIREMENTS:-$here/serving_requirements.py}
# MODEL_NAME/MODEL_VERSION only name the model in messages; the image build leaves them unset
# (a per-version value there would defeat the build cache of this step).
if [ -n "${MODEL_NAME:-}" ]; then
    subject="model $MODEL_NAME version ${MODEL_VERSION:-?}"
else
    subject="the model being built"
fi

if [ ! -f "$spec/python-version" ] || [ ! -f "$spec/requirements.txt" ]; then
    echo "install_environment: $spec must hold python-version and requirements.txt (fetch_model.py --env-dir writes them)" >&2
    exit 1
fi
python=$(cat "$spec/python-version")

# `uv python find --system` ignores virtual environments: only an interpreter of the wanted minor.
if ! interpreter=$(uv python find --system "$python" 2>/dev/null); then
    if ! uv python install "$python"; then
        echo "$subject: Python $python (from its python_env.yaml) cannot be installed" >&2
        exit 1
    fi
    interpreter=$(uv python find --system "$python")
fi
requirements=$(mktemp)
if ! "$interpreter" "$helper" "$spec/requirements.txt" "$requirements"; then
    echo "$subject: its requirements.txt cannot be served (the reason is above)." >&2
    exit 1
fi
uv venv --python "$interpreter" "$venv"
if ! VIRTUAL_ENV="$venv" uv pip install --requirement "$requirements"; then
    rm -f "$requirements"
    echo "$subject: its requirements.txt cannot be installed (the reason is above)." >&2
    echo "Fix the pins the model was logged with (mlflow.<flavour>.log_model(pip_requirements=...)), register a new version and deploy it." >&2
    exit 1
fi
rm -f "$requirements"
# Libraries ship their own test suites (scipy, pandas, scikit-learn: about 50 MB, more with
# bytecode); nothing imports a `tests` package at run time, so serving leaves them out.
find "$venv/lib" -path '*/site-packages/*' -type d -name tests -prune -exec rm -rf {} +
running=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$running" != "$python" ]; then
    echo "$subject was logged with Python $python but the environment in $venv runs Python $running" >&2
    exit 1
fi
