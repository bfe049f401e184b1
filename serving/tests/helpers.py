"""Builds logged-model folders and a stand-in `mlflow` package for the script tests."""
import os
import tempfile
import textwrap

SERVING_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"


def write_model(folder, python="3.11.7", requirements="mlflow==2.11.3\nscikit-learn==1.4.2\n", skip=()):
    """A folder shaped like what mlflow.<flavour>.log_model writes."""
    os.makedirs(folder, exist_ok=True)
    files = {
        "MLmodel": MLMODEL,
        "requirements.txt": requirements,
        "python_env.yaml": f"python: {python}\nbuild_dependencies:\n- pip==23.3\ndependencies:\n- -r requirements.txt\n",
        "conda.yaml": "name: mlflow-env\n",
        "model.pkl": "not really a pickle",
    }
    for name, text in files.items():
        if name not in skip:
            with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
                handle.write(text)
    return folder


def fake_mlflow_package(source_models, behaviour="ok", record=None):
    """A directory holding a stand-in `mlflow` package.

    Its download_artifacts copies models:/<name>/<version> from source_models/<name>/<version>,
    like MLflow's client does from the registry; `behaviour` makes it fail as MLflow does.
    It records the tracking and registry URIs and the environment it saw into `record`.
    """
    root = tempfile.mkdtemp(prefix="fake-mlflow-")
    package = os.path.join(root, "mlflow")
    os.makedirs(package)
    with open(os.path.join(package, "__init__.py"), "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(f"""
            import json, os
            from . import artifacts
            _uris = {{}}
            def set_tracking_uri(uri): _uris["tracking"] = uri
            def set_registry_uri(uri): _uris["registry"] = uri
            def _record():
                if {record!r}:
                    seen = dict(_uris)
                    seen["env"] = {{k: v for k, v in os.environ.items() if k.startswith(("DATABRICKS_", "MLFLOW_"))}}
                    with open({record!r}, "w") as f: json.dump(seen, f)
        """))
    with open(os.path.join(package, "exceptions.py"), "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent("""
            class MlflowException(Exception):
                def __init__(self, message, error_code="INTERNAL_ERROR"):
                    super().__init__(message)
                    self.error_code = error_code
        """))
    with open(os.path.join(package, "artifacts.py"), "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(f"""
            import os, shutil
            from .exceptions import MlflowException
            def download_artifacts(artifact_uri, dst_path):
                import mlflow
                mlflow._record()
                behaviour = {behaviour!r}
                token = os.environ.get("DATABRICKS_TOKEN") or os.environ.get("MLFLOW_TRACKING_TOKEN") or ""
                if behaviour == "unauthenticated":
                    raise MlflowException("API request failed with error code 401 != 200. Response body: 'Unauthorized token " + token + "'", "UNAUTHENTICATED")
                if behaviour == "missing":
                    raise MlflowException("Model Version (name=fraud, version=9) not found", "RESOURCE_DOES_NOT_EXIST")
                name, version = artifact_uri[len("models:/"):].split("/")
                source = os.path.join({source_models!r}, name, version)
                shutil.copytree(source, dst_path, dirs_exist_ok=True)
                return dst_path
        """))
    return root
