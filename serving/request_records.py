"""A record per request: an ASGI middleware around MLflow's scoring app that writes one JSON line
per HTTP request to stdout, keeps the Prometheus metrics (scoring_metrics.py) and answers GET /metrics.

A record (one line, keys always present, null when unknown):

    {"time": "2026-12-02T12:00:00.123Z", "request_id": "…", "model": "fraud", "version": "4",
     "revision": "fraud--v4", "image_tag": "fraud-v4-…", "method": "POST", "path": "/invocations",
     "status": 200, "latency_ms": 12.3, "rows_in": 3, "rows_out": 3, "caller": null, "error": null}

Never in a record: a payload value, a message text, a header other than the two named below.

The middleware passes every message through as it comes (no buffering, so streaming stays
streaming) and changes no response byte except adding `x-request-id`. What it reads of the bodies
is a copy, bounded by BODY_LIMIT. Its own bookkeeping never fails a request: an error there is
counted (scoring_record_failures_total) and the request goes on.

The payload log (payload_log.py, off unless PAYLOAD_LOG_SAMPLE_RATE is set) gets a sampled
share of /invocations requests: the same parsed bodies the record's rows came from (each body is
parsed once), after the response went out; on the ASGI lifespan shutdown it is written out.
"""
import json
import os
import random
import re
import sys
import time

# Set by the deployment in the container's environment (serving/Dockerfile takes no build argument in its final stage).
MODEL_NAME_ENV = "SERVING_MODEL_NAME"
MODEL_VERSION_ENV = "SERVING_MODEL_VERSION"
IMAGE_TAG_ENV = "SERVING_IMAGE_TAG"
# Container Apps sets it in every container: the revision's name, e.g. my-containerapp--20mh1s9
# (learn.microsoft.com/azure/container-apps/environment-variables, "Built-in environment variables").
REVISION_ENV = "CONTAINER_APP_REVISION"

REQUEST_ID_HEADER = b"x-request-id"
# Container Apps authentication injects the caller's id from its identity provider; external
# requests cannot set it (learn.microsoft.com/azure/container-apps/authentication, "Access user
# claims in application code"). Without authentication, whatever a client sent.
CALLER_HEADER = b"x-ms-client-principal-id"
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
ERROR_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Bodies larger than this are not read for rows (the record says null).
BODY_LIMIT = 16 * 1024 * 1024
# Client-chosen text kept in a record is cut, so a record stays one short line (one write).
TEXT_LIMIT = 256
SCORING_PATH = "/invocations"
METRICS_PATH = "/metrics"


class Identity:
    """What a record and the metrics say the server serves: from the environment the image sets."""

    def __init__(self, model=None, version=None, revision=None, image_tag=None):
        self.model, self.version, self.revision, self.image_tag = model, version, revision, image_tag

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        return cls(*(env.get(name) or None for name in (MODEL_NAME_ENV, MODEL_VERSION_ENV, REVISION_ENV, IMAGE_TAG_ENV)))


def request_id(incoming):
    """The caller's x-request-id if it is a sane token, else 32 new random hex digits."""
    try:
        text = incoming.decode("ascii") if incoming is not None else None
    except UnicodeDecodeError:
        text = None
    # An id to find a request by, not a secret: random's generator (reseeded in a forked child,
    # and seeded from os.urandom in each spawned worker) is cheaper than uuid4's object per request.
    return text if text is not None and SANE_REQUEST_ID.match(text) else "%032x" % random.getrandbits(128)


def _json_object(body):
    """The body as a JSON object; None for anything else."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _column_length(columns):
    """Rows of a {column: [values]} mapping: the length of its first list."""
    for values in columns.values():
        return len(values) if isinstance(values, list) else None
    return None


def _parsed(body):
    """A body already parsed (a dict, by _Exchange, so each body is parsed once) or its bytes."""
    return body if isinstance(body, dict) else _json_object(body)


def rows_in(body):
    """Rows of a JSON scoring request (dataframe_split, dataframe_records, instances, inputs); None if not countable."""
    request = _parsed(body)
    if request is None:
        return None
    if isinstance(request.get("dataframe_split"), dict):
        data = request["dataframe_split"].get("data")
        return len(data) if isinstance(data, list) else None
    for key in ("dataframe_records", "instances", "inputs"):
        if key in request:
            value = request[key]
            if isinstance(value, list):
                return len(value)
            if isinstance(value, dict):
                return _column_length(value)
            return None
    return None


def rows_out(body):
    """How many predictions a JSON scoring response holds; None if it holds no list of them."""
    response = _parsed(body)
    predictions = response.get("predictions") if response else None
    if isinstance(predictions, list):
        return len(predictions)
    if isinstance(predictions, dict):
        return _column_length(predictions)
    return None


def error_code(body):
    """MLflow's error_code from a JSON error body (MlflowException.serialize_as_json), if it looks like one."""
    response = _parsed(body)
    code = response.get("error_code") if response else None
    return code if isinstance(code, str) and ERROR_CODE.match(code) else None


_second = [None, ""]  # the last whole second formatted, and its text: most records share it


