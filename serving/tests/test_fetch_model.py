"""fetch_model.py against real MLflow tracking servers, run exactly as the Dockerfile's fetch step runs it."""
import json
import os
import tempfile
import time
import unittest

from serving.tests.helpers import fetch_args, fetched_demo, free_port, run_script
from tests.helpers.mlflow_server import shared_server


def credentials_file(text):
    path = os.path.join(tempfile.mkdtemp(), "registry_env")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


class FetchFromAPlainServer(unittest.TestCase):
    def test_writes_the_model_and_its_environment_spec(self):
        fetched = fetched_demo(shared_server("plain"))
        result = fetched["result"]
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout), {"model": fetched["name"], "version": fetched["version"], "python": "3.11", "dest": fetched["dest"]})
        for name in ("MLmodel", "requirements.txt", "python_env.yaml"):
            self.assertTrue(os.path.isfile(os.path.join(fetched["dest"], name)), name)
        self.assertEqual(sorted(os.listdir(fetched["env_dir"])), ["python-version", "requirements.txt"])
        with open(os.path.join(fetched["env_dir"], "python-version"), encoding="utf-8") as handle:
            self.assertEqual(handle.read(), "3.11\n")

    def test_a_missing_version(self):
        fetched = fetched_demo(shared_server("plain"))
        root = tempfile.mkdtemp()
        result = run_script("fetch_model.py", fetch_args(f"models:/{fetched['name']}/99", shared_server("plain").url,
                                                        os.path.join(root, "m"), os.path.join(root, "e"), fetched["creds"]))
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"model {fetched['name']} version 99: the registry {shared_server('plain').url} has no such version", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_laptop_mode_uses_mlflow_tracking_uri(self):
        fetched = fetched_demo(shared_server("plain"))
        dest = os.path.join(tempfile.mkdtemp(), "m")
        result = run_script("fetch_model.py", [f"models:/{fetched['name']}/{fetched['version']}", "--dest", dest],
                            {"MLFLOW_TRACKING_URI": shared_server("plain").url})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(os.path.isfile(os.path.join(dest, "MLmodel")))


class FetchBehindBasicAuth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = shared_server("auth")
        cls.fetched = fetched_demo(cls.server)

    def fetch(self, creds_text):
        root = tempfile.mkdtemp()
        args = fetch_args(f"models:/{self.fetched['name']}/{self.fetched['version']}", self.server.url,
                          os.path.join(root, "m"), os.path.join(root, "e"), credentials_file(creds_text) if creds_text is not None else os.path.join(root, "absent"))
        return run_script("fetch_model.py", args)

    def test_the_secret_files_user_and_password_fetch_the_model(self):
        result = self.fetched["result"]
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertNotIn(self.server.password, result.stdout + result.stderr)

    def test_no_credential_says_what_to_put_in_the_secret_file(self):
        result = self.fetch(None)  # no secret mounted: the Dockerfile's mount has required=false
        self.assertEqual(result.returncode, 1)
        self.assertIn("requires a credential and none was given", result.stderr)
        self.assertIn("MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD", result.stderr)
        self.assertNotIn("renew the token", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_a_wrong_password_is_a_refused_credential_and_never_echoed(self):
        wrong = "wrong-password-for-tests"
        result = self.fetch(f"MLFLOW_TRACKING_USERNAME=admin\nMLFLOW_TRACKING_PASSWORD={wrong}\n")
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"the registry {self.server.url} refused the build's credential (401 Unauthorized)", result.stderr)
        self.assertNotIn(wrong, result.stdout + result.stderr)
        self.assertNotIn("Traceback", result.stderr)


class FetchFromARegistryThatIsDown(unittest.TestCase):
    def test_fails_fast_and_says_the_registry_does_not_answer(self):
        url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        root = tempfile.mkdtemp()
        started = time.monotonic()
        result = run_script("fetch_model.py", fetch_args("models:/fraud/3", url, os.path.join(root, "m"), os.path.join(root, "e"), os.path.join(root, "absent")))
        elapsed = time.monotonic() - started
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"model fraud version 3: the registry at {url} does not answer", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertNotIn("HTTPConnectionPool", result.stderr)
        self.assertLess(elapsed, 30, f"took {elapsed:.1f} s")
        self.assertIn("after 2 retries", result.stderr)

    def test_retry_settings_already_in_the_environment_win(self):
        url = f"http://127.0.0.1:{free_port()}"
        root = tempfile.mkdtemp()
        result = run_script("fetch_model.py", fetch_args("models:/fraud/3", url, os.path.join(root, "m"), os.path.join(root, "e"), os.path.join(root, "absent")),
                            {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
        self.assertEqual(result.returncode, 1)
        self.assertIn("no reply within 5 s after 0 retries", result.stderr)


class Arguments(unittest.TestCase):
    def test_no_registry_is_a_clear_error(self):
        result = run_script("fetch_model.py", ["models:/fraud/7", "--dest", os.path.join(tempfile.mkdtemp(), "m")])
        self.assertEqual(result.returncode, 1)
        self.assertIn("set --registry-url (or MLFLOW_TRACKING_URI)", result.stderr)

    def test_a_bad_credential_file_names_the_line_not_the_value(self):
        root = tempfile.mkdtemp()
        result = run_script("fetch_model.py", fetch_args("models:/fraud/7", "http://127.0.0.1:9", os.path.join(root, "m"), os.path.join(root, "e"),
                                                        credentials_file("AWS_SECRET=fake-value-for-tests\n")))
        self.assertEqual(result.returncode, 1)
        self.assertIn("credential file line 1", result.stderr)
        self.assertNotIn("fake-value-for-tests", result.stderr)


if __name__ == "__main__":
    unittest.main()
