// What the registry client serves when versions reach two digits (numeric order, never text order:
// "9" must not beat "10"), and how it treats the transient answers a real registry gives: a 500 is
// retried like any 5xx but 501, a 429 after the retries counts as an outage, the backoff is bounded.
import * as assert from "assert";
import { RegistryClient, type RegistryClientOptions } from "../lib/registry/client";
import { isRegistryUnreachable } from "../lib/registry/errors";
import type { RegistryKind } from "../lib/registry/types";
import { FakeMlflowServer } from "./helpers/fakeMlflow";
import { failure } from "./helpers/registryFailure";


describe("registry client: version order and transient answers", () => {
    let server: FakeMlflowServer;
    let sleeps: number[];
    let progress: string[];

    beforeEach(async () => {
        server = new FakeMlflowServer();
        await server.start();
        sleeps = [];
        progress = [];
    });
    afterEach(async () => {
        assert.deepStrictEqual(server.unmodeled, [], "every request was one the fake models");
        await server.stop();
    });

    function client(kind: RegistryKind = "mlflow", options: Partial<RegistryClientOptions> = {}): RegistryClient {
        return new RegistryClient({ kind, url: server.url, sleep: async (ms) => void sleeps.push(ms), random: () => 0.5, onProgress: (m) => progress.push(m), timeoutMs: 2000, ...options });
    }

    describe("numeric version order", () => {
        it("latest on MLflow is version 10, not 9, whatever the stages", async () => {
            server.addModel("fraud", [{ version: 2, stage: "Archived" }, { version: 9, stage: "Production" }, { version: 10 }], { champion: 10 });
            const info = await client().resolve("fraud", { latest: true });
            assert.strictEqual(info.version, "10");
            assert.deepStrictEqual(info.aliases, ["champion"], "the aliases of version 10 only");
            assert.strictEqual(server.requests.length, 1, "the newest is READY: one request");
        });

        it("latest passes over a newer version that is not READY, in numeric order", async () => {
            server.addModel("fraud", [
                { version: 2, stage: "Production" },
                { version: 9 },
                { version: 10, status: "FAILED_REGISTRATION", statusMessage: "copy failed" },
                { version: 11, status: "FAILED_REGISTRATION" },
            ]);
            const info = await client().resolve("fraud", { latest: true });
            assert.strictEqual(info.version, "9");
            assert.strictEqual(progress.length, 1);
            assert.strictEqual(
                progress[0],
                `registry ${server.url}: latest of fraud is version 9, the newest READY one; passed over version 11 (FAILED_REGISTRATION), version 10 (FAILED_REGISTRATION: copy failed)`,
            );
        });

        it("a stage selector serves the stage's newest version, 10 before 9", async () => {
            server.addModel("fraud", [{ version: 9, stage: "Production" }, { version: 10, stage: "Production" }, { version: 11, stage: "Staging" }]);
            assert.strictEqual((await client().resolve("fraud", { stage: "production" })).version, "10");
            assert.strictEqual((await client().resolve("fraud", { stage: "Staging" })).version, "11");
        });

        it("latest on Unity Catalog is version 10 of versions listed in no order", async () => {
            server.addModel("main.risk.fraud", [{ version: 9 }, { version: 10 }, { version: 2 }, { version: 1 }], { champion: 9 });
            const info = await client("unity-catalog").resolve("main.risk.fraud", { latest: true });
            assert.strictEqual(info.version, "10");
            assert.deepStrictEqual(info.aliases, []);
            assert.deepStrictEqual(progress, []);
        });

        it("latest on Unity Catalog passes over newer versions that are not READY, newest first in the message", async () => {
            server.addModel("main.risk.fraud", [{ version: 9 }, { version: 10, status: "PENDING_REGISTRATION" }, { version: 11, status: "FAILED_REGISTRATION" }, { version: 3 }]);
            const info = await client("unity-catalog").resolve("main.risk.fraud", { latest: true });
            assert.strictEqual(info.version, "9");
            assert.strictEqual(progress.length, 1);
            assert.match(progress[0], /latest of main\.risk\.fraud is version 9, the newest READY one; passed over version 11 \(FAILED_REGISTRATION\), version 10 \(PENDING_REGISTRATION\)$/);
        });

        it("a Unity Catalog model whose only versions are registering waits for the newest, 10, not 9", async () => {
            server.addModel("main.risk.fraud", [{ version: 9, status: "PENDING_REGISTRATION" }, { version: 10, status: "PENDING_REGISTRATION", readyAfterReads: 1 }]);
            const info = await client("unity-catalog").resolve("main.risk.fraud", { latest: true });
            assert.strictEqual(info.version, "10");
            assert.strictEqual(info.status, "READY");
        });

        it("a Unity Catalog model whose newest is FAILED and the rest registering does not wait for an older one", async () => {
            server.addModel("main.risk.fraud", [{ version: 9, status: "PENDING_REGISTRATION" }, { version: 10, status: "FAILED_REGISTRATION" }]);
            const err = await failure(client("unity-catalog").resolve("main.risk.fraud", { latest: true }), "registration-failed");
            assert.match(err.message, /no version of the model is READY \((9 PENDING_REGISTRATION, 10 FAILED_REGISTRATION|10 FAILED_REGISTRATION, 9 PENDING_REGISTRATION)\)/);
        });

        it("MLflow: a first version still registering is waited for; none READY and the newest FAILED is an error naming them", async () => {
            server.addModel("new", [{ version: 1, status: "PENDING_REGISTRATION", readyAfterReads: 1 }]);
            assert.strictEqual((await client().resolve("new", { latest: true })).status, "READY");
            server.addModel("bad", [{ version: 9, status: "FAILED_REGISTRATION" }, { version: 10, status: "FAILED_REGISTRATION" }]);
            const err = await failure(client().resolve("bad", { latest: true }), "registration-failed");
            assert.match(err.message, /^no version of the model is READY \(10 FAILED_REGISTRATION, 9 FAILED_REGISTRATION\)\. /);
        });
    });

    describe("transient answers", () => {
        beforeEach(() => {
            server.addModel("fraud", [{ version: 2, stage: "Production" }], { champion: 2 });
        });

        it("retries a 500 INTERNAL_ERROR, then succeeds", async () => {
            server.faults.push({ status: 500, body: '{"error_code":"INTERNAL_ERROR","message":"database is locked"}' });
            assert.strictEqual((await client().resolve("fraud", { version: "2" })).version, "2");
            assert.strictEqual(server.requests.length, 2);
            assert.match(progress[0], /HTTP 500; retry 1\/4 in 250 ms$/);
        });

        it("does not retry a 501 Not Implemented: it will not change", async () => {
            server.faults.push({ status: 501, body: '{"error_code":"NOT_IMPLEMENTED","message":"no"}' });
            const err = await failure(client().resolve("fraud", { version: "2" }), "bad-request");
            assert.strictEqual(server.requests.length, 1);
            assert.ok(!isRegistryUnreachable(err));
        });

        it("a 500 after the attempts is an outage (unavailable), with the attempts counted", async () => {
            for (let i = 0; i < 3; i++) server.faults.push({ status: 500, body: '{"error_code":"INTERNAL_ERROR","message":"database is locked"}' });
            const err = await failure(client("mlflow", { retry: { maxAttempts: 3 } }).resolve("fraud", { version: "2" }), "unavailable");
            assert.ok(isRegistryUnreachable(err));
            assert.strictEqual(err.status, 500);
            assert.match(err.message, /^the registry answered HTTP 500 INTERNAL_ERROR database is locked \(gave up after 3 attempts\)\. Registry: .* The registry is failing: check its health, then try again\.$/);
            assert.strictEqual(server.requests.length, 3);
        });

        it("a 429 after the attempts counts as an outage (rate-limited), not as a bad request", async () => {
            for (let i = 0; i < 2; i++) server.faults.push({ status: 429, body: '{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}' });
            const err = await failure(client("mlflow", { retry: { maxAttempts: 2 } }).resolve("fraud", { version: "2" }), "rate-limited");
            assert.ok(isRegistryUnreachable(err));
            assert.strictEqual(err.status, 429);
            assert.match(err.message, /^the registry answered HTTP 429 REQUEST_LIMIT_EXCEEDED slow down \(gave up after 2 attempts\)\..* The registry is throttling requests: wait a minute and try again\.$/);
        });

        it("one 429, one 5xx and one timeout in a row are all retried within the bound", async () => {
            server.faults.push({ status: 429, body: "{}" });
            server.faults.push({ status: 503, body: "{}" });
            server.faults.push({ delayMs: 300, status: 200, body: "{}" });
            const info = await client("mlflow", { timeoutMs: 100 }).resolve("fraud", { alias: "champion" });
            assert.strictEqual(info.version, "2");
            assert.deepStrictEqual(sleeps, [250, 500, 1000], "random 0.5 of 500, 1000, 2000 ms");
            assert.deepStrictEqual(progress.map((p) => / retry \d\/4/.exec(p)?.[0]), [" retry 1/4", " retry 2/4", " retry 3/4"]);
        });

        it("the backoff grows exponentially up to maxDelayMs, with jitter", async () => {
            for (let i = 0; i < 4; i++) server.faults.push({ status: 503, body: "{}" });
            await client("mlflow", { retry: { baseDelayMs: 100, maxDelayMs: 300 }, random: () => 1 }).resolve("fraud", { version: "2" });
            assert.deepStrictEqual(sleeps, [100, 200, 300, 300]);
            sleeps.length = 0;
            server.faults.push({ status: 503, body: "{}" });
            await client("mlflow", { random: () => 0 }).resolve("fraud", { version: "2" });
            assert.deepStrictEqual(sleeps, [0]);
        });

        it("a Retry-After in seconds or as a date is used as given, within maxRetryAfterMs", async () => {
            server.faults.push({ status: 429, body: "{}", retryAfter: "2" });
            server.faults.push({ status: 429, body: "{}", retryAfter: new Date(Date.now() - 60_000).toUTCString() });
            server.faults.push({ status: 429, body: "{}", retryAfter: "not a date" });
            await client("mlflow", { retry: { maxRetryAfterMs: 1500 } }).resolve("fraud", { version: "2" });
            assert.strictEqual(sleeps[0], 1500, "2 s cut to the 1.5 s bound");
            assert.strictEqual(sleeps[1], 0, "a date in the past: no wait");
            assert.strictEqual(sleeps[2], 1000, "unreadable: the backoff (0.5 of 2000 ms)");
        });

        it("a refused credential is not retried and is not an outage", async () => {
            server.auth = { mode: "bearer", tokens: ["right"] };
            const err = await failure(client().resolve("fraud", { version: "2" }), "unauthenticated");
            assert.strictEqual(server.requests.length, 1);
            assert.ok(!isRegistryUnreachable(err));
        });
    });
});
