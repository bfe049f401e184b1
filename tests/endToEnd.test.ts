// The platform's core path with no stand-in on it: a pickled scikit-learn model becomes a
// registered MLflow version on a real tracking server (behind MLflow's basic-auth app), is resolved
// by RegistryClient and the ModelVersion provider, fetched by fetch_model.py as the Dockerfile's
// fetch step runs it, gets its own environment from install_environment.sh, is served by
// serve_model.py as PID 1 of its own PID namespace (as in a container) with the registry stopped,
// answers `npm run smoke` with the model's own predictions, and stops cleanly on SIGTERM.
import * as assert from "assert";
import { execFile, spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { ModelVersionProvider, type ModelVersionState } from "../components/registry/modelVersion";
import { RegistryClient } from "../lib/registry/client";
import { basicAuth } from "../lib/registry/credentials";
import { startDemoRegistry, type DemoRegistry } from "../lib/local/demo";
import { JOB_PARAMETERS, type JobParameters } from "../lib/registration/jobs";
import { buildCredential } from "../lib/serving/image";
import { runScript } from "./helpers/cli";
import { PROJECT_DIR } from "./helpers/fixtures";
import { PYTHON, UV } from "./helpers/python";
import { providerConfig } from "./helpers/serializedProvider";

const run = promisify(execFile);
const MODEL = "fraud-e2e";
const ALIAS = "champion";

interface Expected {
    columns: string[];
    sample_input_predictions: number[];
    sample_csv_predictions: number[];
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const probe = net.createServer();
        probe.once("error", reject);
        probe.listen(0, "127.0.0.1", () => {
            const port = (probe.address() as net.AddressInfo).port;
            probe.close(() => resolve(port));
        });
    });
}

/** The registration job's task parameters: one `--name=value` token each, then the fixed flags. */
function jobInvocation(values: JobParameters, experiment: string): string[] {
    return [...JOB_PARAMETERS.map((p) => `--${p}=${values[p]}`), "--registry", "mlflow", "--experiment", experiment];
}

