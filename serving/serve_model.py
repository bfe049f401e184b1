#!/usr/bin/env python3
"""Serves an MLflow model folder over HTTP: /ping, /health, /version and /invocations.

The image runs it as its command (PID 1), on the files baked in at build; a developer runs it on a
folder fetch_model.py wrote:

    python serving/serve_model.py --model-dir ./model --port 5001

It checks the folder first, so a broken model fails at once with a reason. Then:

- MLflow 3.x in the environment: MLflow's own FastAPI scoring app (the one `mlflow models serve`
  runs) under uvicorn in this process, with one or more workers. SIGTERM (how Container Apps stops
  a replica) stops accepting connections, lets requests in flight finish for up to
  --graceful-timeout seconds, and exits 0. `mlflow models serve` itself runs uvicorn as a child
  and, as PID 1, ignores SIGTERM until the platform kills it.
- MLflow 2.x (Flask scoring app): this process is replaced by gunicorn on MLflow's WSGI app, the
  command `mlflow models serve` would run; gunicorn shuts down gracefully on SIGTERM.

Environment defaults: MODEL_DIR, SCORING_HOST, SCORING_PORT, MLFLOW_MODELS_WORKERS (unset: the CPUs
this process may use), SCORING_GRACEFUL_TIMEOUT; MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT (60 s) is
MLflow's per-request limit.

MLflow 3.x only: every request gets one JSON record on stdout and GET /metrics answers in
Prometheus text (request_records.py, scoring_metrics.py); SERVING_MODEL_NAME, SERVING_MODEL_VERSION,
SERVING_IMAGE_TAG (the image sets them) and CONTAINER_APP_REVISION (Container Apps sets it) label both.
With PAYLOAD_LOG_SAMPLE_RATE (and PAYLOAD_LOG_ACCOUNT_URL) set, a sampled share of scoring requests
and predictions goes to the model store's payloads container (payload_log.py); on SIGTERM what is
queued is written after the requests in flight finished, before the process exits.
"""
import argparse
import math
import os
import sys

SERVING_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, SERVING_DIR)
from model_files import ModelFilesError, check_model_dir  # noqa: E402
from payload_log import PayloadLogConfigError, check_columns, settings_from_env  # noqa: E402
from scoring_app import MODEL_DIR_ENV  # noqa: E402

MAX_WORKERS = 64
# Container Apps' default terminationGracePeriodSeconds is 30 s (SIGTERM, then SIGKILL): finish
# in-flight requests well inside it.
DEFAULT_GRACEFUL_TIMEOUT = 20
DEFAULT_REQUEST_TIMEOUT = 60
# MLflow 2.x's wsgi.py loads the model from this variable (scoring_server._SERVER_MODEL_PATH),
# set to the folder's file:// URI by its get_cmd.
MLFLOW2_MODEL_PATH_ENV = "__pyfunc_model_path__"
MLFLOW2_WSGI_APP = "mlflow.pyfunc.scoring_server.wsgi:app"
# scoring_metrics.MULTIPROC_DIR_ENV (not imported: it imports prometheus_client, which reads it at import).
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def whole_number(name, value, low, high):
    try:
        number = int(str(value))
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ModelFilesError(f"{name} = {value!r} must be a whole number from {low} to {high}")
    return number


def cgroup_cpu_limit(path="/sys/fs/cgroup/cpu.max"):
    """CPUs allowed by a cgroup v2 quota ("<quota> <period>" or "max <period>"), rounded up; None if unlimited."""
    try:
        with open(path, encoding="utf-8") as handle:
            fields = handle.read().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return math.ceil(quota / period)


def available_cpus(cpu_max="/sys/fs/cgroup/cpu.max"):
    """The CPUs this process may run on (affinity), capped by a cgroup quota, bounded 1-64."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit(cpu_max)
    if limit is not None:
        count = min(count, limit)
    return max(1, min(MAX_WORKERS, count))


def installed_mlflow():
    """(distribution, version) of the MLflow in this environment, without importing it; None if absent."""
    from importlib import metadata

    for name in ("mlflow", "mlflow-skinny"):
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def major(version):
    try:
        return int(version.split(".", 1)[0])
    except ValueError:
        return 0


def uvicorn_options(model_dir, host, port, workers, graceful_timeout):
    """What uvicorn.run gets for MLflow 3.x: our factory by import string (so workers > 1 can import it)."""
    return {
        "app": "scoring_app:create_app",
        "factory": True,
        "app_dir": SERVING_DIR,
        "host": host,
        "port": port,
        "workers": workers,
        "timeout_graceful_shutdown": graceful_timeout,
        "env": {MODEL_DIR_ENV: os.path.abspath(model_dir)},
    }


def gunicorn_command(model_dir, host, port, workers, graceful_timeout, request_timeout, python=sys.executable):
    """The command (and extra environment) for MLflow 2.x: gunicorn on MLflow's WSGI app, as its get_cmd builds it."""
    from pathlib import Path

    command = [
        python, "-m", "gunicorn",
        f"--timeout={request_timeout}",
        f"--graceful-timeout={graceful_timeout}",
        "-b", f"{host}:{port}",
        "-w", str(workers),
        # gunicorn also reads GUNICORN_CMD_ARGS from the environment, as under `mlflow models serve`.
        "--", MLFLOW2_WSGI_APP,
    ]
    return command, {MLFLOW2_MODEL_PATH_ENV: Path(os.path.abspath(model_dir)).as_uri()}


