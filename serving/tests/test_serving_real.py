"""The serving path for real: the demo model registered in a real MLflow server and fetched as the
build does, its environment installed by install_environment.sh (once for the suite), served by
serve_model.py from that environment and scored over HTTP; and SIGTERM to the server as PID 1."""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from serving.tests.helpers import (
    PYTHON, SERVING_DIR, Server, children, clean_env, demo_model, fetched_demo, free_port, http,
    in_background, serving_venv,
)
from tests.helpers.mlflow_server import shared_server

SLOW_MODEL_CODE = os.path.join(SERVING_DIR, "tests", "models", "slow_model.py")


def installed():
    venv = serving_venv(fetched_demo(shared_server("plain"))["env_dir"])
    if venv["result"].returncode != 0:
        raise AssertionError(f"install_environment.sh failed:\n{venv['result'].stdout[-2000:]}\n{venv['result'].stderr[-3000:]}")
    return venv


def size_mb(folder):
    return int(subprocess.run(["du", "-sm", folder], capture_output=True, text=True, check=True).stdout.split()[0])


def serve(python, model_dir, workers=1, pid1=False, extra_env=None):
    port = free_port()
    command = [python, os.path.join(SERVING_DIR, "serve_model.py"), "--model-dir", model_dir,
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if pid1:
        # Its own PID namespace, as in a container: serve_model.py is PID 1 there. --kill-child:
        # if unshare dies, the namespace's PID 1 gets SIGKILL (and with it every process in it).
        command = ["unshare", "--pid", "--fork", "--kill-child", *command]
    return Server(command, clean_env(extra_env), port, "serve")


class InstallEnvironment(unittest.TestCase):
    def test_installs_mlflow_skinny_for_a_mlflow_3_model_with_the_machines_python(self):
        venv = installed()
        self.assertIn("mlflow==3.17.2 -> mlflow-skinny==3.17.2", venv["result"].stderr)
        listing = subprocess.run([venv["python"], "-c", "import importlib.metadata as m, sys; print(sorted(d.metadata['Name'].lower() for d in m.distributions())); print(sys.base_prefix)"],
                                 capture_output=True, text=True, check=True).stdout
        self.assertIn("'mlflow-skinny'", listing)
        self.assertNotIn("'mlflow'", listing)
        self.assertNotIn("'flask'", listing)
        self.assertLess(size_mb(venv["dir"]), 500, "the serving environment should stay under 500 MB")

    def test_help_and_a_folder_without_the_spec(self):
        result = subprocess.run(["sh", os.path.join(SERVING_DIR, "install_environment.sh"), "--help"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0)
        self.assertIn("VENV_DIR", result.stdout)
        result = subprocess.run(["sh", os.path.join(SERVING_DIR, "install_environment.sh"), tempfile.mkdtemp()], capture_output=True, text=True,
                                env=clean_env({"VENV_DIR": os.path.join(tempfile.mkdtemp(), "venv")}))
        self.assertEqual(result.returncode, 1)
        self.assertIn("must hold python-version and requirements.txt", result.stderr)

    def test_refuses_mlflow_skinny_2_before_installing(self):
        spec = tempfile.mkdtemp()
        with open(os.path.join(spec, "requirements.txt"), "w", encoding="utf-8") as handle:
            handle.write("mlflow-skinny==2.11.3\nscikit-learn==1.4.2\n")
        with open(os.path.join(spec, "python-version"), "w", encoding="utf-8") as handle:
            handle.write(f"{os.sys.version_info[0]}.{os.sys.version_info[1]}\n")
        venv = os.path.join(tempfile.mkdtemp(), "venv")
        env = clean_env({"VENV_DIR": venv, "UV_PYTHON_PREFERENCE": "only-system", "MODEL_NAME": "fraud", "MODEL_VERSION": "4",
                         "PATH": os.path.dirname(PYTHON) + os.pathsep + os.environ.get("PATH", "")})
        result = subprocess.run(["sh", os.path.join(SERVING_DIR, "install_environment.sh"), spec], capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(result.returncode, 1)
        self.assertIn("MLflow 2.x skinny has no scoring server", result.stderr)
        self.assertIn("model fraud version 4: its requirements.txt cannot be served", result.stderr)
        self.assertFalse(os.path.exists(venv))


class ServeAndScore(unittest.TestCase):
    def test_the_fetched_demo_model_answers_like_the_trained_one(self):
        venv = installed()
        fetched = fetched_demo(shared_server("plain"))
        server = serve(venv["python"], fetched["dest"])
        try:
            server.wait_ready()
            with open(os.path.join(SERVING_DIR, "sample-input.json"), "rb") as handle:
                status, body = http("POST", f"{server.url}/invocations", handle.read())
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["predictions"], demo_model()["expected"]["sample_input_predictions"])
            self.assertEqual(http("GET", f"{server.url}/version"), (200, "3.17.2"))
        finally:
            server.stop()


class Sigterm(unittest.TestCase):
    """Container Apps stops a replica with SIGTERM and kills it after the grace period (30 s by default)."""

    @classmethod
    def setUpClass(cls):
        import mlflow.pyfunc

        cls.model = os.path.join(tempfile.mkdtemp(), "slow")
        # A "model from code": the file is saved with the model, so the server needs no test package.
        mlflow.pyfunc.save_model(cls.model, python_model=SLOW_MODEL_CODE, pip_requirements=["mlflow==3.17.2"])

    def test_pid_1_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(self):
        venv = installed()
        marker = os.path.join(tempfile.mkdtemp(), "in-flight")
        server = serve(venv["python"], self.model, pid1=True, extra_env={"SLOW_MODEL_SECONDS": "3", "SLOW_MODEL_MARKER": marker})
        try:
            server.wait_ready()
            # unshare --fork: its one child is the namespace's PID 1, serve_model.py itself.
            (pid1,) = children(server.process.pid)
            with open(f"/proc/{pid1}/status", encoding="utf-8") as handle:
                nspid = [line.split()[1:] for line in handle if line.startswith("NSpid:")][0]
            self.assertEqual(nspid[-1], "1", "serve_model.py is PID 1 in its namespace")
            body = json.dumps({"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}).encode()
            thread, answer = in_background(http, "POST", f"{server.url}/invocations", body)
            deadline = time.monotonic() + 20
            while not os.path.exists(marker) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(os.path.exists(marker), "the request reached predict()")
            signalled = time.monotonic()
            os.kill(pid1, signal.SIGTERM)
            refused = in_flight = False
            while not refused and time.monotonic() < signalled + 5:
                try:
                    http("GET", f"{server.url}/ping", timeout=2)
                except ConnectionRefusedError:
                    refused, in_flight = True, thread.is_alive()
                except OSError:
                    pass
                time.sleep(0.05)
            self.assertTrue(refused, "new connections are refused once SIGTERM arrives")
            self.assertTrue(in_flight, "refused while the first request was still in flight")
            thread.join(15)
            self.assertEqual(answer.get("value"), (200, '{"predictions": [2, 2]}'), answer.get("error"))
            code = server.process.wait(timeout=10)
            elapsed = time.monotonic() - signalled
            self.assertEqual(code, 0, server.output())
            self.assertLess(elapsed, 10)
            self.assertIn("Waiting for connections to close", server.output(tail=None))
        finally:
            server.stop()


if __name__ == "__main__":
    unittest.main()
