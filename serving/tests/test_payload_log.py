"""The payload log (payload_log.py) against Azurite and the real MLflow scoring app.

Against the real thing: serve_model.py from the serving environment install_environment.sh builds,
on the demo model fetched from a real MLflow server, writing to Azurite (started here on loopback,
in memory, and stopped after); blobs read back with azure-storage-blob. In-process: sampling, the
deny-list across MLflow's input formats, the shutdown budget with a sink that hangs, and the
variables' errors."""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from serving import payload_log
from serving.request_records import Identity
from serving.tests.helpers import PROJECT_DIR, SERVING_DIR, fetched_demo, free_port, run_script
from serving.tests.test_request_records import IDENTITY_ENV, call, installed, sample, samples, score, serve
from tests.helpers.mlflow_server import shared_server

ACCOUNT = "devstoreaccount1"
# Azurite's well-known development account key (public, documented; not a secret).
EMULATOR_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DENIED = ["latitude", "longitude"]
MARKER = 4242.4242  # only ever in a denied column
LINE_KEYS = ["time", "request_id", "model", "version", "revision", "status", "inputs", "outputs"]
BLOB_NAME = re.compile(r"^fraud/7/date=(\d{4}-\d\d-\d\d)/hour=(\d\d)/fraud--v7-0123456789ab-(\d+)-[0-9a-f]{8}\d{6}\.jsonl$")


def node():
    found = shutil.which("node")
    return found or "/root/.cache/mlflow-platform/node-v24.22.3/bin/node"


