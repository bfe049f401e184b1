#!/usr/bin/env python3
"""The scheduled drift job: one run of serving/drift.py against the payload log in Blob Storage.

    python /opt/serving/drift_job.py --model NAME --version V --window 24h --baseline registered-sample|<container>/<path>

It runs as an Azure Container Apps job in the model's own serving image (components/drift), with
these steps:

1. downloads the payload files of the window and of the window before it from the `payloads`
   container (`<model>/<version>/date=…/hour=…/*.jsonl`) into a temporary folder;
2. takes the baseline: `registered-sample` is MLflow's input example in the image
   (/opt/model/input_example.json, written at registration from the sample); a dataset is read from
   the model store; the rows used are kept at `payloads/<model>/<version>/drift/baseline.json` so that
   `npm run drift` compares with the same rows;
3. computes the report (drift.drift_report), writes it to `payloads/<model>/<version>/drift/<window end>.json`;
4. prints one JSON line `{"event":"drift",…}` (drift.metric_line) to stdout, which Container Apps sends
   to the ContainerAppConsoleLogs table, where the drift alert (lib/drift/alert.ts) watches it.

Blob Storage is spoken to over its REST API with the standard library (the serving image has no
Azure SDK): Bearer tokens of the job's user-assigned managed identity from the Container Apps
identity endpoint (IDENTITY_ENDPOINT, IDENTITY_HEADER, AZURE_CLIENT_ID), or a SAS in DRIFT_BLOB_SAS
(tests against Azurite). Relied on: "List Blobs", "Get Blob", "Put Blob" (learn.microsoft.com/rest/api/storageservices),
x-ms-version 2021-08-06 and above accept OAuth; "Managed identities in Azure Container Apps"
(learn.microsoft.com/azure/container-apps/managed-identity: GET $IDENTITY_ENDPOINT?resource=…&api-version=2019-08-01&client_id=…
with header X-IDENTITY-HEADER).
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone

try:
    from serving import drift  # the tests, from the project
except ImportError:  # in the image: /opt/serving/drift.py beside this file
    import drift

PAYLOAD_CONTAINER = "payloads"
REGISTERED_SAMPLE = "registered-sample"
REGISTERED_SAMPLE_FILE = os.path.join(os.environ.get("MODEL_DIR", "/opt/model"), "input_example.json")
STORAGE_RESOURCE = "https://storage.azure.com/"
API_VERSION = "2023-11-03"


class BlobStore:
    """The few Blob REST calls the job needs, against one account's blob endpoint."""

    def __init__(self, endpoint, sas=None, token=None):
        self.endpoint = endpoint.rstrip("/")
        self.sas = sas.lstrip("?") if sas else None
        self._token = token

    def _url(self, path, query=None):
        params = dict(query or {})
        url = f"{self.endpoint}/{urllib.parse.quote(path)}"
        parts = [urllib.parse.urlencode(params)] if params else []
        if self.sas:
            parts.append(self.sas)
        return url + ("?" + "&".join(parts) if parts else "")

    def _request(self, method, path, query=None, body=None, headers=None):
        request = urllib.request.Request(self._url(path, query), data=body, method=method)
        request.add_header("x-ms-version", API_VERSION)
        request.add_header("x-ms-date", datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT"))
        if not self.sas:
            request.add_header("Authorization", f"Bearer {self._token()}")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            code = err.headers.get("x-ms-error-code", "")
            return err.code, code.encode()

    def list(self, container, prefix):
        names, marker = [], None
        while True:
            query = {"restype": "container", "comp": "list", "prefix": prefix}
            if marker:
                query["marker"] = marker
            status, body = self._request("GET", container, query)
            if status == 404:
                return names
            if status != 200:
                raise drift.DriftError(f"listing {container}/{prefix} answered {status} {body.decode(errors='replace')}")
            root = ElementTree.fromstring(body)
            names.extend(e.text for e in root.iter("Name") if e.text)
            marker = (root.findtext("NextMarker") or "").strip()
            if not marker:
                return names

    def get(self, container, name):
        status, body = self._request("GET", f"{container}/{name}")
        if status == 404:
            return None
        if status != 200:
            raise drift.DriftError(f"reading {container}/{name} answered {status} {body.decode(errors='replace')}")
        return body

    def put(self, container, name, data, content_type="application/json"):
        status, body = self._request("PUT", f"{container}/{name}", body=data, headers={"x-ms-blob-type": "BlockBlob", "Content-Type": content_type})
        if status not in (200, 201):
            raise drift.DriftError(f"writing {container}/{name} answered {status} {body.decode(errors='replace')}")


def managed_identity_token(env=os.environ):
    """A token for Blob Storage from the Container Apps identity endpoint (the job's user-assigned identity)."""
    endpoint, header = env.get("IDENTITY_ENDPOINT"), env.get("IDENTITY_HEADER")
    if not endpoint or not header:
        raise drift.DriftError("no managed identity: IDENTITY_ENDPOINT and IDENTITY_HEADER are not set (the job runs in Azure Container Apps with a user-assigned identity)")
    query = {"resource": STORAGE_RESOURCE, "api-version": "2019-08-01"}
    if env.get("AZURE_CLIENT_ID"):
        query["client_id"] = env["AZURE_CLIENT_ID"]
    request = urllib.request.Request(f"{endpoint}?{urllib.parse.urlencode(query)}", headers={"X-IDENTITY-HEADER": header})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access_token"]


def baseline_rows(store, baseline):
    """(kind, source, rows) of the configured baseline."""
    if baseline == REGISTERED_SAMPLE:
        if not os.path.isfile(REGISTERED_SAMPLE_FILE):
            raise drift.DriftError(
                f"the image has no registered sample ({REGISTERED_SAMPLE_FILE}): the version was registered without --sample. "
                "Register it with a sample, or set mlflow-platform:observability.drift.baseline to a dataset <container>/<path>"
            )
        return "registered-sample", REGISTERED_SAMPLE, drift.read_baseline(REGISTERED_SAMPLE_FILE)
    container, _, name = baseline.partition("/")
    data = store.get(container, name)
    if data is None:
        raise drift.DriftError(f"the baseline dataset {baseline} (mlflow-platform:observability.drift.baseline) is not in the model store")
    folder = tempfile.mkdtemp(prefix="drift-baseline-")
    try:
        path = os.path.join(folder, "baseline" + os.path.splitext(name)[1])
        with open(path, "wb") as handle:
            handle.write(data)
        return "dataset", baseline, drift.read_baseline(path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(store, model, version, window, baseline, window_end=None, out=sys.stdout):
    """One drift run: download, compare, write the report and the kept baseline, print the metric line."""
    length = drift.parse_window(window)
    end = drift.parse_time(window_end) if window_end else datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    kind, source, rows = baseline_rows(store, baseline)
    work = tempfile.mkdtemp(prefix="drift-")
    try:
        baseline_file = os.path.join(work, "baseline.json")
        kept = json.dumps({"kind": kind, "source": source, "rows": rows}, default=str).encode()
        with open(baseline_file, "wb") as handle:
            handle.write(kept)
        payload_dir = os.path.join(work, "payloads")
        for folder in drift.hour_folders(model, version, end - 2 * length, end):
            for name in store.list(PAYLOAD_CONTAINER, folder + "/"):
                if not name.endswith(".jsonl"):
                    continue
                data = store.get(PAYLOAD_CONTAINER, name)
                if data is None:
                    continue  # deleted by the retention policy since it was listed
                local = os.path.join(payload_dir, *name.split("/"))
                os.makedirs(os.path.dirname(local), exist_ok=True)
                with open(local, "wb") as handle:
                    handle.write(data)
        report = drift.drift_report(payload_dir, model, version, baseline_file, window, drift.iso(end), kind, source)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    store.put(PAYLOAD_CONTAINER, f"{model}/{version}/drift/baseline.json", kept)
    store.put(PAYLOAD_CONTAINER, drift.report_blob_name(model, version, report["window"]["end"]), json.dumps(report, indent=2).encode())
    print(drift.metric_line(report), file=out, flush=True)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(description="The scheduled drift job of one model version")
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--window", default="24h")
    parser.add_argument("--baseline", default=REGISTERED_SAMPLE)
    parser.add_argument("--window-end", default=None)
    parser.add_argument("--blob-endpoint", default=os.environ.get("DRIFT_BLOB_ENDPOINT"), help="default: $DRIFT_BLOB_ENDPOINT")
    args = parser.parse_args(argv)
    if not args.blob_endpoint:
        print(json.dumps({"event": "drift-error", "model": args.model, "version": args.version, "error": "no blob endpoint: set DRIFT_BLOB_ENDPOINT"}))
        return 2
    sas = os.environ.get("DRIFT_BLOB_SAS")
    cache = {}

    def token():
        # One token per run: a run lasts minutes, a managed identity token an hour or more.
        if "token" not in cache:
            cache["token"] = managed_identity_token()
        return cache["token"]

    try:
        run(BlobStore(args.blob_endpoint, sas=sas, token=token), args.model, args.version, args.window, args.baseline, args.window_end)
    except (drift.DriftError, urllib.error.URLError, OSError) as err:
        # Also a line the logs can be searched for: a job that cannot compare is worth an alert too.
        print(json.dumps({"event": "drift-error", "model": args.model, "version": args.version, "error": str(err)}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
