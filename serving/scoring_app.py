"""MLflow's own scoring app (FastAPI, MLflow 3.x) for the model folder serve_model.py names.

uvicorn imports `scoring_app:create_app` as an application factory (`factory=True`), once in the
serving process with one worker, or once in each worker process with several: each worker loads
the model itself. The folder comes from the environment because a factory takes no arguments.
Either way the app is MLflow's, wrapped by request_records.RequestRecords: a JSON record per
request on stdout, and GET /metrics.
"""
import os
import sys
import time

# serve_model.py sets it; a factory called by uvicorn gets no arguments.
MODEL_DIR_ENV = "SCORING_MODEL_DIR"


def load_model(model_dir):
    from mlflow.pyfunc import scoring_server

    # What `mlflow models serve` loads with (it honours MLFLOW's SERVING_MODEL_CONFIG); plain
    # mlflow.pyfunc.load_model where a 3.x release lacks the helper.
    loader = getattr(scoring_server, "load_model_with_mlflow_config", None)
    if loader is None:
        import mlflow.pyfunc

        loader = mlflow.pyfunc.load_model
    return loader(model_dir)


def timed_load(model_dir):
    """(model, seconds the load took)."""
    started = time.perf_counter()
    model = load_model(model_dir)
    return model, time.perf_counter() - started


def recorded_app(model, load_seconds):
    """MLflow's scoring app for `model`, wrapped by the request records and metrics middleware."""
    from mlflow.pyfunc import scoring_server
    from request_records import RequestRecords

    # init() builds the same app as mlflow.pyfunc.scoring_server.app:app, which
    # `mlflow models serve` runs: /ping, /health, /version, /invocations.
    app = RequestRecords(scoring_server.init(model))
    app.model_loaded(load_seconds)
    return app


def load_error(model_dir, err):
    """One line for a model MLflow cannot load (no stack trace)."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
    return f"MLflow cannot load the model in {model_dir}: {type(err).__name__}: {first}"


def create_app():
    model_dir = os.environ.get(MODEL_DIR_ENV)
    if not model_dir:
        raise SystemExit(f"scoring_app: {MODEL_DIR_ENV} is not set: start the server with serve_model.py")
    try:
        model, seconds = timed_load(model_dir)
    except Exception as err:  # MLflow's loaders raise many types; each is reported the same way
        print(f"serve_model: {load_error(model_dir, err)}", file=sys.stderr, flush=True)
        # Exit code 3 is uvicorn's STARTUP_FAILURE: its supervisor then stops instead of
        # restarting a worker that would fail the same way.
        raise SystemExit(3)
    return recorded_app(model, seconds)