def _time_text(ns):
    """Epoch nanoseconds (exact, unlike a float's fraction) as UTC ISO 8601 with milliseconds: 2026-12-02T12:00:00.123Z."""
    whole, rest = divmod(ns, 1_000_000_000)
    if whole != _second[0]:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return "%s.%03dZ" % (_second[1], rest // 1_000_000)


def _cut(text):
    return text if text is None or len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT]


# One encoder for every record: json.dumps with separators builds a new one per call.
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def write_line(line):
    # One write of one line: records of several workers sharing the container's stdout stay whole.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class _Body:
    """A bounded copy of a body's bytes; `complete` is False once it outgrew the limit."""

    def __init__(self):
        self.chunks, self.size, self.complete = [], 0, True

    def add(self, data):
        if not self.complete or not data:
            return
        self.size += len(data)
        if self.size > BODY_LIMIT:
            self.chunks, self.complete = [], False
        else:
            self.chunks.append(bytes(data))

    def value(self):
        return b"".join(self.chunks) if self.complete else None


_UNSET = object()


class _Exchange:
    """One request's bookkeeping."""

    def __init__(self, scope, started):
        self.started = started
        self.wall = time.time_ns()
        self.method = scope.get("method")
        self.path = scope.get("path") or ""
        incoming_id = caller = content_type = None
        # One pass, the first of each header kept (ASGI gives names lowercased; lower() for any other server).
        for name, value in scope.get("headers") or ():
            name = name.lower()
            if name == b"content-type":
                content_type = value if content_type is None else content_type
            elif name == REQUEST_ID_HEADER:
                incoming_id = value if incoming_id is None else incoming_id
            elif name == CALLER_HEADER:
                caller = value if caller is None else caller
        self.request_id = request_id(incoming_id)
        self.caller = _cut(caller.decode("latin-1")) if caller is not None else None
        self.scoring = self.path == SCORING_PATH
        json_body = content_type is not None and content_type.split(b";", 1)[0].strip().lower() == b"application/json"
        self.request_body = _Body() if self.scoring and json_body else None
        self.response_body = None
        self.status = None
        self.ended = None
        self.exception = None
        self._time = None
        self._request_json = self._response_json = _UNSET

    def time_text(self):
        """When the request arrived, formatted once (after the response went out, off its path)."""
        if self._time is None:
            self._time = _time_text(self.wall)
        return self._time

    def received(self, message):
        if self.request_body is not None and message.get("type") == "http.request":
            self.request_body.add(message.get("body", b""))

    def sending(self, message):
        """The message to send: http.response.start gets x-request-id; the rest is observed only."""
        kind = message.get("type")
        if kind == "http.response.start":
            self.status = message.get("status")
            headers = list(message.get("headers") or ())
            content_type = b""
            for name, value in headers:
                if name.lower() == b"content-type":
                    content_type = value.split(b";", 1)[0].strip().lower()
            if content_type == b"application/json" and (self.scoring or (self.status or 0) >= 400):
                self.response_body = _Body()
            headers.append((REQUEST_ID_HEADER, self.request_id.encode("ascii")))
            return {**message, "headers": headers}
        if kind == "http.response.body":
            if self.response_body is not None:
                self.response_body.add(message.get("body", b""))
            if not message.get("more_body", False):
                self.ended = time.perf_counter()
        return message

    # Each body is parsed at most once, after the response went out: the record's rows and error
    # code and the payload log's line all read the same parsed object.
    def request_json(self):
        if self._request_json is _UNSET:
            body = self.request_body.value() if self.request_body is not None else None
            self._request_json = _json_object(body) if body else None
        return self._request_json

    def response_json(self):
        if self._response_json is _UNSET:
            body = self.response_body.value() if self.response_body is not None else None
            self._response_json = _json_object(body) if body else None
        return self._response_json

    def rows_in(self):
        request = self.request_json()
        return rows_in(request) if request is not None else None

    def record(self, identity):
        status = self.status
        if status is None and isinstance(self.exception, Exception):
            status = 500  # uvicorn answers 500 when an application raises before it responds
        body = self.response_json()
        error = None
        if status is not None and status >= 400:
            error = error_code(body) if body else None
        if error is None and self.exception is not None:
            error = type(self.exception).__name__
        ended = self.ended if self.ended is not None else time.perf_counter()
        return {
            "time": self.time_text(),
            "request_id": self.request_id,
            "model": identity.model,
            "version": identity.version,
            "revision": identity.revision,
            "image_tag": identity.image_tag,
            "method": self.method,
            "path": _cut(self.path),
            "status": status,
            "latency_ms": round((ended - self.started) * 1000, 3),
            "rows_in": self.rows_in() if self.scoring else None,
            "rows_out": rows_out(body) if self.scoring and status == 200 and body else None,
            "caller": self.caller,
            "error": error,
        }


class NoMetrics:
    """Metrics that go nowhere (prometheus_client missing)."""

    def started(self):
        pass

    def finished(self, path, status, seconds, rows_in):
        pass

    def record_failed(self):
        pass

    def model_loaded(self, seconds):
        pass

    def payload_dropped(self, reason, count):
        pass

    def payload_written(self, count):
        pass