def describe_uvicorn(options):
    env = " ".join(f"{k}={v}" for k, v in options["env"].items())
    return (
        f"{env} uvicorn {options['app']} --factory --app-dir {options['app_dir']} --host {options['host']} "
        f"--port {options['port']} --workers {options['workers']} "
        f"--timeout-graceful-shutdown {options['timeout_graceful_shutdown']}"
    )


def run_uvicorn(options):
    import shutil
    import tempfile

    # prometheus_client's multiprocess mode (scoring_metrics.py): a fresh, empty folder, in the
    # environment before prometheus_client is first imported here or in a worker (uvicorn's
    # workers are spawned with this process's environment).
    metrics_dir = tempfile.mkdtemp(prefix="scoring-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = metrics_dir
    try:
        return _run_uvicorn(options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_uvicorn(options):
    import uvicorn

    os.environ.update(options["env"])
    settings = {k: v for k, v in options.items() if k != "env"}
    # Each request's JSON record (request_records.py) says more than uvicorn's access line and
    # goes to the same stdout: one line per request, not two.
    settings["access_log"] = False
    if settings["workers"] == 1:
        # One worker: load the model here, so a model that cannot load fails with our message.
        import scoring_app

        model_dir = options["env"][MODEL_DIR_ENV]
        try:
            model, seconds = scoring_app.timed_load(model_dir)
        except Exception as err:  # MLflow's loaders raise many types; each is reported the same way
            raise ModelFilesError(scoring_app.load_error(model_dir, err))
        settings["app"] = scoring_app.recorded_app(model, seconds)
        settings["factory"] = False
        settings.pop("app_dir")
    # uvicorn handles SIGTERM and SIGINT itself: it stops accepting, waits for open requests up to
    # timeout_graceful_shutdown, and returns; with workers > 1 its supervisor forwards SIGTERM.
    uvicorn.run(**settings)
    return 0


def main(argv):
    parser = argparse.ArgumentParser(
        description="Serve an MLflow model folder over HTTP (MLflow's scoring app; graceful on SIGTERM).")
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR", "/opt/model"), help="the model's folder (MODEL_DIR; default /opt/model)")
    parser.add_argument("--host", default=os.environ.get("SCORING_HOST", "0.0.0.0"), help="address to listen on (SCORING_HOST; default 0.0.0.0)")
    parser.add_argument("--port", default=os.environ.get("SCORING_PORT", "8080"), help="port (SCORING_PORT; default 8080)")
    parser.add_argument("--workers", default=os.environ.get("MLFLOW_MODELS_WORKERS") or None,
                        help="worker processes, 1-64 (MLFLOW_MODELS_WORKERS; default: the CPUs available to this process)")
    parser.add_argument("--graceful-timeout", default=os.environ.get("SCORING_GRACEFUL_TIMEOUT", str(DEFAULT_GRACEFUL_TIMEOUT)),
                        help=f"seconds requests in flight may take to finish after SIGTERM (SCORING_GRACEFUL_TIMEOUT; default {DEFAULT_GRACEFUL_TIMEOUT})")
    parser.add_argument("--dry-run", action="store_true", help="print what would run instead of running it")
    args = parser.parse_args(argv)
    try:
        port = whole_number("port", args.port, 1, 65535)
        workers = available_cpus() if args.workers is None else whole_number("workers", args.workers, 1, MAX_WORKERS)
        graceful = whole_number("graceful timeout", args.graceful_timeout, 1, 3600)
        request_timeout = whole_number("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", os.environ.get("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", str(DEFAULT_REQUEST_TIMEOUT)), 1, 86400)
        check_model_dir(args.model_dir)
        found = installed_mlflow()
        if found is None:
            raise ModelFilesError("MLflow is not installed in this environment: install the model's requirements.txt first (install_environment.sh)")
        distribution, version = found
        if major(version) >= 3:
            # The payload log's variables (payload_log.py), checked before any worker starts: a bad
            # one stops the server here with its name.
            try:
                warning = check_columns(settings_from_env(), args.model_dir)
            except PayloadLogConfigError as err:
                raise ModelFilesError(str(err))
            if warning:
                print(f"serve_model: {warning}", file=sys.stderr, flush=True)
            options = uvicorn_options(args.model_dir, args.host, port, workers, graceful)
            if args.dry_run:
                print(describe_uvicorn(options))
                return 0
            return run_uvicorn(options)
        if distribution == "mlflow-skinny":
            raise ModelFilesError(f"mlflow-skinny {version} has no scoring server (MLflow 2.x skinny lacks Flask and gunicorn): install mlflow=={version}")
        command, extra_env = gunicorn_command(args.model_dir, args.host, port, workers, graceful, request_timeout)
        if args.dry_run:
            print(" ".join([*(f"{k}={v}" for k, v in extra_env.items()), *command]))
            return 0
        env = dict(os.environ)
        env.update(extra_env)
        try:
            # exec: gunicorn's arbiter becomes this process (PID 1 in the image) and handles SIGTERM.
            os.execve(command[0], command, env)
        except OSError as err:
            raise ModelFilesError(f"cannot start gunicorn with {command[0]}: {err.strerror}")
    except ModelFilesError as err:
        print(f"serve_model: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
