// `npm run register` as a user runs it: the stack's outputs from a stand-in `pulumi` on PATH, the
// Jobs API from an in-process fake that answers as the documented routes do.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { runScript } from "./helpers/cli";
import { FakeJobsServer } from "./helpers/fakeJobs";
import { fakePulumi } from "./helpers/fakePulumi";
import { jobsClient, parseRun, RegisterError, runOutcome, runRegistration, scriptResult } from "../lib/registration/jobs";
import type { Credential } from "../lib/registry/credentials";
import { blobPath, parseDuration, registrationSchemaOf, targetFromStackOutputs } from "../lib/registration/target";

const TOKEN = "fake-token-for-tests";
const PICKLE_URI = "abfss://models@mlplatdevmodels.dfs.core.windows.net/fraud/model.pkl";
const SAMPLE_URI = "abfss://data@mlplatdevmodels.dfs.core.windows.net/fraud/sample.csv";
const SUCCESS_LINE = JSON.stringify({ name: "main.fraud_detection.fraud", version: "4", model_uri: "models:/main.fraud_detection.fraud/4", flavour: "sklearn", alias: "challenger" });

function devOutputs(workspaceUrl: string, jobId: number | null = 987) {
    return {
        resourceGroupName: "dev-store-rg1234",
        storageAccountName: "mlplatdevmodels",
        blobEndpoint: "https://mlplatdevmodels.blob.core.windows.net/",
        containerNames: { data: "data", models: "models" },
        workspaceUrl,
        registry: workspaceUrl,
        ...(jobId ? { registrationJob: { jobId: String(jobId), jobUrl: `${workspaceUrl}/#job/${jobId}`, registryKind: "unity-catalog", schema: "main.fraud_detection" } } : {}),
    };
}

