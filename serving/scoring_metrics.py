"""The scoring server's Prometheus metrics, served on GET /metrics by request_records.py.

prometheus_client keeps each metric in the process that updates it. With several uvicorn workers
a scrape reaches one of them, so serve_model.py runs prometheus_client's multiprocess mode: it sets
PROMETHEUS_MULTIPROC_DIR to a fresh, empty folder before any worker starts (the library's rule: the
variable is set before prometheus_client is imported, and the folder is wiped between runs), each
worker writes its values to memory-mapped files there, and /metrics adds up every worker's files
(prometheus.github.io/client_python/multiprocess). Without the variable (a factory called by some
other server) the metrics stay in this process.

Every metric is labelled by model, version and revision (request_records.Identity). What
multiprocess mode costs: no process_* or gc collectors, no *_created samples; a gauge names how
its workers combine (in flight: the sum over live workers; model load time: the slowest worker).

The same signals go to Application Insights with OpenTelemetry when the deployment asks for it
(scoring_telemetry.py: each worker exports its own; off, and never failing a request, otherwise).
"""
import os

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess,
)

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
IDENTITY = ("model", "version", "revision")
# A fixed set, so a scan of random paths cannot make a label value per path.
ROUTES = ("/invocations", "/ping", "/health", "/version", "/metrics")
OTHER_ROUTE = "other"

REQUESTS = Counter(
    "scoring_requests", "HTTP requests answered, by route and status class (2xx, 4xx, 5xx).",
    IDENTITY + ("route", "status_class"))
DURATION = Histogram(
    "scoring_request_duration_seconds", "From the request's arrival to the end of its response.",
    IDENTITY + ("route",),
    # MLflow's scoring server answers 504 after MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT (60 s by default).
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
ROWS = Histogram(
    "scoring_request_rows", "Rows in a scoring request to /invocations (when they can be counted).",
    IDENTITY, buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000))
IN_FLIGHT = Gauge(
    "scoring_requests_in_flight", "Requests being answered now.", IDENTITY, multiprocess_mode="livesum")
MODEL_LOAD = Gauge(
    "scoring_model_load_seconds", "How long loading the model took (the slowest worker's).", IDENTITY,
    multiprocess_mode="max")
RECORD_FAILURES = Counter(
    "scoring_record_failures", "Requests whose record or metrics could not be written (the request was answered).",
    IDENTITY)
# The payload log (payload_log.py): what it dropped instead of delaying a request, by reason
# (payload_log.REASONS), and what it wrote.
PAYLOAD_LOG_REASONS = ("queue_full", "store_error", "unreadable", "shutdown")
PAYLOAD_LOG_DROPPED = Counter(
    "payload_log_dropped", "Payload log entries dropped instead of delaying a request, by reason.", IDENTITY + ("reason",))
PAYLOAD_LOG_WRITTEN = Counter(
    "payload_log_written", "Payload log entries written to the model store.", IDENTITY)


def route(path):
    return path if path in ROUTES else OTHER_ROUTE


def status_class(status):
    return f"{status // 100}xx" if isinstance(status, int) and 100 <= status <= 599 else "unknown"


class ScoringMetrics:
    """The metrics of one served model; every method may raise (the caller counts and goes on)."""

    def __init__(self, identity, otel=None):
        self.labels = (identity.model or "", identity.version or "", identity.revision or "")
        # OpenTelemetry's copy of every signal (scoring_telemetry.OtelMetrics, whose methods never raise), or None.
        self.otel = otel if otel is not None else _otel_from_env(identity)
        # Children created now, so the counters read 0 before anything happens; the per-request
        # ones kept, since labels() takes a lock and a lookup on every call.
        RECORD_FAILURES.labels(*self.labels)
        for reason in PAYLOAD_LOG_REASONS:
            PAYLOAD_LOG_DROPPED.labels(*self.labels, reason)
        PAYLOAD_LOG_WRITTEN.labels(*self.labels)
        self._in_flight = IN_FLIGHT.labels(*self.labels)
        self._rows = ROWS.labels(*self.labels)
        self._durations = {name: DURATION.labels(*self.labels, name) for name in ROUTES + (OTHER_ROUTE,)}
        self._requests = {}  # (route, status class) -> child, made on first use

    def started(self):
        if self.otel:
            self.otel.started()
        self._in_flight.inc()

    def finished(self, path, status, seconds, rows_in):
        name, status_name = route(path), status_class(status)
        if self.otel:
            self.otel.finished(name, status_name, seconds, rows_in)
        self._in_flight.dec()
        requests = self._requests.get((name, status_name))
        if requests is None:
            requests = self._requests[(name, status_name)] = REQUESTS.labels(*self.labels, name, status_name)
        requests.inc()
        self._durations[name].observe(seconds)
        if name == "/invocations" and rows_in is not None:
            self._rows.observe(rows_in)

    def record_failed(self):
        if self.otel:
            self.otel.record_failed()
        RECORD_FAILURES.labels(*self.labels).inc()

    def model_loaded(self, seconds):
        if self.otel:
            self.otel.model_loaded(seconds)
        MODEL_LOAD.labels(*self.labels).set(seconds)

    def payload_dropped(self, reason, count):
        if self.otel:
            self.otel.payload_dropped(reason, count)
        PAYLOAD_LOG_DROPPED.labels(*self.labels, reason).inc(count)

    def payload_written(self, count):
        if self.otel:
            self.otel.payload_written(count)
        PAYLOAD_LOG_WRITTEN.labels(*self.labels).inc(count)


def _otel_from_env(identity):
    """scoring_telemetry.from_env, or None when scoring_telemetry.py is not beside this file (never raises)."""
    try:
        from scoring_telemetry import from_env
    except ImportError:
        try:
            from serving.scoring_telemetry import from_env  # imported as a package (the project's tests)
        except ImportError:
            return None
    return from_env(identity)


def exposition():
    """(body, content type) of a scrape: every worker's metrics in multiprocess mode, else this process's."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        # A registry per scrape, as the library's multiprocess guide does.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