def connection_string(port):
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={EMULATOR_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


class Azurite:
    """Azurite's blob service on a free loopback port, in memory, as a process group."""

    def __init__(self):
        self.port = free_port()
        self.process = subprocess.Popen(
            [node(), os.path.join(PROJECT_DIR, "node_modules", "azurite", "dist", "src", "blob", "main.js"),
             "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--inMemoryPersistence", "--silent",
             "--disableTelemetry", "--skipApiVersionCheck"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise AssertionError("Azurite did not start")
                time.sleep(0.1)
        from azure.storage.blob import BlobServiceClient

        self.connection_string = connection_string(self.port)
        self.service = BlobServiceClient.from_connection_string(self.connection_string)
        self.container = self.service.create_container("payloads")

    def blobs(self):
        """{name: bytes} of every blob in payloads."""
        return {b.name: self.container.download_blob(b.name).readall() for b in self.container.list_blobs()}

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def rows(count):
    with open(os.path.join(SERVING_DIR, "sample-input.json"), encoding="utf-8") as handle:
        split = json.load(handle)["dataframe_split"]
    data = [list(split["data"][0]) for _ in range(count)]
    for n, row in enumerate(data):
        row[split["columns"].index("latitude")] = MARKER
        row[split["columns"].index("age")] = 20 + n
    return {"dataframe_split": {"columns": split["columns"], "data": data}}, split["columns"]


def payload_env(connection, **extra):
    return {"PAYLOAD_LOG_SAMPLE_RATE": "1", "PAYLOAD_LOG_EXCLUDE_COLUMNS": json.dumps(DENIED),
            "PAYLOAD_LOG_CONNECTION_STRING": connection, **{k: str(v) for k, v in extra.items()}}


def lines_of(blobs):
    return [json.loads(line) for data in blobs.values() for line in data.decode("utf-8").splitlines()]


class RealServer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.venv = installed()
        cls.model_dir = fetched_demo(shared_server("plain"))["dest"]

    def setUp(self):
        self.azurite = Azurite()
        self.addCleanup(self.azurite.stop)

    def sigterm(self, server, timeout=60):
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=timeout)
        # uvicorn re-raises the signal once it has shut down gracefully: -15 here, 0 as a
        # container's PID 1, which ignores it (test_serving_real.py runs that case).
        self.assertIn(code, (0, -signal.SIGTERM), server.output())
        self.assertIn("Application shutdown complete", server.output())

    def check_sigterm_loses_nothing(self, workers):
        # A flush interval longer than the test: every line is still queued when SIGTERM comes.
        server = serve(self.venv["python"], self.model_dir, workers=workers,
                       extra_env=payload_env(self.azurite.connection_string, PAYLOAD_LOG_FLUSH_SECONDS=600))
        self.addCleanup(server.stop)
        sent = {}
        for n in range(12):
            body, columns = rows(1 + n % 3)
            status, headers, answer = score(server, body, {"X-Request-Id": f"sig-{workers}-{n}"})
            self.assertEqual(status, 200, answer)
            sent[f"sig-{workers}-{n}"] = (body, json.loads(answer)["predictions"])
        self.assertEqual(self.azurite.blobs(), {}, "nothing written before the flush interval or SIGTERM")
        self.sigterm(server)
        blobs = self.azurite.blobs()
        found = lines_of(blobs)
        self.assertEqual(sorted(line["request_id"] for line in found), sorted(sent), "every request, once")
        for name in blobs:
            match = BLOB_NAME.match(name)
            self.assertIsNotNone(match, name)
        for line in found:
            self.assertEqual(list(line), LINE_KEYS)
            body, predictions = sent[line["request_id"]]
            self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertTrue(any(n.startswith(f"fraud/7/date={line['time'][:10]}/hour={line['time'][11:13]}/") for n in blobs))
            self.assertEqual((line["model"], line["version"], line["revision"], line["status"]), ("fraud", "7", "fraud--v7-0123456789ab", 200))
            kept = [c for c in columns if c not in DENIED]
            self.assertEqual(line["inputs"], [{c: v for c, v in zip(columns, row) if c in kept} for row in body["dataframe_split"]["data"]])
            self.assertEqual(line["outputs"], predictions)
        everything = b"".join(blobs.values()).decode("utf-8")
        for denied in DENIED:
            self.assertNotIn(denied, everything)
        self.assertNotIn(str(MARKER), everything)
        with open(server.log_path, encoding="utf-8", errors="replace") as handle:
            output = handle.read()
        self.assertEqual(output.count("payload_log: logging 1 of requests to the connection string's account (Azurite), container payloads, without columns ['latitude', 'longitude']"), workers)
        self.assertNotIn(EMULATOR_KEY, output, "the connection string is never printed")
        return blobs

    def test_sigterm_of_the_real_server_loses_nothing_one_worker(self):
        blobs = self.check_sigterm_loses_nothing(1)
        self.assertEqual(len({BLOB_NAME.match(n).group(3) for n in blobs}), 1, "one process wrote")

    def test_sigterm_of_the_real_server_loses_nothing_two_workers(self):
        self.check_sigterm_loses_nothing(2)

    def test_drift_reads_what_the_real_server_logged(self):
        # The payload log as the real scoring server wrote it to Azurite, laid out as npm run drift
        # and the drift job download it (payloads/<blob name>), then the same report they compute.
        from serving import drift
        blobs = self.check_sigterm_loses_nothing(1)
        lines = lines_of(blobs)
        logged_rows = [row for line in lines for row in line["inputs"]]
        latest = max(line["time"] for line in lines)
        end = drift.iso(drift.parse_time(latest).replace(minute=0, second=0, microsecond=0) + drift.timedelta(hours=1))

        def report_against(baseline_rows):
            with tempfile.TemporaryDirectory() as tmp:
                for name, data in blobs.items():
                    target = os.path.join(tmp, "payloads", *name.split("/"))
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "wb") as handle:
                        handle.write(data)
                baseline = os.path.join(tmp, "baseline.json")
                with open(baseline, "w", encoding="utf-8") as handle:
                    json.dump(baseline_rows, handle)
                return drift.drift_report(os.path.join(tmp, "payloads"), "fraud", "7", baseline, window="2h", window_end=end)

        # A baseline like the traffic (with the denied columns, as a training set has them): no drift.
        same = report_against([{**row, "latitude": 1.0, "longitude": 2.0} for row in logged_rows])
        self.assertEqual((same["requests"], same["rows"], same["skipped_lines"]), (12, sum(1 + n % 3 for n in range(12)), 0), "every row of every request")
        by_name = {f["feature"]: f for f in same["features"]}
        for denied in DENIED:
            self.assertEqual(by_name[denied]["note"], "not in the logged inputs (deny-listed, or no longer sent)")
        self.assertEqual((by_name["age"]["kind"], by_name["age"]["statistic"], by_name["age"]["level"]), ("numeric", "psi", "stable"))
        self.assertEqual((same["extra_features"], same["status"]), ([], "ok"))
        # The same traffic against a baseline 30 years older: age drifted, and only age.
        older = report_against([{**row, "age": row["age"] + 30} for row in logged_rows])
        self.assertEqual((older["drifted_features"], older["status"]), (["age"], "drift"))

    def test_lines_are_written_while_serving_and_counted(self):
        server = serve(self.venv["python"], self.model_dir,
                       extra_env=payload_env(self.azurite.connection_string, PAYLOAD_LOG_FLUSH_SECONDS=0.2))
        self.addCleanup(server.stop)
        for n in range(3):
            self.assertEqual(score(server, rows(2)[0], {"X-Request-Id": f"live-{n}"})[0], 200)
        self.assertEqual(score(server, b"not json")[0], 400)
        deadline = time.monotonic() + 20
        while len(lines_of(self.azurite.blobs())) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        found = lines_of(self.azurite.blobs())
        self.assertEqual(sorted(line["request_id"] for line in found), ["live-0", "live-1", "live-2"], "written without a SIGTERM")
        scrape = samples(self.venv["python"], server)
        self.assertEqual(sample(scrape, "payload_log_written_total"), 3)
        self.assertEqual(sample(scrape, "payload_log_dropped_total", reason="unreadable"), 1, "the body that is not JSON")

    def test_predictions_are_unaffected_when_the_store_is_down_and_drops_are_counted(self):
        # The same model served without a payload log, and with one whose store refuses connections.
        plain = serve(self.venv["python"], self.model_dir)
        self.addCleanup(plain.stop)
        down = serve(self.venv["python"], self.model_dir,
                     extra_env=payload_env(connection_string(free_port()), PAYLOAD_LOG_FLUSH_SECONDS=0.1))
        self.addCleanup(down.stop)
        for n in range(8):
            body = rows(1 + n % 4)[0]
            expected = score(plain, body, {"X-Request-Id": f"down-{n}"})
            got = score(down, body, {"X-Request-Id": f"down-{n}"})
            self.assertEqual((got[0], got[2], got[1]["x-request-id"]), (expected[0], expected[2], expected[1]["x-request-id"]))
        self.assertEqual(score(down, b'{"dataframe_split": [1,')[0], 400)
        deadline = time.monotonic() + 60
        while True:
            scrape = samples(self.venv["python"], down)
            dropped = {r: sample(scrape, "payload_log_dropped_total", reason=r) for r in payload_log.REASONS}
            if dropped["store_error"] >= 8 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(dropped, {"queue_full": 0, "store_error": 8, "unreadable": 1, "shutdown": 0})
        self.assertEqual(sample(scrape, "payload_log_written_total"), 0)
        self.assertEqual(sample(scrape, "scoring_record_failures_total"), 0)
        self.assertEqual(sample(scrape, "scoring_requests_total", route="/invocations", status_class="2xx"), 8)
        # All of the output: the access log of later requests can push the one report out of a tail.
        self.assertEqual(down.output(tail=None).count("payload_log: a batch could not be written"), 1)
        # SIGTERM with a store that is down still exits 0 within the budget.
        started = time.monotonic()
        self.sigterm(down)
        self.assertLess(time.monotonic() - started, 30)

    def test_a_full_queue_drops_instead_of_waiting(self):
        # A queue of 1 KiB holds no line of 30 rows: each is dropped as queue_full, the answer is the same.
        server = serve(self.venv["python"], self.model_dir,
                       extra_env=payload_env(self.azurite.connection_string, PAYLOAD_LOG_QUEUE_BYTES=1024))
        self.addCleanup(server.stop)
        for _ in range(3):
            self.assertEqual(score(server, rows(30)[0])[0], 200)
        scrape = samples(self.venv["python"], server)
        self.assertEqual(sample(scrape, "payload_log_dropped_total", reason="queue_full"), 3)
        self.sigterm(server)
        self.assertEqual(self.azurite.blobs(), {})

    def test_a_bad_variable_stops_the_server_naming_it(self):
        for env, message in (
            ({"PAYLOAD_LOG_SAMPLE_RATE": "1.5", "PAYLOAD_LOG_ACCOUNT_URL": "https://x.blob.core.windows.net"},
             "serve_model: PAYLOAD_LOG_SAMPLE_RATE = '1.5' must be a number from 0 to 1"),
            ({"PAYLOAD_LOG_SAMPLE_RATE": "0.5"}, "serve_model: PAYLOAD_LOG_SAMPLE_RATE is set but PAYLOAD_LOG_ACCOUNT_URL is not"),
            ({"PAYLOAD_LOG_SAMPLE_RATE": "0.5", "PAYLOAD_LOG_ACCOUNT_URL": "https://x.blob.core.windows.net", "PAYLOAD_LOG_EXCLUDE_COLUMNS": "email"},
             'serve_model: PAYLOAD_LOG_EXCLUDE_COLUMNS must be a JSON list of column names'),
            ({**payload_env("UseDevelopmentStorage=true"), "PAYLOAD_LOG_EXCLUDE_COLUMNS": '["latitude", "lattitude"]', "SERVING_MODEL_NAME": "fraud"},
             "serve_model: PAYLOAD_LOG_EXCLUDE_COLUMNS (mlflow-platform:models[model fraud].payloadLog.excludeColumns) names lattitude, "
             "which is not an input column of this model version (its signature's inputs: age, credit_card_balance,"),
        ):
            with self.subTest(env=env):
                result = run_script("serve_model.py", ["--model-dir", self.model_dir, "--port", str(free_port())], env, python=self.venv["python"])
                self.assertEqual(result.returncode, 1, result.stderr)
                self.assertIn(message, result.stderr)


# --- In-process.

class MemorySink:
    def __init__(self, fail=False, hang=None):
        self.blobs, self.fail, self.hang = {}, fail, hang

    def write(self, name, data):
        if self.hang is not None:
            self.hang.wait()
        if self.fail:
            raise ConnectionError("store is down")
        self.blobs[name] = data


def settings(**overrides):
    values = {"rate": 1.0, "exclude": ["email"], "connection_string": "unused", "flush_seconds": 600, "shutdown_seconds": 2}
    values.update(overrides)
    return payload_log.Settings(**values)


class InProcess(unittest.TestCase):
    def make(self, sink, **overrides):
        drops = []
        rng = overrides.pop("rng", random.random)
        log = payload_log.PayloadLog(settings(**overrides), Identity("fraud", "7", "rev-1"), sink=sink,
                                     on_dropped=lambda reason, n: drops.append((reason, n)), rng=rng)
        self.addCleanup(log.close, 0)
        return log, drops

    def test_the_sample_rate_is_respected(self):
        for rate in (0.1, 0.5, 0.9):
            with self.subTest(rate=rate):
                log, _ = self.make(MemorySink(), rate=rate)
                hits = sum(log.sampled() for _ in range(20000))
                # Binomial: 20,000 draws, five standard deviations at most.
                sigma = (20000 * rate * (1 - rate)) ** 0.5
                self.assertLess(abs(hits - 20000 * rate), 5 * sigma)
        log, _ = self.make(MemorySink(), rate=1.0, rng=lambda: 0.999999)
        self.assertTrue(all(log.sampled() for _ in range(100)))

    def test_denied_columns_are_removed_in_every_format(self):
        exclude = frozenset(["email"])
        expected = [{"a": 1}, {"a": 2}]
        for request in (
            {"dataframe_split": {"columns": ["a", "email"], "data": [[1, "x@y"], [2, "z@y"]]}},
            {"dataframe_records": [{"a": 1, "email": "x@y"}, {"a": 2, "email": "z@y"}]},
            {"instances": [{"a": 1, "email": "x@y"}, {"a": 2, "email": "z@y"}]},
            {"inputs": {"a": [1, 2], "email": ["x@y", "z@y"]}},
        ):
            with self.subTest(request=list(request)):
                self.assertEqual(payload_log.input_rows(request, exclude), expected)
        self.assertEqual(payload_log.input_rows({"inputs": {"a": 1, "email": "x"}}, exclude), [{"a": 1}])
        self.assertEqual(payload_log.input_rows({"instances": [[1, 2]]}), [{"input": [1, 2]}], "unnamed, no deny-list")
        for unreadable in ({"instances": [[1, 2]]}, {"dataframe_split": {"data": [[1]]}}, {"inputs": "text"}, {"other": 1}, None,
                           {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}, {"inputs": {"a": [1], "email": [1, 2]}}):
            with self.subTest(unreadable=unreadable):
                with self.assertRaises(payload_log.Unreadable):
                    payload_log.input_rows(unreadable, exclude)

    def test_outputs(self):
        self.assertEqual(payload_log.output_rows({"predictions": [0, 1]}), [0, 1])
        self.assertEqual(payload_log.output_rows({"predictions": {"p": [0.1, 0.9], "label": ["a", "b"]}}), [{"p": 0.1, "label": "a"}, {"p": 0.9, "label": "b"}])
        self.assertEqual(payload_log.output_rows(None), [])

    def test_lines_are_grouped_by_hour_and_never_hold_a_denied_value(self):
        sink = MemorySink()
        log, drops = self.make(sink)
        request = {"dataframe_records": [{"a": 1, "email": "secret@example.org"}]}
        log.offer("2026-12-02T07:59:59.999Z", "r1", 200, request, {"predictions": [1]})
        log.offer("2026-12-02T08:00:00.000Z", "r2", 200, request, {"predictions": [0]})
        log.offer("2026-12-02T08:00:01.000Z", "r3", 400, request, None)
        log.offer("2026-12-02T08:00:02.000Z", "r4", 400, None, None)
        log.close()
        self.assertEqual(sorted(n.split("/rev-1-")[0] for n in sink.blobs), ["fraud/7/date=2026-12-02/hour=07", "fraud/7/date=2026-12-02/hour=08"])
        lines = lines_of(sink.blobs)
        self.assertEqual([(line["request_id"], line["outputs"]) for line in sorted(lines, key=lambda x: x["request_id"])],
                         [("r1", [1]), ("r2", [0]), ("r3", [])])
        self.assertNotIn(b"secret@example.org", b"".join(sink.blobs.values()))
        self.assertEqual(drops, [("unreadable", 1)])
        self.assertEqual(log.written, 3)

    def test_a_hanging_store_costs_the_shutdown_budget_and_no_more(self):
        hang = threading.Event()
        self.addCleanup(hang.set)
        log, drops = self.make(MemorySink(hang=hang), flush_seconds=0.01, shutdown_seconds=0.5)
        for n in range(5):
            log.offer("2026-12-02T08:00:00.000Z", f"r{n}", 200, {"inputs": {"a": [n]}}, {"predictions": [n]})
            time.sleep(0.02)
        started = time.monotonic()
        log.close()
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual(drops, [("shutdown", 5)])
        log.offer("2026-12-02T08:00:00.000Z", "late", 200, {"inputs": {"a": [1]}}, {"predictions": [1]})
        self.assertEqual(drops[-1], ("shutdown", 1), "after close nothing is queued")

    def test_a_failing_store_counts_store_errors(self):
        log, drops = self.make(MemorySink(fail=True), flush_seconds=0.01)
        log.offer("2026-12-02T08:00:00.000Z", "r", 200, {"inputs": {"a": [1, 2]}}, {"predictions": [1, 2]})
        log.close()
        self.assertEqual(drops, [("store_error", 1)])


class Variables(unittest.TestCase):
    def test_off_when_unset_or_zero(self):
        self.assertIsNone(payload_log.settings_from_env({}))
        self.assertIsNone(payload_log.settings_from_env({"PAYLOAD_LOG_SAMPLE_RATE": "0", "PAYLOAD_LOG_ACCOUNT_URL": "https://a.blob.core.windows.net"}))

    def test_settings(self):
        found = payload_log.settings_from_env({"PAYLOAD_LOG_SAMPLE_RATE": "0.25", "PAYLOAD_LOG_ACCOUNT_URL": "https://a.blob.core.windows.net",
                                                "PAYLOAD_LOG_EXCLUDE_COLUMNS": '["email", "iban"]', "PAYLOAD_LOG_CLIENT_ID": "cid"})
        self.assertEqual((found.rate, found.exclude, found.container, found.client_id), (0.25, frozenset(["email", "iban"]), "payloads", "cid"))

    def test_bad_values_name_the_variable(self):
        url = {"PAYLOAD_LOG_ACCOUNT_URL": "https://a.blob.core.windows.net"}
        for env, message in (
            ({"PAYLOAD_LOG_SAMPLE_RATE": "-0.1", **url}, "PAYLOAD_LOG_SAMPLE_RATE = '-0.1' must be a number from 0 to 1"),
            ({"PAYLOAD_LOG_SAMPLE_RATE": "nan", **url}, "PAYLOAD_LOG_SAMPLE_RATE = 'nan' must be a number from 0 to 1"),
            ({"PAYLOAD_LOG_SAMPLE_RATE": "half", **url}, "PAYLOAD_LOG_SAMPLE_RATE = 'half' must be a number from 0 to 1"),
            ({"PAYLOAD_LOG_SAMPLE_RATE": "1", "PAYLOAD_LOG_EXCLUDE_COLUMNS": '[""]', **url}, "PAYLOAD_LOG_EXCLUDE_COLUMNS must be a JSON list"),
            ({"PAYLOAD_LOG_SAMPLE_RATE": "1", "PAYLOAD_LOG_ACCOUNT_URL": "http://a.blob.core.windows.net"}, "must be an https:// blob endpoint"),
            ({"PAYLOAD_LOG_SAMPLE_RATE": "1", "PAYLOAD_LOG_QUEUE_BYTES": "1", **url}, "PAYLOAD_LOG_QUEUE_BYTES = '1' must be a number from 1024"),
        ):
            with self.subTest(env=env):
                with self.assertRaises(payload_log.PayloadLogConfigError) as caught:
                    payload_log.settings_from_env(env)
                self.assertIn(message, str(caught.exception))


if __name__ == "__main__":
    unittest.main()
