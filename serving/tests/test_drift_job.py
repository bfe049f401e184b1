"""serving/drift_job.py without Blob Storage: the managed identity token request, the baselines, its error line.
(Against Azurite end to end: tests/drift.test.ts.)"""
import http.server
import io
import json
import os
import tempfile
import threading
import unittest
from contextlib import redirect_stdout
from unittest import mock

from serving import drift, drift_job


class _Identity(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        _Identity.seen.append((self.path, self.headers.get("X-IDENTITY-HEADER")))
        body = json.dumps({"access_token": "tok-123", "expires_on": "1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class ManagedIdentity(unittest.TestCase):
    def test_asks_the_container_apps_identity_endpoint_for_a_storage_token_of_the_named_identity(self):
        server = http.server.HTTPServer(("127.0.0.1", 0), _Identity)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            env = {"IDENTITY_ENDPOINT": f"http://127.0.0.1:{server.server_port}/msi/token", "IDENTITY_HEADER": "h-456", "AZURE_CLIENT_ID": "cid-789"}
            self.assertEqual(drift_job.managed_identity_token(env), "tok-123")
        finally:
            server.shutdown()
        path, header = _Identity.seen[-1]
        self.assertEqual(header, "h-456")
        self.assertTrue(path.startswith("/msi/token?"), path)
        self.assertIn("resource=https%3A%2F%2Fstorage.azure.com%2F", path)
        self.assertIn("api-version=2019-08-01", path)
        self.assertIn("client_id=cid-789", path)

    def test_without_the_endpoint_says_where_it_runs(self):
        with self.assertRaises(drift.DriftError) as caught:
            drift_job.managed_identity_token({})
        self.assertIn("IDENTITY_ENDPOINT and IDENTITY_HEADER are not set", str(caught.exception))


class Baselines(unittest.TestCase):
    def test_registered_sample_is_mlflows_input_example_in_the_image(self):
        folder = tempfile.mkdtemp()
        path = os.path.join(folder, "input_example.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"columns": ["amount"], "data": [[1], [2]]}, handle)
        with mock.patch.object(drift_job, "REGISTERED_SAMPLE_FILE", path):
            self.assertEqual(drift_job.baseline_rows(None, "registered-sample"), ("registered-sample", "registered-sample", [{"amount": 1}, {"amount": 2}]))

    def test_a_version_registered_without_a_sample_names_the_config_key(self):
        with mock.patch.object(drift_job, "REGISTERED_SAMPLE_FILE", "/nonexistent/input_example.json"):
            with self.assertRaises(drift.DriftError) as caught:
                drift_job.baseline_rows(None, "registered-sample")
        self.assertIn("mlflow-platform:observability.drift.baseline", str(caught.exception))

    def test_a_missing_dataset_names_it(self):
        store = mock.Mock()
        store.get.return_value = None
        with self.assertRaises(drift.DriftError) as caught:
            drift_job.baseline_rows(store, "data/fraud/gone.csv")
        store.get.assert_called_once_with("data", "fraud/gone.csv")
        self.assertIn("data/fraud/gone.csv", str(caught.exception))


class Main(unittest.TestCase):
    def test_no_blob_endpoint_is_an_error_line_and_exit_2(self):
        out = io.StringIO()
        with mock.patch.dict(os.environ, {}, clear=True), redirect_stdout(out):
            code = drift_job.main(["--model", "fraud", "--version", "3"])
        self.assertEqual(code, 2)
        self.assertEqual(json.loads(out.getvalue())["event"], "drift-error")


if __name__ == "__main__":
    unittest.main()
