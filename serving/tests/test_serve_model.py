"""serve_model.py's choices, without starting a server: workers, the MLflow 2.x command, the checks."""
import os
import tempfile
import unittest
from unittest import mock

from serving import serve_model
from serving.tests.helpers import PYTHON, SERVING_DIR, run_script, write_model


class Workers(unittest.TestCase):
    def cpu_max(self, text):
        path = os.path.join(tempfile.mkdtemp(), "cpu.max")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def test_affinity_capped_by_the_cgroup_quota_rounded_up(self):
        with mock.patch.object(os, "sched_getaffinity", return_value=set(range(8))):
            self.assertEqual(serve_model.available_cpus(self.cpu_max("max 100000\n")), 8)
            self.assertEqual(serve_model.available_cpus(self.cpu_max("150000 100000\n")), 2)
            self.assertEqual(serve_model.available_cpus(self.cpu_max("50000 100000\n")), 1)
            self.assertEqual(serve_model.available_cpus("/nonexistent/cpu.max"), 8)
            self.assertEqual(serve_model.available_cpus(self.cpu_max("garbage\n")), 8)

    def test_bounded_1_to_64(self):
        with mock.patch.object(os, "sched_getaffinity", return_value=set(range(200))):
            self.assertEqual(serve_model.available_cpus("/nonexistent/cpu.max"), 64)
        with mock.patch.object(os, "sched_getaffinity", return_value=set()):
            self.assertEqual(serve_model.available_cpus("/nonexistent/cpu.max"), 1)

    def test_the_default_is_this_machines_cpus_and_the_variable_wins(self):
        model = write_model(os.path.join(tempfile.mkdtemp(), "model"))
        result = run_script("serve_model.py", ["--model-dir", model, "--dry-run"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"--workers {serve_model.available_cpus()} ", result.stdout)
        result = run_script("serve_model.py", ["--model-dir", model, "--dry-run"], {"MLFLOW_MODELS_WORKERS": "3"})
        self.assertIn("--workers 3 ", result.stdout)


class Commands(unittest.TestCase):
    def test_mlflow_3_runs_our_factory_in_process_with_a_graceful_timeout(self):
        model = write_model(os.path.join(tempfile.mkdtemp(), "model"))
        result = run_script("serve_model.py", ["--model-dir", model, "--workers", "2", "--dry-run"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.strip(),
            f"SCORING_MODEL_DIR={model} uvicorn scoring_app:create_app --factory --app-dir {SERVING_DIR} "
            "--host 0.0.0.0 --port 8080 --workers 2 --timeout-graceful-shutdown 20",
        )

    def test_mlflow_2_execs_gunicorn_on_mlflows_wsgi_app(self):
        command, env = serve_model.gunicorn_command("/opt/model", "0.0.0.0", 8080, 4, 20, 60, python="/opt/venv/bin/python")
        self.assertEqual(command, [
            "/opt/venv/bin/python", "-m", "gunicorn", "--timeout=60", "--graceful-timeout=20",
            "-b", "0.0.0.0:8080", "-w", "4", "--", "mlflow.pyfunc.scoring_server.wsgi:app",
        ])
        self.assertEqual(env, {"__pyfunc_model_path__": "file:///opt/model"})

    def test_mlflow_2_dry_run_and_skinny_2_refused(self):
        model = write_model(os.path.join(tempfile.mkdtemp(), "model"))
        with mock.patch.object(serve_model, "installed_mlflow", return_value=("mlflow", "2.11.3")), \
                mock.patch("sys.stdout") as stdout, mock.patch.dict(os.environ, {"MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": "45"}):
            self.assertEqual(serve_model.main(["--model-dir", model, "--workers", "2", "--dry-run"]), 0)
        printed = "".join(call.args[0] for call in stdout.write.call_args_list)
        self.assertIn(f"__pyfunc_model_path__=file://{model} {PYTHON} -m gunicorn --timeout=45 --graceful-timeout=20 -b 0.0.0.0:8080 -w 2 -- mlflow.pyfunc.scoring_server.wsgi:app", printed)
        with mock.patch.object(serve_model, "installed_mlflow", return_value=("mlflow-skinny", "2.11.3")), mock.patch("sys.stderr") as stderr:
            self.assertEqual(serve_model.main(["--model-dir", model, "--dry-run"]), 1)
        self.assertIn("mlflow-skinny 2.11.3 has no scoring server", "".join(call.args[0] for call in stderr.write.call_args_list))


class Checks(unittest.TestCase):
    def setUp(self):
        self.model = write_model(os.path.join(tempfile.mkdtemp(), "model"))

    def test_refuses_a_broken_folder_or_bad_numbers_before_starting(self):
        for args, message in (
            (["--port", "http"], "port = 'http' must be a whole number from 1 to 65535"),
            (["--workers", "0"], "workers = '0' must be a whole number from 1 to 64"),
            (["--graceful-timeout", "soon"], "graceful timeout = 'soon' must be a whole number"),
        ):
            with self.subTest(args=args):
                result = run_script("serve_model.py", ["--model-dir", self.model, *args, "--dry-run"])
                self.assertEqual(result.returncode, 1)
                self.assertIn(message, result.stderr)
        os.remove(os.path.join(self.model, "MLmodel"))
        result = run_script("serve_model.py", ["--model-dir", self.model, "--dry-run"])
        self.assertEqual(result.returncode, 1)
        self.assertIn("no MLmodel", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_a_model_mlflow_cannot_load_is_one_line(self):
        # The folder passes the file checks but holds no real model.
        result = run_script("serve_model.py", ["--model-dir", self.model, "--host", "127.0.0.1", "--port", "1", "--workers", "1"])
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"serve_model: MLflow cannot load the model in {self.model}", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_a_worker_whose_model_cannot_load_exits_with_uvicorns_startup_failure(self):
        import io

        from serving import scoring_app

        with mock.patch.dict(os.environ, {scoring_app.MODEL_DIR_ENV: self.model}), mock.patch("sys.stderr", new_callable=io.StringIO) as stderr:
            with self.assertRaises(SystemExit) as caught:
                scoring_app.create_app()
        self.assertEqual(caught.exception.code, 3, "uvicorn's supervisor does not restart such a worker")
        self.assertIn(f"serve_model: MLflow cannot load the model in {self.model}", stderr.getvalue())

    def test_every_script_has_help(self):
        for script in ("serve_model.py", "fetch_model.py", "serving_requirements.py", "demo/train_demo_model.py"):
            with self.subTest(script=script):
                result = run_script(script, ["--help"])
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("usage:", result.stdout)


if __name__ == "__main__":
    unittest.main()
