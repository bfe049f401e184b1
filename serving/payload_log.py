"""The payload log ("inference table"): a sampled share of scoring requests and their predictions,
written as JSON Lines to the model store's `payloads` container by a background thread that never
blocks or fails a request.

A line (one per sampled request to /invocations; deny-listed input columns removed before it is queued):

    {"time": "2026-12-02T12:00:00.123Z", "request_id": "…", "model": "fraud", "version": "4",
     "revision": "fraud--v4", "status": 200, "inputs": [{"amount": 12.5, …}, …], "outputs": [0, …]}

Blobs: `<model>/<version>/date=YYYY-MM-DD/hour=HH/<revision>-<pid>-<seq>.jsonl` (UTC, from each
line's time), one block blob per partition per flush. `<seq>` is a random token drawn once per
process followed by a counter: two replicas of a revision both run uvicorn as PID 1, so pid and a
counter alone would collide. A blob is never overwritten (overwrite=False); a 409 on a retry of
our own upload means the first attempt landed.

Configured by the deployment, per revision (off when PAYLOAD_LOG_SAMPLE_RATE is unset or 0):

    PAYLOAD_LOG_SAMPLE_RATE       share of requests logged, 0-1
    PAYLOAD_LOG_EXCLUDE_COLUMNS   JSON list of input columns never logged (personal data)
    PAYLOAD_LOG_ACCOUNT_URL       https://<account>.blob.core.windows.net (Entra: managed identity)
    PAYLOAD_LOG_CLIENT_ID         the user-assigned identity's client id (unset: DefaultAzureCredential)
    PAYLOAD_LOG_CONTAINER         default "payloads"
    PAYLOAD_LOG_CONNECTION_STRING tests against Azurite only; never set by the deployment

Tunables (defaults in brackets): PAYLOAD_LOG_QUEUE_BYTES [33554432], PAYLOAD_LOG_FLUSH_SECONDS [5],
PAYLOAD_LOG_SHUTDOWN_SECONDS [8]. The shutdown budget: uvicorn drains requests for up to
SCORING_GRACEFUL_TIMEOUT (20 s) and then runs the ASGI lifespan shutdown, where the middleware
calls close(); 20 + 8 s stays inside Container Apps' default 30 s between SIGTERM and SIGKILL.

Sampling is random (random.random() < rate), not a hash of x-request-id: that header is chosen by
the caller, so a hash of it would let a caller decide whether its own requests are logged.

What is dropped is counted by reason (payload_log_dropped_total): queue_full (the writer is behind:
the request goes on, its line is not kept), store_error (an upload failed after the SDK's retries),
unreadable (sampled, but the body was not JSON, too large to copy, or had unnamed inputs while a
deny-list is set), shutdown (still queued when the shutdown budget ran out, or offered after it).

Standard library only at import; azure-storage-blob and azure-identity are imported when a writer
to Azure starts.
"""
import atexit
import json
import math
import os
import random
import sys
import threading
import time
from collections import deque

RATE_ENV = "PAYLOAD_LOG_SAMPLE_RATE"
EXCLUDE_ENV = "PAYLOAD_LOG_EXCLUDE_COLUMNS"
ACCOUNT_URL_ENV = "PAYLOAD_LOG_ACCOUNT_URL"
CLIENT_ID_ENV = "PAYLOAD_LOG_CLIENT_ID"
CONTAINER_ENV = "PAYLOAD_LOG_CONTAINER"
CONNECTION_STRING_ENV = "PAYLOAD_LOG_CONNECTION_STRING"
QUEUE_BYTES_ENV = "PAYLOAD_LOG_QUEUE_BYTES"
FLUSH_SECONDS_ENV = "PAYLOAD_LOG_FLUSH_SECONDS"
SHUTDOWN_SECONDS_ENV = "PAYLOAD_LOG_SHUTDOWN_SECONDS"
DEFAULT_CONTAINER = "payloads"
DEFAULTS = {QUEUE_BYTES_ENV: 32 * 1024 * 1024, FLUSH_SECONDS_ENV: 5.0, SHUTDOWN_SECONDS_ENV: 8.0}
# A flush starts early once this much is waiting, so one blob stays a few MiB.
BATCH_BYTES = 4 * 1024 * 1024
REASONS = ("queue_full", "store_error", "unreadable", "shutdown")
UNNAMED = "input"


class PayloadLogConfigError(ValueError):
    """A payload-log variable the server cannot start with; the message names it."""


