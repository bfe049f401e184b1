"""The fetch and serve scripts run as the image runs them, with a stand-in MLflow client."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

from serving.tests.helpers import SERVING_DIR, fake_mlflow_package, write_model

FAKE_TOKEN = "fake-token-for-tests"


def run(script, args, env_extra=None, pythonpath=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABRICKS_", "MLFLOW_"))}
    env.update(env_extra or {})
    env["PYTHONPATH"] = pythonpath or ""
    return subprocess.run(
        [sys.executable, os.path.join(SERVING_DIR, script), *args],
        capture_output=True, text=True, env=env, timeout=60,
    )


class FetchModel(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        self.registry = os.path.join(self.root, "registry")
        write_model(os.path.join(self.registry, "fraud", "7"), python="3.12.1")
        self.record = os.path.join(self.root, "seen.json")
        self.creds = os.path.join(self.root, "registry_env")
        with open(self.creds, "w", encoding="utf-8") as handle:
            handle.write(f"DATABRICKS_TOKEN={FAKE_TOKEN}\n")

    def fetch(self, behaviour="ok", extra=(), env=None):
        fake = fake_mlflow_package(self.registry, behaviour, self.record)
        return run("fetch_model.py", ["models:/fraud/7", "--dest", os.path.join(self.root, "model"), *extra], env, fake)

    def test_build_mode_writes_the_model_and_its_environment_spec(self):
        result = self.fetch(extra=["--env-dir", os.path.join(self.root, "env"), "--registry-kind", "unity-catalog",
                                   "--registry-url", "https://adb-1.2.azuredatabricks.net", "--credentials-file", self.creds])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout), {"model": "fraud", "version": "7", "python": "3.12", "dest": os.path.join(self.root, "model")})
        self.assertTrue(os.path.isfile(os.path.join(self.root, "model", "MLmodel")))
        with open(os.path.join(self.root, "env", "python-version"), encoding="utf-8") as handle:
            self.assertEqual(handle.read(), "3.12\n")
        self.assertEqual(sorted(os.listdir(os.path.join(self.root, "env"))), ["python-version", "requirements.txt"])
        with open(self.record, encoding="utf-8") as handle:
            seen = json.load(handle)
        self.assertEqual((seen["tracking"], seen["registry"]), ("databricks", "databricks-uc"))
        self.assertEqual(seen["env"]["DATABRICKS_HOST"], "https://adb-1.2.azuredatabricks.net")
        self.assertEqual(seen["env"]["DATABRICKS_TOKEN"], FAKE_TOKEN, "the secret file's token reaches MLflow's client")
        self.assertNotIn(FAKE_TOKEN, result.stdout + result.stderr)

    def test_laptop_mode_uses_mlflow_tracking_uri(self):
        result = self.fetch(env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(self.record, encoding="utf-8") as handle:
            seen = json.load(handle)
        self.assertEqual((seen["tracking"], seen["registry"]), ("http://127.0.0.1:5000", "http://127.0.0.1:5000"))

    def test_a_refused_credential_names_model_version_and_never_the_token(self):
        result = self.fetch("unauthenticated", ["--registry-kind", "databricks", "--registry-url", "https://adb-1.2.azuredatabricks.net", "--credentials-file", self.creds])
        self.assertEqual(result.returncode, 1)
        self.assertIn("model fraud version 7: the registry https://adb-1.2.azuredatabricks.net refused the build's credential", result.stderr)
        self.assertNotIn(FAKE_TOKEN, result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_a_version_without_files(self):
        result = self.fetch("missing", env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
        self.assertEqual(result.returncode, 1)
        self.assertIn("has no such version, or its files are missing", result.stderr)

    def test_a_model_without_requirements_fails_with_what_to_do(self):
        os.remove(os.path.join(self.registry, "fraud", "7", "requirements.txt"))
        result = self.fetch(env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
        self.assertEqual(result.returncode, 1)
        self.assertIn("model fraud version 7: the logged model has no requirements.txt", result.stderr)

    def test_no_registry_and_no_mlflow_are_clear_errors(self):
        result = run("fetch_model.py", ["models:/fraud/7", "--dest", os.path.join(self.root, "m")])
        self.assertEqual(result.returncode, 1)
        self.assertIn("set --registry-url (or MLFLOW_TRACKING_URI)", result.stderr)
        result = run("fetch_model.py", ["models:/fraud/7", "--dest", os.path.join(self.root, "m")], {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"})
        self.assertEqual(result.returncode, 1)
        self.assertIn("MLflow is not installed here", result.stderr)


class ServeModel(unittest.TestCase):
    def setUp(self):
        self.model = write_model(os.path.join(tempfile.mkdtemp(), "model"))

    def test_serves_the_folder_with_the_local_environment(self):
        result = run("serve_model.py", ["--model-dir", self.model, "--dry-run"], {"MLFLOW_MODELS_WORKERS": "2"})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), f"mlflow models serve --model-uri {self.model} --env-manager local --host 0.0.0.0 --port 8080 --workers 2")

    def test_refuses_a_broken_folder_or_bad_numbers_before_starting(self):
        os.remove(os.path.join(self.model, "MLmodel"))
        result = run("serve_model.py", ["--model-dir", self.model, "--dry-run"])
        self.assertEqual(result.returncode, 1)
        self.assertIn("no MLmodel", result.stderr)
        result = run("serve_model.py", ["--model-dir", self.model, "--port", "http", "--dry-run"])
        self.assertIn("port = 'http' must be a whole number from 1 to 65535", result.stderr)


if __name__ == "__main__":
    unittest.main()
