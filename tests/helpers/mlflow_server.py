"""The Python suites' real MLflow servers: serving/demo/mlflow_server.py, which `npm run local -- --demo` uses too."""
from serving.demo.mlflow_server import KINDS, SharedServer, shared_server, start_server  # noqa: F401
