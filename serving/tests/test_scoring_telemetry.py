"""The scoring metrics exported with OpenTelemetry (scoring_telemetry.py).

Switched by the environment (in the project's environment: scoring_telemetry imports nothing at the
top). Through the real thing: in the serving environment install_environment.sh builds (it has
prometheus_client, the OpenTelemetry SDK and the Azure Monitor exporter at the pinned versions),
MLflow's scoring app on the demo model fetched from a real MLflow server, wrapped by
RequestRecords with the real ScoringMetrics, and the points read back with the SDK's
InMemoryMetricReader; a reader whose exporter always fails; the real exporter built from a
connection string; and the real exporter flushing to a loopback stand-in of Application Insights'
ingestion endpoint (TLS, POST /v2.1/track) signed in through a stand-in of Container Apps' managed
identity endpoint (Azure Monitor itself cannot run here).
"""
import gzip
import http.server
import io
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
from urllib.parse import parse_qs, urlparse
from unittest import mock

from serving import request_records, scoring_telemetry
from serving.tests.helpers import SERVING_DIR, clean_env, fetched_demo
from serving.tests.test_request_records import installed
from tests.helpers.mlflow_server import shared_server

IDENTITY = {"model": "fraud", "version": "7", "revision": "fraud--v7-0123456789ab"}
# Shaped like Application Insights' (a documentation key, a loopback endpoint nothing listens on).
CONNECTION_STRING = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                     "IngestionEndpoint=https://127.0.0.1:9/;LiveEndpoint=https://127.0.0.1:9/")
CLIENT_ID = "11111111-2222-3333-4444-555555555555"

