import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { percentile, runSmoke, SmokeError, summarize, targetsFromStackOutputs, type SmokeIO } from "../lib/scoring/smoke";
import { runScript } from "./helpers/cli";
import { FakeScoringServer } from "./helpers/fakeScoring";
import { PROJECT_DIR } from "./helpers/fixtures";

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
    afterEach(() => server.stop());

    it("waits for readiness with progress lines, scores the sample and reports p50/p95", async () => {
        server.pingsUntilReady = 2;
        const io = recordingIO();
        const [result] = await runSmoke({ ...base, targets: [{ name: "fraud", scoringUri: uri }] }, io);
        assert.deepStrictEqual(result.predictions, [1]);
        assert.strictEqual(result.latency.count, 5);
        assert.ok(result.latency.p95 >= result.latency.p50);
        assert.match(io.lines[0], /^fraud: waiting for http:\/\/127\.0\.0\.1:\d+\/ping \(HTTP 503, \d+ s of 60 s\)$/);
        assert.match(io.lines[2], /^fraud: ready after \d+ s$/);
        assert.ok(io.lines.includes("fraud: predictions [1]"));
        assert.ok(io.lines.some((l) => /^fraud: latency over 5 sequential requests: p50 [\d.]+ ms, p95 [\d.]+ ms$/.test(l)));
        assert.strictEqual(server.requests.filter((r) => r.path === "/invocations").length, 5, "bounded request count");
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

    it("fails when the endpoint never becomes ready, naming the last answer", async () => {
        server.pingsUntilReady = 1_000;
        let clock = 0;
        const io: SmokeIO = { log: () => undefined, now: () => clock, sleep: async (ms) => void (clock += ms) };
        await assert.rejects(
            runSmoke({ ...base, readyTimeoutMs: 30_000, readyPollMs: 5_000, targets: [{ name: "fraud", scoringUri: uri }] }, io),
            /fraud: not ready after 30 s \(last answer from http:\/\/127\.0\.0\.1:\d+\/ping: HTTP 503\)/,
        );
    });

    it("reads scoring URIs from stack outputs and explains missing ones", () => {
        const outputs = { models: { fraud: { scoringUri: "http://x:8080/invocations", version: "7" } }, registry: "https://adb" };
        assert.deepStrictEqual(targetsFromStackOutputs(outputs, "prd"), [{ name: "fraud", scoringUri: "http://x:8080/invocations" }]);
        assert.throws(() => targetsFromStackOutputs({}, "prd"), /stack prd has no "models" output: deploy it with `pulumi up` first, or pass --url/);
        assert.throws(() => targetsFromStackOutputs({ models: {} }, "prd"), /serves no models/);
        assert.throws(() => targetsFromStackOutputs({ models: { fraud: {} } }, "prd"), /model fraud has no scoringUri output/);
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
                [["--url", uri, "--entra-scope", "api://x"], /--entra-scope "api:\/\/x" is not a scope: use <application id URI>\/\.default/],
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
