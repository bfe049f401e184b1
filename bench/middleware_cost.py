#!/usr/bin/env python3
"""What the request-records middleware and the payload log add to one request, in process, without
HTTP or the network in the way: MLflow's real scoring app called as uvicorn calls it (ASGI), bare
(twice: the second is the control, its gap to the first the method's noise), with the request
records only, and wrapped (request records and payload log), one request to each app in turn.
Batches of requests per app let the machine's slow spells fall on one app (0.3 ms between two
identical bare apps in batches of 100, measured); one at a time in turn keeps that gap near 0.05 ms.
The wrapped apps write their records to /dev/null; the payload log logs every request to a sink that
keeps nothing (the upload itself runs on the writer thread).

    python bench/middleware_cost.py --model-dir <folder> --requests 2000 --body serving/sample-input.json

Prints one JSON object: {"bare_ms": median, "bare_again_ms": median, "records_ms": median, "wrapped_ms": median, "requests": n per app, ...}.
"""
import argparse
import asyncio
import json
import os
import statistics
import sys
import time

SERVING_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "serving")
sys.path.insert(0, SERVING_DIR)


class NullSink:
    def write(self, name, data):
        pass


async def one(app, body):
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    done = asyncio.Event()

    async def receive():
        if pending:
            return pending.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            done.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/invocations", "raw_path": b"/invocations", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
    started = time.perf_counter()
    await app(scope, receive, send)
    return (time.perf_counter() - started) * 1000


async def measure(apps, body, requests, batch=1):
    """Median-ready times per app: batches of `batch` calls, each round starting with the next app."""
    names = list(apps)
    times = {name: [] for name in names}
    for _ in range(20):  # warm-up
        for app in apps.values():
            await one(app, body)
    for n in range(max(1, requests // batch)):
        for name in names[n % len(names):] + names[:n % len(names)]:
            for _ in range(batch):
                times[name].append(await one(apps[name], body))
    return times


def main(argv):
    parser = argparse.ArgumentParser(description="In-process cost of the request-records middleware and the payload log per request.")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--body", required=True, help="a JSON scoring request")
    args = parser.parse_args(argv)
    from mlflow.pyfunc import scoring_server

    import payload_log
    import request_records
    import scoring_app

    with open(args.body, "rb") as handle:
        body = handle.read()
    model = scoring_app.load_model(args.model_dir)
    bare = scoring_server.init(model)
    identity = request_records.Identity("demo", "1", "bench", "local")
    log = payload_log.PayloadLog(payload_log.Settings(1.0, []), identity, sink=NullSink())
    null = open(os.devnull, "w", encoding="utf-8")

    def write(line):
        null.write(line + "\n")
        null.flush()

    apps = {
        "bare": bare,
        "bare_again": scoring_server.init(model),
        "records": request_records.RequestRecords(scoring_server.init(model), identity, write=write, payload=None),
        "wrapped": request_records.RequestRecords(scoring_server.init(model), identity, write=write, payload=log),
    }
    times = asyncio.run(measure(apps, body, args.requests))
    log.close()
    print(json.dumps({"bare_ms": statistics.median(times["bare"]), "bare_again_ms": statistics.median(times["bare_again"]),
                      "records_ms": statistics.median(times["records"]),
                      "wrapped_ms": statistics.median(times["wrapped"]),
                      "requests": len(times["bare"]), "logged": log.written, "dropped": sum(log.dropped.values())}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
