// What `npm run local` does with one registry version, step by step, with the image's own scripts:
// fetch_model.py downloads it (as the Dockerfile's fetch stage runs it), install_environment.sh
// builds its environment (as the environment stage does, cached by its requirements), and
// serve_model.py serves it (as the image's command does).
import { execFile, spawn, type ChildProcess } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { parse as parseYaml } from "yaml";

export class LocalError extends Error {}

const run = promisify(execFile);

export interface LocalPaths {
    projectDir: string;
    /** The project's Python environment (MLflow's client for fetch_model.py, uv). */
    python: string;
    uv: string;
    cacheDir: string;
    /** Where fetched versions go; default <cacheDir>/models. */
    modelsDir?: string;
}

/** ~/.cache/mlflow-platform, or $XDG_CACHE_HOME/mlflow-platform. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
    return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "mlflow-platform");
}

/**
 * A built environment is reused for any model with the same requirements and Python, built by the
 * same recipe (`recipe`: the text of the scripts that decide what gets installed, so a change to
 * them, such as a library the server needs, builds the environment again).
 */
export function environmentKey(requirements: string, python: string, recipe = ""): string {
    return createHash("sha256").update(`${python.trim()}\0${requirements}\0${recipe}`).digest("hex").slice(0, 16);
}

/** The text of the scripts that build a serving environment from a model's requirements. */
export function environmentRecipe(projectDir: string): string {
    return ["install_environment.sh", "serving_requirements.py"].map((f) => fs.readFileSync(path.join(projectDir, "serving", f), "utf8")).join("\0");
}

/** Where a fetched version is kept: a registry version's files never change. */
export function modelCacheDir(modelsDir: string, registryUrl: string, name: string, version: string): string {
    const registry = createHash("sha256").update(registryUrl).digest("hex").slice(0, 12);
    return path.join(modelsDir, registry, name.replace(/[^A-Za-z0-9._-]/g, "_"), version);
}

function lastLines(text: string, count = 15): string {
    return text.trim().split("\n").slice(-count).join("\n");
}

/**
 * Downloads models:/name/version into the cache with fetch_model.py, exactly as the Dockerfile's
 * fetch step runs it: the same arguments, the credential in a KEY=VALUE file (0600, removed after).
 */
export async function fetchVersion(
    paths: LocalPaths,
    registry: { kind: string; url: string },
    name: string,
    version: string,
    credentialLines: string,
): Promise<{ modelDir: string; envDir: string; python: string }> {
    const target = modelCacheDir(paths.modelsDir ?? path.join(paths.cacheDir, "models"), registry.url, name, version);
    const modelDir = path.join(target, "model");
    const envDir = path.join(target, "env");
    if (fs.existsSync(path.join(envDir, "python-version")) && fs.existsSync(path.join(modelDir, "MLmodel"))) {
        return { modelDir, envDir, python: fs.readFileSync(path.join(envDir, "python-version"), "utf8").trim() };
    }
    fs.rmSync(target, { recursive: true, force: true });
    fs.mkdirSync(target, { recursive: true });
    const secretDir = fs.mkdtempSync(path.join(os.tmpdir(), "mlflow-local-"));
    const secretFile = path.join(secretDir, "registry_env");
    fs.writeFileSync(secretFile, credentialLines, { mode: 0o600 });
    const partial = path.join(target, "partial");
    try {
        const { stdout } = await run(
            paths.python,
            [
                path.join(paths.projectDir, "serving", "fetch_model.py"),
                `models:/${name}/${version}`,
                "--registry-kind", registry.kind,
                "--registry-url", registry.url,
                "--credentials-file", secretFile,
                "--dest", path.join(partial, "model"),
                "--env-dir", path.join(partial, "env"),
            ],
            { env: scriptEnv(), maxBuffer: 16 * 1024 * 1024 },
        );
        const info = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as { python?: string };
        fs.renameSync(path.join(partial, "model"), modelDir);
        fs.renameSync(path.join(partial, "env"), envDir);
        return { modelDir, envDir, python: info.python ?? fs.readFileSync(path.join(envDir, "python-version"), "utf8").trim() };
    } catch (err) {
        const e = err as { stderr?: string; message: string };
        // fetch_model.py's own message (it never prints the credential).
        throw new LocalError(lastLines(e.stderr || e.message).replace(/^fetch_model: /gm, ""));
    } finally {
        fs.rmSync(secretDir, { recursive: true, force: true });
        fs.rmSync(partial, { recursive: true, force: true });
    }
}

/** The environment for the scripts: none of the caller's MLflow or Databricks settings leak in. */
function scriptEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
        if (!/^(MLFLOW_|DATABRICKS_)/.test(key)) env[key] = value;
    }
    return { ...env, ...extra };
}

/**
 * Builds (or reuses) the model's own environment with install_environment.sh, as the image's
 * environment stage does. uv may use this machine's Python when its minor version matches
 * (UV_PYTHON_PREFERENCE=system); the image always installs a managed one.
 */
