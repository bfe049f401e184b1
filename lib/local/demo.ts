// --demo: an embedded MLflow tracking server (serving/demo/mlflow_server.py) and the sample model,
// trained, pickled and registered through jobs/register_model.py as a data scientist's upload is.
import { execFile, spawn, type ChildProcess } from "child_process";
import * as path from "path";
import { createInterface } from "readline";
import { promisify } from "util";
import { LocalError } from "./model";

export const DEMO_MODEL = "demo-fraud";
export const DEMO_ALIAS = "champion";

export interface DemoRegistry {
    url: string;
    /** Behind MLflow's basic-auth app: its admin user. */
    username?: string;
    password?: string;
    launcher: ChildProcess;
    /** Stops the server (closing its launcher's stdin) and waits for it. */
    stop(): Promise<void>;
}

/**
 * The embedded MLflow server of --demo (serving/demo/mlflow_server.py), stopped with this command;
 * with `auth`, behind MLflow's basic-auth app (the end-to-end test's registry).
 */
export async function startDemoRegistry(projectDir: string, python: string, folder: string, options: { auth?: boolean } = {}): Promise<DemoRegistry> {
    const args = [path.join(projectDir, "serving", "demo", "mlflow_server.py"), "--dir", folder, ...(options.auth ? ["--auth"] : [])];
    const launcher = spawn(python, args, { stdio: ["pipe", "pipe", "inherit"] });
    const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: launcher.stdout! }).once("line", resolve);
        launcher.once("exit", (code) => reject(new LocalError(`the demo's MLflow server did not start (exit ${code})`)));
    });
    const info = JSON.parse(line) as { url?: string; username?: string; password?: string; error?: string };
    if (!info.url) throw new LocalError(`the demo's MLflow server did not start: ${info.error ?? line}`);
    const stop = async () => {
        if (launcher.exitCode !== null) return;
        const exited = new Promise((resolve) => launcher.once("exit", resolve));
        launcher.stdin?.end();
        await exited;
    };
    return { url: info.url, username: info.username, password: info.password, launcher, stop };
}

/** Trains the sample model, pickles it, and registers the pickle through jobs/register_model.py. */
export async function registerDemoModel(projectDir: string, python: string, registryUrl: string, folder: string): Promise<void> {
    const run = promisify(execFile);
    await run(python, [path.join(projectDir, "serving", "demo", "train_demo_model.py"), "--out", folder]);
    const env: NodeJS.ProcessEnv = { ...process.env, MLFLOW_TRACKING_URI: registryUrl };
    delete env.MLFLOW_TRACKING_USERNAME;
    delete env.MLFLOW_TRACKING_PASSWORD;
    delete env.MLFLOW_TRACKING_TOKEN;
    try {
        await run(
            python,
            [
                path.join(projectDir, "jobs", "register_model.py"),
                `--pickle=${path.join(folder, "model.pkl")}`,
                `--model=${DEMO_MODEL}`,
                `--sample=${path.join(folder, "sample.csv")}`,
                `--alias=${DEMO_ALIAS}`,
                "--registry=mlflow",
            ],
            { env, maxBuffer: 16 * 1024 * 1024 },
        );
    } catch (err) {
        const e = err as { stdout?: string; message: string };
        const last = (e.stdout ?? "").trim().split("\n").pop() ?? "";
        let reason = e.message;
        try {
            reason = JSON.parse(last).error ?? reason;
        } catch {
            // not the script's JSON line
        }
        throw new LocalError(`registering the demo model failed: ${reason}`);
    }
}
