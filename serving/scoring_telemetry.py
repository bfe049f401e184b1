"""The scoring metrics exported with OpenTelemetry to Application Insights (issue 21).

The same signals as scoring_metrics.py's Prometheus metrics, under the same names and attributes
(model, version, revision; route and status_class on requests), recorded from the same calls
(ScoringMetrics methods). On only when the deployment sets both

    APPLICATIONINSIGHTS_CONNECTION_STRING  the Application Insights connection string (endpoint and
                                           resource id, no key: local auth is off), from a Container
                                           Apps secret at run time, never in the image;
    SERVING_IDENTITY_CLIENT_ID             the client id of the revision's user-assigned identity, which
                                           holds Monitoring Metrics Publisher on the resource.

Not AZURE_CLIENT_ID: serving containers refuse AZURE_CLIENT* names (components/serving/environment.ts
REGISTRY_VARIABLE), and that name would steer every Azure SDK credential in the process.

Either unset: no provider, nothing exported, nothing fails. Export runs on the SDK's own thread
(PeriodicExportingMetricReader, every OTEL_METRIC_EXPORT_INTERVAL ms, 60000 by default): a failing
export is logged by the SDK and never reaches a request; a failing instrument call is swallowed
here. Each server worker is its own process with its own provider and exports its own points
(OpenTelemetry needs no multiprocess mode: Application Insights adds the workers' points up).
The provider flushes on interpreter exit (shutdown_on_exit).

The Container Apps managed OpenTelemetry agent does not carry metrics to Application Insights
(learn.microsoft.com/azure/container-apps/opentelemetry-agents), hence the exporter in-process.
"""
import os
import sys

CONNECTION_STRING_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
CLIENT_ID_ENV = "SERVING_IDENTITY_CLIENT_ID"
METER_NAME = "mlflow_platform.scoring"
# The same bucket boundaries as the Prometheus histograms (Azure Monitor itself keeps count, sum, min, max).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# scoring_metrics.PAYLOAD_LOG_REASONS (not imported: that module needs prometheus_client).
PAYLOAD_LOG_REASONS = ("queue_full", "store_error", "unreadable", "shutdown")
ROWS_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000, 100000)


def _warn(text):
    try:
        print(f"scoring_telemetry: {text}", file=sys.stderr, flush=True)
    except Exception:
        pass


class OtelMetrics:
    """The instruments of one served model on `meter_provider`; no method ever raises."""

    def __init__(self, identity, meter_provider):
        self.provider = meter_provider
        self.attributes = {"model": identity.model or "", "version": identity.version or "", "revision": identity.revision or ""}
        meter = meter_provider.get_meter(METER_NAME)
        # Prometheus names a counter's sample <name>_total; here the instrument keeps the bare name.
        self.requests = meter.create_counter(
            "scoring_requests", unit="{request}", description="HTTP requests answered, by route and status class (2xx, 4xx, 5xx).")
        self.duration = meter.create_histogram(
            "scoring_request_duration_seconds", unit="s", description="From the request's arrival to the end of its response.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        self.rows = meter.create_histogram(
            "scoring_request_rows", unit="{row}", description="Rows in a scoring request to /invocations (when they can be counted).",
            explicit_bucket_boundaries_advisory=ROWS_BUCKETS)
        self.in_flight = meter.create_up_down_counter(
            "scoring_requests_in_flight", unit="{request}", description="Requests being answered now.")
        self.model_load = meter.create_gauge(
            "scoring_model_load_seconds", unit="s", description="How long loading the model took (this worker's).")
        self.record_failures = meter.create_counter(
            "scoring_record_failures", unit="{request}",
            description="Requests whose record or metrics could not be written (the request was answered).")
        self.payload_log_dropped = meter.create_counter(
            "payload_log_dropped", unit="{entry}", description="Payload log entries dropped instead of delaying a request, by reason.")
        self.payload_log_written = meter.create_counter(
            "payload_log_written", unit="{entry}", description="Payload log entries written to the model store.")
        # Zero points now, as the Prometheus children: the counters exist before anything happens.
        self._safely(self.record_failures.add, 0, self.attributes)
        for reason in PAYLOAD_LOG_REASONS:
            self._safely(self.payload_log_dropped.add, 0, {**self.attributes, "reason": reason})
        self._safely(self.payload_log_written.add, 0, self.attributes)
        self.failed = 0

    def _safely(self, call, *args):
        try:
            call(*args)
        except Exception as err:
            self.failed += 1
            if self.failed == 1:
                _warn(f"an OpenTelemetry instrument failed ({type(err).__name__}); further failures are not reported")

    def started(self):
        self._safely(self.in_flight.add, 1, self.attributes)

    def finished(self, route, status_class, seconds, rows_in):
        self._safely(self.in_flight.add, -1, self.attributes)
        self._safely(self.requests.add, 1, {**self.attributes, "route": route, "status_class": status_class})
        self._safely(self.duration.record, seconds, {**self.attributes, "route": route})
        if route == "/invocations" and rows_in is not None:
            self._safely(self.rows.record, rows_in, self.attributes)

    def record_failed(self):
        self._safely(self.record_failures.add, 1, self.attributes)

    def model_loaded(self, seconds):
        self._safely(self.model_load.set, seconds, self.attributes)

    def payload_dropped(self, reason, count):
        self._safely(self.payload_log_dropped.add, count, {**self.attributes, "reason": reason})

    def payload_written(self, count):
        self._safely(self.payload_log_written.add, count, self.attributes)


