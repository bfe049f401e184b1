// `npm run bench`'s serving section, against the real path: the demo model is registered on a real
// MLflow server, fetched by fetch_model.py, given its environment by install_environment.sh and
// served by serve_model.py, as `npm run local` and the image do. It measures the serving
// environment's size, the time to the first /ping, and requests per second at 1 and 2 workers.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { registerDemoModel, startDemoRegistry, DEMO_MODEL } from "../lib/local/demo";
import { buildEnvironment, fetchVersion, serveModel, type LocalPaths } from "../lib/local/model";
import { ensurePythonEnvironment } from "../lib/python/environment";
import type { Row } from "./run";

const run = promisify(execFile);

async function duKb(paths: string[]): Promise<number> {
    const { stdout } = await run("du", ["-skL", "--total", ...paths]);
    return Number(stdout.trim().split("\n").pop()!.split(/\s+/)[0]);
}

/** Requests per second for `total` POSTs of `body`, `concurrency` in flight at a time. */
export async function throughput(url: string, body: string, total: number, concurrency: number): Promise<number> {
    let sent = 0;
    const started = performance.now();
    const worker = async () => {
        while (sent < total) {
            sent += 1;
            const answer = await fetch(`${url}/invocations`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
            if (answer.status !== 200) throw new Error(`scoring answered ${answer.status}: ${(await answer.text()).slice(0, 200)}`);
            await answer.arrayBuffer();
        }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return total / ((performance.now() - started) / 1000);
}

/** The demo model registered on a real MLflow server, fetched and given its serving environment, in `folder`. */
export async function preparedDemo(projectDir: string, folder: string): Promise<{ paths: LocalPaths; venv: string; fetched: { modelDir: string; envDir: string } }> {
    const env = await ensurePythonEnvironment({ projectDir });
    const registry = await startDemoRegistry(projectDir, env.python, path.join(folder, "registry"));
    try {
        await registerDemoModel(projectDir, env.python, registry.url, path.join(folder, "upload"));
        const paths: LocalPaths = { projectDir, python: env.python, uv: env.uv, cacheDir: path.join(folder, "cache") };
        const fetched = await fetchVersion(paths, { kind: "mlflow", url: registry.url }, DEMO_MODEL, "1", "");
        const venv = await buildEnvironment(paths, fetched.envDir, DEMO_MODEL, "1", () => undefined);
        return { paths, venv, fetched };
    } finally {
        await registry.stop();
    }
}

export async function servingBench(projectDir: string, options: { starts: number; requests: number; port: number }): Promise<Row[]> {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "bench-serving-"));
    try {
        const { paths, venv, fetched } = await preparedDemo(projectDir, folder);
        // The interpreter the environment runs on: a managed Python in the image, this machine's here.
        // Its own packages (site-packages) are not part of what serving needs, so they are left out.
        const { stdout: base } = await run(path.join(venv, "bin", "python"), ["-c", "import sys, sysconfig; print(sys.base_prefix); print(sysconfig.get_path('purelib', vars={'base': sys.base_prefix}))"]);
        const [prefix, ownPackages] = base.trim().split("\n");
        const [venvKb, modelKb, prefixKb, ownPackagesKb] = await Promise.all([duKb([venv]), duKb([fetched.modelDir]), duKb([prefix]), duKb([ownPackages]).catch(() => 0)]);
        const pythonKb = prefixKb - ownPackagesKb;
        const totalMb = (venvKb + modelKb + pythonKb) / 1024;
        const { stdout: mlflowDist } = await run(path.join(venv, "bin", "python"), ["-c", "import importlib.metadata as m; print(' '.join(d for d in ('mlflow', 'mlflow-skinny') if any(x.metadata['Name'].lower() == d for x in m.distributions())))"]);
        const rows: Row[] = [
            {
                measure: "serving environment on disk, demo scikit-learn model (Python + virtual environment + model)",
                result: `${Math.round(totalMb)} MB (environment ${Math.round(venvKb / 1024)} MB with ${mlflowDist.trim() || "no mlflow"}, Python ${Math.round(pythonKb / 1024)} MB, model ${Math.round(modelKb / 1024)} MB)`,
                target: "<= 500 MB",
                met: totalMb <= 500,
            },
        ];
        const readyMs: number[] = [];
        for (let i = 0; i < options.starts; i++) {
            const server = await serveModel(paths, venv, fetched.modelDir, { port: options.port, workers: 1, stdio: "ignore" });
            readyMs.push(server.readyMs);
            await server.stop();
        }
        readyMs.sort((a, b) => a - b);
        const medianReady = readyMs[Math.floor(readyMs.length / 2)];
        // Where the start goes: importing MLflow's scoring server, then the model's library.
        const { stdout: imports } = await run(path.join(venv, "bin", "python"), ["-c", "import time; t = time.perf_counter(); import mlflow.pyfunc.scoring_server; a = time.perf_counter(); import sklearn, scipy.sparse; print(a - t, time.perf_counter() - a)"]);
        const [mlflowImport, sklearnImport] = imports.trim().split(" ").map(Number);
        rows.push({
            measure: `serve_model.py start to first /ping 200 (median of ${options.starts})`,
            result: `${(medianReady / 1000).toFixed(2)} s (of it: import of MLflow's scoring server ${mlflowImport.toFixed(1)} s, of scikit-learn and SciPy ${sklearnImport.toFixed(1)} s)`,
            target: "<= 3 s",
            met: medianReady <= 3_000,
            note: "most of the start is importing MLflow's scoring server and scikit-learn, CPU-bound work the serving process cannot skip; see the README's Performance section",
        });
        const body = fs.readFileSync(path.join(projectDir, "serving", "sample-input.json"), "utf8");
        const rps: number[] = [];
        for (const workers of [1, 2]) {
            const server = await serveModel(paths, venv, fetched.modelDir, { port: options.port, workers, stdio: "ignore" });
            try {
                await throughput(server.url, body, Math.min(50, options.requests), 8); // warm-up
                rps.push(await throughput(server.url, body, options.requests, 16));
            } finally {
                await server.stop();
            }
        }
        rows.push({
            measure: `requests per second, one-row request, 16 in flight (${options.requests} requests), ${os.cpus().length} CPUs`,
            result: `1 worker ${Math.round(rps[0])}/s, 2 workers ${Math.round(rps[1])}/s: ${(rps[1] / rps[0]).toFixed(2)}x`,
            target: "2 workers >= 1.5x one on 2 CPUs (the image defaults to one worker per vCPU)",
            met: os.cpus().length < 2 || rps[1] / rps[0] >= 1.5,
        });
        return rows;
    } finally {
        fs.rmSync(folder, { recursive: true, force: true });
    }
}
