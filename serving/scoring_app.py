"""MLflow's own scoring app (FastAPI, MLflow 3.x) for the model folder serve_model.py names.

uvicorn imports `scoring_app:create_app` as an application factory (`factory=True`), once in the
serving process with one worker, or once in each worker process with several: each worker loads
the model itself. The folder comes from the environment because a factory takes no arguments.
"""
import os

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


def create_app():
    from mlflow.pyfunc import scoring_server

    model_dir = os.environ.get(MODEL_DIR_ENV)
    if not model_dir:
        raise RuntimeError(f"{MODEL_DIR_ENV} is not set: start the server with serve_model.py")
    # init() builds the same app as mlflow.pyfunc.scoring_server.app:app, which
    # `mlflow models serve` runs: /ping, /health, /version, /invocations.
    return scoring_server.init(load_model(model_dir))