class RequestRecords:
    """ASGI middleware: `RequestRecords(scoring_server.init(model))`."""

    def __init__(self, app, identity=None, metrics=None, write=write_line, payload=_UNSET):
        self.app = app
        self.identity = identity or Identity.from_env()
        self.serves_metrics = True
        if metrics is None:
            try:
                from scoring_metrics import ScoringMetrics
            except ImportError as err:
                # An environment serving_requirements.py did not add prometheus-client to (a model
                # logged with mlflow-skinny 3.x, say): records still, no /metrics.
                print(f"request_records: no /metrics: {err.name or 'prometheus_client'} is not installed in this environment",
                      file=sys.stderr, flush=True)
                metrics, self.serves_metrics = NoMetrics(), False
            else:
                metrics = ScoringMetrics(self.identity)
        self.metrics = metrics
        self.write = write
        self.failures = 0
        if payload is _UNSET:
            # Off unless the deployment set PAYLOAD_LOG_SAMPLE_RATE (serve_model.py checked the
            # variables before starting, so a bad one stops the server with its name, not here).
            try:
                from payload_log import from_env
            except ImportError:  # imported as serving.request_records (the project's tests)
                from .payload_log import from_env

            payload = from_env(self.identity, on_dropped=self._payload_dropped, on_written=self._payload_written)
        self.payload = payload

    def _payload_dropped(self, reason, count):
        self.metrics.payload_dropped(reason, count)

    def _payload_written(self, count):
        self.metrics.payload_written(count)

    def model_loaded(self, seconds):
        try:
            self.metrics.model_loaded(seconds)
        except Exception as err:
            self._failed(err)

    def _failed(self, err):
        self.failures += 1
        try:
            self.metrics.record_failed()
        except Exception:  # the counter itself failing leaves only self.failures
            pass
        if self.failures == 1:
            try:
                print(f"request_records: a request record or its metrics could not be written ({type(err).__name__}); "
                      "the request was answered, further failures are only counted (scoring_record_failures_total)",
                      file=sys.stderr, flush=True)
            except Exception:
                pass

    async def __call__(self, scope, receive, send):
        if scope.get("type") == "lifespan" and self.payload is not None:
            await self.app(scope, self._lifespan_receive(receive), send)
            return
        if scope.get("type") != "http":  # lifespan (and websockets): untouched
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            exchange = _Exchange(scope, started)
        except Exception as err:
            self._failed(err)
            await self.app(scope, receive, send)
            return
        try:
            self.metrics.started()
        except Exception as err:
            self._failed(err)

        async def observed_receive():
            message = await receive()
            try:
                exchange.received(message)
            except Exception as err:
                self._failed(err)
            return message

        async def observed_send(message):
            try:
                outgoing = exchange.sending(message)
            except Exception as err:
                self._failed(err)
                outgoing = message
            await send(outgoing)

        try:
            if self.serves_metrics and exchange.path == METRICS_PATH and exchange.method in ("GET", "HEAD"):
                await self._metrics(exchange.method, observed_send)
            else:
                await self.app(scope, observed_receive, observed_send)
        except BaseException as err:
            exchange.exception = err
            raise
        finally:
            self._finish(exchange)

    def _finish(self, exchange):
        record = None
        try:
            record = exchange.record(self.identity)
        except Exception as err:
            self._failed(err)
        try:
            if record is None:
                self.metrics.finished(exchange.path, exchange.status, time.perf_counter() - exchange.started, None)
            else:
                self.metrics.finished(exchange.path, record["status"], record["latency_ms"] / 1000, record["rows_in"])
        except Exception as err:
            self._failed(err)
        if record is not None:
            try:
                self.write(_ENCODE(record))
            except Exception as err:
                self._failed(err)
        if self.payload is not None and exchange.scoring and exchange.method == "POST":
            try:
                if self.payload.sampled():
                    status = record["status"] if record is not None else exchange.status
                    self.payload.offer(exchange.time_text(), exchange.request_id, status, exchange.request_json(),
                                       exchange.response_json() if status == 200 else None)
            except Exception as err:
                self._failed(err)

    def _lifespan_receive(self, receive):
        """The app's lifespan messages as they come; on lifespan.shutdown the payload log is written
        out first. uvicorn sends it on SIGTERM after requests in flight finished (Server.shutdown
        drains, then awaits lifespan.shutdown), in each worker process."""
        async def observed():
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                import asyncio

                try:
                    await asyncio.get_running_loop().run_in_executor(None, self.payload.close)
                except Exception as err:  # noqa: BLE001 - the app's own shutdown still runs
                    self._failed(err)
            return message
        return observed

    async def _metrics(self, method, send):
        from scoring_metrics import exposition

        body, content_type = exposition()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type.encode("latin-1")), (b"content-length", str(len(body)).encode("ascii"))]})
        await send({"type": "http.response.body", "body": body if method == "GET" else b""})
