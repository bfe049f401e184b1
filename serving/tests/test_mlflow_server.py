"""The demo launcher's servers never outlive the process that started them, and start without
MLflow's job executor (which the registry does not use)."""
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A launcher that starts a server, says where it is and how it was started, then dies at once
# (as one killed by a test timeout does): no atexit, no stop().
LAUNCHER = """
import json, os, sys, tempfile
sys.path.insert(0, sys.argv[1])
from serving.demo.mlflow_server import start_server
server = start_server(tempfile.mkdtemp(prefix="mlflow-orphan-"))
print(json.dumps({"url": server.url, "pid": server.process.pid}), flush=True)
os._exit(0)
"""


def answers(url):
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


@unittest.skipUnless(sys.platform.startswith("linux"), "PR_SET_PDEATHSIG is Linux's")
class ServerLifetime(unittest.TestCase):
    def test_a_server_stops_when_its_launcher_dies(self):
        result = subprocess.run([sys.executable, "-c", LAUNCHER, ROOT], capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        started = json.loads(result.stdout.strip().splitlines()[-1])
        deadline = time.monotonic() + 30
        while answers(started["url"]) and time.monotonic() < deadline:
            time.sleep(0.5)
        self.assertFalse(answers(started["url"]), "the server outlived its launcher")

    def test_no_job_executor_is_started(self):
        launcher = LAUNCHER.replace("os._exit(0)", "import time; time.sleep(60)")
        process = subprocess.Popen([sys.executable, "-c", launcher, ROOT], stdout=subprocess.PIPE, text=True)
        try:
            started = json.loads(process.stdout.readline())
            self.assertTrue(answers(started["url"]))
            # The server's own children: the uvicorn worker only, no job runner or huey consumers.
            commands = []
            for pid in children_of(started["pid"]):
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    commands.append(handle.read().replace(b"\0", b" ").decode())
            self.assertTrue(commands, "the server runs a worker")
            self.assertFalse([c for c in commands if "_job_runner" in c or "huey" in c], commands)
        finally:
            process.kill()
            process.wait()
            process.stdout.close()


if __name__ == "__main__":
    unittest.main()
