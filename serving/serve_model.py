#!/usr/bin/env python3
"""Starts MLflow's scoring server for a model folder: /ping, /health, /version and /invocations.

The image runs it as its command, on the files baked in at build; a developer runs it on a folder
fetch_model.py wrote:

    python serving/serve_model.py --model-dir ./model --port 5001

It checks the folder first, so a broken model fails at once with a reason, and then replaces
itself with `mlflow models serve` (no extra process between the platform and the server).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_files import ModelFilesError, check_model_dir  # noqa: E402


def serve_command(model_dir, host, port, workers):
    # --env-manager local: the image already holds the model's own environment.
    return [
        "mlflow", "models", "serve",
        "--model-uri", model_dir,
        "--env-manager", "local",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
    ]


def whole_number(name, value, low, high):
    try:
        number = int(str(value))
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ModelFilesError(f"{name} = {value!r} must be a whole number from {low} to {high}")
    return number


def main(argv):
    parser = argparse.ArgumentParser(description="Serve an MLflow model folder over HTTP.")
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR", "/opt/model"))
    parser.add_argument("--host", default=os.environ.get("SCORING_HOST", "0.0.0.0"))
    parser.add_argument("--port", default=os.environ.get("SCORING_PORT", "8080"))
    parser.add_argument("--workers", default=os.environ.get("MLFLOW_MODELS_WORKERS", "1"))
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    args = parser.parse_args(argv)
    try:
        port = whole_number("port", args.port, 1, 65535)
        workers = whole_number("workers", args.workers, 1, 64)
        check_model_dir(args.model_dir)
    except ModelFilesError as err:
        print(f"serve_model: {err}", file=sys.stderr)
        return 1
    command = serve_command(args.model_dir, args.host, port, workers)
    if args.dry_run:
        print(" ".join(command))
        return 0
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print("serve_model: the mlflow command is not installed: install the model's requirements.txt first", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
