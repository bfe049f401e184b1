"""What the serving tests share: logged-model folders for the pure checks, and, for the tests
against the real thing, the demo model registered in a real MLflow server, one serving
environment installed by install_environment.sh, and servers started (and always stopped) as
process groups on loopback."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from unittest import mock

SERVING_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT_DIR = os.path.dirname(SERVING_DIR)
PYTHON = sys.executable
UV = os.path.join(os.path.dirname(sys.executable), "uv")

MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"

# Every variable MLflow's client or server reads, so a test sees only what it sets.
def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "MLFLOW_", "UV_", "VIRTUAL_ENV"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    env.update(extra or {})
    return env


def write_model(folder, python="3.11.7", requirements="mlflow==2.11.3\nscikit-learn==1.4.2\n", skip=()):
    """A folder shaped like what mlflow.<flavour>.log_model writes (for the checks that read no weights)."""
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


def run_script(script, args, env_extra=None, python=PYTHON, timeout=120):
    """Runs serving/<script> as the image does; returns the CompletedProcess."""
    return subprocess.run(
        [python, os.path.join(SERVING_DIR, script), *args],
        capture_output=True, text=True, env=clean_env(env_extra), timeout=timeout, cwd=tempfile.gettempdir(),
    )


_SHARED = {}
_ROOT = tempfile.mkdtemp(prefix="serving-tests-")


def _cleanup_root():
    shutil.rmtree(_ROOT, ignore_errors=True)


import atexit  # noqa: E402

atexit.register(_cleanup_root)


def demo_model():
    """The demo model trained once per run: {"dir", "model", "sample", "expected"}."""
    if "demo" not in _SHARED:
        out = os.path.join(_ROOT, "demo")
        result = subprocess.run([PYTHON, os.path.join(SERVING_DIR, "demo", "train_demo_model.py"), "--out", out],
                                capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"train_demo_model.py failed: {result.stderr}")
        with open(os.path.join(out, "expected.json"), encoding="utf-8") as handle:
            expected = json.load(handle)
        _SHARED["demo"] = {"dir": out, "model": os.path.join(out, "model.pkl"), "sample": os.path.join(out, "sample.csv"), "expected": expected}
    return _SHARED["demo"]


def register_demo(server, name):
    """Logs the demo model as a data scientist would and registers it as `name` in the real server; returns the version."""
    import pickle

    import mlflow
    import mlflow.sklearn
    import pandas
    from importlib import metadata

    demo = demo_model()
    with open(demo["model"], "rb") as handle:
        model = pickle.load(handle)
    sample = pandas.read_csv(demo["sample"]).astype("float64")
    env = {"MLFLOW_TRACKING_URI": server.url, "MLFLOW_DISABLE_TELEMETRY": "true"}
    if server.username:
        env.update(MLFLOW_TRACKING_USERNAME=server.username, MLFLOW_TRACKING_PASSWORD=server.password)
    # The same pins MLflow's requirement inference finds for this model (it would take ~20 s more
    # on this machine: it re-imports the model in a subprocess).
    pins = [f"{dist}=={metadata.version(dist)}" for dist in ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "skops")]
    with mock.patch.dict(os.environ, env):
        mlflow.set_tracking_uri(server.url)
        try:
            with mlflow.start_run():
                info = mlflow.sklearn.log_model(
                    model, name="model", registered_model_name=name, pip_requirements=pins,
                    signature=mlflow.models.infer_signature(sample, model.predict(sample)),
                )
        finally:
            mlflow.set_tracking_uri(None)
    return str(info.registered_model_version)


def fetch_args(model_uri, url, dest, env_dir, credentials_file):
    """fetch_model.py's arguments exactly as the Dockerfile's fetch stage passes them."""
    return [model_uri, "--registry-kind", "mlflow", "--registry-url", url,
            "--credentials-file", credentials_file, "--dest", dest, "--env-dir", env_dir]


def fetched_demo(server):
    """The demo model registered in `server` and fetched with fetch_model.py as the build does: {"dest", "env_dir", "name", "version"}."""
    key = ("fetched", server.url)
    if key not in _SHARED:
        name = f"demo-fraud-{os.getpid()}-{int(time.time() * 1000)}"
        version = register_demo(server, name)
        root = tempfile.mkdtemp(dir=_ROOT)
        creds = os.path.join(root, "registry_env")
        with open(creds, "w", encoding="utf-8") as handle:
            if server.username:
                handle.write(f"MLFLOW_TRACKING_USERNAME={server.username}\nMLFLOW_TRACKING_PASSWORD={server.password}\n")
        dest, env_dir = os.path.join(root, "model"), os.path.join(root, "model-env")
        result = run_script("fetch_model.py", fetch_args(f"models:/{name}/{version}", server.url, dest, env_dir, creds))
        _SHARED[key] = {"dest": dest, "env_dir": env_dir, "name": name, "version": version, "result": result, "creds": creds}
    return _SHARED[key]


def serving_venv(env_dir):
    """The one serving environment of the run, installed by install_environment.sh from `env_dir`
    with the machine's own Python (UV_PYTHON_PREFERENCE=only-system) and uv's cache."""
    if "venv" not in _SHARED:
        venv = os.path.join(_ROOT, "venv")
        env = clean_env({"VENV_DIR": venv, "UV_PYTHON_PREFERENCE": "only-system", "PATH": os.path.dirname(UV) + os.pathsep + os.environ.get("PATH", ""),
                         "MODEL_NAME": "demo", "MODEL_VERSION": "1"})
        started = time.monotonic()
        result = subprocess.run(["sh", os.path.join(SERVING_DIR, "install_environment.sh"), env_dir],
                                capture_output=True, text=True, env=env, timeout=600, cwd=_ROOT)
        _SHARED["venv"] = {"dir": venv, "python": os.path.join(venv, "bin", "python"), "result": result, "seconds": time.monotonic() - started}
    return _SHARED["venv"]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(method, url, body=None, content_type="application/json", timeout=30):
    """(status, body text) of one request; a refused connection raises ConnectionRefusedError."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type} if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8")
    except urllib.error.URLError as err:
        if isinstance(err.reason, ConnectionRefusedError):
            raise err.reason
        raise


class Server:
    """A process group started for a test and always stopped (SIGKILL to the group at the end)."""

    def __init__(self, command, env, port, log_name="server"):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = os.path.join(_ROOT, f"{log_name}-{port}.log")
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True, cwd=_ROOT)

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if http("GET", f"{self.url}/ping", timeout=5)[0] == 200:
                    return
            except (ConnectionRefusedError, OSError):
                pass
            time.sleep(0.25)
        raise AssertionError(f"the server did not answer /ping within {timeout} s:\n{self.output()}")

    def output(self, tail=4000):
        """The server's output so far: its last `tail` characters (enough for a failure message), or all of it with tail=None."""
        self.log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        return text if tail is None else text[-tail:]

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        self.log.close()


def children(pid):
    """Host PIDs of a process's children (from /proc)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="utf-8") as handle:
                found += [int(p) for p in handle.read().split()]
        except OSError:
            pass
    return found


def in_background(function, *args):
    """Runs function(*args) in a thread; returns (thread, result dict with "value" or "error")."""
    result = {}

    def target():
        try:
            result["value"] = function(*args)
        except BaseException as err:  # reported by the test that reads it
            result["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, result
