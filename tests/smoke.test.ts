import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { emptyStackNotice, percentile, runSmoke, SmokeError, summarize, targetsFromStackOutputs, type SmokeIO } from "../lib/scoring/smoke";
import { displayUrl, score, urlSecrets } from "../lib/scoring/client";
import { runScript } from "./helpers/cli";
import * as net from "net";
import { FakeScoringServer } from "./helpers/fakeScoring";
import { PROJECT_DIR } from "./helpers/fixtures";
import { realMlflow } from "./helpers/realMlflow";
import { startRealScoring, type RealScoring } from "./helpers/realScoring";

const sample = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "serving/sample-input.json"), "utf8"));

function recordingIO(): SmokeIO & { lines: string[] } {
    const lines: string[] = [];
    return { lines, log: (line) => lines.push(line), now: () => performance.now(), sleep: async () => undefined };
}

const smokeCli = (args: string[], env?: NodeJS.ProcessEnv) => runScript("scripts/smoke.ts", args, { env });

describe("smoke test", () => {
    let server: FakeScoringServer;
    let uri: string;
    const base = { input: sample, requests: 5, readyTimeoutMs: 60_000, readyPollMs: 1, requestTimeoutMs: 5_000 };

    beforeEach(async () => {
        server = new FakeScoringServer();
        server.columns = sample.dataframe_split.columns;
        uri = await server.start();
    });
    afterEach(async () => {
        assert.deepStrictEqual(server.unmodeled, []);
        await server.stop();
    });

    it("waits through refused connections and a held first /ping, scores the sample and reports p50/p95", async () => {
        // A starting MLflow server: connections refused, then /ping held until the model is loaded; never a 503.
        const starting = new FakeScoringServer();
        starting.loadMs = 300;
        const startingUri = await starting.startLater(200);
        try {
            const lines: string[] = [];
            const io: SmokeIO = { log: (line) => lines.push(line), now: () => performance.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
            const [result] = await runSmoke({ ...base, readyPollMs: 50, targets: [{ name: "fraud", scoringUri: startingUri }] }, io);
            assert.deepStrictEqual(result.predictions, [1]);
            assert.strictEqual(result.latency.count, 5);
            assert.ok(result.latency.p95 >= result.latency.p50);
            assert.match(lines[0], /^fraud: waiting for http:\/\/127\.0\.0\.1:\d+\/ping \(ECONNREFUSED, \d+ s of 60 s\)$/);
            const ready = lines.findIndex((l) => /^fraud: ready after \d+ s$/.test(l));
            assert.ok(ready > 0, lines.join("\n"));
            assert.ok(lines.slice(0, ready).every((l) => /\(ECONNREFUSED,/.test(l)), "only refusals before the held /ping answered");
            assert.strictEqual(starting.requests.filter((r) => r.path === "/ping").length, 1, "the first /ping was held until the model loaded");
            assert.ok(lines.includes("fraud: predictions [1]"));
            assert.ok(lines.some((l) => /^fraud: latency over 5 sequential requests: p50 [\d.]+ ms, p95 [\d.]+ ms$/.test(l)));
            assert.strictEqual(starting.requests.filter((r) => r.path === "/invocations").length, 5, "bounded request count");
        } finally {
            await starting.stop();
        }
    });

    it("fails at once, not after the readiness wait, when /ping answers 405 (a proxy allowing only POST)", async () => {
        // The 404s are tested against real servers below; a 405 on /ping comes from no MLflow server.
        const sleeps: number[] = [];
        const io: SmokeIO = { log: () => undefined, now: () => performance.now(), sleep: async (ms) => void sleeps.push(ms) };
        server.faults.push({ path: /^\/ping$/, status: 405, contentType: "text/html; charset=utf-8", body: "<title>405 Method Not Allowed</title>" });
        await assert.rejects(runSmoke({ ...base, readyTimeoutMs: 600_000, targets: [{ name: "fraud", scoringUri: uri }] }, io), /answered HTTP 405: .* is not an MLflow scoring endpoint/);
        assert.deepStrictEqual(sleeps, [], "no waiting");
    });

    it("completes a scoring URI without a path to /invocations, saying so, and refuses another path", async () => {
        const io = recordingIO();
        const origin = new URL(uri).origin;
        const [result] = await runSmoke({ ...base, requests: 1, targets: [{ name: "fraud", scoringUri: `${origin}/` }] }, io);
        assert.deepStrictEqual(result.predictions, [1]);
        assert.strictEqual(io.lines[0], `fraud: ${origin}/ has no path; scoring at ${origin}/invocations (MLflow's /invocations)`);
        assert.deepStrictEqual([...new Set(server.requests.map((r) => r.rawPath))].sort(), ["/invocations", "/ping"], "no //ping");
        await assert.rejects(
            runSmoke({ ...base, targets: [{ name: "fraud", scoringUri: `${origin}/score` }] }, recordingIO()),
            new RegExp(`^SmokeError: fraud: the scoring URI ${origin}/score does not end in /invocations: .* for example ${origin}/score/invocations$`),
        );
    });

    it("probes capacity with requests in flight and reports throughput and latency", async () => {
        server.latencyMs = 20;
        const io = recordingIO();
        const [result] = await runSmoke({ ...base, requests: 24, concurrency: 4, targets: [{ name: "fraud", scoringUri: uri }] }, io);
        assert.ok(result.capacity);
        assert.strictEqual(result.capacity.count, 24);
        assert.strictEqual(result.capacity.failures, 0);
        // 24 requests of >=20 ms, 4 at a time: at least 6 rounds, and much faster than 24 in a row.
        assert.ok(result.capacity.wallMs >= 6 * 20 - 5, `wall ${result.capacity.wallMs}`);
        assert.ok(result.capacity.wallMs < 24 * 20, `concurrency must overlap requests: wall ${result.capacity.wallMs}`);
        assert.ok(result.capacity.throughputPerSecond > 1000 / 20, "more than one request per latency period");
        assert.ok(io.lines.some((l) => /capacity at concurrency 4: 24\/24 succeeded in \d+ ms, [\d.]+ req\/s, p50/.test(l)));
    });

    it("counts failures under load instead of stopping", async () => {
        server.faults.push({ status: 503 }, { status: 503 });
        const io = recordingIO();
        server.faults.length = 0;
        const [result] = await runSmoke({ ...base, requests: 6, concurrency: 2, targets: [{ name: "fraud", scoringUri: uri }] }, io);
        assert.strictEqual(result.capacity?.failures, 0);
        server.faults.push({ status: 500, body: '{"error_code":"INTERNAL_ERROR","message":"boom"}' });
        // The first sequential request fails: the smoke test fails with the scoring error.
        await assert.rejects(runSmoke({ ...base, targets: [{ name: "fraud", scoringUri: uri }] }, recordingIO()), (err: unknown) => {
            assert.ok(err instanceof SmokeError);
            assert.match(err.message, /^fraud: the server failed \(HTTP 500 INTERNAL_ERROR: boom\)/);
            return true;
        });
    });

    it("fails when the endpoint never becomes ready, naming the last answer, exactly at --ready-timeout", async () => {
        const closed = await new Promise<number>((resolve) => {
            const probe = net.createServer().listen(0, "127.0.0.1", () => {
                const { port } = probe.address() as net.AddressInfo;
                probe.close(() => resolve(port));
            });
        });
        let clock = 0;
        const sleeps: number[] = [];
        const io: SmokeIO = { log: () => undefined, now: () => clock, sleep: async (ms) => void (sleeps.push(ms), (clock += ms)) };
        await assert.rejects(
            runSmoke({ ...base, readyTimeoutMs: 30_000, readyPollMs: 7_000, targets: [{ name: "fraud", scoringUri: `http://127.0.0.1:${closed}/invocations` }] }, io),
            /fraud: not ready after 30 s \(last answer from http:\/\/127\.0\.0\.1:\d+\/ping: ECONNREFUSED\)/,
        );
        assert.deepStrictEqual(sleeps, [7000, 7000, 7000, 7000, 2000], "the last pause is cut to the time left");
    });

    it("reads scoring URIs from stack outputs and explains missing ones", () => {
        const outputs = { models: { fraud: { scoringUri: "http://x:8080/invocations", version: "7" } }, registry: "https://adb" };
        assert.deepStrictEqual(targetsFromStackOutputs(outputs, "prd"), { targets: [{ name: "fraud", scoringUri: "http://x:8080/invocations" }], skipped: [] });
        assert.throws(() => targetsFromStackOutputs({}, "prd"), /stack prd has no "models" output: deploy it with `pulumi up` first, or pass --url/);
        assert.throws(() => targetsFromStackOutputs({ models: { fraud: {} } }, "prd"), /model fraud has no scoringUri output/);
    });

    it("a stack that serves nothing yet (the bootstrap's first up) is a notice naming what waits for registration", () => {
        const first = { models: {}, skippedModels: [{ name: "fraud", model: "main.prd.fraud", reason: "not registered" }] };
        assert.deepStrictEqual(targetsFromStackOutputs(first, "prd"), { targets: [], skipped: [{ name: "fraud", model: "main.prd.fraud" }] });
        assert.strictEqual(
            emptyStackNotice("prd", [{ name: "fraud", model: "main.prd.fraud" }]),
            "smoke: notice: stack prd serves no models yet, so there is nothing to check. fraud (main.prd.fraud) is not registered yet. Register a version, run `pulumi up` again, and the smoke test checks it.",
        );
        assert.match(emptyStackNotice("dev", []), /stack dev serves no models yet, so there is nothing to check\. mlflow-platform:models is empty\./);
    });

    it("never prints a URL's user info or query string: progress lines, failures and scoring errors", async () => {
        const secretUri = (base: string) => base.replace("http://", "http://scorer:pw-9c1d7e@") + "?code=qs-secret-4f2a";
        assert.strictEqual(displayUrl("https://scorer:pw-9c1d7e@example.net/invocations?code=qs-secret-4f2a"), "https://***@example.net/invocations?***");
        assert.strictEqual(displayUrl("https://example.net/invocations"), "https://example.net/invocations");
        const parts = urlSecrets("https://scorer:pw%2F9@example.net/x?code=a%20b");
        for (const part of ["scorer", "pw%2F9", "pw/9", "a b", "code=a%20b"]) assert.ok(parts.includes(part), `${part} in ${parts.join(" | ")}`);
        // Nothing listens: progress lines and the final failure.
        const closed = await new Promise<number>((resolve) => {
            const probe = net.createServer().listen(0, "127.0.0.1", () => {
                const { port } = probe.address() as net.AddressInfo;
                probe.close(() => resolve(port));
            });
        });
        const io = recordingIO();
        let clock = 0;
        io.now = () => clock;
        io.sleep = async (ms) => void (clock += ms);
        const error = await runSmoke({ ...base, readyTimeoutMs: 3_000, readyPollMs: 1_000, targets: [{ name: "fraud", scoringUri: secretUri(`http://127.0.0.1:${closed}/invocations`) }] }, io).catch((e: Error) => e);
        const printed = [...io.lines, String(error)].join("\n");
        assert.match(printed, /waiting for http:\/\/\*\*\*@127\.0\.0\.1:\d+\/ping\?\*\*\* \(ECONNREFUSED/);
        assert.match(printed, /not ready after 3 s \(last answer from http:\/\/\*\*\*@127\.0\.0\.1:\d+\/ping\?\*\*\*: ECONNREFUSED\)/);
        assert.doesNotMatch(printed, /pw-9c1d7e|qs-secret-4f2a|scorer:/);
        // A scoring error names the endpoint without them too.
        server.faults.push({ status: 400, body: JSON.stringify({ error_code: "BAD_REQUEST", message: "bad" }) });
        const refused = await score(secretUri(uri), sample, { maxAttempts: 1 }).catch((e: Error) => e);
        assert.match(String(refused), /Endpoint: http:\/\/\*\*\*@127\.0\.0\.1:\d+\/invocations\?\*\*\*/);
        assert.doesNotMatch(String(refused), /pw-9c1d7e|qs-secret-4f2a/);
    });

    it("fails at once on a host name that does not resolve (ENOTFOUND); waits through EAI_AGAIN, which passes", async () => {
        // The module object itself (an `import *` namespace is a copy): net's lookups go through it.
        const dns = require("dns") as typeof import("dns");
        const lookup = dns.lookup;
        let again = 2;
        (dns as { lookup: unknown }).lookup = (host: string, options: unknown, callback?: (err: NodeJS.ErrnoException) => void) => {
            const cb = (typeof options === "function" ? options : callback) as (err: NodeJS.ErrnoException | null, ...rest: unknown[]) => void;
            const fail = (code: string) => process.nextTick(() => cb(Object.assign(new Error(`getaddrinfo ${code} ${host}`), { code, hostname: host })));
            if (host === "typo.example.test") return fail("ENOTFOUND");
            if (host === "flaky.example.test" && again-- > 0) return fail("EAI_AGAIN");
            const forward = (name: string) => (typeof options === "function" ? (lookup as Function)(name, options) : (lookup as Function)(name, options, callback));
            return forward(host === "flaky.example.test" ? "127.0.0.1" : host);
        };
        try {
            const io = recordingIO();
            const started = performance.now();
            await assert.rejects(
                runSmoke({ ...base, readyTimeoutMs: 600_000, targets: [{ name: "fraud", scoringUri: "http://typo.example.test/invocations" }] }, io),
                (err: Error) => err instanceof SmokeError && /^fraud: the host name typo\.example\.test does not resolve \(ENOTFOUND\): check the URL/.test(err.message),
            );
            assert.deepStrictEqual(io.lines, [], "no waiting: it failed on the first attempt");
            assert.ok(performance.now() - started < 5_000);
            await assert.rejects(score("http://typo.example.test/invocations", sample), /the host name typo\.example\.test does not resolve \(ENOTFOUND\)/);
            // A resolver that does not answer for a while is waited through.
            const flaky = recordingIO();
            const [result] = await runSmoke({ ...base, requests: 1, targets: [{ name: "fraud", scoringUri: uri.replace("127.0.0.1", "flaky.example.test") }] }, flaky);
            assert.deepStrictEqual(result.predictions, [1]);
            assert.strictEqual(flaky.lines.filter((l) => /\(EAI_AGAIN, /.test(l)).length, 2, flaky.lines.join("\n"));
        } finally {
            (dns as { lookup: unknown }).lookup = lookup;
        }
    });

    it("computes nearest-rank percentiles", () => {
        const values = Array.from({ length: 100 }, (_, i) => i + 1);
        assert.strictEqual(percentile(values, 50), 50);
        assert.strictEqual(percentile(values, 95), 95);
        assert.deepStrictEqual(summarize([3, 1, 2]), { count: 3, p50: 2, p95: 3, p99: 3, max: 3 });
    });

    describe("npm run smoke (command line)", () => {
        it("passes against a URL and prints predictions and latency", async () => {
            const { code, stdout } = await smokeCli(["--url", uri, "--requests", "3"]);
            assert.strictEqual(code, 0, stdout);
            assert.match(stdout, /endpoint: predictions \[1\]/);
            assert.match(stdout, /latency over 3 sequential requests/);
            assert.match(stdout, /smoke: passed$/m);
        });

        it("reads the stack's scoring URIs through `pulumi stack output --json`", async () => {
            const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-"));
            const outputs = JSON.stringify({ models: { fraud: { scoringUri: uri } } });
            fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\n[ "$1 $2 $3 $4 $5" = "stack output --json --stack prd" ] || exit 3\necho '${outputs}'\n`, { mode: 0o755 });
            try {
                const { code, stdout } = await smokeCli(["--stack", "prd", "--requests", "2"], { ...process.env, PATH: `${bin}:${process.env.PATH}` });
                assert.strictEqual(code, 0, stdout);
                assert.match(stdout, /fraud: predictions \[1\]/);
            } finally {
                fs.rmSync(bin, { recursive: true, force: true });
            }
        });

        it("exits 0 with a notice when the stack serves no model yet; a served model that fails still exits 1", async () => {
            const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-"));
            const write = (outputs: unknown) => fs.writeFileSync(path.join(bin, "pulumi"), `#!/bin/sh\necho '${JSON.stringify(outputs)}'\n`, { mode: 0o755 });
            const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
            try {
                write({ models: {}, skippedModels: [{ name: "fraud", model: "main.prd.fraud", reason: "not registered" }] });
                const empty = await smokeCli(["--stack", "prd"], env);
                assert.strictEqual(empty.code, 0, empty.stderr);
                assert.match(empty.stdout, /^smoke: notice: stack prd serves no models yet, so there is nothing to check\. fraud \(main\.prd\.fraud\) is not registered yet\./m);
                assert.doesNotMatch(empty.stdout, /smoke: passed/);
                const one = await smokeCli(["--stack", "prd", "--model", "fraud"], env);
                assert.strictEqual(one.code, 0, one.stderr);
                assert.match(one.stdout, /smoke: notice: stack prd serves no models yet/);
                write({ models: { fraud: { scoringUri: uri } }, skippedModels: [] });
                server.faults.push({ status: 500, body: JSON.stringify({ error_code: "INTERNAL_ERROR", message: "model crashed" }) });
                const failing = await smokeCli(["--stack", "prd", "--requests", "1"], env);
                assert.strictEqual(failing.code, 1, failing.stdout);
                assert.match(failing.stderr, /smoke: failed: fraud: the server failed \(HTTP 500/);
            } finally {
                fs.rmSync(bin, { recursive: true, force: true });
            }
        });

        it("prints no part of a --url's user info or query, passing or failing", async () => {
            const secret = uri.replace("http://", "http://scorer:pw-9c1d7e@").replace(/\/invocations$/, "") + "/invocations?code=qs-secret-4f2a";
            const passed = await smokeCli(["--url", secret, "--requests", "1"]);
            assert.strictEqual(passed.code, 0, passed.stderr);
            const bad = await smokeCli(["--url", secret.replace("/invocations", "/score")]);
            assert.strictEqual(bad.code, 1);
            assert.match(bad.stderr, /http:\/\/\*\*\*@127\.0\.0\.1:\d+\/score\?\*\*\* does not end in \/invocations/);
            for (const run of [passed, bad]) assert.doesNotMatch(`${run.stdout}${run.stderr}`, /pw-9c1d7e|qs-secret-4f2a/);
        });

        it("exits 1 with a clear message when the Pulumi CLI is missing or the endpoint fails", async () => {
            const noPulumi = await smokeCli(["--stack", "prd"], { ...process.env, PATH: path.dirname(process.execPath) });
            assert.strictEqual(noPulumi.code, 1);
            assert.match(noPulumi.stderr, /smoke: failed: the Pulumi CLI is not on PATH: install it, or pass --url <scoring-uri>/);
            server.faults.push({ status: 400, body: JSON.stringify({ error_code: "INVALID_PARAMETER_VALUE", message: "Failed to predict data" }) });
            const refused = await smokeCli(["--url", uri, "--requests", "1"]);
            assert.strictEqual(refused.code, 1);
            assert.match(refused.stderr, /smoke: failed: endpoint: the model refused the input \(HTTP 400 INVALID_PARAMETER_VALUE/);
            assert.doesNotMatch(refused.stderr, /\n\s+at /, "no stack trace");
        });

        it("sends SCORING_TOKEN as a bearer token to a protected endpoint", async () => {
            server.requiredToken = "scoring-token-for-tests-9f8e";
            const denied = await smokeCli(["--url", uri, "--requests", "1", "--ready-timeout", "1"]);
            assert.strictEqual(denied.code, 1);
            assert.match(denied.stderr, /answered HTTP 401: the endpoint needs a valid bearer token \(SCORING_TOKEN\)/);
            const allowed = await smokeCli(["--url", uri, "--requests", "1"], { ...process.env, SCORING_TOKEN: "scoring-token-for-tests-9f8e" });
            assert.strictEqual(allowed.code, 0, allowed.stderr);
            assert.ok(server.requests.filter((r) => r.path === "/invocations").every((r) => r.authorization === "Bearer scoring-token-for-tests-9f8e"));
            assert.ok(!`${allowed.stdout}${allowed.stderr}`.includes("scoring-token-for-tests-9f8e"), "the token is never printed");
        });

        it("exits 2 with usage for bad flags", async () => {
            const cases: [string[], RegExp][] = [
                [[], /give exactly one of --stack or --url/],
                [["--stack", "prd", "--url", uri], /give exactly one of --stack or --url/],
                [["--url", "ftp://x"], /--url "ftp:\/\/x" is not an http\(s\) URL/],
                [["--url", uri, "--requests", "0"], /--requests "0" is not allowed: use a whole number from 1 to 10000/],
                [["--url", uri, "--concurrency", "lots"], /--concurrency "lots" is not allowed: use a whole number from 1 to 256/],
                [["--url", uri, "--input", "nope.json"], /--input nope\.json: cannot read it \(ENOENT\)/],
                [["--url", uri, "--fast"], /Unknown option '--fast'/],
                [["--url", uri, "--entra-scope", "api://x"], /--entra-scope "api:\/\/x" is not a scope: use <application id URI>\/\.default \(an application\) or <application id URI>\/user_impersonation \(a user\)/],
                [["--url", "ftp://scorer:pw-9c1d7e@x"], /--url "ftp:\/\/\*\*\*@x\/?" is not an http\(s\) URL/],
            ];
            for (const [args, message] of cases) {
                const { code, stderr } = await smokeCli(args);
                assert.strictEqual(code, 2, `${args.join(" ")}: ${stderr}`);
                assert.match(stderr, message);
                assert.match(stderr, /usage: npm run smoke --/);
            }
        });
    });
});

// The smoke test against real servers: a real `mlflow models serve` of the demo model, and a
// real MLflow tracking server standing for "another kind of server".
describe("smoke test on real MLflow servers", function () {
    this.timeout(90_000);
    let real: RealScoring;
    const base = { input: sample, requests: 5, readyTimeoutMs: 60_000, readyPollMs: 50, requestTimeoutMs: 20_000 };

    before(async function () {
        this.timeout(400_000);
        real = await startRealScoring();
    });
    after(async () => {
        await real?.stop();
    });

    it("scores the sample on a ready server and reports the model's predictions and p50/p95", async () => {
        const io = recordingIO();
        const [result] = await runSmoke({ ...base, targets: [{ name: "fraud", scoringUri: real.scoringUri }] }, io);
        assert.deepStrictEqual(result.predictions, real.expected.sample_input_predictions);
        assert.strictEqual(result.latency.count, 5);
        assert.ok(result.latency.p95 >= result.latency.p50);
        assert.ok(io.lines.includes(`fraud: predictions ${JSON.stringify(real.expected.sample_input_predictions).replace(/,/g, ", ")}`), io.lines.join("\n"));
    });

    it("fails at once, not after the readiness wait, when /ping answers 404 (a tracking server, a path the scoring server lacks)", async () => {
        const tracking = await realMlflow("plain");
        const sleeps: number[] = [];
        const io: SmokeIO = { log: () => undefined, now: () => performance.now(), sleep: async (ms) => void sleeps.push(ms) };
        // Real MLflow 3.17: a tracking server answers /ping with an HTML 404; the scoring server answers a route it lacks with a JSON 404.
        for (const scoringUri of [`${tracking.url}/invocations`, `${real.origin}/models/fraud/invocations`]) {
            await assert.rejects(
                runSmoke({ ...base, readyTimeoutMs: 600_000, targets: [{ name: "fraud", scoringUri }] }, io),
                (err: Error) => {
                    assert.ok(err instanceof SmokeError, String(err));
                    assert.ok(err.message.startsWith(`fraud: ${scoringUri.replace(/invocations$/, "ping")} answered HTTP 404: ${scoringUri} is not an MLflow scoring endpoint`), err.message);
                    return true;
                },
            );
        }
        assert.deepStrictEqual(sleeps, [], "no waiting");
    });

    it("fails with MLflow's own refusal and the hint when the input does not fit the model", async () => {
        const input = { dataframe_split: { columns: sample.dataframe_split.columns.map((c: string) => c.toUpperCase()), data: sample.dataframe_split.data } };
        await assert.rejects(runSmoke({ ...base, input, targets: [{ name: "fraud", scoringUri: real.scoringUri }] }, recordingIO()), (err: Error) => {
            assert.match(err.message, /HTTP 400 INVALID_PARAMETER_VALUE: Model is missing inputs \['age'/);
            assert.match(err.message, /The input lacks 14 columns the model's signature requires: age, /);
            assert.doesNotMatch(err.message, /\n|Traceback/);
            return true;
        });
    });

    it("npm run smoke passes against the real server's URL and prints predictions and latency", async () => {
        const { code, stdout } = await smokeCli(["--url", real.scoringUri, "--requests", "3"]);
        assert.strictEqual(code, 0, stdout);
        assert.match(stdout, new RegExp(`endpoint: predictions \\[${real.expected.sample_input_predictions[0]}\\]`));
        assert.match(stdout, /latency over 3 sequential requests/);
        assert.match(stdout, /smoke: passed$/m);
    });
});