class Settings:
    def __init__(self, rate, exclude, account_url=None, client_id=None, container=DEFAULT_CONTAINER, connection_string=None,
                 queue_bytes=DEFAULTS[QUEUE_BYTES_ENV], flush_seconds=DEFAULTS[FLUSH_SECONDS_ENV],
                 shutdown_seconds=DEFAULTS[SHUTDOWN_SECONDS_ENV]):
        self.rate, self.exclude = rate, frozenset(exclude)
        self.account_url, self.client_id, self.container = account_url, client_id, container
        self.connection_string = connection_string
        self.queue_bytes, self.flush_seconds, self.shutdown_seconds = queue_bytes, flush_seconds, shutdown_seconds

    def destination(self):
        """Where lines go, for a startup line (never the connection string)."""
        where = self.account_url or "the connection string's account (Azurite)"
        return f"{where}, container {self.container}"


def _number(env, name, low, high, default=None):
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (low <= value <= high):  # NaN fails too
        raise PayloadLogConfigError(f"{name} = {text!r} must be a number from {low:g} to {high:g}")
    return value


def settings_from_env(env=None):
    """The payload log's settings, or None when it is off; PayloadLogConfigError names a bad variable."""
    env = os.environ if env is None else env
    rate = _number(env, RATE_ENV, 0, 1)
    text = (env.get(EXCLUDE_ENV) or "").strip()
    exclude = []
    if text:
        try:
            exclude = json.loads(text)
        except ValueError:
            exclude = None
        if not isinstance(exclude, list) or not all(isinstance(c, str) and c for c in exclude):
            raise PayloadLogConfigError(f'{EXCLUDE_ENV} must be a JSON list of column names, such as ["email", "iban"]')
    if not rate:
        return None
    account_url = (env.get(ACCOUNT_URL_ENV) or "").strip() or None
    connection_string = env.get(CONNECTION_STRING_ENV) or None
    if account_url is None and connection_string is None:
        raise PayloadLogConfigError(f"{RATE_ENV} is set but {ACCOUNT_URL_ENV} is not: payload logging needs the model store's blob endpoint")
    if account_url is not None and not account_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise PayloadLogConfigError(f"{ACCOUNT_URL_ENV} = {account_url!r} must be an https:// blob endpoint")
    return Settings(
        rate, exclude, account_url=account_url, client_id=(env.get(CLIENT_ID_ENV) or "").strip() or None,
        container=(env.get(CONTAINER_ENV) or "").strip() or DEFAULT_CONTAINER, connection_string=connection_string,
        queue_bytes=int(_number(env, QUEUE_BYTES_ENV, 1024, 1 << 34, DEFAULTS[QUEUE_BYTES_ENV])),
        flush_seconds=_number(env, FLUSH_SECONDS_ENV, 0.01, 3600, DEFAULTS[FLUSH_SECONDS_ENV]),
        shutdown_seconds=_number(env, SHUTDOWN_SECONDS_ENV, 0, 300, DEFAULTS[SHUTDOWN_SECONDS_ENV]),
    )


def signature_columns(model_dir):
    """The input column names of the model's signature (MLmodel), or None when it has none or none named."""
    import yaml  # mlflow-skinny depends on PyYAML: in every serving environment

    with open(os.path.join(model_dir, "MLmodel"), encoding="utf-8") as handle:
        mlmodel = yaml.safe_load(handle) or {}
    inputs = (mlmodel.get("signature") or {}).get("inputs")
    if not inputs:
        return None
    # MLmodel keeps the signature's inputs as a JSON text: [{"name": ..., "type": ...}, ...].
    specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    names = [spec.get("name") for spec in specs if isinstance(spec, dict)]
    return names if names and all(isinstance(n, str) for n in names) else None


def check_columns(settings, model_dir, env=None):
    """Refuses a deny-list that names a column the model's signature lacks (a misspelt name would let
    the column it meant be logged). Returns a warning when there is no signature to check against."""
    if settings is None or not settings.exclude:
        return None
    env = os.environ if env is None else env
    columns = signature_columns(model_dir)
    key = f"mlflow-platform:models[model {env.get('SERVING_MODEL_NAME') or '?'}].payloadLog.excludeColumns"
    if columns is None:
        return (f"{EXCLUDE_ENV} ({key}) cannot be checked: the model's MLmodel has no signature with named inputs; "
                "the listed columns are removed wherever a request names them")
    unknown = sorted(settings.exclude - set(columns))
    if unknown:
        raise PayloadLogConfigError(
            f"{EXCLUDE_ENV} ({key}) names {', '.join(unknown)}, which {'is not an input column' if len(unknown) == 1 else 'are not input columns'} "
            f"of this model version (its signature's inputs: {', '.join(columns)}): correct {key}; a misspelt name would log the column it meant")
    return None


# --- What a line holds: rows of named inputs, one prediction per row.

class Unreadable(Exception):
    """The request's inputs cannot be logged as named columns."""


