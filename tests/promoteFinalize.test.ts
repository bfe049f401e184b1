// Promotion when the registry or storage does what real services do and the happy-path fake did not:
// a finalize that ends FAILED_REGISTRATION or stays PENDING_REGISTRATION, a 429, a 5xx or a timeout
// on a call, and a run interrupted after the copy's version was created (a rerun must converge on
// that version, not add another).
import * as assert from "assert";
import { isTransientStatus, promote, PromoteError, retryDelayMs, TransientPromoteError, type PromoteRequest } from "../lib/registry/promote";
import { rollback } from "../lib/registry/rollback";
import { bearerToken } from "../lib/registry/credentials";
import { FakeUnityCatalog, SIGNED_MLMODEL } from "./helpers/fakeUnityCatalog";

const DEPLOYER_TOKEN = "fake-token-for-tests-deployer";
const FILES = { MLmodel: SIGNED_MLMODEL, "requirements.txt": "mlflow==2.11.3\n", "model.pkl": "v7" };
const SOURCE = "models:/mlplatform.dev.fraud/7";

describe("promote: finalize, transient failures and reruns", () => {
    let uc: FakeUnityCatalog;
    let url: string;
    let sleeps: number[];
    beforeEach(async () => {
        uc = new FakeUnityCatalog();
        url = await uc.start();
        uc.tokens = { [DEPLOYER_TOKEN]: "ml-deployers" };
        uc.privileges = { "mlplatform.prd": { createModel: [], manage: ["ml-deployers"] } };
        uc.addModel("mlplatform.dev.fraud", "ml-data-scientists", { 6: { ...FILES, "model.pkl": "v6" }, 7: FILES });
        sleeps = [];
    });
    afterEach(() => uc.stop());

    const run = (request: Partial<PromoteRequest> = {}, log: string[] = [], extra: { timeoutMs?: number; maxAttempts?: number } = {}) =>
        promote(
            { source: "mlplatform.dev.fraud", version: "7", target: "mlplatform.prd.fraud", alias: "champion", ...request },
            { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: uc.storageEndpoint, sleep: async (ms) => void sleeps.push(ms), log: (l) => log.push(l), ...extra },
        );
    const prd = () => uc.model("mlplatform.prd.fraud")!;
    const routes = () => uc.calls.map((c) => `${c.method} ${c.path.replace("/api/2.0/mlflow/unity-catalog/", "")}`);

    describe("finalize", () => {
        it("a finalize that ends FAILED_REGISTRATION leaves the alias where it was, and says so", async () => {
            await run({ version: "6" });
            assert.strictEqual(prd().aliases.get("champion"), 1);
            uc.finalizeOutcome = "FAILED_REGISTRATION";
            await assert.rejects(run(), (err: Error) => {
                assert.ok(err instanceof PromoteError);
                assert.strictEqual(err.message, "version 2 of mlplatform.prd.fraud is FAILED_REGISTRATION after finalizing; the alias was not moved");
                return true;
            });
            assert.strictEqual(prd().versions.get(2)!.status, "FAILED_REGISTRATION");
            assert.strictEqual(prd().aliases.get("champion"), 1, "prd still serves version 1");
        });

        it("waits for a finalize that is still PENDING_REGISTRATION, then moves the alias once READY", async () => {
            uc.finalizeOutcome = "PENDING_REGISTRATION";
            uc.pendingReads = 3;
            const log: string[] = [];
            const result = await run({}, log);
            assert.strictEqual(result.targetVersion, "1");
            assert.strictEqual(prd().aliases.get("champion"), 1);
            assert.deepStrictEqual(sleeps, [2000, 2000, 2000], "polled every 2 s until READY");
            assert.strictEqual(routes().filter((r) => r === "GET model-versions/get").length, 1 + 3, "the source, then three polls");
            assert.ok(log.includes("version 1 of mlplatform.prd.fraud is READY"));
        });

        it("gives up on a version that never leaves PENDING_REGISTRATION after 30 polls, without moving the alias", async () => {
            await run({ version: "6" });
            uc.finalizeOutcome = "PENDING_REGISTRATION";
            await assert.rejects(run(), /^PromoteError: version 2 of mlplatform\.prd\.fraud is PENDING_REGISTRATION after finalizing; the alias was not moved$/);
            assert.strictEqual(sleeps.length, 30);
            assert.ok(sleeps.every((ms) => ms === 2000));
            assert.strictEqual(prd().aliases.get("champion"), 1);
        });

        it("a version still PENDING after 29 polls and READY at the 30th is promoted", async () => {
            uc.finalizeOutcome = "PENDING_REGISTRATION";
            uc.pendingReads = 30;
            await run();
            assert.strictEqual(sleeps.length, 30);
            assert.strictEqual(prd().aliases.get("champion"), 1);
        });
    });

    describe("transient failures (429, 5xx, timeouts)", () => {
        it("retries one 429, one 500, one 503 and one timeout with backoff, and promotes once", async () => {
            uc.faults.push({ route: "GET model-versions/get", status: 429 });
            uc.faults.push({ route: "POST registered-models/create", status: 500 });
            uc.faults.push({ route: "POST model-versions/generate-temporary-credentials", status: 503 });
            uc.faults.push({ route: "POST registered-models/alias", delayMs: 400 });
            const result = await run({}, [], { timeoutMs: 150 });
            assert.strictEqual(result.targetVersion, "1");
            assert.strictEqual(prd().aliases.get("champion"), 1);
            assert.deepStrictEqual([...prd().versions.keys()], [1], "one version, no duplicate");
            assert.deepStrictEqual(sleeps, [1000, 1000, 1000, 1000], "each failure waited 1 s before its first retry");
        });

        it("backs off exponentially within the bound, and honours Retry-After in seconds", () => {
            assert.deepStrictEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n)), [1000, 2000, 4000, 8000, 16000, 30000]);
            assert.strictEqual(retryDelayMs(1, "7"), 7000);
            assert.strictEqual(retryDelayMs(1, " 3 "), 3000);
            assert.strictEqual(retryDelayMs(1, "600"), 30_000, "a long Retry-After is cut to 30 s");
            assert.strictEqual(retryDelayMs(2, "soon"), 2000, "an unreadable Retry-After is ignored");
            assert.deepStrictEqual([429, 500, 502, 503, 504].map(isTransientStatus), [true, true, true, true, true]);
            assert.deepStrictEqual([400, 401, 403, 404, 409, 501, 200].map(isTransientStatus), [false, false, false, false, false, false, false]);
        });

        it("stops after the attempt bound with a message that says what failed and that a rerun resumes", async () => {
            for (let i = 0; i < 3; i++) uc.faults.push({ route: "POST registered-models/create", status: 503 });
            await assert.rejects(run({}, [], { maxAttempts: 3 }), (err: Error) => {
                assert.ok(err instanceof TransientPromoteError);
                assert.strictEqual(
                    err.message,
                    `cannot create mlplatform.prd.fraud: the registry at ${url} answered HTTP 503 TEMPORARILY_UNAVAILABLE: The service is temporarily unavailable. (gave up after 3 attempts); it is failing: try again later: a rerun picks up where this one stopped`,
                );
                return true;
            });
            assert.deepStrictEqual(sleeps, [1000, 2000]);
            assert.strictEqual(routes().filter((r) => r === "POST registered-models/create").length, 3);
        });

        it("a 429 after the bound says the registry is throttling", async () => {
            for (let i = 0; i < 5; i++) uc.faults.push({ route: "GET model-versions/get", status: 429 });
            await assert.rejects(run(), (err: Error) => {
                assert.ok(err instanceof TransientPromoteError);
                assert.match(err.message, /answered HTTP 429 REQUEST_LIMIT_EXCEEDED: Too many requests\. Please wait and try again\. \(gave up after 5 attempts\); it is throttling requests: try again later/);
                return true;
            });
            assert.deepStrictEqual(sleeps, [1000, 2000, 4000, 8000]);
            assert.strictEqual(uc.model("mlplatform.prd.fraud"), undefined, "nothing changed");
        });

        it("every attempt timing out fails with the timeout named", async () => {
            for (let i = 0; i < 2; i++) uc.faults.push({ route: "GET model-versions/get", delayMs: 300 });
            await assert.rejects(run({}, [], { timeoutMs: 100, maxAttempts: 2 }), (err: Error) => {
                assert.ok(err instanceof TransientPromoteError);
                assert.strictEqual(err.message, `cannot read version 7 of mlplatform.dev.fraud: the registry at ${url} did not answer within 100 ms (gave up after 2 attempts); try again later: a rerun picks up where this one stopped`);
                return true;
            });
        });

        it("does not retry a 4xx: a refusal is said at once (RESOURCE_ALREADY_EXISTS, MLflow's conflict, is a 400 that create accepts)", async () => {
            uc.privileges["mlplatform.prd"].manage = [];
            await assert.rejects(run(), /cannot create mlplatform\.prd\.fraud: permission denied/);
            assert.deepStrictEqual(sleeps, []);
            assert.strictEqual(routes().filter((r) => r === "POST registered-models/create").length, 1);
        });

        it("a create whose answer is a 503 but that made the version is not repeated: the promotion uses that version", async () => {
            uc.faults.push({ route: "POST model-versions/create", status: 503, afterEffect: true });
            const log: string[] = [];
            const result = await run({}, log);
            assert.strictEqual(result.targetVersion, "1");
            assert.deepStrictEqual([...prd().versions.keys()], [1], "no second version");
            assert.strictEqual(prd().versions.get(1)!.status, "READY");
            assert.strictEqual(prd().aliases.get("champion"), 1);
            assert.strictEqual(routes().filter((r) => r === "POST model-versions/create").length, 1);
        });

        it("a create that timed out but made the version is not repeated either", async () => {
            // The create lands 300 ms in, after the client gave up at 150 ms; the backoff (1 s, scaled
            // to 200 ms here) outlasts it, so the search before a second create finds that version.
            uc.faults.push({ route: "POST model-versions/create", delayMs: 300 });
            const result = await promote(
                { source: "mlplatform.dev.fraud", version: "7", target: "mlplatform.prd.fraud", alias: "champion" },
                { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: uc.storageEndpoint, timeoutMs: 150, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms / 5)) },
            );
            assert.strictEqual(result.targetVersion, "1");
            assert.deepStrictEqual([...prd().versions.keys()], [1], "no second version");
            assert.strictEqual(routes().filter((r) => r === "POST model-versions/create").length, 1);
            assert.strictEqual(prd().aliases.get("champion"), 1);
        });

        it("a create that failed without effect is tried again", async () => {
            uc.faults.push({ route: "POST model-versions/create", status: 500 });
            const result = await run();
            assert.strictEqual(result.targetVersion, "1");
            assert.strictEqual(routes().filter((r) => r === "POST model-versions/create").length, 2);
            assert.deepStrictEqual(sleeps, [1000]);
        });

        it("a create failing past the bound stops with the registry's answer", async () => {
            for (let i = 0; i < 2; i++) uc.faults.push({ route: "POST model-versions/create", status: 502 });
            await assert.rejects(run({}, [], { maxAttempts: 2 }), (err: Error) => {
                assert.ok(err instanceof TransientPromoteError);
                assert.strictEqual(err.message, `cannot create a version of mlplatform.prd.fraud: the registry at ${url} answered HTTP 502 TEMPORARILY_UNAVAILABLE: The service is temporarily unavailable.; it is failing: try again later: a rerun picks up where this one stopped`);
                return true;
            });
            assert.strictEqual(prd().versions.size, 0);
        });

        it("a storage 503 (ServerBusy) on a file read is retried", async () => {
            const storage = uc.storageEndpoint;
            let busy = 1;
            const { createServer } = await import("http");
            // A proxy in front of the fake's storage that answers the first file read 503 ServerBusy.
            const proxy = createServer((req, res) => {
                if (req.method === "GET" && busy > 0 && !req.url!.includes("resource=filesystem")) {
                    busy--;
                    res.writeHead(503, { "x-ms-error-code": "ServerBusy" });
                    return void res.end();
                }
                const target = new URL(req.url!, storage("x").replace(/\/storage\/x$/, ""));
                const chunks: Buffer[] = [];
                req.on("data", (c) => chunks.push(c));
                req.on("end", async () => {
                    const answer = await fetch(target, { method: req.method, body: chunks.length ? Buffer.concat(chunks) : undefined, headers: { "x-ms-version": "2021-08-06" } });
                    const headers: Record<string, string> = {};
                    answer.headers.forEach((v, k) => (headers[k] = v));
                    res.writeHead(answer.status, headers);
                    res.end(Buffer.from(await answer.arrayBuffer()));
                });
            });
            await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
            const port = (proxy.address() as import("net").AddressInfo).port;
            try {
                const result = await promote(
                    { source: "mlplatform.dev.fraud", version: "7", target: "mlplatform.prd.fraud", alias: "champion" },
                    { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: (account) => `http://127.0.0.1:${port}/storage/${account}`, sleep: async (ms) => void sleeps.push(ms) },
                );
                assert.strictEqual(result.files, 3);
                assert.deepStrictEqual(uc.filesOf(prd().versions.get(1)!.storageLocation), FILES);
                assert.deepStrictEqual(sleeps, [1000]);
            } finally {
                proxy.closeAllConnections();
                await new Promise((resolve) => proxy.close(resolve));
            }
        });
    });

    describe("a rerun converges", () => {
        it("after a run stopped once the version was created (files not all copied), the rerun finishes that version instead of creating another", async () => {
            // The first run dies at the first file write (storage down past the bound).
            const first = promote(
                { source: "mlplatform.dev.fraud", version: "7", target: "mlplatform.prd.fraud", alias: "champion" },
                { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: () => "http://127.0.0.1:1", sleep: async () => undefined, maxAttempts: 2 },
            );
            await assert.rejects(first, /cannot (create|read|list) .*the storage account did not answer/);
            assert.deepStrictEqual([...prd().versions.keys()], [1]);
            assert.strictEqual(prd().versions.get(1)!.status, "PENDING_REGISTRATION");
            assert.strictEqual(prd().aliases.get("champion"), undefined);
            const log: string[] = [];
            const result = await run({}, log);
            assert.strictEqual(result.targetVersion, "1");
            assert.deepStrictEqual([...prd().versions.keys()], [1], "no duplicate version");
            assert.strictEqual(prd().versions.get(1)!.status, "READY");
            assert.deepStrictEqual(uc.filesOf(prd().versions.get(1)!.storageLocation), FILES);
            assert.strictEqual(prd().aliases.get("champion"), 1);
            assert.ok(log.includes(`version 1 of mlplatform.prd.fraud already holds ${SOURCE} (PENDING_REGISTRATION), from an earlier promotion: finishing it`), log.join("\n"));
        });

        it("after a run stopped before the alias (READY copy), the rerun only moves the alias", async () => {
            for (let i = 0; i < 5; i++) uc.faults.push({ route: "POST registered-models/alias", status: 503 });
            await assert.rejects(run(), TransientPromoteError);
            assert.strictEqual(prd().versions.get(1)!.status, "READY");
            assert.strictEqual(prd().aliases.get("champion"), undefined);
            uc.calls.length = 0;
            const log: string[] = [];
            const result = await run({}, log);
            assert.deepStrictEqual({ targetVersion: result.targetVersion, files: result.files, bytes: result.bytes }, { targetVersion: "1", files: 0, bytes: 0 });
            assert.strictEqual(prd().aliases.get("champion"), 1);
            assert.deepStrictEqual([...prd().versions.keys()], [1]);
            assert.deepStrictEqual(routes(), ["GET model-versions/get", "POST registered-models/create", "GET model-versions/search", "GET model-versions/get", "POST registered-models/alias"], "no create, no copy, no finalize");
            assert.ok(log.includes(`version 1 of mlplatform.prd.fraud already holds ${SOURCE} (READY), from an earlier promotion: not copied again`));
        });

        it("a failed earlier copy is not reused: a new version is made", async () => {
            uc.finalizeOutcome = "FAILED_REGISTRATION";
            await assert.rejects(run(), /FAILED_REGISTRATION after finalizing/);
            uc.finalizeOutcome = "READY";
            const result = await run();
            assert.strictEqual(result.targetVersion, "2");
            assert.strictEqual(prd().aliases.get("champion"), 2);
        });

        it("the copy of another source version is not reused, and of several copies the newest is", async () => {
            await run({ version: "6" });
            await run({ version: "7" });
            assert.strictEqual(prd().aliases.get("champion"), 2);
            // Promoting 6 again: version 1 holds it, READY, so prd goes back to it without a copy.
            const back = await run({ version: "6" });
            assert.strictEqual(back.targetVersion, "1");
            assert.strictEqual(prd().aliases.get("champion"), 1);
            assert.strictEqual(prd().versions.size, 2);
        });

        it("finds the earlier copy on a later page of the search", async () => {
            uc.addModel("mlplatform.prd.fraud", "ml-deployers", Object.fromEntries(Array.from({ length: 150 }, (_, i) => [i + 1, FILES])));
            prd().versions.get(3)!.source = SOURCE;
            const result = await run();
            assert.strictEqual(result.targetVersion, "3", "version 3 is on the second page (newest first, 100 a page)");
            assert.strictEqual(prd().versions.size, 150);
            assert.strictEqual(routes().filter((r) => r === "GET model-versions/search").length, 2);
        });
    });

    describe("rollback on a transient failure", () => {
        it("retries a 503 on the alias move", async () => {
            await run({ version: "6" });
            await run({ version: "7" });
            uc.faults.push({ route: "POST registered-models/alias", status: 503 });
            sleeps = [];
            await rollback({ model: "mlplatform.prd.fraud", version: "1", alias: "champion" }, { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), sleep: async (ms: number) => void sleeps.push(ms) } as never);
            assert.strictEqual(prd().aliases.get("champion"), 1);
            assert.deepStrictEqual(sleeps, [1000]);
        });
    });
});
