"""A record per request and GET /metrics (request_records.py, scoring_metrics.py).

Against the real thing: serve_model.py from the serving environment install_environment.sh builds
(once for the suite, shared with test_serving_real.py), on the demo model fetched from a real
MLflow server, and on a model whose predict fails; records read from the server's stdout, metrics
parsed with prometheus_client's own parser (in that environment: the project's has no
prometheus_client). In-process, the middleware around MLflow's real app where a failure of its
own bookkeeping has to be provoked, and the pure rules (rows, request ids, error codes)."""
import asyncio
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from unittest import mock

from serving import request_records
from serving.tests.helpers import SERVING_DIR, Server, clean_env, fetched_demo, free_port, serving_venv
from tests.helpers.mlflow_server import shared_server

FAILING_MODEL_CODE = os.path.join(SERVING_DIR, "tests", "models", "failing_model.py")
IDENTITY_ENV = {"SERVING_MODEL_NAME": "fraud", "SERVING_MODEL_VERSION": "7", "SERVING_IMAGE_TAG": "fraud-v7-0123456789ab",
                "CONTAINER_APP_REVISION": "fraud--v7-0123456789ab"}
RECORD_KEYS = ["time", "request_id", "model", "version", "revision", "image_tag", "method", "path", "status",
               "latency_ms", "rows_in", "rows_out", "caller", "error"]
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# Distinctive values that must never reach a record (or, for the token, the server's output at all).
TOKEN = "Bearer tok-Zq81x-never-logged"
PAYLOAD_VALUE = 98765.4321
PARSE_EXPOSITION = """
import json, sys
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))
"""


def installed():
    venv = serving_venv(fetched_demo(shared_server("plain"))["env_dir"])
    if venv["result"].returncode != 0:
        raise AssertionError(f"install_environment.sh failed:\n{venv['result'].stderr[-3000:]}")
    return venv