def _columns_to_rows(columns):
    """{column: [values]} -> [{column: value}, ...]; a mapping of scalars is one row."""
    values = list(columns.values())
    if values and all(isinstance(v, list) for v in values):
        length = len(values[0])
        if any(len(v) != length for v in values):
            raise Unreadable()
        names = list(columns)
        return [dict(zip(names, row)) for row in zip(*values)]
    if any(isinstance(v, list) for v in values):
        raise Unreadable()
    return [dict(columns)]


def _records(items, exclude):
    if all(isinstance(item, dict) for item in items):
        return items
    if exclude:
        raise Unreadable()  # unnamed inputs: a denied column could not be found in them
    return [{UNNAMED: item} for item in items]


def input_rows(request, exclude=frozenset()):
    """The rows of a parsed scoring request (MLflow's formats) as {column: value} objects, denied columns removed."""
    if not isinstance(request, dict):
        raise Unreadable()
    if isinstance(request.get("dataframe_split"), dict):
        split = request["dataframe_split"]
        data, columns = split.get("data"), split.get("columns")
        if not isinstance(data, list):
            raise Unreadable()
        if columns is None:
            rows = _records(data, exclude)
        elif isinstance(columns, list) and all(isinstance(row, list) and len(row) == len(columns) for row in data):
            rows = [dict(zip(columns, row)) for row in data]
        else:
            raise Unreadable()
    else:
        for key in ("dataframe_records", "instances", "inputs"):
            if key in request:
                value = request[key]
                if isinstance(value, list):
                    rows = _records(value, exclude)
                elif isinstance(value, dict):
                    rows = _columns_to_rows(value)
                else:
                    raise Unreadable()
                break
        else:
            raise Unreadable()
    if exclude:
        rows = [{k: v for k, v in row.items() if k not in exclude} for row in rows]
    return rows


def output_rows(response):
    """One prediction per row from MLflow's {"predictions": ...}; [] when there are none."""
    predictions = response.get("predictions") if isinstance(response, dict) else None
    if isinstance(predictions, list):
        return predictions
    if isinstance(predictions, dict):
        try:
            return _columns_to_rows(predictions)
        except Unreadable:
            return [predictions]
    return []


def partition(time_text):
    """"2026-12-02T07:05:00.123Z" -> "date=2026-12-02/hour=07"."""
    return f"date={time_text[:10]}/hour={time_text[11:13]}"


def _segment(value, fallback):
    text = str(value) if value else fallback
    return text.replace("/", "_")


# --- Writers: where a batch of lines goes.

class AzureBlobSink:
    """Block blobs in one container: Entra (managed identity) on Azure, a connection string for Azurite."""

    def __init__(self, settings):
        from azure.storage.blob import BlobServiceClient, ExponentialRetry

        # The SDK's default (15 s, then x3) would hold one failed batch for about a minute; a short
        # policy gives up in a few seconds and counts the batch as store_error.
        options = {"retry_policy": ExponentialRetry(initial_backoff=0.5, increment_base=2, retry_total=2, random_jitter_range=0.2),
                   "connection_timeout": 5, "read_timeout": 20}
        if settings.connection_string:
            service = BlobServiceClient.from_connection_string(settings.connection_string, **options)
        else:
            from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

            credential = ManagedIdentityCredential(client_id=settings.client_id) if settings.client_id else DefaultAzureCredential()
            service = BlobServiceClient(settings.account_url, credential=credential, **options)
        self.container = service.get_container_client(settings.container)

    def write(self, name, data):
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import ContentSettings

        try:
            self.container.upload_blob(name, data, overwrite=False, content_settings=ContentSettings(content_type="application/x-ndjson"))
        except ResourceExistsError:
            pass  # our own earlier attempt landed (names are unique per process)


