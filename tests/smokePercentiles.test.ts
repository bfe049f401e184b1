// The smoke test's figures with a scripted clock, so every latency is exact: nearest-rank
// percentiles over numbers (not text: 100 < 20 < 9 as text), for sample sizes other than the usual
// ones, the latency and capacity lines, and the readiness wait's answers and messages.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { percentile, runSmoke, SmokeError, summarize, targetsFromStackOutputs, waitUntilReady, type SmokeIO } from "../lib/scoring/smoke";
import { FakeScoringServer } from "./helpers/fakeScoring";
import { PROJECT_DIR } from "./helpers/fixtures";

const sample = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "serving/sample-input.json"), "utf8"));

/** A clock that answers `times` in order (then stays at the last), and records sleeps. */
function scriptedIO(times: number[]): SmokeIO & { lines: string[]; sleeps: number[]; calls: () => number } {
    const lines: string[] = [];
    const sleeps: number[] = [];
    let i = 0;
    return {
        lines,
        sleeps,
        calls: () => i,
        log: (line) => lines.push(line),
        now: () => times[Math.min(i++, times.length - 1)],
        sleep: async (ms) => void sleeps.push(ms),
    };
}

/** Nearest rank by hand: the value at rank ceil(p/100 * n), 1-based. */
function byHand(sorted: number[], p: number): number {
    return sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1];
}

