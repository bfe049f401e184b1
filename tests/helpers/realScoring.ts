// A real MLflow scoring server (`mlflow models serve --env-manager local`) of the demo fraud model
// (serving/demo/train_demo_model.py, saved as an MLflow model with a 14-column signature), for
// tests that must see what MLflow itself answers. The model folder is built once per run; each
// test file starts its own server in a `before` hook and stops it (process group) in `after`.
import { execFile, spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import axios from "axios";
import { PROJECT_DIR } from "./fixtures";
import { PYTHON } from "./python";

/** expected.json of train_demo_model.py: the model's own predict() on known rows. */
export interface Expected {
    columns: string[];
    /** On the row of serving/sample-input.json. */
    sample_input_predictions: number[];
    /** On the rows of sample.csv. */
    sample_csv_predictions: number[];
}

export interface RealScoring {
    /** `http://127.0.0.1:<port>` */
    origin: string;
    /** `<origin>/invocations` */
    scoringUri: string;
    /** The model's own predictions on known rows (expected.json). */
    expected: Expected;
    /** The rows of the training sample (sample.csv), as CSV text with a header. */
    sampleCsv: string;
    stop(): Promise<void>;
}

const SAVE_MODEL = `
import json, pickle, sys
import pandas
import mlflow.sklearn
from mlflow.models import infer_signature
folder, out = sys.argv[1], sys.argv[2]
with open(folder + "/model.pkl", "rb") as handle:
    model = pickle.load(handle)
frame = pandas.read_csv(folder + "/sample.csv")
mlflow.sklearn.save_model(model, out, signature=infer_signature(frame, model.predict(frame)))
`;

let built: Promise<{ modelDir: string; expected: Expected; sampleCsv: string }> | undefined;
let root: string | undefined;

function cleanEnv(): NodeJS.ProcessEnv {
    const env = { ...process.env };
    for (const key of Object.keys(env)) if (key.startsWith("MLFLOW_") || /^(http|https|all)_proxy$/i.test(key)) delete env[key];
    // mlflow models serve runs `uvicorn` from PATH: the one of .venv.
    return { ...env, PATH: `${path.dirname(PYTHON)}${path.delimiter}${env.PATH ?? ""}`, MLFLOW_DISABLE_TELEMETRY: "true", DO_NOT_TRACK: "true" };
}

/** The demo model as an MLflow model folder; built once per run. */
function buildModel(): Promise<{ modelDir: string; expected: Expected; sampleCsv: string }> {
    built ??= (async () => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "real-scoring-"));
        const demo = path.join(root, "demo");
        const modelDir = path.join(root, "model");
        const run = promisify(execFile);
        await run(PYTHON, [path.join(PROJECT_DIR, "serving", "demo", "train_demo_model.py"), "--out", demo], { env: cleanEnv() });
        await run(PYTHON, ["-c", SAVE_MODEL, demo, modelDir], { env: cleanEnv() });
        const expected = JSON.parse(fs.readFileSync(path.join(demo, "expected.json"), "utf8")) as Expected;
        return { modelDir, expected, sampleCsv: fs.readFileSync(path.join(demo, "sample.csv"), "utf8") };
    })();
    return built;
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}

function stopGroup(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
        const timer = setTimeout(() => {
            try {
                process.kill(-child.pid!, "SIGKILL");
            } catch {
                // already gone
            }
        }, 10_000);
        child.once("exit", () => {
            clearTimeout(timer);
            resolve();
        });
        try {
            process.kill(-child.pid!, "SIGTERM");
        } catch {
            clearTimeout(timer);
            resolve();
        }
    });
}

/** Starts `mlflow models serve` of the demo model on a free loopback port; resolves once /ping answers 200. */
export async function startRealScoring(timeoutMs = 240_000): Promise<RealScoring> {
    const { modelDir, expected, sampleCsv } = await buildModel();
    const port = await freePort();
    const log = path.join(root!, `serve-${port}.log`);
    const out = fs.openSync(log, "w");
    const mlflow = path.join(path.dirname(PYTHON), "mlflow");
    // Its own process group, so stopping it stops its gunicorn/uvicorn workers too.
    const child = spawn(mlflow, ["models", "serve", "-m", modelDir, "--env-manager", "local", "--host", "127.0.0.1", "--port", String(port)], {
        env: cleanEnv(),
        stdio: ["ignore", out, out],
        detached: true,
    });
    fs.closeSync(out);
    const origin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (child.exitCode !== null) throw new Error(`mlflow models serve exited with ${child.exitCode}:\n${fs.readFileSync(log, "utf8").slice(-3000)}`);
        const ok = await axios
            .get(`${origin}/ping`, { timeout: 5_000, validateStatus: () => true })
            .then((r) => r.status === 200)
            .catch(() => false);
        if (ok) break;
        if (Date.now() > deadline) {
            await stopGroup(child);
            throw new Error(`mlflow models serve did not answer /ping within ${timeoutMs} ms:\n${fs.readFileSync(log, "utf8").slice(-3000)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return { origin, scoringUri: `${origin}/invocations`, expected, sampleCsv, stop: () => stopGroup(child) };
}