describe("npm run register", () => {
    let jobs: FakeJobsServer;
    let bin: string;

    const register = (args: string[], env: NodeJS.ProcessEnv = {}) =>
        runScript("scripts/register.ts", args, { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, DATABRICKS_TOKEN: TOKEN, ...env } });
    const fraudArgs = ["--stack", "dev", "--pickle", "models/fraud/model.pkl", "--model", "fraud", "--sample", "data/fraud/sample.csv", "--alias", "challenger", "--poll-interval", "0.01"];

    beforeEach(async () => {
        jobs = new FakeJobsServer();
        const url = await jobs.start();
        bin = fakePulumi({
            dev: devOutputs(url),
            prd: { ...devOutputs("https://adb-2222222222222222.2.azuredatabricks.net", null), registry: url },
            fresh: devOutputs(url, null),
        });
    });
    afterEach(async () => {
        assert.deepStrictEqual(jobs.unmodeled, []);
        await jobs.stop();
    });

    it("starts the job with the pickle and sample as abfss:// paths, shows each state change, and prints the version, its URI and how to serve it", async () => {
        jobs.steps = [
            { lifeCycleState: "PENDING", stateMessage: "Waiting for compute" },
            { lifeCycleState: "PENDING", stateMessage: "Waiting for compute" },
            { lifeCycleState: "RUNNING", stateMessage: "In run" },
            { lifeCycleState: "RUNNING", stateMessage: "In run" },
            { lifeCycleState: "TERMINATED", resultState: "SUCCESS", stateMessage: "" },
        ];
        jobs.output = { logs: `Installing dependencies\n{"not": "the result"} trailing\n${SUCCESS_LINE}\n` };
        const { code, stdout, stderr } = await register(fraudArgs);
        assert.strictEqual(code, 0, stderr);
        const runNow = jobs.requests.find((r) => r.path === "/api/2.1/jobs/run-now")!;
        const { idempotency_token: idempotencyToken, ...request } = runNow.body;
        assert.deepStrictEqual(request, { job_id: 987, job_parameters: { pickle: PICKLE_URI, model: "fraud", sample: SAMPLE_URI, alias: "challenger" } });
        assert.match(idempotencyToken, /^register-[0-9a-f-]{36}$/, "one token per registration (at most 64 characters)");
        assert.strictEqual(runNow.headers["content-type"], "application/json");
        assert.ok(jobs.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`));
        assert.deepStrictEqual(jobs.requests.filter((r) => r.path.endsWith("get-output")).map((r) => r.query.run_id), ["5550002"], "asks for the task run's output");
        const progress = stdout.split("\n").filter((l) => /^\[\d+:\d\d\] /.test(l));
        assert.deepStrictEqual(progress.map((l) => l.replace(/^\[\d+:\d\d\] /, "")), ["PENDING: Waiting for compute", "RUNNING: In run", "TERMINATED SUCCESS"], "one line per state change");
        assert.match(stdout, /registered main\.fraud_detection\.fraud version 4 \(alias challenger\), sklearn flavour/);
        assert.match(stdout, /model URI: {2}models:\/main\.fraud_detection\.fraud\/4/);
        assert.ok(stdout.includes(`run:        ${jobs.runPageUrl()}`));
        assert.match(stdout, /MLFLOW_REGISTRY_URI=databricks-uc mlflow models serve -m "models:\/main\.fraud_detection\.fraud\/4" -p 5000/);
        assert.match(stdout, /serve it in dev: a models entry with model: main\.fraud_detection\.fraud and latest: true, or alias: challenger serves it after `pulumi up --stack dev`; then `npm run smoke -- --stack dev`/);
        assert.ok(!(stdout + stderr).includes(TOKEN));
    });

    it("follows the newer status object when the workspace sends it", async () => {
        jobs.withStatus = true;
        jobs.steps = [
            { lifeCycleState: "QUEUED", status: "QUEUED" },
            { lifeCycleState: "RUNNING", status: "RUNNING" },
            { lifeCycleState: "TERMINATED", resultState: "SUCCESS", status: "TERMINATED", termination: { code: "SUCCESS", type: "SUCCESS", message: "" } },
        ];
        jobs.output = { logs: `${SUCCESS_LINE}\n` };
        const { code, stdout, stderr } = await register(fraudArgs);
        assert.strictEqual(code, 0, stderr);
        assert.deepStrictEqual(stdout.split("\n").filter((l) => /^\[/.test(l)).map((l) => l.replace(/^\[\d+:\d\d\] /, "")), ["QUEUED", "RUNNING", "TERMINATED SUCCESS"]);
    });

    it("a run that reports its outcome only in the Jobs 2.2 status object (no legacy state)", async () => {
        jobs.withStatus = true;
        jobs.legacyState = false;
        jobs.steps = [
            { lifeCycleState: "QUEUED", status: "QUEUED" },
            { lifeCycleState: "RUNNING", status: "RUNNING" },
            { lifeCycleState: "TERMINATED", status: "TERMINATED", termination: { code: "SUCCESS", type: "SUCCESS", message: "" } },
        ];
        jobs.output = { logs: `${SUCCESS_LINE}\n` };
        const ok = await register(fraudArgs);
        assert.strictEqual(ok.code, 0, ok.stderr);
        assert.deepStrictEqual(ok.stdout.split("\n").filter((l) => /^\[/.test(l)).map((l) => l.replace(/^\[\d+:\d\d\] /, "")), ["QUEUED", "RUNNING", "TERMINATED SUCCESS"]);
        assert.match(ok.stdout, /registered main\.fraud_detection\.fraud version 4/);

        jobs.steps = [{ lifeCycleState: "TERMINATED", status: "TERMINATED", termination: { code: "RUN_EXECUTION_ERROR", type: "CLIENT_ERROR", message: "Task register failed with message: Workload failed." } }];
        jobs.output = {};
        const failed = await register(fraudArgs);
        assert.strictEqual(failed.code, 1);
        assert.match(failed.stderr, /the registration run failed: Task register failed with message: Workload failed\.\n {2}run: /);
    });

    it("a pickle that is not in the container: the script's reason and the run's page", async () => {
        jobs.steps = [{ lifeCycleState: "RUNNING" }, { lifeCycleState: "TERMINATED", resultState: "FAILED", stateMessage: "Workload failed, see run output for details" }];
        const reason = `pickle ${PICKLE_URI} does not exist in the container: check the path, or upload it (npm run register -- --upload)`;
        jobs.output = { logs: `${JSON.stringify({ error: reason })}\n`, error: "SystemExit: 1", errorTrace: "Traceback (most recent call last): ..." };
        const { code, stderr } = await register(fraudArgs);
        assert.strictEqual(code, 1);
        assert.strictEqual(stderr.trim(), `register: failed: the registration run failed: ${reason}\n  run: ${jobs.runPageUrl()}`);
    });

    it("a run that fails before the script prints anything: the run's error, first line, and its page", async () => {
        jobs.steps = [{ lifeCycleState: "TERMINATED", resultState: "FAILED", stateMessage: "Workload failed, see run output for details" }];
        jobs.output = { error: "Library installation failed for library due to user error for pypi {package: \"mlflow>=2.16,<4\"}\nError messages: ...", errorTrace: "..." };
        const { code, stderr } = await register(fraudArgs);
        assert.strictEqual(code, 1);
        assert.match(stderr, /the registration run failed: Library installation failed for library due to user error for pypi \{package: "mlflow>=2\.16,<4"\}\n {2}run: http:\/\/127\.0\.0\.1:\d+\/\?o=1234567890123456#job\/987\/run\/5550001\n$/);
        assert.doesNotMatch(stderr, /Error messages/);
    });

    it("a run that ends without output uses its state message", async () => {
        jobs.steps = [{ lifeCycleState: "INTERNAL_ERROR", stateMessage: "Could not reach the driver" }];
        const { code, stderr } = await register(fraudArgs);
        assert.strictEqual(code, 1);
        assert.match(stderr, /the registration run failed: Could not reach the driver\n {2}run: /);
    });

    it("a timeout names the run's page and says the run goes on", async () => {
        jobs.steps = [{ lifeCycleState: "RUNNING", stateMessage: "In run" }];
        const { code, stdout, stderr } = await register([...fraudArgs, "--timeout", "1s"]);
        assert.strictEqual(code, 1);
        assert.strictEqual(
            stderr.trim(),
            `register: failed: the run did not finish within 0:01 (it is RUNNING); it goes on in Databricks: follow it at ${jobs.runPageUrl()}, and find the new version in the registry when it ends (or cancel it there)`,
        );
        assert.strictEqual(stdout.split("\n").filter((l) => /^\[/.test(l)).length, 1, "a running run is one line, not one per poll");
    });

    it("a job that was never deployed, or deleted, or lives in the other stack, names the pulumi up to run", async () => {
        const fresh = await register(["--stack", "fresh", "--pickle", "models/fraud/model.pkl", "--model", "fraud"]);
        assert.strictEqual(fresh.code, 1);
        assert.match(fresh.stderr, /register: failed: stack fresh has no registration job yet: run `pulumi up --stack fresh` to create it/);

        const prd = await register(["--stack", "prd", "--pickle", "models/fraud/model.pkl", "--model", "fraud"]);
        assert.strictEqual(prd.code, 1);
        assert.match(prd.stderr, /stack prd has no registration job: its registry is another stack's workspace \(http:\/\/127\.0\.0\.1:\d+\), which declares the job; use that stack \(usually --stack dev\)/);

        jobs.jobId = 1000; // the job the stack knows (987) is gone
        const deleted = await register(fraudArgs);
        assert.strictEqual(deleted.code, 1);
        assert.match(deleted.stderr, /the registration job 987 of stack dev does not exist in the workspace \(deleted by hand\?\): run `pulumi up --stack dev` to create it again/);

        const unknown = await register(["--stack", "staging", "--pickle", "models/fraud/model.pkl", "--model", "fraud"]);
        assert.strictEqual(unknown.code, 1);
        assert.match(unknown.stderr, /pulumi stack output --stack staging failed: error: no stack named 'staging' found/);
        assert.strictEqual(jobs.requests.filter((r) => r.path.endsWith("run-now")).length, 1, "only the deleted job's attempt reached the workspace");
    });

    it("refuses a Unity Catalog registration without --sample before uploading or starting anything", async () => {
        const local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "register-")), "model.pkl");
        fs.writeFileSync(local, "pickle");
        const { code, stderr } = await register(["--stack", "dev", "--pickle", "models/fraud/model.pkl", "--model", "fraud", "--upload", local]);
        assert.strictEqual(code, 1);
        assert.strictEqual(
            stderr.trim(),
            "register: failed: stack dev registers into Unity Catalog (main.fraud_detection), which refuses a model version without a signature, and the signature comes from a sample of the model's input: " +
                "give --sample data/<folder>/<file> (a CSV with a header row, JSON or Parquet file of a few input rows), with --upload-sample <local file> to upload it first",
        );
        assert.doesNotMatch(stderr, /uploaded/);
        assert.strictEqual(jobs.requests.length, 0, "no run was started");
    });

    it("a workspace-registry stack registers without --sample (it needs no signature)", async () => {
        bin = fakePulumi({ dev: { ...devOutputs(jobs.url), registrationJob: { jobId: "987", registryKind: "databricks" } } });
        jobs.output = { logs: `${SUCCESS_LINE}\n` };
        const { code, stderr } = await register(["--stack", "dev", "--pickle", "models/fraud/model.pkl", "--model", "fraud", "--poll-interval", "0.01"]);
        assert.strictEqual(code, 0, stderr);
        assert.strictEqual(jobs.requests.find((r) => r.path.endsWith("run-now"))!.body.job_parameters.sample, "");
    });

    it("refuses bad flags with the usage, before anything is started", async () => {
        const cases: [string[], RegExp][] = [
            [["--stack", "dev", "--pickle", "models/fraud/model.pkl"], /register: missing --model/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud", "--alias", "latest"], /--alias latest is reserved by MLflow/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud", "--alias", "V2"], /--alias V2 is reserved by MLflow/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud", "--timeout", "5x"], /--timeout "5x" is not a duration: use seconds or a number with s, m or h, such as 20m/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud", "--colour", "red"], /Unknown option '--colour'/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud", "--upload", "/nonexistent/model.pkl"], /--upload \/nonexistent\/model\.pkl: no such file here/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud", "--upload-sample", "x.csv"], /--upload-sample needs --sample/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud", "--sample", "data/s.txt"], /--sample data\/s\.txt: use a \.csv \(with a header row\), \.json or \.parquet file/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud; rm"], /--model "fraud; rm" is not a model name/],
            [["--stack", "dev", "--pickle", "models/m.pkl", "--model", "fraud", "--overwrite"], /--overwrite is only for --upload or --upload-sample/],
        ];
        for (const [args, expected] of cases) {
            const { code, stderr } = await register(args);
            assert.strictEqual(code, 2, `${args.join(" ")}: ${stderr}`);
            assert.match(stderr, expected);
            assert.match(stderr, /usage: npm run register/);
        }
        const wrongContainer = await register(["--stack", "dev", "--pickle", "data/fraud/model.pkl", "--model", "fraud"]);
        assert.strictEqual(wrongContainer.code, 1);
        assert.match(wrongContainer.stderr, /--pickle "data\/fraud\/model\.pkl" is not a file in the models container: write it as models\/<folder>\/<file>, such as models\/fraud\/model\.pkl/);
        assert.strictEqual(jobs.requests.length, 0);
    });
});

describe("registration target and run parsing", () => {
    it("reads the job, workspace and storage from the stack's outputs", () => {
        const target = targetFromStackOutputs(devOutputs("https://adb-1.1.azuredatabricks.net"), "dev");
        assert.deepStrictEqual(target, {
            jobId: 987,
            workspaceUrl: "https://adb-1.1.azuredatabricks.net",
            registryKind: "unity-catalog",
            schema: "main.fraud_detection",
            storageAccountName: "mlplatdevmodels",
            blobEndpoint: "https://mlplatdevmodels.blob.core.windows.net/",
            containers: { data: "data", models: "models" },
        });
        assert.throws(() => targetFromStackOutputs({ ...devOutputs("https://x"), registrationJob: { jobId: "abc" } }, "dev"), /registrationJob\.jobId "abc" is not a job id/);
        assert.throws(() => targetFromStackOutputs({ registrationJob: { jobId: "1" } }, "dev"), /lacks the outputs workspaceUrl, storageAccountName, blobEndpoint, containerNames: run `pulumi up --stack dev`/);
    });

    it("splits container paths and refuses traversal, folders and other containers", () => {
        assert.deepStrictEqual(blobPath("pickle", "models/fraud/v2/model.pkl", ["models"]), { container: "models", blob: "fraud/v2/model.pkl" });
        for (const bad of ["models/", "models/fraud/", "fraud/model.pkl", "models/../data/x.pkl", "models//x.pkl", "model.pkl"]) {
            assert.throws(() => blobPath("pickle", bad, ["models"]), /is not a file in the models container/, bad);
        }
    });

    it("parses durations and refuses zero or more than a day", () => {
        assert.strictEqual(parseDuration("timeout", "20m"), 1_200_000);
        assert.strictEqual(parseDuration("timeout", "90"), 90_000);
        assert.strictEqual(parseDuration("timeout", "1h"), 3_600_000);
        for (const bad of ["0", "25h", "-1m", "1.5m", ""]) assert.throws(() => parseDuration("timeout", bad), /is not a duration/, bad);
    });

    it("derives the schema the job registers into from the served models", () => {
        assert.deepStrictEqual(registrationSchemaOf("unity-catalog", ["main.risk.fraud", "main.risk.churn"]), { schema: "main.risk" });
        assert.match(registrationSchemaOf("unity-catalog", ["main.a.x", "main.b.y"]).reason!, /several schemas \(main\.a, main\.b\)/);
        assert.match(registrationSchemaOf("unity-catalog", []).reason!, /list a model in mlflow-platform:models/);
        assert.deepStrictEqual(registrationSchemaOf("databricks", []), {});
    });

    it("reads only the script's result line from the logs, and refuses a run answer without state", () => {
        assert.deepStrictEqual(scriptResult(`x\n${SUCCESS_LINE}\nlater noise`), JSON.parse(SUCCESS_LINE));
        assert.deepStrictEqual(scriptResult('{"error": "bad"}\n'), { error: "bad" });
        assert.strictEqual(scriptResult("{broken\n{}"), undefined);
        assert.throws(() => parseRun({ run_id: 1, tasks: [] }), /without state\.life_cycle_state or status\.state/);
    });

    it("reads the outcome from status.termination_details.code when the legacy state is absent (Jobs 2.2)", () => {
        const run = parseRun({ run_id: 1, run_page_url: "u", status: { state: "TERMINATED", termination_details: { code: "SUCCESS", type: "SUCCESS", message: "" } }, tasks: [{ run_id: 2, task_key: "register", status: { state: "TERMINATED", termination_details: { code: "SUCCESS", type: "SUCCESS" } } }] });
        assert.strictEqual(runOutcome(run), "SUCCESS");
        assert.strictEqual(run.lifeCycleState, "TERMINATED");
        assert.strictEqual(run.tasks[0].lifeCycleState, "TERMINATED");
        assert.strictEqual(runOutcome(parseRun({ run_id: 1, status: { state: "RUNNING" } })), undefined, "no outcome before TERMINATED");
        assert.strictEqual(runOutcome(parseRun({ run_id: 1, state: { life_cycle_state: "TERMINATED", result_state: "FAILED" }, status: { state: "TERMINATED", termination_details: { code: "SUCCESS" } } })), "FAILED", "the legacy result wins when both are sent");
    });
});

describe("Jobs API calls under transient failures (issue 19, point 28)", () => {
    let jobs: FakeJobsServer;
    const slept: number[] = [];
    const credential: Credential = { source: "DATABRICKS_TOKEN", authorization: async () => `Bearer ${TOKEN}`, secrets: () => [TOKEN] };
    const io = { log: () => undefined, now: () => 0, sleep: async () => undefined };
    const options = { jobId: 987, stack: "dev", timeoutMs: 60_000, pollMs: 1, parameters: { pickle: PICKLE_URI, model: "fraud", sample: SAMPLE_URI, alias: "" } };
    const client = (timeoutMs = 400) => jobsClient(jobs.url, credential, { timeoutMs, retry: { sleep: async (ms) => void slept.push(ms) } });
    beforeEach(async () => {
        jobs = new FakeJobsServer();
        await jobs.start();
        jobs.output = { logs: `${SUCCESS_LINE}\n` };
        slept.length = 0;
    });
    afterEach(async () => {
        assert.deepStrictEqual(jobs.unmodeled, []);
        await jobs.stop();
    });

    it("run-now through a 429, a 503 and a lost answer starts one run, and the registration completes", async () => {
        jobs.faults = [
            { status: 429, errorCode: "REQUEST_LIMIT_EXCEEDED", message: "Too many requests.", retryAfter: "2" },
            { status: 503, errorCode: "TEMPORARILY_UNAVAILABLE", message: "The service is temporarily unavailable." },
            { delayMs: 1_500 }, // run-now is served (the run starts) but its answer comes after the client gave up
        ];
        const registered = await runRegistration(client(), options, io);
        assert.strictEqual(registered.version, "4");
        assert.strictEqual(jobs.runsStarted, 1, "the retry with the same idempotency token started no second run");
        const tokens = jobs.requests.filter((r) => r.path.endsWith("run-now")).map((r) => r.body.idempotency_token);
        assert.strictEqual(tokens.length, 4);
        assert.strictEqual(new Set(tokens).size, 1, "every attempt carries the same token");
        assert.deepStrictEqual(slept, [2_000, 2_000, 4_000], "Retry-After, then doubling backoff");
    });

    it("a poll that meets a 503 and a timeout is retried; the run is followed to its end", async () => {
        jobs.steps = [{ lifeCycleState: "RUNNING" }, { lifeCycleState: "TERMINATED", resultState: "SUCCESS" }];
        const c = client();
        const polls = { n: 0 };
        const wrapped = { ...c, getRun: async (id: number) => { if (++polls.n === 2) jobs.faults = [{ status: 503, errorCode: "TEMPORARILY_UNAVAILABLE", message: "x" }, { delayMs: 1_500 }]; return c.getRun(id); } };
        assert.strictEqual((await runRegistration(wrapped, options, io)).version, "4");
        assert.strictEqual(slept.length, 2);
    });

    it("gives up within its bound with a clear message, no raw axios text; a rerun converges", async () => {
        jobs.faults = Array.from({ length: 5 }, () => ({ status: 503, errorCode: "TEMPORARILY_UNAVAILABLE", message: "The service is temporarily unavailable." }));
        await assert.rejects(runRegistration(client(), options, io), (err: Error) => {
            assert.ok(err instanceof RegisterError);
            assert.strictEqual(
                err.message,
                `could not start the registration job 987: run-now: the workspace ${jobs.url} kept answering HTTP 503 (5 attempts): it is busy or unavailable. A run may have started all the same: look at the job's runs in the workspace before running \`npm run register\` again`,
            );
            return true;
        });
        assert.strictEqual(slept.length, 4, "five attempts, four waits");
        jobs.faults = Array.from({ length: 5 }, () => ({ delayMs: 1_000 }));
        await assert.rejects(runRegistration(client(200), { ...options, idempotencyToken: "register-timeout" }, io), (err: Error) => {
            assert.match(err.message, /run-now: the workspace http:\/\/127\.0\.0\.1:\d+ did not answer \(no answer within 0\.2 s \(ECONNABORTED\), 5 attempts\)/);
            assert.doesNotMatch(err.message, /timeout of \d+ms exceeded/);
            return true;
        });
        // The workspace answers again: a rerun registers, with one new run.
        const before = jobs.runsStarted;
        jobs.faults = [];
        assert.strictEqual((await runRegistration(client(), options, io)).version, "4");
        assert.strictEqual(jobs.runsStarted, before + 1);
    });

    it("a refusal (400, 401, 403) is not retried", async () => {
        jobs.jobId = 1000;
        await assert.rejects(runRegistration(client(), options, io), /the registration job 987 of stack dev does not exist/);
        assert.strictEqual(slept.length, 0);
    });
});