def serve(python, model_dir, workers=1, extra_env=None, server_class=Server):
    port = free_port()
    command = [python, os.path.join(SERVING_DIR, "serve_model.py"), "--model-dir", model_dir,
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    server = server_class(command, clean_env({**IDENTITY_ENV, **(extra_env or {})}), port, "records")
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


class BrokenStdoutServer(Server):
    """A server whose stdout is a pipe nobody reads (closed): every write there fails."""

    def __init__(self, command, env, port, log_name="server"):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = os.path.join(tempfile.mkdtemp(), f"{log_name}-{port}.log")
        self.log = open(self.log_path, "wb")
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            self.process = subprocess.Popen(command, env=env, stdout=write_end, stderr=self.log, stdin=subprocess.DEVNULL,
                                            start_new_session=True, cwd=tempfile.gettempdir())
        finally:
            os.close(write_end)


def call(method, url, body=None, headers=None, timeout=30):
    """(status, headers with lower-case names, body text) of one request."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read().decode("utf-8")


def score(server, payload, headers=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return call("POST", f"{server.url}/invocations", body, {"Content-Type": "application/json", **(headers or {})})


def record_lines(server):
    with open(server.log_path, encoding="utf-8", errors="replace") as handle:
        return [line for line in handle if line.startswith('{"time"')]


def records_with(server, request_id, timeout=10):
    """The records of one request id, once at least one is there (written just after the response)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [json.loads(line) for line in record_lines(server) if json.loads(line)["request_id"] == request_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def samples(python, server):
    """The samples of a scrape of /metrics: {(name, sorted labels): value}, parsed by prometheus_client."""
    status, headers, text = call("GET", f"{server.url}/metrics")
    assert status == 200, text
    assert headers["content-type"].startswith("text/plain; version="), headers
    parsed = subprocess.run([python, "-c", PARSE_EXPOSITION], input=text, capture_output=True, text=True, check=True)
    return {(name, tuple(sorted(labels.items()))): value for name, labels, value in json.loads(parsed.stdout)}


def sample(scrape, name, **labels):
    labels = {"model": "fraud", "version": "7", "revision": "fraud--v7-0123456789ab", **labels}
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def demo_rows(count):
    with open(os.path.join(SERVING_DIR, "sample-input.json"), encoding="utf-8") as handle:
        split = json.load(handle)["dataframe_split"]
    rows = [list(split["data"][0]) for _ in range(count)]
    rows[0][split["columns"].index("transaction_amount")] = PAYLOAD_VALUE
    return {"dataframe_split": {"columns": split["columns"], "data": rows}}


class DemoModel(unittest.TestCase):
    """The demo model served by serve_model.py with one worker, as the image runs it."""

    @classmethod
    def setUpClass(cls):
        cls.venv = installed()
        cls.server = serve(cls.venv["python"], fetched_demo(shared_server("plain"))["dest"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def only_record(self, request_id):
        found = records_with(self.server, request_id)
        self.assertEqual(len(found), 1, f"one record per request: {found}")
        self.assertEqual(list(found[0]), RECORD_KEYS)
        return found[0]

    def test_a_good_request_is_one_record_with_its_rows_and_the_response_is_mlflows(self):
        status, headers, body = score(self.server, demo_rows(3), {"X-Request-Id": "good-request.1", "Authorization": TOKEN,
                                                                 "X-MS-CLIENT-PRINCIPAL-ID": "00000000-0000-0000-0000-00000000c411"})
        self.assertEqual(status, 200, body)
        self.assertRegex(body, r'^\{"predictions": \[\d, \d, \d\]\}$', "MLflow's own JSON, byte for byte")
        self.assertEqual(headers["x-request-id"], "good-request.1")
        self.assertEqual(sorted(headers), ["connection", "content-length", "content-type", "date", "server", "x-request-id"])
        self.assertEqual(headers["content-length"], str(len(body)))
        record = self.only_record("good-request.1")
        self.assertRegex(record.pop("time"), TIME)
        latency = record.pop("latency_ms")
        self.assertIsInstance(latency, float)
        self.assertGreater(latency, 0)
        self.assertEqual(record, {
            "request_id": "good-request.1", "model": "fraud", "version": "7", "revision": "fraud--v7-0123456789ab",
            "image_tag": "fraud-v7-0123456789ab", "method": "POST", "path": "/invocations", "status": 200,
            "rows_in": 3, "rows_out": 3, "caller": "00000000-0000-0000-0000-00000000c411", "error": None,
        })

    def test_a_bad_json_body_is_mlflows_400_with_its_error_code(self):
        status, headers, body = score(self.server, b'{"dataframe_split": [1, 2,', {"X-Request-Id": "bad-json"})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["error_code"], "BAD_REQUEST")
        record = self.only_record("bad-json")
        self.assertEqual((record["status"], record["error"], record["rows_in"], record["rows_out"], record["caller"]),
                         (400, "BAD_REQUEST", None, None, None))

    def test_an_unknown_route_and_the_probes_are_recorded_by_path(self):
        for method, path, expected in (("GET", "/no/such/route", 404), ("GET", "/ping", 200), ("GET", "/health", 200), ("GET", "/version", 200)):
            with self.subTest(path=path):
                request_id = f"route{path.replace('/', '.')}"
                status, _, _ = call(method, f"{self.server.url}{path}", headers={"X-Request-Id": request_id})
                self.assertEqual(status, expected)
                record = self.only_record(request_id)
                self.assertEqual((record["method"], record["path"], record["status"], record["error"], record["rows_in"]),
                                 (method, path, expected, None, None))

    def test_a_request_id_is_echoed_when_sane_and_generated_otherwise(self):
        for sent in (None, "", "has space", "x" * 129, "ünïcode", "semi;colon"):
            with self.subTest(sent=sent):
                status, headers, _ = call("GET", f"{self.server.url}/ping", headers={} if sent is None else {"X-Request-Id": sent})
                self.assertEqual(status, 200)
                generated = headers["x-request-id"]
                self.assertRegex(generated, r"^[0-9a-f]{32}$", "a new uuid4 hex")
                self.assertNotEqual(generated, sent)
                self.assertEqual(self.only_record(generated)["path"], "/ping")
        longest = "A-z.0_" * 21 + "xy"
        self.assertEqual(len(longest), 128)
        self.assertEqual(call("GET", f"{self.server.url}/ping", headers={"X-Request-Id": longest})[1]["x-request-id"], longest)
        self.only_record(longest)

    def test_no_record_holds_a_payload_value_and_nothing_prints_the_authorization_header(self):
        score(self.server, demo_rows(2), {"X-Request-Id": "secret-carrier", "Authorization": TOKEN})
        score(self.server, {"dataframe_split": {"columns": ["nope"], "data": [[PAYLOAD_VALUE]]}}, {"X-Request-Id": "bad-columns", "Authorization": TOKEN})
        self.assertEqual(self.only_record("bad-columns")["status"], 400)
        self.only_record("secret-carrier")
        lines = "".join(record_lines(self.server))
        self.assertNotIn(str(PAYLOAD_VALUE), lines)
        self.assertNotIn("transaction_amount", lines)
        with open(self.server.log_path, encoding="utf-8", errors="replace") as handle:
            self.assertNotIn("tok-Zq81x", handle.read())

    def test_metrics_count_exactly_what_was_sent(self):
        python = self.venv["python"]
        before = samples(python, self.server)
        score(self.server, demo_rows(3))
        score(self.server, demo_rows(2))
        score(self.server, b"not json")
        call("GET", f"{self.server.url}/no/such/route")
        after = samples(python, self.server)

        def delta(name, **labels):
            return sample(after, name, **labels) - sample(before, name, **labels)

        self.assertEqual(delta("scoring_requests_total", route="/invocations", status_class="2xx"), 2)
        self.assertEqual(delta("scoring_requests_total", route="/invocations", status_class="4xx"), 1)
        self.assertEqual(delta("scoring_requests_total", route="other", status_class="4xx"), 1)
        self.assertEqual(delta("scoring_requests_total", route="/metrics", status_class="2xx"), 1, "the first scrape")
        self.assertEqual(delta("scoring_request_duration_seconds_count", route="/invocations"), 3)
        self.assertEqual(delta("scoring_request_duration_seconds_bucket", route="/invocations", le="+Inf"), 3)
        self.assertEqual(delta("scoring_request_rows_count"), 2, "the bad body has no countable rows")
        self.assertEqual(delta("scoring_request_rows_sum"), 5)
        self.assertEqual(delta("scoring_request_rows_bucket", le="2.0"), 1)
        self.assertEqual(sample(after, "scoring_requests_in_flight"), 1, "the scrape itself")
        self.assertGreater(sample(after, "scoring_model_load_seconds"), 0)
        for reason in ("queue_full", "store_error", "unreadable", "shutdown"):
            self.assertEqual(sample(after, "payload_log_dropped_total", reason=reason), 0)
            self.assertIn(("payload_log_dropped_total", tuple(sorted({"model": "fraud", "version": "7", "revision": "fraud--v7-0123456789ab", "reason": reason}.items()))), after)
        self.assertEqual(sample(after, "payload_log_written_total"), 0, "off: PAYLOAD_LOG_SAMPLE_RATE is not set")
        self.assertEqual(sample(after, "scoring_record_failures_total"), 0)


class FailingModel(unittest.TestCase):
    """A model whose predict raises: MLflow's 500 and 400, and an exception MLflow does not catch."""

    @classmethod
    def setUpClass(cls):
        import mlflow.pyfunc

        cls.venv = installed()
        cls.model = os.path.join(tempfile.mkdtemp(), "failing")
        # A "model from code": the file is saved with the model, so the server needs no test package.
        mlflow.pyfunc.save_model(cls.model, python_model=FAILING_MODEL_CODE, pip_requirements=["mlflow==3.17.2"])

    def test_predict_raising_is_a_500_or_400_with_its_error_code_or_the_exception_type(self):
        server = serve(self.venv["python"], self.model)
        try:
            for x, status, error in ((1, 500, "INTERNAL_ERROR"), (2, 400, "BAD_REQUEST"), (3, 500, "TypeError"), (0, 200, None)):
                with self.subTest(x=x):
                    answer = score(server, {"dataframe_split": {"columns": ["x"], "data": [[x], [PAYLOAD_VALUE]]}}, {"X-Request-Id": f"fail-{x}"})
                    self.assertEqual(answer[0], status, answer[2])
                    self.assertEqual(answer[1]["x-request-id"], f"fail-{x}")
                    (record,) = records_with(server, f"fail-{x}")
                    self.assertEqual((record["status"], record["error"], record["rows_in"]), (status, error, 2))
                    self.assertEqual(record["rows_out"], 2 if status == 200 else None)
            self.assertEqual(score(server, {"dataframe_split": {"columns": ["x"], "data": [[3]]}})[2], "Internal Server Error")
            self.assertNotIn(str(PAYLOAD_VALUE), "".join(record_lines(server)))
            self.assertNotIn("store is down", "".join(record_lines(server)), "never the message text")
        finally:
            server.stop()

    def test_records_that_cannot_be_written_fail_no_request_and_are_counted(self):
        server = serve(self.venv["python"], self.model, server_class=BrokenStdoutServer)
        try:
            before = samples(self.venv["python"], server)
            for _ in range(2):
                status, headers, body = score(server, {"dataframe_split": {"columns": ["x"], "data": [[0], [5]]}}, {"X-Request-Id": "unwritten"})
                self.assertEqual((status, headers["x-request-id"], body), (200, "unwritten", '{"predictions": [0, 0]}'))
            self.assertEqual(call("GET", f"{server.url}/ping")[0], 200)
            after = samples(self.venv["python"], server)
            # The first scrape's record, two scoring requests', the ping's: none could be written.
            self.assertEqual(sample(after, "scoring_record_failures_total") - sample(before, "scoring_record_failures_total"), 4)
            self.assertEqual(sample(after, "scoring_requests_total", route="/invocations", status_class="2xx"), 2)
            self.assertEqual(server.output(tail=None).count("request_records: a request record or its metrics could not be written (BrokenPipeError)"), 1)
        finally:
            server.stop()


class Workers(unittest.TestCase):
    def test_two_workers_write_every_record_to_stdout_and_metrics_add_up_across_them(self):
        venv = installed()
        server = serve(venv["python"], fetched_demo(shared_server("plain"))["dest"], workers=2)
        try:
            for n in range(6):
                self.assertEqual(score(server, demo_rows(1), {"X-Request-Id": f"worker-{n}"})[0], 200)
            for n in range(6):
                (record,) = records_with(server, f"worker-{n}")
                self.assertEqual((record["status"], record["rows_in"], record["rows_out"], record["model"]), (200, 1, 1, "fraud"))
            scrape = samples(venv["python"], server)
            self.assertEqual(sample(scrape, "scoring_requests_total", route="/invocations", status_class="2xx"), 6)
            self.assertEqual(sample(scrape, "scoring_request_rows_sum"), 6)
            self.assertGreater(sample(scrape, "scoring_model_load_seconds"), 0)
            with open(server.log_path, encoding="utf-8", errors="replace") as handle:
                self.assertNotIn('"POST /invocations HTTP/1.1"', handle.read(), "the record replaces uvicorn's access line")
        finally:
            server.stop()


# --- In-process: the middleware around MLflow's real app, where its own failures are provoked.

def asgi_call(app, method, path, body=b"", headers=(), sent=None):
    """Runs one HTTP request through an ASGI app as a server would: (sent messages, the exception it raised or None)."""
    sent, raised = [] if sent is None else sent, []

    async def run():
        done = asyncio.Event()
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            if pending:
                return pending.pop(0)
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done.set()

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
                 "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
        try:
            await app(scope, receive, send)
        except Exception as err:  # what the server would see
            raised.append(err)

    asyncio.run(run())
    return sent, (raised[0] if raised else None)


def without_request_id(messages):
    out = []
    for message in messages:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [h for h in message["headers"] if h[0] != b"x-request-id"]}
        out.append(message)
    return out


class CountingMetrics:
    def __init__(self, fail=False):
        self.fail, self.calls = fail, []

    def __getattr__(self, name):
        def method(*args):
            self.calls.append(name)
            if self.fail and name != "record_failed":
                raise RuntimeError("metrics are broken")
        return method


class InProcess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import mlflow.pyfunc

        folder = os.path.join(tempfile.mkdtemp(), "failing")
        mlflow.pyfunc.save_model(folder, python_model=FAILING_MODEL_CODE, pip_requirements=["mlflow==3.17.2"])
        cls.model = mlflow.pyfunc.load_model(folder)

    def mlflow_app(self):
        from mlflow.pyfunc import scoring_server

        return scoring_server.init(self.model)

    def wrapped(self, app, metrics, write):
        return request_records.RequestRecords(app, request_records.Identity("fraud", "7", "rev", "tag"), metrics=metrics, write=write)

    def requests(self):
        body = lambda x: json.dumps({"dataframe_split": {"columns": ["x"], "data": [[x], [5]]}}).encode()  # noqa: E731
        return [("POST", "/invocations", body(0)), ("POST", "/invocations", body(1)), ("POST", "/invocations", b"{"), ("GET", "/nope", b"")]

    def test_broken_bookkeeping_changes_no_response(self):
        def broken_write(line):
            raise OSError("disk full")

        patches = {
            "metrics and the writer": (),
            "the record's clock": (mock.patch.object(request_records, "_time_text", side_effect=RuntimeError("clock")),),
            "the response's rows": (mock.patch.object(request_records, "rows_out", side_effect=RecursionError),),
            "the request's rows": (mock.patch.object(request_records, "rows_in", side_effect=MemoryError),),
        }
        for name, broken in patches.items():
            with self.subTest(broken=name):
                bare, metrics = self.mlflow_app(), CountingMetrics(fail=True)
                app = self.wrapped(bare, metrics, broken_write)
                for method, path, body in self.requests():
                    headers = [("content-type", "application/json"), ("x-request-id", "same-id")]
                    expected, _ = asgi_call(bare, method, path, body, headers)
                    for patch in broken:
                        patch.start()
                    try:
                        got, raised = asgi_call(app, method, path, body, headers)
                    finally:
                        for patch in broken:
                            patch.stop()
                    self.assertIsNone(raised)
                    self.assertEqual(without_request_id(got), expected)
                self.assertGreaterEqual(app.failures, len(self.requests()))
                self.assertIn("record_failed", metrics.calls)

    def test_a_failed_record_still_ends_the_request_in_the_metrics(self):
        metrics, lines = CountingMetrics(), []
        app = self.wrapped(self.mlflow_app(), metrics, lines.append)
        with mock.patch.object(request_records, "rows_in", side_effect=MemoryError):
            body = json.dumps({"dataframe_split": {"columns": ["x"], "data": [[0]]}}).encode()
            sent, _ = asgi_call(app, "POST", "/invocations", body, [("content-type", "application/json")])
        self.assertEqual(sent[0]["status"], 200)
        self.assertEqual(metrics.calls, ["started", "record_failed", "finished"], "in flight goes down again")
        self.assertEqual(lines, [])

    def test_streaming_passes_through_message_by_message(self):
        from starlette.responses import StreamingResponse

        sent_before_second = []

        async def chunks():
            yield b"first"
            sent_before_second.append([message.get("body") for message in log])
            yield b"second"

        async def streaming_app(scope, receive, send):
            await StreamingResponse(chunks(), media_type="application/json")(scope, receive, send)

        log, lines = [], []
        app = self.wrapped(streaming_app, CountingMetrics(), lines.append)
        _, raised = asgi_call(app, "POST", "/invocations", sent=log)
        self.assertIsNone(raised)
        log = [message.get("body") for message in log]
        self.assertEqual(sent_before_second, [[None, b"first"]], "the first chunk was sent before the second was made")
        self.assertEqual([b for b in log if b], [b"first", b"second"])
        self.assertEqual(json.loads(lines[0])["rows_out"], None)

    def test_an_exception_before_the_response_is_a_500_record_and_still_raised(self):
        async def raising_app(scope, receive, send):
            raise KeyError("secret-key-name")

        lines = []
        app = self.wrapped(raising_app, CountingMetrics(), lines.append)
        sent, raised = asgi_call(app, "GET", "/version", headers=[("x-ms-client-principal-id", "c" * 300)])
        self.assertIsInstance(raised, KeyError, "the server answers it (uvicorn: 500) and logs it")
        self.assertEqual(sent, [])
        record = json.loads(lines[0])
        self.assertEqual((record["status"], record["error"], len(record["caller"])), (500, "KeyError", 256))
        self.assertNotIn("secret-key-name", lines[0])

    def test_without_prometheus_client_records_still_and_metrics_is_the_apps_404(self):
        import io
        import sys

        try:
            import prometheus_client  # noqa: F401
            self.skipTest("this environment has prometheus_client (the project's has not)")
        except ImportError:
            pass
        lines = []
        with mock.patch.object(sys, "path", [SERVING_DIR, *sys.path]), mock.patch("sys.stderr", new_callable=io.StringIO) as stderr:
            app = request_records.RequestRecords(self.mlflow_app(), request_records.Identity("fraud"), write=lines.append)
        self.assertIn("request_records: no /metrics: prometheus_client is not installed in this environment", stderr.getvalue())
        sent, raised = asgi_call(app, "GET", "/metrics")
        self.assertIsNone(raised)
        self.assertEqual(sent[0]["status"], 404)
        self.assertEqual(json.loads(lines[0])["path"], "/metrics")
        self.assertEqual(app.failures, 0)

    def test_lifespan_and_websockets_pass_untouched(self):
        seen = []

        async def app(scope, receive, send):
            seen.append(scope["type"])

        wrapped = self.wrapped(app, CountingMetrics(), lambda line: seen.append(line))
        asyncio.run(wrapped({"type": "lifespan"}, None, None))
        self.assertEqual(seen, ["lifespan"])


class Rules(unittest.TestCase):
    def test_rows_in_for_each_scoring_format(self):
        for body, rows in (
            ({"dataframe_split": {"columns": ["a"], "data": [[1], [2], [3]]}}, 3),
            ({"dataframe_records": [{"a": 1}, {"a": 2}]}, 2),
            ({"instances": [[1], [2], [3], [4]]}, 4),
            ({"instances": {"a": [1, 2], "b": [3, 4]}}, 2),
            ({"inputs": [1, 2, 3, 4, 5]}, 5),
            ({"inputs": {"a": [1, 2, 3]}}, 3),
            ({"inputs": "a text"}, None),
            ({"dataframe_split": {"columns": ["a"]}}, None),
            ({"something": [1]}, None),
            ([1, 2], None),
        ):
            with self.subTest(body=body):
                self.assertEqual(request_records.rows_in(json.dumps(body).encode()), rows)
        self.assertIsNone(request_records.rows_in(b"a,b\n1,2\n"))
        self.assertIsNone(request_records.rows_in(b"\xff\xfe"))

    def test_rows_out_and_error_code(self):
        self.assertEqual(request_records.rows_out(b'{"predictions": [1, 2]}'), 2)
        self.assertEqual(request_records.rows_out(b'{"predictions": {"a": [1, 2, 3]}}'), 3)
        self.assertIsNone(request_records.rows_out(b'{"choices": []}'))
        self.assertEqual(request_records.error_code(b'{"error_code": "BAD_REQUEST", "message": "x"}'), "BAD_REQUEST")
        for body in (b'{"error_code": "bad request text"}', b'{"error_code": 400}', b'{"detail": "Not Found"}', b"Internal Server Error"):
            with self.subTest(body=body):
                self.assertIsNone(request_records.error_code(body))

    def test_request_ids(self):
        self.assertEqual(request_records.request_id(b"abc-DEF_1.2"), "abc-DEF_1.2")
        for bad in (None, b"", b"a b", b"x" * 129, "é".encode(), b"a/b"):
            with self.subTest(bad=bad):
                self.assertRegex(request_records.request_id(bad), r"^[0-9a-f]{32}$")

    def test_made_request_ids_differ(self):
        made = {request_records.request_id(None) for _ in range(1000)}
        self.assertEqual(len(made), 1000)

    def test_the_time_is_utc_iso_8601_with_milliseconds_cut_not_rounded(self):
        # 1796212800 is 2026-12-02T12:00:00Z; the second's text is reused, so change seconds both ways.
        second = 1796212800 * 10**9
        for ns, text in ((second + 123_456_789, "2026-12-02T12:00:00.123Z"), (second + 999_999_999, "2026-12-02T12:00:00.999Z"),
                         (second + 61 * 10**9, "2026-12-02T12:01:01.000Z"), (second + 1_000_000, "2026-12-02T12:00:00.001Z"),
                         (999_999, "1970-01-01T00:00:00.000Z")):
            with self.subTest(ns=ns):
                self.assertEqual(request_records._time_text(ns), text)

    def test_identity_from_the_environment(self):
        identity = request_records.Identity.from_env({**IDENTITY_ENV, "SERVING_IMAGE_TAG": ""})
        self.assertEqual((identity.model, identity.version, identity.revision, identity.image_tag), ("fraud", "7", "fraud--v7-0123456789ab", None))


if __name__ == "__main__":
    unittest.main()