# Runs in the serving environment: argv = serving dir, model dir, mode. Prints one JSON document.
DRIVE = r'''
import asyncio, json, os, sys
sys.path.insert(0, sys.argv[1])
mode = sys.argv[3]
import mlflow.pyfunc
from mlflow.pyfunc import scoring_server
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExporter, MetricExportResult, PeriodicExportingMetricReader
import request_records, scoring_metrics, scoring_telemetry

identity = request_records.Identity("fraud", "7", "fraud--v7-0123456789ab", "fraud-v7-0123456789ab")
model = mlflow.pyfunc.load_model(sys.argv[2])
with open(os.path.join(sys.argv[1], "sample-input.json")) as handle:
    split = json.load(handle)["dataframe_split"]
rows = lambda n: json.dumps({"dataframe_split": {"columns": split["columns"], "data": [split["data"][0]] * n}}).encode()

async def call(app, method, path, body=b""):
    sent, pending, done = [], [{"type": "http.request", "body": body, "more_body": False}], asyncio.Event()
    async def receive():
        if pending:
            return pending.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}
    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()
    await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http", "path": path,
               "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/json")],
               "client": ("127.0.0.1", 5), "server": ("127.0.0.1", 8080)}, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

REQUESTS = [("POST", "/invocations", rows(3)), ("POST", "/invocations", rows(5)), ("POST", "/invocations", b"{"),
            ("GET", "/ping", b""), ("GET", "/no/such/route", b"")]

def drive(metrics):
    app = request_records.RequestRecords(scoring_server.init(model), identity, metrics=metrics, write=lambda line: None)
    app.model_loaded(1.25)
    answers = [asyncio.run(call(app, m, p, b)) for m, p, b in REQUESTS]
    return app, [[status, body.decode()] for status, body in answers]

def points(reader):
    out = []
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        resource = dict(resource_metrics.resource.attributes)
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = {"count": point.count, "sum": point.sum} if hasattr(point, "count") else {"value": point.value}
                    out.append({"name": metric.name, "unit": metric.unit, "attributes": dict(point.attributes), **value})
    return resource, out

if mode == "in-memory":
    reader = InMemoryMetricReader()
    otel = scoring_telemetry.OtelMetrics(identity, scoring_telemetry.meter_provider([reader], identity))
    metrics = scoring_metrics.ScoringMetrics(identity, otel=otel)
    app, answers = drive(metrics)
    # The payload log's calls (payload_log.py makes them from its writer thread).
    metrics.payload_dropped("queue_full", 2)
    metrics.payload_written(3)
    resource, data = points(reader)
    print(json.dumps({"answers": answers, "resource": resource, "points": data, "failures": app.failures,
                      "reasons": [list(scoring_metrics.PAYLOAD_LOG_REASONS), list(scoring_telemetry.PAYLOAD_LOG_REASONS)]}))
elif mode == "failing-exporter":
    class Failing(MetricExporter):
        calls = 0
        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            Failing.calls += 1
            raise ConnectionError("ingestion is down")
        def force_flush(self, timeout_millis=10_000):
            return True
        def shutdown(self, timeout_millis=30_000, **kwargs):
            pass
    otel = scoring_telemetry.from_env(identity, {"APPLICATIONINSIGHTS_CONNECTION_STRING": "x", "SERVING_IDENTITY_CLIENT_ID": "y"},
                                      reader_factory=lambda c, i: PeriodicExportingMetricReader(Failing(), export_interval_millis=20))
    app, answers = drive(scoring_metrics.ScoringMetrics(identity, otel=otel))
    flushed = otel.provider.force_flush()
    _, bare = drive(scoring_metrics.ScoringMetrics(identity, otel=None))
    print(json.dumps({"answers": answers, "bare": bare, "exports": Failing.calls, "failures": app.failures, "flushed": flushed}))
elif mode == "azure-monitor-export":
    # The real exporter, its managed identity sign-in and its HTTP client, against the test's
    # loopback ingestion and identity endpoints: one flush sends what the requests recorded.
    otel = scoring_telemetry.from_env(identity)
    app, answers = drive(scoring_metrics.ScoringMetrics(identity, otel=otel))
    flushed = otel.provider.force_flush(timeout_millis=30_000)
    print(json.dumps({"answers": answers, "flushed": flushed}), flush=True)
    os._exit(0)
elif mode == "azure-monitor":
    otel = scoring_telemetry.from_env(identity)
    reader = otel.reader
    exporter = reader._exporter
    credential = exporter._credential
    from azure.monitor.opentelemetry.exporter.statsbeat._state import is_statsbeat_enabled
    print(json.dumps({"exporter": type(exporter).__name__, "credential": type(credential).__name__,
                      "endpoint": exporter._endpoint, "reader": type(reader).__name__,
                      "statsbeat": is_statsbeat_enabled()}), flush=True)
    os._exit(0)  # no export at exit: there is no Azure Monitor here
'''