export async function buildEnvironment(paths: LocalPaths, envDir: string, name: string, version: string, log: (line: string) => void): Promise<string> {
    const requirements = fs.readFileSync(path.join(envDir, "requirements.txt"), "utf8");
    const python = fs.readFileSync(path.join(envDir, "python-version"), "utf8").trim();
    const venv = path.join(paths.cacheDir, "envs", environmentKey(requirements, python, environmentRecipe(paths.projectDir)));
    const ready = path.join(venv, ".ready");
    if (fs.existsSync(ready)) {
        log(`environment: reusing ${venv} (same requirements.txt and Python ${python})`);
        return venv;
    }
    const building = `${venv}.building-${process.pid}`;
    fs.rmSync(building, { recursive: true, force: true });
    log(`environment: installing Python ${python} and the model's requirements.txt into ${venv} (first time only)`);
    try {
        await run("sh", [path.join(paths.projectDir, "serving", "install_environment.sh"), envDir], {
            env: scriptEnv({
                VENV_DIR: building,
                MODEL_NAME: name,
                MODEL_VERSION: version,
                UV_PYTHON_PREFERENCE: process.env.UV_PYTHON_PREFERENCE ?? "system",
                // As the image builds it (its Dockerfile sets the same): compiled once, started faster.
                UV_COMPILE_BYTECODE: "1",
                PATH: `${path.dirname(paths.uv)}${path.delimiter}${process.env.PATH ?? ""}`,
            }),
            maxBuffer: 64 * 1024 * 1024,
        });
    } catch (err) {
        fs.rmSync(building, { recursive: true, force: true });
        const e = err as { stderr?: string; message: string };
        throw new LocalError(`the environment of model ${name} version ${version} could not be built:\n${lastLines(e.stderr || e.message)}`);
    }
    fs.rmSync(venv, { recursive: true, force: true });
    fs.renameSync(building, venv);
    fs.writeFileSync(ready, `${python}\n`);
    return venv;
}

export interface RunningServer {
    url: string;
    process: ChildProcess;
    /** Milliseconds from start to the first /ping 200. */
    readyMs: number;
    stop(): Promise<number | null>;
}

/** Starts serve_model.py from the model's environment and waits for /ping, as Container Apps' probe does. */
export async function serveModel(
    paths: LocalPaths,
    venv: string,
    modelDir: string,
    options: {
        port: number;
        workers?: number;
        readyTimeoutMs?: number;
        stdio?: "inherit" | "ignore";
        identity?: { model: string; version: string };
        /** More variables for the server (the bench turns the payload log on with them; `npm run local` leaves it off). */
        env?: Record<string, string>;
    },
): Promise<RunningServer> {
    const started = Date.now();
    const args = [path.join(paths.projectDir, "serving", "serve_model.py"), "--model-dir", modelDir, "--host", "127.0.0.1", "--port", String(options.port)];
    if (options.workers) args.push("--workers", String(options.workers));
    // The names its request records and metrics carry, as a revision's variables give them in Azure.
    const identity = options.identity ? { SERVING_MODEL_NAME: options.identity.model, SERVING_MODEL_VERSION: options.identity.version, SERVING_IMAGE_TAG: "local" } : {};
    const child = spawn(path.join(venv, "bin", "python"), args, { env: scriptEnv({ ...identity, ...options.env }), stdio: ["ignore", options.stdio ?? "inherit", options.stdio ?? "inherit"] });
    let exited: number | null | undefined;
    const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => { exited = code; resolve(code); }));
    const url = `http://127.0.0.1:${options.port}`;
    const deadline = started + (options.readyTimeoutMs ?? 120_000);
    const stop = async () => {
        if (exited === undefined) child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        const code = await exit;
        clearTimeout(timer);
        return code;
    };
    for (;;) {
        if (exited !== undefined) throw new LocalError(`serve_model.py stopped (exit ${exited}) before the model answered /ping: its reason is above`);
        try {
            const answer = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(5_000) });
            if (answer.status === 200) return { url, process: child, readyMs: Date.now() - started, stop };
        } catch {
            // not listening yet
        }
        if (Date.now() > deadline) {
            await stop();
            throw new LocalError(`the model did not answer ${url}/ping within ${Math.round((options.readyTimeoutMs ?? 120_000) / 1000)} s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

/**
 * A request body to paste: the model's own serving example when it was logged with one
 * (MLflow writes serving_input_example.json), else a dataframe_split with the signature's columns.
 */
export function requestExample(modelDir: string): { body: string; fromModel: boolean } | undefined {
    const example = path.join(modelDir, "serving_input_example.json");
    if (fs.existsSync(example)) return { body: JSON.stringify(JSON.parse(fs.readFileSync(example, "utf8"))), fromModel: true };
    try {
        const mlmodel = parseYaml(fs.readFileSync(path.join(modelDir, "MLmodel"), "utf8")) as { signature?: { inputs?: string } };
        const inputs = JSON.parse(mlmodel.signature?.inputs ?? "null") as { name?: string }[] | null;
        const columns = (inputs ?? []).map((c) => c.name).filter((c): c is string => typeof c === "string");
        if (columns.length) return { body: JSON.stringify({ dataframe_split: { columns, data: [columns.map(() => 0)] } }), fromModel: false };
    } catch {
        // no readable signature: no example
    }
    return undefined;
}