def azure_monitor_reader(connection_string, client_id):
    """A PeriodicExportingMetricReader of an AzureMonitorMetricExporter signed in as the managed identity."""
    from azure.identity import ManagedIdentityCredential
    from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    # The exporter also reports its own usage ("statsbeat") to Microsoft unless told not to
    # (azure-monitor-opentelemetry-exporter statsbeat/_state.py reads this variable on each check);
    # only this stack's metrics leave the container. An operator's own setting wins.
    os.environ.setdefault("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    # credential= is the exporter's Entra ID sign-in (Application Insights with local auth off);
    # the ingestion token's audience comes from the connection string.
    exporter = AzureMonitorMetricExporter(connection_string=connection_string, credential=ManagedIdentityCredential(client_id=client_id))
    return PeriodicExportingMetricReader(exporter)


def meter_provider(readers, identity):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource

    # service.* become the cloud role (name) and role instance in Application Insights.
    resource = Resource.create({
        "service.name": identity.model or "mlflow-scoring",
        "service.version": identity.version or "",
        "service.instance.id": f"{identity.revision or 'local'}-{os.getpid()}",
    })
    return MeterProvider(metric_readers=readers, resource=resource)


def from_env(identity, env=None, reader_factory=azure_monitor_reader):
    """OtelMetrics exporting to Application Insights when both variables are set; else None.

    Never raises: a missing package or a bad connection string is one line on stderr and no export.
    """
    env = os.environ if env is None else env
    connection_string = (env.get(CONNECTION_STRING_ENV) or "").strip()
    client_id = (env.get(CLIENT_ID_ENV) or "").strip()
    if not connection_string or not client_id:
        if connection_string or client_id:
            missing = CLIENT_ID_ENV if connection_string else CONNECTION_STRING_ENV
            _warn(f"no export to Application Insights: {missing} is not set")
        return None
    try:
        reader = reader_factory(connection_string, client_id)
        metrics = OtelMetrics(identity, meter_provider([reader], identity))
        metrics.reader = reader
        return metrics
    except ImportError as err:
        _warn(f"no export to Application Insights: {err.name or 'a package'} is not installed in this environment")
    except Exception as err:  # e.g. a malformed connection string: the exporter's ValueError (its text not echoed)
        _warn(f"no export to Application Insights: {type(err).__name__} while setting up the exporter")
    return None
