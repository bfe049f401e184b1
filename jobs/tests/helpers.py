"""Real helpers for the registration script's tests: where things are, the model library of the
test package installed as pip would leave it, the demo model trained once, the script run as the
job runs it, and pickles that run code when loaded."""
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
JOBS_DIR = os.path.dirname(TESTS_DIR)
PROJECT_DIR = os.path.dirname(JOBS_DIR)
SCRIPT = os.path.join(JOBS_DIR, "register_model.py")
TRAINER = os.path.join(PROJECT_DIR, "serving", "demo", "train_demo_model.py")
SERVING_SAMPLE = os.path.join(PROJECT_DIR, "serving", "sample-input.json")
# The interpreter running the suite: .venv's, with real MLflow, scikit-learn, pandas and pyarrow.
PYTHON = sys.executable

_DIST_DIR = None


def fraud_scorer_path():
    """sys.path entries that make jobs/tests/fraud_scorer importable as the top-level package
    `fraud_scorer`, installed as the distribution fraud-scorer 0.3.0 (a dist-info with
    top_level.txt, which importlib.metadata.packages_distributions reads)."""
    global _DIST_DIR
    if _DIST_DIR is None:
        _DIST_DIR = tempfile.mkdtemp(prefix="fraud-scorer-dist-")
        info = os.path.join(_DIST_DIR, "fraud_scorer-0.3.0.dist-info")
        os.makedirs(info)
        with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as handle:
            handle.write("Metadata-Version: 2.1\nName: fraud-scorer\nVersion: 0.3.0\n")
        with open(os.path.join(info, "top_level.txt"), "w", encoding="utf-8") as handle:
            handle.write("fraud_scorer\n")
    return [TESTS_DIR, _DIST_DIR]


_DEMO = None


def demo_model():
    """The demo fraud Pipeline, trained once for the suite: {"model", "sample", "expected", "dir"}."""
    global _DEMO
    if _DEMO is None:
        out = tempfile.mkdtemp(prefix="demo-model-")
        subprocess.run([PYTHON, TRAINER, "--out", out, "--rows", "300"], check=True, capture_output=True, timeout=120)
        with open(os.path.join(out, "expected.json"), encoding="utf-8") as handle:
            expected = json.load(handle)
        _DEMO = {"model": os.path.join(out, "model.pkl"), "sample": os.path.join(out, "sample.csv"), "expected": expected, "dir": out}
    return _DEMO


_COUNTER = [0]


def unique_name(prefix):
    """A registered model name no other test (nor another run on a shared server) uses."""
    _COUNTER[0] += 1
    return f"{prefix}-{os.getpid()}-{_COUNTER[0]}-{int(time.time() * 1000) % 10**8}"


def clean_env(**extra):
    """This environment without MLflow or Databricks settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DATABRICKS_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env.update(extra)
    return env


def run_script(args, env=None, cwd=None, timeout=180):
    """The script run as a file, as the job and a laptop run it: (completed process, last line as JSON)."""
    started = time.monotonic()
    result = subprocess.run([PYTHON, SCRIPT, *args], capture_output=True, text=True, env=env or clean_env(), cwd=cwd, timeout=timeout)
    result.seconds = time.monotonic() - started
    lines = result.stdout.strip().splitlines()
    return result, json.loads(lines[-1]) if lines else {}


def write_pickle(folder, obj, protocol=pickle.DEFAULT_PROTOCOL, name="model.pkl"):
    path = os.path.join(folder, name)
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    return path


# Pickles that run code when loaded. Each names the marker file it would create.


class RunsShell:
    """os.system("touch MARKER") on unpickling (pickled as posix.system)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsExec:
    """builtins.exec of code creating MARKER."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


class RunsEval:
    """builtins.eval of an expression creating MARKER."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').close()",))


def getattr_system_pickle(marker):
    """Protocol 2 by hand: getattr(__import__("os"), "system")("touch MARKER"), so no global
    names os.system itself."""
    command = f"touch {marker}".encode()
    return (
        b"\x80\x02"
        b"cbuiltins\ngetattr\n"
        b"cbuiltins\n__import__\n" b"X\x02\x00\x00\x00os" b"\x85R"  # __import__("os")
        b"X\x06\x00\x00\x00system" b"\x86R"  # getattr(os, "system")
        + b"X" + len(command).to_bytes(4, "little") + command + b"\x85R."  # system("touch MARKER")
    )


def stack_global_pickle(marker):
    """Protocol 4: STACK_GLOBAL of "os" "system", with the strings memoized and fetched back
    (MEMOIZE, BINGET), as a hand-written exploit would hide them."""
    command = f"touch {marker}".encode()
    return (
        b"\x80\x04"  # PROTO 4
        + b"\x8c\x02os\x94"  # SHORT_BINUNICODE "os", MEMOIZE -> memo 0
        + b"\x8c\x06system\x94"  # memo 1
        + b"0"  # POP "system": the name now comes from the memo only
        + b"h\x01"  # BINGET 1 -> "system"
        + b"\x93"  # STACK_GLOBAL
        + b"\x8c" + bytes([len(command)]) + command + b"\x85R."  # TUPLE1, REDUCE, STOP
    )
