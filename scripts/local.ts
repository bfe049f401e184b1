// `npm run local -- --model <name> (--alias A | --version N | --latest) [--registry URL]` and
// `npm run local -- --demo`: serves a registry version on this machine exactly as its image would.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { DEMO_ALIAS, DEMO_MODEL, registerDemoModel, startDemoRegistry } from "../lib/local/demo";
import { buildEnvironment, defaultCacheDir, fetchVersion, LocalError, requestExample, serveModel, type LocalPaths } from "../lib/local/model";
import { LOCAL_USAGE, LocalUsageError, parseLocalOptions, type LocalOptions } from "../lib/local/options";
import { ensurePythonEnvironment, PythonEnvironmentError } from "../lib/python/environment";
import { RegistryClient } from "../lib/registry/client";
import { selectCredential } from "../lib/registry/credentials";
import { RegistryError } from "../lib/registry/errors";
import { describeSelector } from "../lib/registry/types";
import { buildCredential } from "../lib/serving/image";

const PROJECT_DIR = path.resolve(__dirname, "..");
const STEPS = 5;

let stepNumber = 0;
function step(what: string): void {
    stepNumber += 1;
    console.error(`[${stepNumber}/${STEPS}] ${what}`);
}

function portFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const probe = net.createServer();
        probe.once("error", () => resolve(false));
        probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
}

async function main(argv: string[]): Promise<number> {
    let options: LocalOptions | undefined;
    try {
        options = parseLocalOptions(argv);
    } catch (err) {
        if (err instanceof LocalUsageError) {
            console.error(`local: ${err.message}\n\n${LOCAL_USAGE}`);
            return 2;
        }
        throw err;
    }
    if (!options) {
        console.log(LOCAL_USAGE);
        return 0;
    }
    if (!(await portFree(options.port))) {
        console.error(`local: port ${options.port} on 127.0.0.1 is in use: pass --port <another port>`);
        return 1;
    }
    const cleanups: (() => Promise<unknown>)[] = [];
    const cleanUp = async () => {
        for (const clean of cleanups.reverse()) await clean().catch(() => undefined);
        cleanups.length = 0;
    };
    let stopping = false;
    const stopped = new Promise<void>((resolve) => {
        for (const signal of ["SIGINT", "SIGTERM"] as const) {
            process.on(signal, () => {
                stopping = true;
                resolve();
            });
        }
    });
    try {
        step("python environment (.venv)");
        const env = await ensurePythonEnvironment({ projectDir: PROJECT_DIR, log: (line) => console.error(`      ${line}`) });
        const paths: LocalPaths = { projectDir: PROJECT_DIR, python: env.python, uv: env.uv, cacheDir: options.cacheDir ?? defaultCacheDir() };
        let registry = options.registry;
        let model = options.model;
        let selector = options.selector;
        if (options.demo) {
            const folder = fs.mkdtempSync(path.join(os.tmpdir(), "mlflow-demo-"));
            cleanups.push(async () => fs.rmSync(folder, { recursive: true, force: true }));
            console.error("      demo: starting an MLflow tracking server on 127.0.0.1 (SQLite, in a temporary folder)");
            const demo = await startDemoRegistry(PROJECT_DIR, env.python, path.join(folder, "registry"));
            cleanups.push(() => demo.stop());
            console.error(`      demo: training the sample model, pickling it, and registering it with jobs/register_model.py at ${demo.url}`);
            await registerDemoModel(PROJECT_DIR, env.python, demo.url, path.join(folder, "upload"));
            registry = { kind: "mlflow", url: demo.url };
            model = DEMO_MODEL;
            selector = { alias: DEMO_ALIAS };
            // A demo registry lives for this run only: its versions are fetched into the run's folder
            // (built environments are still cached, by requirements).
            paths.modelsDir = path.join(folder, "models");
        }
        if (!registry || !model || !selector) throw new LocalError("no model to serve");
        step(`resolve ${model} ${describeSelector(selector)} at ${registry.url}`);
        const client = new RegistryClient({ kind: registry.kind, url: registry.url, credential: selectCredential(registry.kind), onProgress: (m) => console.error(`      ${m}`) });
        const found = await client.resolve(model, selector);
        console.error(`      ${model} version ${found.version} (${found.status})`);

        step(`fetch models:/${model}/${found.version} with serving/fetch_model.py`);
        const credential = buildCredential(registry.kind, {}, process.env, { offline: false });
        const fetched = await fetchVersion(paths, registry, model, found.version, credential ? await credential.content() : "");
        console.error(`      ${fetched.modelDir} (Python ${fetched.python})`);

        step("build its environment with serving/install_environment.sh");
        const venv = await buildEnvironment(paths, fetched.envDir, model, found.version, (line) => console.error(`      ${line}`));

        step(`serve it with serving/serve_model.py on 127.0.0.1:${options.port}`);
        const server = await serveModel(paths, venv, fetched.modelDir, { port: options.port, workers: options.workers, identity: { model, version: found.version } });
        cleanups.push(() => server.stop());
        const example = options.demo
            ? { body: `@${path.relative(process.cwd(), path.join(PROJECT_DIR, "serving", "sample-input.json")) || "serving/sample-input.json"}`, fromModel: true }
            : requestExample(fetched.modelDir);
        console.log(`\n${model} version ${found.version} is serving at ${server.url}/invocations (ready in ${(server.readyMs / 1000).toFixed(1)} s)`);
        if (example) {
            const data = example.body.startsWith("@") ? example.body : `'${example.body.replace(/'/g, "'\\''")}'`;
            console.log(`${example.fromModel ? "Try" : "Fill in the values and try"}:\n  curl -s -X POST ${server.url}/invocations -H 'Content-Type: application/json' --data ${data}`);
        }
        console.log(`Or: npm run smoke -- --url ${server.url}/invocations${options.demo ? "" : " --input <file.json|file.csv>"}`);
        console.log(`Each request prints one JSON record below; metrics: curl -s ${server.url}/metrics\nCtrl-C stops it.`);
        const ended = await Promise.race([stopped.then(() => "signal" as const), new Promise<number | null>((resolve) => server.process.once("exit", resolve))]);
        if (ended !== "signal") {
            console.error(`local: the scoring server stopped (exit ${ended})`);
            return 1;
        }
        return 0;
    } catch (err) {
        if (err instanceof LocalError || err instanceof RegistryError || err instanceof PythonEnvironmentError) {
            console.error(`local: ${err.message}`);
            return 1;
        }
        if (stopping) return 130;
        console.error(`local: ${(err as Error).message}`);
        return 1;
    } finally {
        await cleanUp();
    }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