class PayloadLog:
    """Sampling, deny-list, a bounded queue and one writer thread. No method raises into a request."""

    def __init__(self, settings, identity, sink=None, on_dropped=None, on_written=None, rng=random.random):
        self.settings, self.identity = settings, identity
        self.rate, self.exclude = settings.rate, settings.exclude
        self._sink, self._sink_factory = sink, (lambda: AzureBlobSink(settings))
        self._on_dropped, self._on_written = on_dropped or (lambda reason, n: None), on_written or (lambda n: None)
        self._rng = rng
        self._lines = deque()  # (partition, bytes)
        self._bytes = 0
        self._pending = 0  # queued + being written
        self._cond = threading.Condition()
        self._counts = threading.Lock()
        self._closing = False
        self._closed = False
        self._token = os.urandom(4).hex()
        self._seq = 0
        self.dropped = dict.fromkeys(REASONS, 0)
        self.written = 0
        self._prefix = f"{_segment(identity.model, 'unknown')}/{_segment(identity.version, 'unknown')}"
        self._revision = _segment(identity.revision, "local")
        self._thread = threading.Thread(target=self._run, name="payload-log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # Request side (the event loop's thread).

    def sampled(self):
        return self.rate >= 1 or self._rng() < self.rate

    def offer(self, time_text, request_id, status, request, response):
        """Queues one line for a sampled request; `request`/`response` are the parsed bodies (None if unreadable)."""
        try:
            try:
                inputs = input_rows(request, self.exclude)
            except Unreadable:
                self._drop("unreadable", 1)
                return
            line = json.dumps({
                "time": time_text, "request_id": request_id, "model": self.identity.model, "version": self.identity.version,
                "revision": self.identity.revision, "status": status, "inputs": inputs,
                "outputs": output_rows(response) if status == 200 else [],
            }, separators=(",", ":"), allow_nan=True).encode("utf-8") + b"\n"
            with self._cond:
                if self._closing:
                    refused = "shutdown"  # after the lifespan shutdown: nothing more is written
                elif self._bytes + len(line) > self.settings.queue_bytes:
                    refused = "queue_full"
                else:
                    refused = None
                    self._lines.append((partition(time_text), line))
                    self._bytes += len(line)
                    self._pending += 1
                    if self._bytes >= BATCH_BYTES:
                        self._cond.notify()
            if refused:
                self._drop(refused, 1)
        except Exception:  # noqa: BLE001 - never into the request
            self._drop("unreadable", 1)

    def _drop(self, reason, count):
        with self._counts:
            self.dropped[reason] += count
        try:
            self._on_dropped(reason, count)
        except Exception:  # noqa: BLE001
            pass

    # Writer side.

    def _take(self):
        with self._cond:
            batch = list(self._lines)
            self._lines.clear()
            self._bytes = 0
            return batch

    def _run(self):
        while True:
            with self._cond:
                deadline = time.monotonic() + self.settings.flush_seconds
                while not self._closing and self._bytes < BATCH_BYTES:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                closing = self._closing
            self._flush(self._take())
            if closing:
                with self._cond:
                    if not self._lines:
                        self._closed = True
                        self._cond.notify_all()
                        return

    def _flush(self, batch):
        if not batch:
            return
        groups = {}
        for part, line in batch:
            groups.setdefault(part, []).append(line)
        for part, lines in groups.items():
            self._seq += 1
            name = f"{self._prefix}/{part}/{self._revision}-{os.getpid()}-{self._token}{self._seq:06d}.jsonl"
            try:
                if self._sink is None:
                    self._sink = self._sink_factory()
                self._sink.write(name, b"".join(lines))
            except Exception as err:  # noqa: BLE001 - the store being down costs lines, never requests
                self._report(err)
                self._settle(len(lines), "store_error")
            else:
                self._settle(len(lines), None)

    def _settle(self, count, reason):
        with self._cond:
            if self._closed:  # close() already counted them as shutdown drops
                return
            self._pending -= count
        if reason:
            self._drop(reason, count)
        else:
            with self._counts:
                self.written += count
            try:
                self._on_written(count)
            except Exception:  # noqa: BLE001
                pass

    _reported = False

    def _report(self, err):
        if not self._reported:
            self._reported = True
            try:
                print(f"payload_log: a batch could not be written ({type(err).__name__}); its lines are dropped and counted "
                      "(payload_log_dropped_total, reason store_error); further failures are only counted", file=sys.stderr, flush=True)
            except Exception:  # noqa: BLE001
                pass

    def close(self, timeout=None):
        """Writes what is queued, within the shutdown budget; counts what could not be written as shutdown drops. Idempotent."""
        timeout = self.settings.shutdown_seconds if timeout is None else timeout
        with self._cond:
            if self._closing and self._closed:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            if self._closed:
                return
            self._closed = True
            left, self._pending = self._pending, 0
            self._lines.clear()
        if left:
            self._drop("shutdown", left)


def from_env(identity, on_dropped=None, on_written=None, env=None):
    """A PayloadLog from the environment, or None when it is off (or its libraries are missing: said on stderr)."""
    settings = settings_from_env(env)
    if settings is None:
        return None
    try:
        import azure.storage.blob  # noqa: F401
        if not settings.connection_string:
            import azure.identity  # noqa: F401
    except ImportError as err:
        print(f"payload_log: off: {err.name} is not installed in this environment (serving_requirements.py adds it unless the model pins it)",
              file=sys.stderr, flush=True)
        return None
    log = PayloadLog(settings, identity, on_dropped=on_dropped, on_written=on_written)
    print(f"payload_log: logging {settings.rate:g} of requests to {settings.destination()}"
          + (f", without columns {sorted(settings.exclude)}" if settings.exclude else ""), file=sys.stderr, flush=True)
    return log