def run_drive(mode, extra_env=None):
    venv = installed()
    model_dir = fetched_demo(shared_server("plain"))["dest"]
    env = clean_env({"APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", **{k: v for k, v in (extra_env or {}).items() if v is not None}})
    for name, value in (extra_env or {}).items():
        if value is None:  # None: unset in the child
            env.pop(name, None)
    for name in (scoring_telemetry.CONNECTION_STRING_ENV, scoring_telemetry.CLIENT_ID_ENV):
        if name not in (extra_env or {}):
            env.pop(name, None)
    result = subprocess.run([venv["python"], "-c", DRIVE, SERVING_DIR, model_dir, mode], capture_output=True, text=True, env=env, timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"{mode} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


class Switch(unittest.TestCase):
    """Both variables or nothing: unset is no provider and no failure."""

    def test_unset_is_no_provider_and_says_nothing(self):
        factory = mock.Mock(side_effect=AssertionError("no reader may be made"))
        with mock.patch("sys.stderr", new_callable=io.StringIO) as stderr:
            self.assertIsNone(scoring_telemetry.from_env(request_records.Identity("fraud"), {}, reader_factory=factory))
            self.assertIsNone(scoring_telemetry.from_env(request_records.Identity("fraud"), {"APPLICATIONINSIGHTS_CONNECTION_STRING": " ", "SERVING_IDENTITY_CLIENT_ID": ""}, reader_factory=factory))
        self.assertEqual(stderr.getvalue(), "")
        factory.assert_not_called()

    def test_half_set_is_no_provider_and_one_line_naming_the_missing_variable(self):
        for env, missing in (({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING}, "SERVING_IDENTITY_CLIENT_ID"),
                             ({"SERVING_IDENTITY_CLIENT_ID": CLIENT_ID}, "APPLICATIONINSIGHTS_CONNECTION_STRING")):
            with self.subTest(missing=missing), mock.patch("sys.stderr", new_callable=io.StringIO) as stderr:
                self.assertIsNone(scoring_telemetry.from_env(request_records.Identity("fraud"), env, reader_factory=mock.Mock(side_effect=AssertionError)))
                self.assertEqual(stderr.getvalue(), f"scoring_telemetry: no export to Application Insights: {missing} is not set\n")

    def test_an_exporter_that_cannot_be_built_is_no_provider_and_does_not_echo_the_connection_string(self):
        env = {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING, "SERVING_IDENTITY_CLIENT_ID": CLIENT_ID}
        for error in (ImportError("no module", name="azure.monitor"), ValueError(f"bad {CONNECTION_STRING}")):
            with self.subTest(error=type(error).__name__), mock.patch("sys.stderr", new_callable=io.StringIO) as stderr:
                self.assertIsNone(scoring_telemetry.from_env(request_records.Identity("fraud"), env, reader_factory=mock.Mock(side_effect=error)))
                self.assertIn("scoring_telemetry: no export to Application Insights: ", stderr.getvalue())
                self.assertNotIn("InstrumentationKey", stderr.getvalue())


class ThroughTheScoringApp(unittest.TestCase):
    """The real scoring app, middleware and ScoringMetrics in the serving environment."""

    def test_every_signal_is_exported_with_the_prometheus_names_and_attributes(self):
        out, _ = run_drive("in-memory")
        self.assertEqual([status for status, _ in out["answers"]], [200, 200, 400, 200, 404])
        self.assertEqual(out["failures"], 0)
        self.assertEqual(out["resource"]["service.name"], "fraud")
        self.assertEqual(out["resource"]["service.version"], "7")
        self.assertRegex(out["resource"]["service.instance.id"], r"^fraud--v7-0123456789ab-\d+$")
        points = {}
        for point in out["points"]:
            key = (point["name"], tuple(sorted((k, v) for k, v in point["attributes"].items() if k not in IDENTITY)))
            self.assertEqual({k: point["attributes"][k] for k in IDENTITY}, IDENTITY, point)
            self.assertNotIn(key, points, "one point per attribute set")
            points[key] = point
        count = lambda name, **attrs: points[(name, tuple(sorted(attrs.items())))]  # noqa: E731
        self.assertEqual(count("scoring_requests", route="/invocations", status_class="2xx")["value"], 2)
        self.assertEqual(count("scoring_requests", route="/invocations", status_class="4xx")["value"], 1)
        self.assertEqual(count("scoring_requests", route="/ping", status_class="2xx")["value"], 1)
        self.assertEqual(count("scoring_requests", route="other", status_class="4xx")["value"], 1, "unknown paths share one route value")
        invocations = count("scoring_request_duration_seconds", route="/invocations")
        self.assertEqual((invocations["count"], invocations["unit"]), (3, "s"))
        self.assertGreater(invocations["sum"], 0)
        self.assertEqual(count("scoring_request_duration_seconds", route="/ping")["count"], 1)
        rows = count("scoring_request_rows")
        self.assertEqual((rows["count"], rows["sum"]), (2, 8), "3 + 5 rows; the unparsable body is not counted")
        self.assertEqual(count("scoring_requests_in_flight")["value"], 0, "every request ended")
        self.assertEqual(count("scoring_model_load_seconds")["value"], 1.25)
        self.assertEqual(count("scoring_record_failures")["value"], 0)
        self.assertEqual(count("payload_log_dropped", reason="queue_full")["value"], 2)
        for reason in ("store_error", "unreadable", "shutdown"):
            self.assertEqual(count("payload_log_dropped", reason=reason)["value"], 0, "every reason reads 0 before anything happens")
        self.assertEqual(count("payload_log_written")["value"], 3)
        self.assertEqual(out["reasons"][0], out["reasons"][1], "the same reasons as the Prometheus counter")
        self.assertEqual(sorted({name for name, _ in points}), sorted([
            "payload_log_dropped", "payload_log_written", "scoring_model_load_seconds", "scoring_record_failures", "scoring_request_duration_seconds",
            "scoring_request_rows", "scoring_requests", "scoring_requests_in_flight"]))

    def test_a_failing_exporter_changes_no_prediction(self):
        out, stderr = run_drive("failing-exporter")
        self.assertEqual(out["answers"], out["bare"], "the same statuses and bodies as without telemetry")
        self.assertEqual(out["answers"][0][0], 200)
        self.assertRegex(out["answers"][0][1], r'^\{"predictions": \[\d, \d, \d\]\}$')
        self.assertGreaterEqual(out["exports"], 1, "the exporter was called and failed")
        self.assertEqual(out["failures"], 0, "no request's bookkeeping failed")
        self.assertIn("ingestion is down", stderr, "the SDK logs the failure")

    def test_the_real_exporter_signs_in_with_the_managed_identity(self):
        out, _ = run_drive("azure-monitor", {"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION_STRING, "SERVING_IDENTITY_CLIENT_ID": CLIENT_ID,
                                             # Managed identity on loopback (Container Apps sets these two), never the metadata service.
                                             "IDENTITY_ENDPOINT": "http://127.0.0.1:9/msi/token", "IDENTITY_HEADER": "test",
                                             # Unset: the exporter's own usage reports to Microsoft are turned off by default.
                                             "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": None})
        self.assertEqual(out, {"exporter": "AzureMonitorMetricExporter", "credential": "ManagedIdentityCredential",
                               "endpoint": "https://127.0.0.1:9/", "reader": "PeriodicExportingMetricReader", "statsbeat": False})


class FakeAzureMonitor:
    """Application Insights' ingestion (POST /v2.1/track, JSON envelopes, possibly gzip) over TLS with a
    self-signed loopback certificate, and the Container Apps managed identity endpoint
    (GET ?api-version=2019-08-01&resource=&client_id= with X-IDENTITY-HEADER) over loopback HTTP."""

    TOKEN = "fake-monitor-ingestion-token"

    def __init__(self, folder):
        self.envelopes, self.ingestion_headers, self.identity_requests = [], [], []
        self.cert = os.path.join(folder, "cert.pem")
        key = os.path.join(folder, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", self.cert, "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        fake = self

        class JsonHandler(http.server.BaseHTTPRequestHandler):
            def answer(self, document):
                data = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Ingestion(JsonHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                fake.ingestion_headers.append({"path": self.path, "authorization": self.headers.get("Authorization")})
                items = json.loads(body)
                fake.envelopes.extend(items)
                self.answer({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []})

        class Identity(JsonHandler):
            def do_GET(self):
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                fake.identity_requests.append({"query": query, "header": self.headers.get("X-IDENTITY-HEADER")})
                self.answer({"access_token": FakeAzureMonitor.TOKEN, "expires_on": str(int(time.time()) + 3600),
                             "resource": query.get("resource"), "token_type": "Bearer", "client_id": query.get("client_id")})

        self.ingestion = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ingestion)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.ingestion.socket = context.wrap_socket(self.ingestion.socket, server_side=True)
        self.identity = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Identity)
        for server in (self.ingestion, self.identity):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self):
        for server in (self.ingestion, self.identity):
            server.shutdown()
            server.server_close()


