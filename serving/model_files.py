"""Checks on a logged MLflow model's folder, shared by fetch_model.py and serve_model.py.

Plain Python (standard library only), so it runs on a developer's machine, in the image's build
stages and under the project's tests without MLflow installed.
"""
import os
import re

# Every logged MLflow model carries these beside its files.
REQUIRED_FILES = ("MLmodel", "requirements.txt", "python_env.yaml")

# Python versions the image can run (uv installs the one python_env.yaml names). MLflow 2.x and
# 3.x support 3.9-3.13; older interpreters have no maintained builds.
SUPPORTED_PYTHON = ("3.9", "3.10", "3.11", "3.12", "3.13")

# The only keys the build's credential file may hold: the variables MLflow's client reads.
CREDENTIAL_KEYS = (
    "DATABRICKS_TOKEN",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)


class ModelFilesError(Exception):
    """A model folder or input that cannot be served; the message says what to do."""


def describe(model, version):
    return f"model {model} version {version}" if model else "the model"


def check_model_dir(path, model="", version=""):
    """Returns the Python major.minor the model was logged with, or raises ModelFilesError."""
    who = describe(model, version)
    if not os.path.isdir(path):
        raise ModelFilesError(f"{who}: no model folder at {path}")
    missing = [name for name in REQUIRED_FILES if not os.path.isfile(os.path.join(path, name))]
    if missing:
        raise ModelFilesError(
            f"{who}: the logged model has no {', '.join(missing)} in {path}. "
            "Every model logged with mlflow.<flavour>.log_model carries MLmodel, requirements.txt and "
            "python_env.yaml: re-log the model with a current MLflow, register it, and deploy the new version."
        )
    with open(os.path.join(path, "requirements.txt"), encoding="utf-8") as handle:
        mlflow_pin = mlflow_requirement(handle.read())
    if mlflow_pin is None:
        raise ModelFilesError(
            f"{who}: requirements.txt names no mlflow package, so the image cannot know which MLflow "
            "serves it. Re-log the model with mlflow.<flavour>.log_model, which records it."
        )
    with open(os.path.join(path, "python_env.yaml"), encoding="utf-8") as handle:
        python = python_version(handle.read(), who)
    if python not in SUPPORTED_PYTHON:
        raise ModelFilesError(
            f"{who} was logged with Python {python} (python_env.yaml), but the image runs only Python "
            f"{SUPPORTED_PYTHON[0]} to {SUPPORTED_PYTHON[-1]}. Re-log the model from a supported Python."
        )
    return python


def python_version(text, who="the model"):
    """The major.minor of `python: 3.11.7` in a python_env.yaml."""
    match = re.search(r"^python:\s*['\"]?(\d+)\.(\d+)(?:\.\d+)?['\"]?\s*$", text, re.MULTILINE)
    if not match:
        raise ModelFilesError(f"{who}: python_env.yaml has no line like 'python: 3.11.7'")
    return f"{match.group(1)}.{match.group(2)}"


def mlflow_requirement(text):
    """The requirement line that installs MLflow (mlflow or mlflow-skinny), or None."""
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].strip()
        if re.match(r"^mlflow(-skinny)?\s*($|[=<>!~\[;])", stripped, re.IGNORECASE):
            return stripped
    return None


def parse_credentials(text):
    """KEY=VALUE lines from the build's secret file; unknown keys are refused by name, never value."""
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in CREDENTIAL_KEYS:
            raise ModelFilesError(
                f"credential file line {number}: expected KEY=VALUE with KEY one of {', '.join(CREDENTIAL_KEYS)}"
            )
        values[key] = value.strip()
    if bool(values.get("MLFLOW_TRACKING_USERNAME")) != bool(values.get("MLFLOW_TRACKING_PASSWORD")):
        raise ModelFilesError("credential file: set both MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or neither")
    return values


def parse_model_uri(uri):
    """`models:/<name>/<version>` -> (name, version); only pinned versions are built into images."""
    match = re.fullmatch(r"models:/([^/]+)/(\d+)", uri or "")
    if not match:
        raise ModelFilesError(
            f"model URI {uri!r} is not of the form models:/<name>/<version> with a version number"
        )
    return match.group(1), match.group(2)
