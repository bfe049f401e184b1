"""Stand-ins for the libraries the registration script meets: a tiny `sklearn` and a non-sklearn
model library (each installed with its dist-info, as pip leaves them), a minimal `pandas`, and an
`mlflow` that records what the script asked of it and answers as the registry does."""
import json
import os
import tempfile
import textwrap

JOBS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(JOBS_DIR, "register_model.py")


def _write(root, relative, text):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(text))


def _dist_info(root, dist, version, top_level):
    folder = f"{dist.replace('-', '_')}-{version}.dist-info"
    _write(root, f"{folder}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    _write(root, f"{folder}/top_level.txt", f"{top_level}\n")


def fake_libraries(root=None):
    """A folder for PYTHONPATH/sys.path holding stand-in `sklearn` (as scikit-learn 1.4.2),
    `scorer` (as fraud-scorer 0.3.0, not scikit-learn) and `pandas`."""
    root = root or tempfile.mkdtemp(prefix="fake-libs-")
    _write(root, "sklearn/__init__.py", "")
    _write(root, "sklearn/base.py", """
        class BaseEstimator:
            pass
    """)
    _write(root, "sklearn/linear_model.py", """
        from .base import BaseEstimator

        class LogisticRegression(BaseEstimator):
            def __init__(self, threshold=100.0):
                self.threshold = threshold

            def predict(self, frame):
                return [1 if row["transaction_amount"] > self.threshold else 0 for row in frame.records]
    """)
    _dist_info(root, "scikit-learn", "1.4.2", "sklearn")
    _write(root, "scorer/__init__.py", """
        class ThresholdScorer:
            def __init__(self, threshold=100.0):
                self.threshold = threshold

            def predict(self, frame):
                return [row["transaction_amount"] > self.threshold for row in frame.records]

        class NoPredict:
            pass
    """)
    _dist_info(root, "fraud-scorer", "0.3.0", "scorer")
    _write(root, "pandas/__init__.py", """
        class DataFrame:
            def __init__(self, records, columns):
                self.records, self.columns = records, list(columns)

            @classmethod
            def from_records(cls, records, columns=None):
                return cls(list(records), columns or list(records[0]))

            def __len__(self):
                return len(self.records)
    """)
    return root


def fake_mlflow(record, statuses=("READY",), version="2.11.3", failure_message="", alias_error=""):
    """A folder holding a stand-in `mlflow`. get_model_version answers `statuses` in turn (the
    last one repeats), with `failure_message` as status_message; `alias_error` makes
    set_registered_model_alias raise as MLflow does. Every call is appended to `record` (JSON lines)."""
    root = tempfile.mkdtemp(prefix="fake-mlflow-")
    _write(root, "mlflow/__init__.py", f"""
        import contextlib, json
        __version__ = {version!r}
        _statuses = list({list(statuses)!r})

        def _record(call, **fields):
            with open({record!r}, "a") as handle:
                handle.write(json.dumps(dict(call=call, **fields), default=str) + "\\n")

        def set_tracking_uri(uri): _record("set_tracking_uri", uri=uri)
        def set_registry_uri(uri): _record("set_registry_uri", uri=uri)
        def set_experiment(name): _record("set_experiment", name=name)

        class _Info:
            run_id = "0123456789abcdef"

        class _Run:
            info = _Info()

        @contextlib.contextmanager
        def start_run(run_name=None):
            _record("start_run", run_name=run_name)
            yield _Run()
            _record("end_run")

        class _ModelVersion:
            def __init__(self, name, version, status="READY", status_message=""):
                self.name, self.version, self.status, self.status_message = name, version, status, status_message

        def register_model(model_uri, name, await_registration_for=300):
            _record("register_model", model_uri=model_uri, name=name, await_registration_for=await_registration_for)
            return _ModelVersion(name, "4", "PENDING_REGISTRATION")
    """)
    _write(root, "mlflow/exceptions.py", """
        class MlflowException(Exception):
            def __init__(self, message, error_code="INTERNAL_ERROR"):
                super().__init__(message)
                self.error_code = error_code
    """)
    _write(root, "mlflow/tracking/__init__.py", f"""
        import mlflow
        from mlflow.exceptions import MlflowException

        class MlflowClient:
            def get_model_version(self, name, version):
                status = mlflow._statuses.pop(0) if len(mlflow._statuses) > 1 else mlflow._statuses[0]
                mlflow._record("get_model_version", name=name, version=version, status=status)
                return mlflow._ModelVersion(name, version, status, {failure_message!r} if status == "FAILED_REGISTRATION" else "")

            def set_registered_model_alias(self, name, alias, version):
                mlflow._record("set_registered_model_alias", name=name, alias=alias, version=version)
                if {alias_error!r}:
                    raise MlflowException({alias_error!r}, "PERMISSION_DENIED")
    """)
    _write(root, "mlflow/models/__init__.py", """
        def infer_signature(model_input, model_output=None):
            return {"inputs": list(model_input.columns), "outputs": len(model_output)}
    """)
    for flavour in ("sklearn", "pyfunc"):
        _write(root, f"mlflow/{flavour}/__init__.py", f"""
            import os, pickle
            import mlflow

            class PythonModel:
                pass

            class _LoggedModel:
                model_uri = "runs:/0123456789abcdef/model"

            def log_model(**kwargs):
                model = kwargs.get("sk_model") or kwargs.get("python_model")
                seen = {{k: v for k, v in kwargs.items() if k not in ("sk_model", "python_model", "artifacts", "input_example")}}
                seen["model_class"] = type(model).__module__ + "." + type(model).__qualname__
                example = kwargs.get("input_example")
                seen["input_example_rows"] = None if example is None else len(example)
                artifacts = kwargs.get("artifacts") or {{}}
                if "pickle" in artifacts:
                    # As serving would: the wrapper loads the logged pickle and predicts with it.
                    class _Context:
                        pass
                    context = _Context()
                    context.artifacts = artifacts
                    model.load_context(context)
                    seen["wrapper_loads_pickle"] = type(model.model).__qualname__
                    seen["wrapper_is_python_model"] = isinstance(model, PythonModel)
                mlflow._record("{flavour}.log_model", **seen)
                return _LoggedModel()
        """)
    return root


def calls(record):
    if not os.path.exists(record):
        return []
    with open(record, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