async function waitForPing(url: string, timeoutMs: number): Promise<number> {
    const started = Date.now();
    for (;;) {
        try {
            const answer = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(5_000) });
            if (answer.status === 200) return Date.now() - started;
        } catch {
            // not listening yet
        }
        if (Date.now() - started > timeoutMs) throw new Error(`${url}/ping did not answer 200 within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

/** The host PID of the process that is PID 1 inside `unshare --pid --fork`'s new namespace. */
async function namespaceInit(unsharePid: number): Promise<number> {
    for (let i = 0; i < 100; i++) {
        const children = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, "utf8").trim();
        if (children) return Number(children.split(/\s+/)[0]);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error("unshare started no child");
}

describe("end to end: pickle -> registered version -> image steps -> endpoint -> predictions (real MLflow, scikit-learn, uv)", function () {
    this.timeout(600_000);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-"));
    const upload = path.join(root, "upload");
    let registry: DemoRegistry & { username: string; password: string };
    let expected: Expected;
    let version: string;
    const fetched = { model: path.join(root, "model"), env: path.join(root, "model-env") };
    const venv = path.join(root, "venv");
    let server: ChildProcess | undefined;
    let serverInit: number;
    let scoringUrl: string;

    before(async () => {
        // A basic-auth server of this test's own, so the test can stop it.
        registry = (await startDemoRegistry(PROJECT_DIR, PYTHON, path.join(root, "registry"), { auth: true })) as typeof registry;
    });

    after(async () => {
        if (server && server.exitCode === null) server.kill("SIGKILL");
        if (registry) await registry.stop();
        fs.rmSync(root, { recursive: true, force: true });
    });

    it("1. trains a scikit-learn model, pickles it and writes a CSV sample", async () => {
        await run(PYTHON, [path.join(PROJECT_DIR, "serving", "demo", "train_demo_model.py"), "--out", upload]);
        expected = JSON.parse(fs.readFileSync(path.join(upload, "expected.json"), "utf8"));
        assert.strictEqual(expected.columns.length, 14);
        assert.ok(fs.statSync(path.join(upload, "model.pkl")).size > 500);
        assert.strictEqual(fs.readFileSync(path.join(upload, "sample.csv"), "utf8").split("\n")[0], expected.columns.join(","));
        // Both classes occur, so "the same predictions" below cannot pass by a constant answer.
        assert.deepStrictEqual([...new Set(expected.sample_csv_predictions)].sort(), [0, 1]);
    });

    it("2. registers it with jobs/register_model.py, invoked as the registration job invokes it", async () => {
        const args = jobInvocation({ pickle: path.join(upload, "model.pkl"), model: MODEL, sample: path.join(upload, "sample.csv"), alias: ALIAS }, "/Shared/mlflow-platform/registrations");
        const env = { ...process.env, MLFLOW_TRACKING_URI: registry.url, MLFLOW_TRACKING_USERNAME: registry.username, MLFLOW_TRACKING_PASSWORD: registry.password };
        const { stdout } = await run(PYTHON, [path.join(PROJECT_DIR, "jobs", "register_model.py"), ...args], { env, maxBuffer: 16 * 1024 * 1024 });
        const result = JSON.parse(stdout.trim().split("\n").pop()!);
        assert.deepStrictEqual(Object.keys(result).sort(), ["alias", "flavour", "model_uri", "name", "version"]);
        assert.strictEqual(result.flavour, "sklearn");
        assert.strictEqual(result.name, MODEL);
        version = result.version;
        assert.strictEqual(result.model_uri, `models:/${MODEL}/${version}`);
        // A second registration, without an alias, so alias, pinned and latest differ.
        const again = jobInvocation({ pickle: path.join(upload, "model.pkl"), model: MODEL, sample: path.join(upload, "sample.csv"), alias: "" }, "/Shared/mlflow-platform/registrations");
        const second = JSON.parse((await run(PYTHON, [path.join(PROJECT_DIR, "jobs", "register_model.py"), ...again], { env })).stdout.trim().split("\n").pop()!);
        assert.strictEqual(Number(second.version), Number(version) + 1);
        assert.strictEqual(second.alias, undefined);
    });

    it("3. resolves it with RegistryClient and the ModelVersion provider (alias, pinned, latest)", async () => {
        const client = new RegistryClient({ kind: "mlflow", url: registry.url, credential: basicAuth(registry.username, registry.password, "test") });
        const byAlias = await client.resolve(MODEL, { alias: ALIAS });
        assert.strictEqual(byAlias.version, version);
        assert.ok(byAlias.aliases.includes(ALIAS));
        assert.strictEqual(byAlias.status, "READY");
        assert.strictEqual((await client.resolve(MODEL, { version })).version, version);
        assert.strictEqual((await client.resolve(MODEL, { latest: true })).version, String(Number(version) + 1));

        const provider = new ModelVersionProvider({ sleep: async () => undefined, timeoutMs: 10_000, onProgress: () => undefined });
        await provider.configure({ config: providerConfig({ "mlflow-platform:registryUsername": registry.username, "mlflow-platform:registryPassword": registry.password }) });
        for (const [selector, want] of [
            [{ alias: ALIAS }, version],
            [{ version }, version],
            [{ latest: true }, String(Number(version) + 1)],
        ] as const) {
            const inputs = { registryKind: "mlflow", registryUrl: registry.url, model: MODEL, selector } as ModelVersionState;
            const checked = await provider.check({} as ModelVersionState, inputs);
            assert.deepStrictEqual(checked.failures ?? [], []);
            assert.strictEqual(checked.inputs!.version, want, JSON.stringify(selector));
            assert.strictEqual(checked.inputs!.modelUri, `models:/${MODEL}/${want}`);
        }
    });

    it("4. fetches it with serving/fetch_model.py exactly as the Dockerfile's fetch step runs it", async () => {
        // The build's secret file, written by the same code that writes it for the image build.
        const credential = buildCredential("mlflow", { username: registry.username, password: registry.password }, {}, { offline: false })!;
        const secret = path.join(root, "registry_env");
        fs.writeFileSync(secret, await credential.content(), { mode: 0o600 });
        const dockerfile = fs.readFileSync(path.join(PROJECT_DIR, "serving", "Dockerfile"), "utf8");
        assert.match(dockerfile, /fetch_model\.py "models:\/\$\{MODEL_NAME\}\/\$\{MODEL_VERSION\}" \\\s+--registry-kind "\$\{REGISTRY_KIND\}" --registry-url "\$\{REGISTRY_URL\}" \\\s+--credentials-file \/run\/secrets\/registry_env \\\s+--dest \/model --env-dir \/model-env/);
        const { stdout, stderr } = await run(
            PYTHON,
            [path.join(PROJECT_DIR, "serving", "fetch_model.py"), `models:/${MODEL}/${version}`, "--registry-kind", "mlflow", "--registry-url", registry.url, "--credentials-file", secret, "--dest", fetched.model, "--env-dir", fetched.env],
            { env: { PATH: process.env.PATH, HOME: process.env.HOME } },
        );
        assert.deepStrictEqual(JSON.parse(stdout.trim()), { model: MODEL, version, python: "3.11", dest: fetched.model });
        assert.ok(!`${stdout}${stderr}`.includes(registry.password), "the password is never printed");
        assert.deepStrictEqual(fs.readdirSync(fetched.env).sort(), ["python-version", "requirements.txt"]);
        for (const file of ["MLmodel", "requirements.txt", "python_env.yaml", "model.skops"]) assert.ok(fs.existsSync(path.join(fetched.model, file)), file);
        const mlmodel = fs.readFileSync(path.join(fetched.model, "MLmodel"), "utf8");
        assert.match(mlmodel, /signature:/);
        assert.match(mlmodel, /serialization_format: skops/);
        // What serving installs is exactly requirements.txt: the reader of the model file is in it.
        assert.match(fs.readFileSync(path.join(fetched.env, "requirements.txt"), "utf8"), /^skops==/m);
    });

    it("5. builds its environment with serving/install_environment.sh from the fetched requirements.txt and python-version", async () => {
        await run("sh", [path.join(PROJECT_DIR, "serving", "install_environment.sh"), fetched.env], {
            // uv may use this machine's Python when the minor version matches; the image installs a managed one.
            env: { ...process.env, VENV_DIR: venv, UV_PYTHON_PREFERENCE: "only-system", MODEL_NAME: MODEL, MODEL_VERSION: version, PATH: `${path.dirname(UV)}:${process.env.PATH}` },
            maxBuffer: 64 * 1024 * 1024,
        });
        const { stdout } = await run(path.join(venv, "bin", "python"), ["-c", "import sys, mlflow, sklearn; print('%d.%d' % sys.version_info[:2], mlflow.__version__)"]);
        assert.strictEqual(stdout.trim().split(" ")[0], "3.11");
    });

    it("6. serves it with serving/serve_model.py as PID 1 of its own PID namespace, with the registry stopped", async () => {
        await registry.stop();
        await assert.rejects(fetch(`${registry.url}/health`), "the registry is down");
        const port = await freePort();
        scoringUrl = `http://127.0.0.1:${port}`;
        // As root (CI here), a PID namespace needs nothing else; elsewhere (a GitHub runner) a user namespace maps the caller to root first.
        const namespace = process.getuid?.() === 0 ? ["--pid", "--fork"] : ["--user", "--map-root-user", "--pid", "--fork"];
        server = spawn("unshare", [...namespace, path.join(venv, "bin", "python"), path.join(PROJECT_DIR, "serving", "serve_model.py"), "--model-dir", fetched.model, "--host", "127.0.0.1", "--port", String(port), "--workers", "2"], {
            stdio: ["ignore", "pipe", "pipe"],
            env: { PATH: process.env.PATH, HOME: root },
        });
        let log = "";
        server.stdout!.on("data", (d) => (log += d));
        server.stderr!.on("data", (d) => (log += d));
        serverInit = await namespaceInit(server.pid!);
        assert.strictEqual(fs.readFileSync(`/proc/${serverInit}/status`, "utf8").match(/^NSpid:\s+\d+\s+(\d+)/m)?.[1], "1", "the server is PID 1 in its namespace");
        await waitForPing(scoringUrl, 120_000).catch((err) => assert.fail(`${err.message}\n${log}`));
    });

    it("7. `npm run smoke -- --url` scores serving/sample-input.json and a CSV with the model's own predictions", async () => {
        const json = await runScript("scripts/smoke.ts", ["--url", `${scoringUrl}/invocations`, "--requests", "3", "--ready-timeout", "60"]);
        assert.strictEqual(json.code, 0, json.stderr + json.stdout);
        assert.match(json.stdout, new RegExp(`predictions ${JSON.stringify(expected.sample_input_predictions).replace(/[[\]]/g, "\\$&")}`));
        assert.match(json.stdout, /smoke: passed/);
        const csv = await runScript("scripts/smoke.ts", ["--url", `${scoringUrl}/invocations`, "--input", path.join(upload, "sample.csv"), "--requests", "3", "--ready-timeout", "60"]);
        assert.strictEqual(csv.code, 0, csv.stderr + csv.stdout);
        const line = csv.stdout.split("\n").find((l) => l.includes(": predictions "))!;
        assert.deepStrictEqual(JSON.parse(line.slice(line.indexOf("predictions ") + "predictions ".length)), expected.sample_csv_predictions);
    });

    it("8. SIGTERM to PID 1 lets an in-flight request finish and ends the server well inside the grace period", async () => {
        // A large batch keeps a request in flight while the signal arrives.
        const rows = Array.from({ length: 60_000 }, (_, i) => expected.columns.map((_, j) => ((i * 31 + j * 17) % 1000) + 0.5));
        const body = JSON.stringify({ dataframe_split: { columns: expected.columns, data: rows } });
        const exited = new Promise<number | null>((resolve) => server!.once("exit", (code) => resolve(code)));
        const inFlight = fetch(`${scoringUrl}/invocations`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
        await new Promise((resolve) => setTimeout(resolve, 300));
        const signalled = Date.now();
        process.kill(serverInit, "SIGTERM");
        const answer = await inFlight;
        assert.strictEqual(answer.status, 200);
        assert.strictEqual(((await answer.json()) as { predictions: unknown[] }).predictions.length, rows.length);
        const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve("still running"), 20_000))]);
        const stoppedMs = Date.now() - signalled;
        assert.strictEqual(code, 0, `exit ${code} after SIGTERM`);
        assert.ok(stoppedMs < 20_000, `stopped in ${stoppedMs} ms; Container Apps kills after its grace period`);
        await assert.rejects(fetch(`${scoringUrl}/ping`), "nothing listens after the stop");
    });
});