class Export(unittest.TestCase):
    """The real Azure Monitor exporter sends the scoring metrics, signed in as the managed identity."""

    def test_a_flush_sends_every_signal_to_ingestion_with_the_managed_identity_token(self):
        with tempfile.TemporaryDirectory() as folder:
            fake = FakeAzureMonitor(folder)
            self.addCleanup(fake.stop)
            ingestion = f"https://127.0.0.1:{fake.ingestion.server_address[1]}/"
            key = "00000000-0000-0000-0000-000000000000"
            out, stderr = run_drive("azure-monitor-export", {
                "APPLICATIONINSIGHTS_CONNECTION_STRING": f"InstrumentationKey={key};IngestionEndpoint={ingestion};LiveEndpoint={ingestion}",
                "SERVING_IDENTITY_CLIENT_ID": CLIENT_ID,
                # What Container Apps sets for a revision with a managed identity.
                "IDENTITY_ENDPOINT": f"http://127.0.0.1:{fake.identity.server_address[1]}/msi/token", "IDENTITY_HEADER": "identity-header-secret",
                # The exporter's HTTP client (requests) trusts the loopback certificate.
                "REQUESTS_CA_BUNDLE": fake.cert,
                # No retry store on disk between runs.
                "APPLICATIONINSIGHTS_OFFLINE_STORAGE": None,
            })
        self.assertTrue(out["flushed"], stderr[-2000:])
        self.assertEqual([a[0] for a in out["answers"]], [200, 200, 400, 200, 404])
        # Signed in as the revision's identity, for Azure Monitor's audience; the token is what ingestion got.
        self.assertGreaterEqual(len(fake.identity_requests), 1)
        first = fake.identity_requests[0]
        self.assertEqual((first["query"].get("client_id"), first["header"]), (CLIENT_ID, "identity-header-secret"))
        # The exporter asks for "https://monitor.azure.com//.default": the resource keeps the trailing slash.
        self.assertEqual(first["query"].get("resource"), "https://monitor.azure.com/")
        self.assertTrue(fake.ingestion_headers, "ingestion was called")
        self.assertEqual({h["path"] for h in fake.ingestion_headers}, {"/v2.1/track"})
        self.assertEqual({h["authorization"] for h in fake.ingestion_headers}, {f"Bearer {FakeAzureMonitor.TOKEN}"})
        # Each envelope a metric of this resource, with the model's attributes.
        metrics = {}
        for envelope in fake.envelopes:
            self.assertEqual((envelope["name"], envelope["iKey"], envelope["data"]["baseType"]), ("Microsoft.ApplicationInsights.Metric", key, "MetricData"))
            self.assertEqual(envelope["tags"].get("ai.cloud.role"), "fraud")
            data = envelope["data"]["baseData"]
            for point in data["metrics"]:
                metrics.setdefault(point["name"], []).append({**data.get("properties", {}), "value": point["value"], "count": point.get("count")})
        self.assertTrue({"scoring_requests", "scoring_request_duration_seconds", "scoring_request_rows", "scoring_model_load_seconds"} <= set(metrics), sorted(metrics))
        requests = {(p["route"], p["status_class"]): p["value"] for p in metrics["scoring_requests"]}
        self.assertEqual(requests[("/invocations", "2xx")], 2)
        self.assertEqual(requests[("/invocations", "4xx")], 1)
        for point in metrics["scoring_requests"]:
            self.assertEqual((point["model"], point["version"], point["revision"]), ("fraud", "7", "fraud--v7-0123456789ab"))
        rows = metrics["scoring_request_rows"][0]
        self.assertEqual((rows["count"], rows["value"]), (2, 8), "two scoring requests of 3 and 5 rows")
        self.assertEqual(metrics["scoring_model_load_seconds"][0]["value"], 1.25)
        self.assertNotIn(FakeAzureMonitor.TOKEN, stderr, "the token is never printed")


if __name__ == "__main__":
    unittest.main()
