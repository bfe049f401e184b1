"""Starts a real MLflow tracking server on loopback for the tests, and stops it.

    python serving/demo/mlflow_server.py --dir DIR [--auth] [--static-prefix /mlflow]

Runs `mlflow server` with a SQLite store and proxied artifacts (--serve-artifacts) in DIR, on a
free loopback port; with --auth, the same kind of store behind MLflow's basic-auth app (admin
user and password printed). Prints one JSON line ({"url", "username"?, "password"?}) once
/health answers, then runs until its standard input closes or it gets SIGTERM, and stops the
server with it: a test runner that dies cannot leave a server behind.

`npm run local -- --demo` and the TypeScript tests run this file; the Python suites import shared_server().
"""
import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

START_TIMEOUT = 120


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    def __init__(self, process, url, username=None, password=None, log=None):
        self.process, self.url, self.username, self.password, self.log = process, url, username, password, log

    def stop(self):
        if self.process.poll() is None:
            # uvicorn stops on SIGTERM; its whole process group, so no worker outlives it.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _healthy(url):
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return answer.status == 200
    except Exception:
        return False


def _die_with_parent_hook():
    """A function for the child before exec: on Linux, it asks for SIGTERM when the thread that
    started it dies (prctl PR_SET_PDEATHSIG), so a launcher killed by a test timeout leaves no
    server behind. Only from the main thread (the signal follows the starting thread), and with
    everything looked up here, in the parent: the child only makes the one call."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    PR_SET_PDEATHSIG = 1
    return lambda: prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))


def start_server(folder, auth=False, static_prefix="", mlflow=None):
    """A running server over the store in `folder` (created if missing)."""
    os.makedirs(folder, exist_ok=True)
    mlflow = mlflow or os.path.join(os.path.dirname(sys.executable), "mlflow")
    port = free_port()
    env = dict(os.environ)
    # No proxy, no telemetry, and nothing read from the user's own MLflow settings.
    for key in list(env):
        if key.startswith("MLFLOW_") or key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del env[key]
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    # MLflow 3's server also launches its job executor (a job runner and several huey consumers,
    # each a full MLflow import) unless this is off (mlflow/environment_variables.py,
    # MLFLOW_SERVER_ENABLE_JOB_EXECUTION). The registry and artifact routes do not use it; it made
    # each start take 15-90 s on a 2-core machine.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    store = os.path.join(folder, "mlflow.db")
    command = [
        mlflow, "server",
        "--backend-store-uri", f"sqlite:///{store}",
        "--artifacts-destination", os.path.join(folder, "artifacts"),
        "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    username = password = None
    if auth:
        username, password = "admin", secrets.token_urlsafe(18)
        config = os.path.join(folder, "basic_auth.ini")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = sqlite:///{os.path.join(folder, 'basic_auth.db')}\n"
                f"admin_username = {username}\nadmin_password = {password}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            )
        env["MLFLOW_AUTH_CONFIG_PATH"] = config
        # The basic-auth app refuses to start without a CSRF key.
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secrets.token_hex(16)
        command += ["--app-name", "basic-auth"]
    if static_prefix:
        command += ["--static-prefix", static_prefix]
    log_path = os.path.join(folder, f"server-{port}.log")
    log = open(log_path, "wb")
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent_hook()
    )
    url = f"http://127.0.0.1:{port}{static_prefix}"
    server = MlflowServer(process, url, username, password, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            with open(log_path, encoding="utf-8", errors="replace") as handle:
                tail = handle.read()[-3000:]
            raise RuntimeError(f"mlflow server did not start (exit {process.poll()}):\n{tail}")
        time.sleep(0.25)
    return server


_SHARED = {}
KINDS = {"plain": {}, "auth": {"auth": True}, "prefixed": {"static_prefix": "/mlflow"}}


class SharedServer:
    """What a test needs of a server: its URL, and the admin's user and password behind auth."""

    def __init__(self, url, username=None, password=None):
        self.url, self.username, self.password = url, username, password


def shared_server(kind="plain"):
    """The suite's server of that kind. `npm test` passes the ones it runs in MLFLOW_TEST_SERVERS
    (JSON {kind: {url, username?, password?}}); run alone, a suite starts its own, once, and
    stops it at exit."""
    if kind not in KINDS:
        raise ValueError(f"unknown server kind {kind!r}: one of {', '.join(KINDS)}")
    given = json.loads(os.environ.get("MLFLOW_TEST_SERVERS") or "{}").get(kind)
    if given:
        return SharedServer(given["url"], given.get("username"), given.get("password"))
    if kind not in _SHARED:
        import atexit
        import tempfile

        server = start_server(tempfile.mkdtemp(prefix=f"mlflow-{kind}-"), **KINDS[kind])
        atexit.register(server.stop)
        _SHARED[kind] = server
    server = _SHARED[kind]
    return SharedServer(server.url, server.username, server.password)


def main(argv):
    parser = argparse.ArgumentParser(description="Run a real MLflow tracking server on loopback until stdin closes.")
    parser.add_argument("--dir", required=True, help="folder for the SQLite store, artifacts and log")
    parser.add_argument("--auth", action="store_true", help="behind MLflow's basic-auth app")
    parser.add_argument("--static-prefix", default="", help="serve every route under this path, such as /mlflow")
    args = parser.parse_args(argv)
    try:
        server = start_server(args.dir, auth=args.auth, static_prefix=args.static_prefix)
    except RuntimeError as err:
        print(json.dumps({"error": str(err)}), flush=True)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    info = {"url": server.url, "log": server.log}
    if args.auth:
        info.update(username=server.username, password=server.password)
    print(json.dumps(info), flush=True)

    def watch_stdin():
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    while not stop.wait(0.5):
        if server.process.poll() is not None:
            break
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