describe("smoke test figures", () => {
    describe("percentiles", () => {
        it("nearest rank for sample sizes 1, 2, 4, 5, 10, 20, 101 and 1000", () => {
            for (const n of [1, 2, 4, 5, 10, 20, 101, 1000]) {
                const sorted = Array.from({ length: n }, (_, i) => (i + 1) * 10);
                for (const p of [1, 50, 90, 95, 99, 100]) assert.strictEqual(percentile(sorted, p), byHand(sorted, p), `n=${n} p${p}`);
            }
            assert.strictEqual(percentile([10, 20, 30, 40], 50), 20, "rank 2 of 4, not the upper middle");
            assert.strictEqual(percentile([10, 20, 30, 40, 50], 50), 30);
            assert.strictEqual(percentile([10, 20], 95), 20);
            assert.strictEqual(percentile(Array.from({ length: 20 }, (_, i) => i + 1), 95), 19, "rank 19 of 20");
            assert.strictEqual(percentile(Array.from({ length: 101 }, (_, i) => i + 1), 99), 100, "rank 100 of 101");
        });

        it("p0 is the smallest, p100 the largest, nothing outside the list", () => {
            assert.strictEqual(percentile([3, 5, 8], 0), 3);
            assert.strictEqual(percentile([3, 5, 8], 100), 8);
            assert.strictEqual(percentile([3, 5, 8], 150), 8);
            assert.ok(Number.isNaN(percentile([], 50)));
        });

        it("summarize sorts numbers as numbers: 9 < 20 < 100", () => {
            assert.deepStrictEqual(summarize([100, 9, 20]), { count: 3, p50: 20, p95: 100, p99: 100, max: 100 });
            assert.deepStrictEqual(summarize([5, 1000, 30, 200, 7]), { count: 5, p50: 30, p95: 1000, p99: 1000, max: 1000 });
            const twenty = [12, 3, 150, 7, 99, 1, 45, 8, 2, 60, 11, 5, 4, 130, 6, 9, 10, 70, 13, 14];
            assert.deepStrictEqual(summarize(twenty), { count: 20, p50: 10, p95: 130, p99: 150, max: 150 });
            const input = [3, 1, 2];
            summarize(input);
            assert.deepStrictEqual(input, [3, 1, 2], "the caller's samples are not reordered");
        });

        it("an empty sample has no figures", () => {
            const empty = summarize([]);
            assert.strictEqual(empty.count, 0);
            assert.ok([empty.p50, empty.p95, empty.p99, empty.max].every(Number.isNaN));
        });
    });

    describe("runSmoke's lines, with exact latencies", () => {
        let server: FakeScoringServer;
        let uri: string;
        beforeEach(async () => {
            server = new FakeScoringServer();
            server.columns = sample.dataframe_split.columns;
            uri = await server.start();
        });
        afterEach(async () => {
            assert.deepStrictEqual(server.unmodeled, []);
            await server.stop();
        });
        const base = { input: sample, readyTimeoutMs: 60_000, readyPollMs: 5_000, requestTimeoutMs: 5_000 };

        it("reports p50/p95 of the sequential requests, rounded to 0.1 ms", async () => {
            // waitUntilReady: start, the /ping timeout, ready; then (start, end) per request.
            const io = scriptedIO([1000, 1000, 3600, 4000, 4012.34, 5000, 5100.06, 6000, 6009.95, 7000, 7250.55]);
            const [result] = await runSmoke({ ...base, requests: 4, targets: [{ name: "fraud", scoringUri: uri }] }, io);
            assert.strictEqual(result.latency.count, 4);
            assert.ok(Math.abs(result.latency.p50 - 12.34) < 1e-6, `p50 ${result.latency.p50}`);
            assert.ok(Math.abs(result.latency.p95 - 250.55) < 1e-6, `p95 ${result.latency.p95}`);
            assert.deepStrictEqual(io.lines, [
                "fraud: ready after 3 s",
                "fraud: predictions [1]",
                "fraud: latency over 4 sequential requests: p50 12.3 ms, p95 250.6 ms",
            ]);
            assert.strictEqual(result.capacity, undefined, "no probe without --concurrency");
        });

        it("probes capacity with one request in flight: exact throughput, percentiles and failures", async () => {
            // ready: 0, 0, 0; one sequential request 10 -> 30; probe: start 100, then (t, end) x3, then the wall reading.
            const io = scriptedIO([0, 0, 0, 10, 30, 100, 100, 140, 140, 160, 160, 360, 500]);
            const [result] = await runSmoke({ ...base, requests: 1, concurrency: 1, targets: [{ name: "fraud", scoringUri: uri }] }, io);
            assert.ok(result.capacity);
            // requests: 1, so the probe sends one request: start 100, t 100, end 140, wall at 140.
            assert.deepStrictEqual(result.capacity, { count: 1, p50: 40, p95: 40, p99: 40, max: 40, concurrency: 1, throughputPerSecond: 1000 / 40, failures: 0, wallMs: 40 });
            assert.strictEqual(io.lines[3], "fraud: capacity at concurrency 1: 1/1 succeeded in 40 ms, 25 req/s, p50 40 ms, p95 40 ms, p99 40 ms");
            assert.strictEqual(io.lines.length, 4, "no failure line when nothing failed");
        });

        it("counts the requests that fail under load and names the first failure", async () => {
            // ready (3 readings), 3 sequential requests (6), probe start 100; request 1: 100 -> 150;
            // request 2 at 150 fails (a failure takes no end reading); request 3: 170 -> 270; wall at 400.
            const clock = scriptedIO([0, 0, 0, 10, 30, 40, 50, 60, 70, 100, 100, 150, 150, 170, 270, 400]);
            const [result] = await runSmoke(
                { ...base, requests: 3, concurrency: 1, targets: [{ name: "fraud", scoringUri: uri }] },
                {
                    ...clock,
                    now: () => {
                        const value = clock.now();
                        // The 13th reading starts the probe's second request: that one gets a 500.
                        if (clock.calls() === 13) server.faults.push({ path: /invocations/, status: 500, body: '{"error_code":"INTERNAL_ERROR","message":"boom"}' });
                        return value;
                    },
                },
            );
            const capacity = result.capacity!;
            assert.deepStrictEqual({ failures: capacity.failures, count: capacity.count, wallMs: capacity.wallMs, p50: capacity.p50, max: capacity.max }, { failures: 1, count: 2, wallMs: 300, p50: 50, max: 100 });
            assert.ok(Math.abs(capacity.throughputPerSecond - (2 / 300) * 1000) < 1e-9);
            assert.strictEqual(clock.lines[3], "fraud: capacity at concurrency 1: 2/3 succeeded in 300 ms, 6.7 req/s, p50 50 ms, p95 100 ms, p99 100 ms");
            assert.match(clock.lines[4], /^fraud: 1 request\(s\) failed under load; first: .*HTTP 500/);
            assert.strictEqual(clock.lines.length, 5);
        });

        it("with more in flight than requests, sends exactly the requests asked", async () => {
            const io = scriptedIO([0]);
            const [result] = await runSmoke({ ...base, requests: 2, concurrency: 8, targets: [{ name: "fraud", scoringUri: uri }] }, io);
            assert.strictEqual(result.capacity!.count, 2);
            assert.strictEqual(result.capacity!.concurrency, 8);
            assert.strictEqual(server.requests.filter((r) => r.path === "/invocations").length, 2 + 2);
            assert.ok(Number.isNaN(result.capacity!.throughputPerSecond), "no wall time on a frozen clock: no throughput");
        });
    });

    describe("waiting until ready", () => {
        let server: FakeScoringServer;
        let uri: string;
        beforeEach(async () => {
            server = new FakeScoringServer();
            uri = await server.start();
        });
        afterEach(() => server.stop());
        const opts = { readyTimeoutMs: 30_000, readyPollMs: 10_000 };

        it("says how long it waited, polling at the interval and never past the deadline", async () => {
            server.faults.push({ path: /ping/, status: 502, body: "bad gateway", contentType: "text/plain" });
            server.faults.push({ path: /ping/, status: 503, body: "busy", contentType: "text/plain" });
            // Readings: start; per attempt the /ping timeout, then (not ready) now and the check after the pause.
            const io = scriptedIO([0, 0, 2000, 2000, 12000, 25000, 25000, 26000, 27000]);
            await waitUntilReady({ name: "fraud", scoringUri: uri }, opts, io);
            assert.deepStrictEqual(io.sleeps, [10_000, 5_000], "the second pause is cut to the time left");
            assert.deepStrictEqual(io.lines, [
                `fraud: waiting for ${uri.replace(/invocations$/, "ping")} (HTTP 502, 2 s of 30 s)`,
                `fraud: waiting for ${uri.replace(/invocations$/, "ping")} (HTTP 503, 25 s of 30 s)`,
                "fraud: ready after 27 s",
            ]);
        });

        it("gives up at the deadline with the last answer, and waits no more", async () => {
            for (let i = 0; i < 5; i++) server.faults.push({ path: /ping/, status: 503, body: "busy", contentType: "text/plain" });
            const io = scriptedIO([0, 0, 29_000, 29_000, 29_000, 30_000, 30_000]);
            await assert.rejects(waitUntilReady({ name: "fraud", scoringUri: uri }, opts, io), (err: Error) => {
                assert.ok(err instanceof SmokeError);
                assert.match(err.message, /^fraud: not ready after 30 s \(last answer from .*\/ping: HTTP 503\)\. Check the container's logs/);
                return true;
            });
            assert.deepStrictEqual(io.sleeps, [1000]);
        });

        it("a reading exactly at the deadline is too late", async () => {
            server.faults.push({ path: /ping/, status: 503, body: "busy", contentType: "text/plain" });
            const io = scriptedIO([0, 0, 30_000, 30_000]);
            await assert.rejects(waitUntilReady({ name: "fraud", scoringUri: uri }, opts, io), /not ready after 30 s/);
            assert.deepStrictEqual(io.sleeps, []);
        });

        it("401 and 403 ask for a token at once; 404 and 405 say it is not a scoring endpoint", async () => {
            for (const status of [401, 403]) {
                server.faults.push({ path: /ping/, status, body: "no", contentType: "text/plain" });
                await assert.rejects(waitUntilReady({ name: "fraud", scoringUri: uri }, opts, scriptedIO([0])), new RegExp(`answered HTTP ${status}: the endpoint needs a valid bearer token \\(SCORING_TOKEN\\)$`));
            }
            for (const status of [404, 405]) {
                server.faults.push({ path: /ping/, status, body: "no", contentType: "text/plain" });
                await assert.rejects(waitUntilReady({ name: "fraud", scoringUri: uri }, opts, scriptedIO([0])), (err: Error) => {
                    assert.strictEqual(
                        err.message,
                        `fraud: ${uri.replace(/invocations$/, "ping")} answered HTTP ${status}: ${uri} is not an MLflow scoring endpoint (an MLflow scoring server's /ping answers 200 once its model is loaded, never 404 or 405). Check the URL: it must be the scoring server's http(s)://<host>[:port]/invocations.`,
                    );
                    return true;
                });
            }
        });

        it("sends the bearer token on /ping when given, and none otherwise", async () => {
            await waitUntilReady({ name: "fraud", scoringUri: uri }, { ...opts, bearerToken: "tok-123" }, scriptedIO([0]));
            await waitUntilReady({ name: "fraud", scoringUri: uri }, opts, scriptedIO([0]));
            const pings = server.requests.filter((r) => r.path === "/ping");
            assert.deepStrictEqual(pings.map((r) => r.authorization), ["Bearer tok-123", undefined]);
        });
    });

    describe("targets from the stack's outputs", () => {
        it("reads each model's scoringUri", () => {
            assert.deepStrictEqual(targetsFromStackOutputs({ models: { fraud: { scoringUri: "https://a/invocations" }, churn: { scoringUri: "http://b/invocations" } } }, "dev"), {
                targets: [
                    { name: "fraud", scoringUri: "https://a/invocations" },
                    { name: "churn", scoringUri: "http://b/invocations" },
                ],
                skipped: [],
            });
        });

        it("refuses outputs without models, a model without an http(s) scoringUri, and no models", () => {
            for (const outputs of [null, "x", 3, {}, { models: null }, { models: "x" }]) {
                assert.throws(() => targetsFromStackOutputs(outputs, "dev"), /^SmokeError: stack dev has no "models" output: deploy it with `pulumi up` first, or pass --url$/);
            }
            for (const value of [null, "https://a", {}, { scoringUri: 3 }, { scoringUri: "ftp://a/invocations" }, { scoringUri: "see https://a" }]) {
                assert.throws(() => targetsFromStackOutputs({ models: { fraud: value } }, "prd"), /^SmokeError: stack prd: model fraud has no scoringUri output$/);
            }
            // A stack that serves nothing yet is not an error (its notice is tested in tests/smoke.test.ts).
            assert.deepStrictEqual(targetsFromStackOutputs({ models: {} }, "dev"), { targets: [], skipped: [] });
        });
    });
});
