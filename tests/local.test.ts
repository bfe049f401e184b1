// `npm run local`: its flags and caches as units, and `--demo` as a person runs it: one command
// prints a URL that answers a POST of serving/sample-input.json with predictions.
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createInterface } from "readline";
import { buildEnvironment, environmentKey, environmentRecipe, LocalError, modelCacheDir, requestExample } from "../lib/local/model";
import { LocalUsageError, parseLocalOptions } from "../lib/local/options";
import { checkPythonVersion, environmentStamp, PythonEnvironmentError, uvPin } from "../lib/python/environment";
import { runScript } from "./helpers/cli";
import { PROJECT_DIR } from "./helpers/fixtures";
import { PYTHON, UV } from "./helpers/python";
import { realMlflow, uniqueModelName } from "./helpers/realMlflow";

describe("npm run local", () => {
    describe("flags", () => {
        const env = { MLFLOW_TRACKING_URI: "http://127.0.0.1:5000" };

        it("takes a model and exactly one of --alias, --version, --latest", () => {
            assert.deepStrictEqual(parseLocalOptions(["--model", "fraud", "--alias", "champion"], env), {
                demo: false,
                model: "fraud",
                selector: { alias: "champion" },
                registry: { kind: "mlflow", url: "http://127.0.0.1:5000" },
                port: 5001,
                workers: undefined,
                cacheDir: undefined,
            });
            assert.deepStrictEqual(parseLocalOptions(["--model", "fraud", "--version", "12"], env)!.selector, { version: "12" });
            assert.deepStrictEqual(parseLocalOptions(["--model", "fraud", "--latest"], env)!.selector, { latest: true });
            assert.throws(() => parseLocalOptions(["--model", "fraud"], env), /choose exactly one of --alias <alias>, --version <n> or --latest$/);
            assert.throws(() => parseLocalOptions(["--model", "fraud", "--alias", "a", "--latest"], env), /\(got --alias and --latest\)/);
            assert.throws(() => parseLocalOptions(["--alias", "a"], env), /--model <name> is required \(or --demo\)/);
        });

        it("refuses bad values, naming the flag and what is allowed", () => {
            for (const [argv, message] of [
                [["--model", "m", "--version", "v3"], /--version "v3" is not allowed: use a version number such as 3/],
                [["--model", "m", "--version", "0"], /--version "0" is not allowed/],
                [["--model", "m", "--alias", "bad alias"], /--alias "bad alias" is not allowed: use letters, digits/],
                [["--model", "m", "--latest", "--port", "70000"], /--port "70000" is not allowed: use a whole number from 1 to 65535/],
                [["--model", "m", "--latest", "--workers", "0"], /--workers "0" is not allowed: use a whole number from 1 to 64/],
                [["--model", "m", "--latest", "--kind", "sagemaker"], /--kind "sagemaker" is not allowed: use one of mlflow, databricks, unity-catalog/],
                [["--demo", "--model", "m"], /--demo serves its own sample model: drop --model/],
                [["--model", "m", "--latest", "--stack", "dev"], /Unknown option '--stack'/],
            ] as const) {
                assert.throws(() => parseLocalOptions([...argv], env), (err: Error) => err instanceof LocalUsageError && message.test(err.message), String(argv));
            }
        });

        it("finds the registry in --registry, MLFLOW_TRACKING_URI or DATABRICKS_HOST", () => {
            assert.deepStrictEqual(parseLocalOptions(["--model", "m", "--latest", "--registry", "https://mlflow.example.com"], {})!.registry, { kind: "mlflow", url: "https://mlflow.example.com" });
            assert.deepStrictEqual(parseLocalOptions(["--model", "c.s.m", "--latest"], { DATABRICKS_HOST: "https://adb-1.2.azuredatabricks.net" })!.registry, {
                kind: "unity-catalog",
                url: "https://adb-1.2.azuredatabricks.net",
            });
            assert.deepStrictEqual(parseLocalOptions(["--model", "m", "--latest", "--kind", "databricks"], { MLFLOW_TRACKING_URI: "http://x:1", DATABRICKS_HOST: "https://adb-1.2.azuredatabricks.net" })!.registry!.kind, "databricks");
            assert.throws(() => parseLocalOptions(["--model", "m", "--latest"], {}), /no registry: pass --registry <url>, or set MLFLOW_TRACKING_URI \(MLflow\) or DATABRICKS_HOST \(Databricks\)/);
            assert.throws(() => parseLocalOptions(["--model", "m", "--latest", "--registry", "mlflow.example.com"], {}), /--registry "mlflow.example.com" has no http:\/\/ or https:\/\//);
        });

        it("never echoes a credential written into the registry URL", () => {
            assert.throws(
                () => parseLocalOptions(["--model", "m", "--latest", "--registry", "https://alice:hunter2-secret@mlflow.example.com"], {}),
                (err: Error) => /has a user name or password in it/.test(err.message) && !err.message.includes("hunter2-secret"),
            );
        });

        it("answers --help and -h with its usage and exit 0, and a bad flag with exit 2", async () => {
            for (const flag of ["--help", "-h"]) {
                const result = await runScript("scripts/local.ts", [flag]);
                assert.strictEqual(result.code, 0);
                assert.match(result.stdout, /^usage: npm run local -- --model <name>/);
            }
            const bad = await runScript("scripts/local.ts", ["--model", "m"], { env: { ...process.env, MLFLOW_TRACKING_URI: "http://127.0.0.1:9" } });
            assert.strictEqual(bad.code, 2);
            assert.match(bad.stderr, /^local: choose exactly one of/);
            assert.doesNotMatch(bad.stderr, /\n\s+at /, "no stack trace");
        });

        it("fails in seconds, clearly, when the registry does not answer", async function () {
            this.timeout(120_000);
            const started = Date.now();
            const result = await runScript("scripts/local.ts", ["--model", "fraud", "--alias", "champion", "--registry", "http://127.0.0.1:9", "--port", "5098"]);
            assert.strictEqual(result.code, 1);
            assert.match(result.stderr, /local: .*127\.0\.0\.1:9/);
            assert.doesNotMatch(result.stderr, /\n\s+at /);
            assert.ok(Date.now() - started < 90_000);
        });
    });

    describe("failures against the real thing", function () {
        this.timeout(300_000);

        it("a version the registry does not have: exit 1, the registry's answer, no stack trace", async () => {
            const server = await realMlflow("plain");
            const name = uniqueModelName("local-missing");
            await fetch(`${server.url}/api/2.0/mlflow/registered-models/create`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }) });
            const result = await runScript("scripts/local.ts", ["--model", name, "--version", "99", "--registry", server.url, "--port", "5097"]);
            assert.strictEqual(result.code, 1, result.stderr);
            assert.match(result.stderr, new RegExp(`local: .*${name}.*version 99`));
            assert.doesNotMatch(result.stderr, /\n\s+at /);
        });

        it("requirements that cannot be installed: the installer's reason, and nothing half-built left in the cache", async () => {
            const root = fs.mkdtempSync(path.join(os.tmpdir(), "local-bad-env-"));
            const envDir = path.join(root, "env");
            fs.mkdirSync(envDir);
            fs.writeFileSync(path.join(envDir, "requirements.txt"), "mlflow==3.17.2\nthis-package-does-not-exist-mlflow-platform==0.0.1\n");
            fs.writeFileSync(path.join(envDir, "python-version"), "3.11\n");
            const paths = { projectDir: PROJECT_DIR, python: PYTHON, uv: UV, cacheDir: path.join(root, "cache") };
            await assert.rejects(buildEnvironment(paths, envDir, "fraud", "4", () => undefined), (err: Error) => {
                assert.ok(err instanceof LocalError);
                assert.match(err.message, /^the environment of model fraud version 4 could not be built:\n/);
                assert.match(err.message, /this-package-does-not-exist-mlflow-platform/);
                assert.match(err.message, /its requirements\.txt cannot be installed/);
                return true;
            });
            assert.deepStrictEqual(fs.existsSync(path.join(root, "cache", "envs")) ? fs.readdirSync(path.join(root, "cache", "envs")) : [], []);
            fs.rmSync(root, { recursive: true, force: true });
        });
    });

    describe("caches and examples", () => {
        it("keys a built environment by requirements and Python only", () => {
            const a = environmentKey("mlflow==3.17.2\nscikit-learn==1.9.1\n", "3.11");
            assert.strictEqual(a, environmentKey("mlflow==3.17.2\nscikit-learn==1.9.1\n", "3.11\n"));
            assert.notStrictEqual(a, environmentKey("mlflow==3.17.2\nscikit-learn==1.9.0\n", "3.11"));
            assert.notStrictEqual(a, environmentKey("mlflow==3.17.2\nscikit-learn==1.9.1\n", "3.12"));
            // A new recipe (serving_requirements.py adding a library the server needs) builds it again.
            assert.notStrictEqual(a, environmentKey("mlflow==3.17.2\nscikit-learn==1.9.1\n", "3.11", "recipe v2"));
            assert.strictEqual(environmentKey("r", "3.11", environmentRecipe(PROJECT_DIR)), environmentKey("r", "3.11", environmentRecipe(PROJECT_DIR)));
            assert.match(a, /^[0-9a-f]{16}$/);
        });

        it("keeps fetched versions apart by registry, model and version, with safe folder names", () => {
            const one = modelCacheDir("/c", "http://a:1", "main.risk.fraud", "3");
            assert.notStrictEqual(one, modelCacheDir("/c", "http://b:1", "main.risk.fraud", "3"));
            assert.notStrictEqual(one, modelCacheDir("/c", "http://a:1", "main.risk.fraud", "4"));
            assert.strictEqual(path.basename(path.dirname(modelCacheDir("/c", "http://a:1", "../../etc", "1"))), ".._.._etc");
        });

        it("prints the model's own serving example, else a request with the signature's columns", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "local-example-"));
            fs.writeFileSync(path.join(dir, "MLmodel"), `signature:\n  inputs: '[{"type": "double", "name": "age", "required": true}, {"type": "double", "name": "amount", "required": true}]'\n`);
            assert.deepStrictEqual(requestExample(dir), { body: '{"dataframe_split":{"columns":["age","amount"],"data":[[0,0]]}}', fromModel: false });
            fs.writeFileSync(path.join(dir, "serving_input_example.json"), '{\n  "dataframe_split": {"columns": ["age"], "data": [[3]]}\n}');
            assert.deepStrictEqual(requestExample(dir), { body: '{"dataframe_split":{"columns":["age"],"data":[[3]]}}', fromModel: true });
            fs.rmSync(dir, { recursive: true });
            assert.strictEqual(requestExample(dir), undefined);
        });
    });

    describe("the project's Python environment", () => {
        it("is stamped by requirements.txt and the Python it was made from", () => {
            const stamp = environmentStamp("uv==0.13.9\n", "3.11.7");
            assert.notStrictEqual(stamp, environmentStamp("uv==0.13.9\n", "3.11.8"));
            assert.notStrictEqual(stamp, environmentStamp("uv==0.13.10\n", "3.11.7"));
        });

        it("installs the uv that requirements.txt pins, and says so when there is none", () => {
            assert.strictEqual(uvPin(fs.readFileSync(path.join(PROJECT_DIR, "requirements.txt"), "utf8")), "uv==0.13.9");
            assert.throws(() => uvPin("mlflow==3.17.2\n"), (err: Error) => err instanceof PythonEnvironmentError && /pins no uv/.test(err.message));
        });

        it("pins every package of requirements.txt exactly", () => {
            const lines = fs.readFileSync(path.join(PROJECT_DIR, "requirements.txt"), "utf8").split("\n").filter((l) => l && !/^\s*#/.test(l) && !/^\s/.test(l));
            assert.ok(lines.length > 50, `${lines.length} pins`);
            for (const line of lines) assert.match(line, /^[A-Za-z0-9._-]+(\[[a-z,]+\])?==[0-9][^\s]*( ;.*)?$/, line);
            for (const wanted of ["mlflow", "scikit-learn", "pandas", "pyarrow", "uv", "azure-storage-file-datalake", "databricks-sdk"]) {
                assert.ok(lines.some((l) => l.startsWith(`${wanted}==`)), wanted);
            }
        });

        it("refuses a Python that MLflow 3 does not run on, naming it", () => {
            assert.deepStrictEqual(checkPythonVersion("3.11.7", "python3"), [3, 11]);
            assert.throws(() => checkPythonVersion("3.9.18", "python3"), /python3 is Python 3\.9; the project's Python environment needs Python 3\.10 to 3\.13/);
            assert.throws(() => checkPythonVersion("3.14.0", "/usr/bin/python3.14"), /Python 3\.14/);
            assert.throws(() => checkPythonVersion("Python", "python3"), /not a Python version/);
        });
    });

    /** The first defined answer of `probe`, polled for up to 10 s. */
async function waitFor<T>(probe: () => T | undefined): Promise<T> {
    for (let i = 0; i < 100; i++) {
        const found = probe();
        if (found !== undefined) return found;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("not seen within 10 s");
}

    describe("--demo", function () {
        this.timeout(600_000);

        it("prints a URL that answers a POST of serving/sample-input.json with predictions, and stops on Ctrl-C", async () => {
            const port = 5000 + (process.pid % 1000) + 100;
            const child = spawn(process.execPath, ["-r", "./scripts/register-ts.js", "scripts/local.ts", "--demo", "--port", String(port)], {
                cwd: PROJECT_DIR,
                stdio: ["ignore", "pipe", "pipe"],
                env: { ...process.env, XDG_CACHE_HOME: fs.mkdtempSync(path.join(os.tmpdir(), "local-cache-")) },
            });
            let stderr = "";
            child.stderr!.on("data", (d) => (stderr += d));
            const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
            const stdout: string[] = [];
            const url = await new Promise<string>((resolve, reject) => {
                createInterface({ input: child.stdout! }).on("line", (line) => {
                    stdout.push(line);
                    const match = / is serving at (http:\/\/127\.0\.0\.1:\d+\/invocations)/.exec(line);
                    if (match) resolve(match[1]);
                });
                exited.then((code) => reject(new Error(`npm run local exited ${code}:\n${stderr}`)));
            });
            try {
                assert.strictEqual(url, `http://127.0.0.1:${port}/invocations`);
                for (const step of ["[1/5] python environment", "[2/5] resolve demo-fraud alias \"champion\"", "[3/5] fetch models:/demo-fraud/1", "[4/5] build its environment", "[5/5] serve it"]) {
                    assert.ok(stderr.includes(step), `progress line ${step}`);
                }
                await new Promise((resolve) => setTimeout(resolve, 200));
                assert.match(stdout.join("\n"), /curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/invocations -H 'Content-Type: application\/json' --data @.*serving\/sample-input\.json/);
                const answer = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: fs.readFileSync(path.join(PROJECT_DIR, "serving", "sample-input.json")) });
                assert.strictEqual(answer.status, 200);
                const { predictions } = (await answer.json()) as { predictions: unknown[] };
                assert.strictEqual(predictions.length, 1);
                assert.ok([0, 1].includes(predictions[0] as number), JSON.stringify(predictions));
                // The server's request record for that POST, on the command's own output, and its metrics.
                const record = await waitFor(() => stdout.map((l) => (l.startsWith("{") ? (JSON.parse(l) as Record<string, unknown>) : undefined)).find((r) => r?.path === "/invocations"));
                assert.deepStrictEqual(
                    [record.model, record.version, record.image_tag, record.method, record.status, record.rows_in, record.rows_out, record.error],
                    ["demo-fraud", "1", "local", "POST", 200, 1, 1, null],
                );
                assert.match(String(record.request_id), /^[0-9a-f]{32}$/);
                assert.match(stdout.join("\n"), /metrics: curl -s http:\/\/127\.0\.0\.1:\d+\/metrics/);
                const metrics = await (await fetch(url.replace("/invocations", "/metrics"))).text();
                const counted = metrics.split("\n").filter((l) => l.startsWith("scoring_requests_total{") && ['model="demo-fraud"', 'version="1"', 'route="/invocations"', 'status_class="2xx"'].every((label) => l.includes(label)));
                assert.deepStrictEqual(counted.map((l) => l.split(" ").pop()), ["1.0"], metrics);
            } finally {
                child.kill("SIGINT");
            }
            assert.strictEqual(await exited, 0, stderr);
            await assert.rejects(fetch(url.replace("/invocations", "/ping")), "the server stopped with the command");
        });
    });
});
