import * as assert from "assert";
import * as net from "net";
import { parseRegistryUrl, RegistryClient, type RegistryClientOptions } from "../lib/registry/client";
import { basicAuth, bearerToken, entraToken, selectCredential, AZURE_DATABRICKS_SCOPE } from "../lib/registry/credentials";
import { isRegistryUnreachable, RegistryError } from "../lib/registry/errors";
import type { RegistryKind, Selector } from "../lib/registry/types";
import { FakeMlflowServer } from "./helpers/fakeMlflow";
import { failure } from "./helpers/registryFailure";
import { FakeScoringServer } from "./helpers/fakeScoring";
import { MLFLOW3_MODEL_ID, MLFLOW3_MODEL_VERSION, MLFLOW3_UC_MODEL_VERSION } from "./helpers/fixtures";
import { realMlflow, STATIC_PREFIX, uniqueModelName, type RealMlflow } from "./helpers/realMlflow";
import { RealRegistry, RecordingProxy } from "./helpers/realRegistry";

const TOKEN = "fake-registry-token-for-tests";

/** Resolves a promise that must fail with a RegistryError of `kind`, and returns that error. */

describe("registry client", () => {
    let server: FakeMlflowServer;
    let sleeps: number[];
    let progress: string[];

    beforeEach(async () => {
        server = new FakeMlflowServer();
        await server.start();
        sleeps = [];
        progress = [];
        server
            .addModel(
                "fraud",
                [
                    { version: 1, stage: "Archived" },
                    { version: 2, stage: "Production", runId: "7caf1b56", tags: { team: "risk" } },
                    { version: 3, stage: "Staging" },
                    { version: 4 },
                ],
                { champion: 2, challenger: 3 },
            )
            .addModel("empty")
            .addModel("main.risk.fraud", [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 5 }, { version: 4 }], { champion: 3 });
    });
    afterEach(async () => {
        assert.deepStrictEqual(server.unmodeled, [], "every request was one the fake models");
        await server.stop();
    });

    function client(kind: RegistryKind = "mlflow", options: Partial<RegistryClientOptions> = {}): RegistryClient {
        return new RegistryClient({
            kind,
            url: server.url,
            sleep: async (ms) => {
                sleeps.push(ms);
            },
            random: () => 0.5,
            onProgress: (m) => progress.push(m),
            timeoutMs: 2000,
            ...options,
        });
    }

    function assertNamesContext(err: Error, model: string, selector: string) {
        assert.ok(err.message.includes(server.url), `message names the registry URL: ${err.message}`);
        assert.ok(err.message.includes(`model: ${model}`), `message names the model: ${err.message}`);
        assert.ok(err.message.includes(`selector: ${selector}`), `message names the selector: ${err.message}`);
    }

    // Resolution, aliases, not-found and basic auth on self-hosted MLflow run against a real server
    // (below); what stays here needs Unity Catalog routes or a fault a real server cannot produce.
    describe("self-hosted MLflow and Databricks (what a real server cannot show)", () => {
        it("says whether a model exists, on definite answers only (Unity Catalog, an HTML 404, a bearer-only server)", async () => {
            assert.strictEqual(await client("unity-catalog").modelExists("main.risk.fraud"), true);
            assert.strictEqual(await client("unity-catalog").modelExists("main.risk.nosuch"), false);
            assert.deepStrictEqual(server.requests.map((r) => r.path).slice(-1), ["/api/2.1/unity-catalog/models/main.risk.nosuch"]);
            server.faults.push({ status: 404, contentType: "text/html; charset=utf-8", body: "<!doctype html><title>404 Not Found</title>" });
            await failure(client().modelExists("fraud"), "not-a-registry");
            server.auth = { mode: "bearer", tokens: [TOKEN] };
            await failure(client().modelExists("fraud"), "unauthenticated");
        });

        it("Unity Catalog: a model whose catalog, schema or metastore does not exist yet is not registered yet (a first run)", async () => {
            for (const code of ["CATALOG_DOES_NOT_EXIST", "SCHEMA_DOES_NOT_EXIST", "METASTORE_DOES_NOT_EXIST"] as const) {
                server.ucMissingParent = code;
                assert.strictEqual(await client("unity-catalog").modelExists("mlplatform.dev.fraud"), false, code);
                for (const selector of [{ alias: "champion" }, { version: "1" }, { latest: true as const }]) {
                    const err = await failure(client("unity-catalog").resolve("mlplatform.dev.fraud", selector), "unknown-model");
                    assert.match(err.message, /the model is not registered/);
                }
            }
            // A model that exists is found as before.
            assert.strictEqual((await client("unity-catalog").resolve("main.risk.fraud", { alias: "champion" })).version, "3");
            server.ucMissingParent = undefined;
        });

        it("latest is the newest READY version (numeric order), passing over newer ones that failed or are stuck, and saying so", async () => {
            const versions = Array.from({ length: 10 }, (_, i) => ({ version: i + 1 }));
            server.addModel("stuck-newest", [...versions, { version: 11, status: "FAILED_REGISTRATION" as const, statusMessage: "artifact upload failed" }, { version: 12, status: "PENDING_REGISTRATION" as const }]);
            server.addModel("main.risk.stuck", [...versions, { version: 11, status: "FAILED_REGISTRATION" as const }, { version: 12, status: "PENDING_REGISTRATION" as const }]);
            for (const [kind, name] of [["mlflow", "stuck-newest"], ["unity-catalog", "main.risk.stuck"]] as const) {
                progress.length = 0;
                const found = await client(kind).resolve(name, { latest: true });
                assert.strictEqual(found.version, "10", `${kind}: 10 beats 9, and 11 and 12 are not READY`);
                assert.strictEqual(found.status, "READY");
                assert.ok(
                    progress.some((m) => m.includes(`latest of ${name} is version 10, the newest READY one; passed over version 12 (PENDING_REGISTRATION), version 11 (FAILED_REGISTRATION`)),
                    `${kind}: ${progress.join("\n")}`,
                );
            }
            // The newest READY is found with one request when the newest version is READY.
            server.requests.length = 0;
            assert.strictEqual((await client().resolve("fraud", { latest: true })).status, "READY");
            assert.strictEqual(server.requests.length, 1);
            // No READY version at all: a clear failure, not an old guess.
            server.addModel("broken", [{ version: 1, status: "FAILED_REGISTRATION" }, { version: 2, status: "FAILED_REGISTRATION" }]);
            const err = await failure(client().resolve("broken", { latest: true }), "registration-failed");
            assert.match(err.message, /no version of the model is READY \(2 FAILED_REGISTRATION, 1 FAILED_REGISTRATION\)/);
        });

        it("refuses a download URI for Unity Catalog without a request", async () => {
            await failure(client("unity-catalog").getDownloadUri("main.risk.fraud", "1"), "invalid-reference");
            assert.strictEqual(server.requests.length, 0);
        });
    });

    describe("Unity Catalog", () => {
        it("resolves an alias and a pinned version with one request each, asking for aliases", async () => {
            const byAlias = await client("unity-catalog").resolve("main.risk.fraud", { alias: "champion" });
            assert.strictEqual(byAlias.version, "3");
            assert.strictEqual(byAlias.name, "main.risk.fraud");
            assert.deepStrictEqual(byAlias.aliases, ["champion"]);
            assert.match(byAlias.source, /^abfss:\/\/models@/);
            const pinned = await client("unity-catalog").resolve("main.risk.fraud", { version: "5" });
            assert.strictEqual(pinned.version, "5");
            assert.deepStrictEqual(server.requests.map((r) => r.path), [
                "/api/2.1/unity-catalog/models/main.risk.fraud/aliases/champion",
                "/api/2.1/unity-catalog/models/main.risk.fraud/versions/5",
            ]);
            assert.ok(server.requests.every((r) => r.query.get("include_aliases") === "true"), "Unity Catalog leaves aliases out unless asked");
        });

        it("pages through every version for latest, including an empty page that carries a token, then reads its aliases", async () => {
            server.ucPageSize = 2;
            server.ucEmptyFirstPage = true;
            server.setAlias("main.risk.fraud", "shadow", 5);
            const info = await client("unity-catalog").resolve("main.risk.fraud", { latest: true });
            assert.strictEqual(info.version, "5");
            assert.deepStrictEqual(info.aliases, ["shadow"], "listed versions carry no aliases: the newest is read with them");
            assert.strictEqual(server.requests.length, 5, "empty page + 3 pages of 2 + one read");
            assert.ok(server.requests.slice(0, 4).every((r) => r.path === "/api/2.1/unity-catalog/models/main.risk.fraud/versions"));
            assert.strictEqual(server.requests[4].path, "/api/2.1/unity-catalog/models/main.risk.fraud/versions/5");
            assert.deepStrictEqual((await client("unity-catalog").getVersion("main.risk.fraud", "5"))?.aliases, info.aliases);
        });

        it("refuses a stage selector", async () => {
            const err = await failure(client("unity-catalog").resolve("main.risk.fraud", { stage: "Production" }), "invalid-reference");
            assert.match(err.message, /Unity Catalog has no stages/);
            assert.strictEqual(server.requests.length, 0);
        });

        it("tells an unknown alias from an unknown model", async () => {
            const alias = await failure(client("unity-catalog").resolve("main.risk.fraud", { alias: "nosuch" }), "unknown-alias");
            assert.match(alias.message, /Aliases on this model: champion -> 3/);
            await failure(client("unity-catalog").resolve("main.risk.nosuch", { alias: "champion" }), "unknown-model");
        });
    });

    describe("authentication (Databricks tokens; basic auth runs against a real server below)", () => {
        it("sends a Databricks bearer token and never echoes it, even when the server does", async () => {
            server.auth = { mode: "bearer", tokens: [TOKEN] };
            assert.strictEqual((await client("databricks", { credential: bearerToken(TOKEN, "DATABRICKS_TOKEN") }).resolve("fraud", { version: "2" })).version, "2");
            assert.strictEqual(server.requests[0].authorization, `Bearer ${TOKEN}`);
            server.faults.push({ status: 400, body: JSON.stringify({ error_code: "BAD_REQUEST", message: `token ${TOKEN} is malformed` }) });
            const err = await failure(client("databricks", { credential: bearerToken(TOKEN, "DATABRICKS_TOKEN") }).resolve("fraud", { version: "2" }), "bad-request");
            assert.ok(!err.message.includes(TOKEN), err.message);
            assert.match(err.message, /token \*\*\* is malformed/);
        });

        it("gets a Microsoft Entra token for the Azure Databricks scope and renews it before expiry", async () => {
            server.auth = { mode: "bearer", tokens: ["entra-token-1", "entra-token-2"] };
            const scopes: string[] = [];
            let n = 0;
            const credential = entraToken({
                getToken: async (scope) => {
                    scopes.push(scope);
                    n++;
                    return { token: `entra-token-${n}`, expiresOnTimestamp: Date.now() + (n === 1 ? 60_000 : 3_600_000) };
                },
            });
            const c = client("databricks", { credential });
            await c.resolve("fraud", { version: "1" });
            await c.resolve("fraud", { version: "1" });
            await c.resolve("fraud", { version: "1" });
            // The Azure Databricks resource's application id, as recorded in the registry contract (Authentication seen).
            assert.strictEqual(AZURE_DATABRICKS_SCOPE, "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default");
            assert.deepStrictEqual(scopes, [AZURE_DATABRICKS_SCOPE, AZURE_DATABRICKS_SCOPE], "first token expires within 5 minutes, so it is renewed once");
            assert.deepStrictEqual(server.requests.map((r) => r.authorization), ["Bearer entra-token-1", "Bearer entra-token-2", "Bearer entra-token-2"]);
            assert.deepStrictEqual(credential.secrets(), ["entra-token-1", "entra-token-2"]);
        });
    });

    describe("credential selection", () => {
        it("prefers explicit config, then the registry's own environment variables", () => {
            assert.strictEqual(selectCredential("mlflow", { token: "t" }, {})?.source, "Pulumi config mlflow-platform:registryToken");
            assert.strictEqual(
                selectCredential("mlflow", {}, { MLFLOW_TRACKING_USERNAME: "u", MLFLOW_TRACKING_PASSWORD: "p", MLFLOW_TRACKING_TOKEN: "t" })?.source,
                "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD",
            );
            assert.strictEqual(selectCredential("mlflow", {}, { MLFLOW_TRACKING_TOKEN: "t" })?.source, "MLFLOW_TRACKING_TOKEN");
            assert.strictEqual(selectCredential("mlflow", {}, {}), undefined, "an open MLflow server needs none");
            assert.strictEqual(selectCredential("unity-catalog", {}, { DATABRICKS_TOKEN: "d", MLFLOW_TRACKING_TOKEN: "t" })?.source, "DATABRICKS_TOKEN");
            assert.strictEqual(selectCredential("databricks", {}, {})?.source, "Microsoft Entra ID (the deployer's sign-in)");
        });

        it("sends an explicit username and password as Basic user:password, and Databricks falls back to MLFLOW_TRACKING_TOKEN", async () => {
            const explicit = selectCredential("mlflow", { username: "u", password: "p" }, { MLFLOW_TRACKING_TOKEN: "t" });
            assert.strictEqual(explicit?.source, "Pulumi config mlflow-platform:registryUsername/registryPassword");
            assert.strictEqual(await explicit?.authorization(), `Basic ${Buffer.from("u:p").toString("base64")}`);
            assert.strictEqual(await basicAuth("svc", "pa55word", "test").authorization(), "Basic c3ZjOnBhNTV3b3Jk");
            const databricks = selectCredential("databricks", {}, { MLFLOW_TRACKING_TOKEN: "t-databricks" });
            assert.strictEqual(databricks?.source, "MLFLOW_TRACKING_TOKEN");
            assert.strictEqual(await databricks?.authorization(), "Bearer t-databricks");
        });

        it("uses a token with exactly five minutes left, and renews one with less", async () => {
            const realNow = Date.now;
            let now = 1_000_000;
            Date.now = () => now;
            try {
                let n = 0;
                const credential = entraToken({ getToken: async () => ({ token: `entra-${++n}`, expiresOnTimestamp: now + 5 * 60_000 }) });
                assert.strictEqual(await credential.authorization(), "Bearer entra-1");
                assert.strictEqual(await credential.authorization(), "Bearer entra-1");
                now += 1;
                assert.strictEqual(await credential.authorization(), "Bearer entra-2");
            } finally {
                Date.now = realNow;
            }
        });

        it("refuses half a username/password pair, naming the variables", () => {
            assert.throws(() => selectCredential("mlflow", { username: "u" }, {}), /set both mlflow-platform:registryUsername and mlflow-platform:registryPassword/);
            assert.throws(() => selectCredential("mlflow", {}, { MLFLOW_TRACKING_USERNAME: "u" }), /set both MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or neither/);
            assert.throws(() => selectCredential("mlflow", { password: "p" }, {}), /set both mlflow-platform:registryUsername and mlflow-platform:registryPassword/);
        });

        it("fails a request clearly, naming registry, model and selector, when no Entra token can be had", async () => {
            const credential = entraToken({
                getToken: async () => {
                    throw new Error("ChainedTokenCredential authentication failed.");
                },
            });
            const err = await failure(client("unity-catalog", { credential }).resolve("main.risk.fraud", { alias: "champion" }), "unauthenticated");
            assert.match(err.message, /^no Microsoft Entra token for Azure Databricks: ChainedTokenCredential authentication failed\. Run `az login`/);
            assertNamesContext(err, "main.risk.fraud", 'alias "champion"');
            assert.strictEqual(server.requests.length, 0);
        });

        it("gets Entra tokens for other scopes too, such as a protected scoring API", async () => {
            const scopes: string[] = [];
            const credential = entraToken({ getToken: async (scope) => (scopes.push(scope), { token: "t-123456", expiresOnTimestamp: Date.now() + 3_600_000 }) }, "api://mlflow-scoring/.default", "api://mlflow-scoring");
            assert.strictEqual(await credential.authorization(), "Bearer t-123456");
            assert.deepStrictEqual(scopes, ["api://mlflow-scoring/.default"]);
            const failing = entraToken({ getToken: async () => null }, "api://mlflow-scoring/.default", "api://mlflow-scoring");
            await assert.rejects(failing.authorization(), /no Microsoft Entra token for api:\/\/mlflow-scoring: the credential returned none/);
            const refusing = entraToken({ getToken: async () => Promise.reject(new Error("AzureCliCredential v2.1 failed...\nmore")) }, "api://mlflow-scoring/.default", "api://mlflow-scoring");
            await assert.rejects(refusing.authorization(), (err: Error) => {
                assert.strictEqual(err.message, "no Microsoft Entra token for api://mlflow-scoring: AzureCliCredential v2.1 failed. Run `az login`, or set the token in SCORING_TOKEN");
                return true;
            });
        });

        it("says how to sign in when no Entra token can be had", async () => {
            const credential = entraToken({
                getToken: async () => {
                    throw new Error("DefaultAzureCredential failed to retrieve a token from the included credentials.\nAttempted credentials: ...");
                },
            });
            await assert.rejects(credential.authorization(), /no Microsoft Entra token for Azure Databricks: DefaultAzureCredential failed .*Run `az login`, or set DATABRICKS_TOKEN/);
        });
    });

    describe("transient failures", () => {
        it("retries 503s with exponential backoff and jitter, then succeeds", async () => {
            server.faults.push({ status: 503, body: '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}' });
            server.faults.push({ status: 503, body: '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}' });
            const info = await client().resolve("fraud", { alias: "champion" });
            assert.strictEqual(info.version, "2");
            assert.strictEqual(server.requests.length, 3);
            assert.deepStrictEqual(sleeps, [250, 500], "random 0.5 of 500 ms, then of 1000 ms");
            assert.strictEqual(progress.length, 2);
            assert.match(progress[0], /HTTP 503; retry 1\/4 in 250 ms/);
        });

        it("honours Retry-After on 429, in seconds and as an HTTP date, within the bound", async () => {
            server.faults.push({ status: 429, body: '{"error_code":"REQUEST_LIMIT_EXCEEDED","message":"slow down"}', retryAfter: "3" });
            server.faults.push({ status: 429, body: "{}", retryAfter: new Date(Date.now() + 600_000).toUTCString() });
            await client().resolve("fraud", { version: "2" });
            assert.strictEqual(sleeps[0], 3000);
            assert.strictEqual(sleeps[1], 30_000, "a Retry-After of 10 minutes is cut to the 30 s bound");
        });

        it("stops at the attempt bound and fails clearly", async () => {
            for (let i = 0; i < 5; i++) server.faults.push({ status: 502, body: "<html>Bad Gateway</html>", contentType: "text/html" });
            const err = await failure(client().resolve("fraud", { latest: true }), "unavailable");
            assert.strictEqual(server.requests.length, 5);
            assert.match(err.message, /HTTP 502 Bad Gateway \(gave up after 5 attempts\)/);
            assertNamesContext(err, "fraud", "the latest version");
        });

        it("fails clearly on 429 after the bound", async () => {
            for (let i = 0; i < 3; i++) server.faults.push({ status: 429, body: '{"error_code":"RESOURCE_EXHAUSTED","message":"quota"}' });
            const err = await failure(client("mlflow", { retry: { maxAttempts: 3 } }).resolve("fraud", { latest: true }), "rate-limited");
            assert.match(err.message, /throttling/);
        });

        it("does not retry a 4xx answer", async () => {
            server.faults.push({ status: 400, body: '{"error_code":"INVALID_PARAMETER_VALUE","message":"Invalid attribute key \'x\' specified."}' });
            const err = await failure(client().resolve("fraud", { latest: true }), "bad-request");
            assert.strictEqual(server.requests.length, 1);
            assert.match(err.message, /HTTP 400 INVALID_PARAMETER_VALUE: Invalid attribute key 'x' specified/);
        });

        it("retries a slow answer that times out, then succeeds", async () => {
            server.faults.push({ delayMs: 400, status: 200, body: "{}" });
            const info = await client("mlflow", { timeoutMs: 150 }).resolve("fraud", { version: "2" });
            assert.strictEqual(info.version, "2");
            assert.match(progress[0], /did not answer within 150 ms/);
        });

        it("fails clearly when every attempt times out", async () => {
            for (let i = 0; i < 2; i++) server.faults.push({ delayMs: 300, status: 200, body: "{}" });
            const err = await failure(client("mlflow", { timeoutMs: 100, retry: { maxAttempts: 2 } }).resolve("fraud", { version: "2" }), "timeout");
            assert.match(err.message, /^the registry did not answer within 100 ms \(gave up after 2 attempts\)\. Registry: .* Check the registry host and network path, then try again\.$/);
        });

        it("retries a connection reset, then succeeds", async () => {
            server.faults.push({ reset: true });
            assert.strictEqual((await client().resolve("fraud", { stage: "Staging" })).version, "3");
            assert.strictEqual(server.requests.length, 2);
        });

        it("fails clearly when the connection is refused", async () => {
            const closed = await new Promise<number>((resolve) => {
                const s = net.createServer().listen(0, "127.0.0.1", () => {
                    const port = (s.address() as net.AddressInfo).port;
                    s.close(() => resolve(port));
                });
            });
            const err = await failure(
                new RegistryClient({ kind: "mlflow", url: `http://127.0.0.1:${closed}`, sleep: async () => undefined, retry: { maxAttempts: 2 } }).resolve("fraud", { alias: "champion" }),
                "connection",
            );
            assert.match(err.message, new RegExp(`^the connection to the registry was refused \\(gave up after 2 attempts\\)\\. Registry: http://127\\.0\\.0\\.1:${closed} \\(mlflow\\), model: fraud, selector: alias "champion"\\. Check the registry URL`));
        });

        it("reports a body that is not JSON, on success and on error", async () => {
            server.faults.push({ status: 200, body: "<!doctype html><title>Sign in</title>", contentType: "text/html" });
            const html = await failure(client().resolve("fraud", { version: "2" }), "bad-response");
            assert.match(html.message, /expected a JSON object, got Sign in/);
            server.faults.push({ status: 200, body: '{"model_version": ', contentType: "application/json" });
            const truncated = await failure(client().resolve("fraud", { version: "2" }), "bad-response");
            assert.match(truncated.message, /expected valid JSON/);
            server.faults.push({ status: 200, body: '{"model_version": {"name": "fraud"}}' });
            const incomplete = await failure(client().resolve("fraud", { version: "2" }), "bad-response");
            assert.match(incomplete.message, /expected a model version with a numeric "version"/);
        });

        it("classifies refused connections, timeouts, 5xx and 429 after the retries as unreachable, and nothing else", async () => {
            for (let i = 0; i < 2; i++) server.faults.push({ status: 503, body: '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}' });
            const unavailable = await failure(client("mlflow", { retry: { maxAttempts: 2 } }).resolve("fraud", { latest: true }), "unavailable");
            assert.ok(isRegistryUnreachable(unavailable));
            const unknown = await failure(client().resolve("nosuch", { latest: true }), "unknown-model");
            assert.ok(!isRegistryUnreachable(unknown));
            server.auth = { mode: "bearer", tokens: [TOKEN] };
            assert.ok(!isRegistryUnreachable(await failure(client().resolve("fraud", { latest: true }), "unauthenticated")));
        });
    });

    describe("what counts as the registry being unreachable", () => {
        it("a RegistryError of kind connection, timeout, unavailable or rate-limited, and nothing else", () => {
            for (const kind of ["connection", "timeout", "unavailable", "rate-limited"] as const) assert.ok(isRegistryUnreachable(new RegistryError(kind, "x")), kind);
            for (const kind of ["unknown-model", "unauthenticated", "bad-response"] as const) assert.ok(!isRegistryUnreachable(new RegistryError(kind, "x")), kind);
            // Recognised by name and kind (Pulumi's closure serialization may copy the class), so another error with a kind is not one.
            assert.ok(!isRegistryUnreachable(Object.assign(new Error("socket hang up"), { kind: "timeout" })));
            assert.ok(isRegistryUnreachable(Object.assign(new Error("copied class"), { name: "RegistryError", kind: "timeout" })));
            for (const nothing of [null, undefined]) assert.strictEqual(isRegistryUnreachable(nothing), false);
        });
    });

    describe("a 404 is not always missing", () => {
        const selectors: Selector[] = [{ alias: "champion" }, { version: "2" }, { stage: "Production" }, { latest: true }];

        // MLflow 3.17's scoring server answers a route it lacks with JSON {"detail": "Not Found"}.
        function assertNotARegistry(err: RegistryError, url: string, kind: RegistryKind) {
            assert.match(err.message, new RegExp(`^this is not an MLflow registry at ${url.replace(/[.]/g, "\\.")}: /api/\\S+ answered HTTP 404 with a JSON body without error_code`));
            assert.ok(err.message.includes(`Registry: ${url} (${kind})`), err.message);
            assert.strictEqual(err.status, 404);
        }

        it("reports another kind of server (a scoring endpoint) as not a registry, for every selector and getVersion", async () => {
            const scoring = new FakeScoringServer();
            await scoring.start();
            try {
                const origin = new URL(scoring.scoringUri).origin;
                for (const kind of ["mlflow", "databricks"] as const) {
                    const c = new RegistryClient({ kind, url: origin, sleep: async () => undefined });
                    for (const selector of selectors.filter((s) => kind === "mlflow" || !("alias" in s))) {
                        assertNotARegistry(await failure(c.resolve("fraud", selector), "not-a-registry"), origin, kind);
                    }
                    assertNotARegistry(await failure(c.getVersion("fraud", "2"), "not-a-registry"), origin, kind);
                }
            } finally {
                await scoring.stop();
            }
        });

        it("does not take an HTML 404 from the model check as an unknown model", async () => {
            // The alias answer (400) sends the client to registered-models/get; an HTML 404 there is no verdict.
            server.faults.push({ path: /registered-models\/get$/, status: 404, contentType: "text/html; charset=utf-8", body: "<!doctype html><title>404 Not Found</title>" });
            await failure(client().resolve("nosuch", { alias: "champion" }), "not-a-registry");
            server.faults.push({ path: /versions\/9$/, status: 404, contentType: "text/html", body: "<html><title>404 Not Found</title></html>" });
            await failure(client("unity-catalog").resolve("main.risk.fraud", { version: "9" }), "not-a-registry");
        });

        it("treats Databricks' ENDPOINT_NOT_FOUND as a missing route, and a JSON RESOURCE_DOES_NOT_EXIST or NOT_FOUND as missing", async () => {
            server.faults.push({ status: 404, body: '{"error_code":"ENDPOINT_NOT_FOUND","message":"No API found for \'GET /mlflow/model-versions/get\'"}' });
            await failure(client("databricks").getVersion("fraud", "2"), "not-a-registry");
            server.faults.push({ status: 404, body: '{"error_code":"NOT_FOUND","message":"gone"}' });
            assert.strictEqual(await client("databricks").getVersion("fraud", "2"), undefined);
            const unknown = await failure(client().resolve("nosuch", { stage: "Production" }), "unknown-model");
            assert.strictEqual(unknown.status, 404);
        });
    });

    describe("registry URLs", () => {
        it("returns the origin of an http(s) URL", () => {
            assert.strictEqual(parseRegistryUrl("https://adb-1.7.azuredatabricks.net/", "DATABRICKS_HOST"), "https://adb-1.7.azuredatabricks.net");
            assert.strictEqual(parseRegistryUrl("http://127.0.0.1:5000", "MLFLOW_TRACKING_URI"), "http://127.0.0.1:5000");
        });

        const refused: [unknown, RegExp][] = [
            ["adb-1.7.azuredatabricks.net", /^DATABRICKS_HOST "adb-1\.7\.azuredatabricks\.net" has no http:\/\/ or https:\/\/: write the registry URL in full/],
            ["localhost:5000", /^DATABRICKS_HOST "localhost:5000" has no http:\/\/ or https:\/\//],
            ["databricks", /^DATABRICKS_HOST "databricks" has no http:\/\/ or https:\/\//],
            ["sqlite:///mlflow.db", /^DATABRICKS_HOST starts with "sqlite:", not http:\/\/ or https:\/\//],
            ["https://adb-1.7.azuredatabricks.net/ml/experiments", /^DATABRICKS_HOST "https:\/\/adb-1\.7\.azuredatabricks\.net\/…" has a path after the host \(not shown: a pasted address may carry a token\): a Databricks workspace answers at its root, so give only the scheme, host and port \(https:\/\/adb-1\.7\.azuredatabricks\.net\)/],
            ["https://adb-1.7.azuredatabricks.net/?o=1234", /^DATABRICKS_HOST has a query string \(\?\.\.\.\) in it: give only the server's address \(https:\/\/adb-1\.7\.azuredatabricks\.net\)/],
            ["https://adb-1.7.azuredatabricks.net/#/models", /^DATABRICKS_HOST has a fragment \(#\.\.\.\) in it/],
            ["", /^DATABRICKS_HOST is empty/],
        ];
        for (const [url, message] of refused) {
            it(`refuses ${JSON.stringify(url)}, naming where it came from`, () => {
                assert.throws(() => parseRegistryUrl(url, "DATABRICKS_HOST"), (err: unknown) => {
                    assert.ok(err instanceof RegistryError);
                    assert.strictEqual(err.kind, "invalid-url");
                    assert.match(err.message, message);
                    return true;
                });
            });
        }

        it("keeps a path prefix for a self-hosted MLflow server (kind mlflow), without trailing slashes", () => {
            assert.strictEqual(parseRegistryUrl("https://host.example.com/mlflow", "MLFLOW_TRACKING_URI", true), "https://host.example.com/mlflow");
            assert.strictEqual(parseRegistryUrl("https://host.example.com/team/mlflow//", "MLFLOW_TRACKING_URI", true), "https://host.example.com/team/mlflow");
            assert.strictEqual(parseRegistryUrl("https://host.example.com/", "MLFLOW_TRACKING_URI", true), "https://host.example.com");
            assert.strictEqual(new RegistryClient({ kind: "mlflow", url: "https://host.example.com/mlflow/" }).url, "https://host.example.com/mlflow");
            assert.throws(() => new RegistryClient({ kind: "databricks", url: "https://adb-1.7.azuredatabricks.net/mlflow" }), /has a path after the host \(not shown: a pasted address may carry a token\): a Databricks workspace answers at its root/);
            assert.throws(() => new RegistryClient({ kind: "unity-catalog", url: "https://adb-1.7.azuredatabricks.net/mlflow" }), /has a path/);
        });

        it("refuses a query, a fragment, or an API route after a prefix, without echoing the query", () => {
            assert.throws(() => parseRegistryUrl("https://host.example.com/mlflow?token=s3cret-q", "MLFLOW_TRACKING_URI", true), (err: Error) => {
                assert.match(err.message, /^MLFLOW_TRACKING_URI has a query string \(\?\.\.\.\) in it: give only the server's address \(https:\/\/host\.example\.com\/mlflow\)/);
                assert.ok(!err.message.includes("s3cret-q"), err.message);
                return true;
            });
            assert.throws(() => parseRegistryUrl("https://host.example.com/mlflow/#/models", "MLFLOW_TRACKING_URI", true), /has a fragment \(#\.\.\.\) in it: give only the server's address \(https:\/\/host\.example\.com\/mlflow\)/);
            assert.throws(
                () => parseRegistryUrl("https://host.example.com/mlflow/api/2.0/mlflow", "MLFLOW_TRACKING_URI", true),
                /"https:\/\/host\.example\.com\/…" includes an API route \(\/api\/2\.x\/…\): give the server's base URL \(https:\/\/host\.example\.com\/mlflow\); the client adds/,
            );
        });

        it("refuses credentials in the URL without repeating them", () => {
            assert.throws(() => parseRegistryUrl("https://user:s3cret-in-url@mlflow.example.com", "MLFLOW_TRACKING_URI"), (err: Error) => {
                assert.match(err.message, /^MLFLOW_TRACKING_URI has a user name or password in it/);
                assert.ok(!err.message.includes("s3cret-in-url"));
                return true;
            });
        });

        it("never assumes https:// in the client: a bare host is refused before any request", () => {
            assert.throws(() => new RegistryClient({ kind: "mlflow", url: server.url.replace("http://", ""), urlSource: "MLFLOW_TRACKING_URI" }), /^RegistryError: MLFLOW_TRACKING_URI "127\.0\.0\.1:\d+" has no http:\/\/ or https:\/\//);
            assert.throws(() => new RegistryClient({ kind: "mlflow", url: "mlflow.internal:5000" }), /^RegistryError: the registry URL "mlflow\.internal:5000" has no http/);
            assert.strictEqual(server.requests.length, 0);
        });
    });

    describe("MLflow 3", () => {
        it("reads Unity Catalog versions registered from a logged model (models:/m-<id>)", async () => {
            server.addModel("main.risk.fraud3", [{ version: 1, modelId: MLFLOW3_MODEL_ID }], { champion: 1 });
            for (const selector of [{ alias: "champion" }, { latest: true }, { version: "1" }] as Selector[]) {
                const uc = await client("unity-catalog").resolve("main.risk.fraud3", selector);
                assert.strictEqual(uc.modelId, MLFLOW3_MODEL_ID, "from the models:/m-… source");
                assert.match(uc.source, /^abfss:\/\/models@/);
                assert.deepStrictEqual(uc.aliases, ["champion"]);
            }
        });

        it("ignores the fields MLflow 3 adds, in MLflow and Unity Catalog answers", async () => {
            server.faults.push({ status: 200, body: JSON.stringify({ model_version: MLFLOW3_MODEL_VERSION }) });
            const info = await client().resolve("fraud", { version: "8" });
            assert.deepStrictEqual(
                { version: info.version, source: info.source, modelId: info.modelId, runId: info.runId, aliases: info.aliases, status: info.status },
                { version: "8", source: `models:/${MLFLOW3_MODEL_ID}`, modelId: MLFLOW3_MODEL_ID, runId: MLFLOW3_MODEL_VERSION.run_id, aliases: ["challenger"], status: "READY" },
            );
            server.faults.push({ status: 200, body: JSON.stringify(MLFLOW3_UC_MODEL_VERSION) });
            const uc = await client("unity-catalog").resolve("main.risk.fraud", { version: "8" });
            assert.deepStrictEqual(
                { name: uc.name, version: uc.version, modelId: uc.modelId, aliases: uc.aliases, source: uc.source },
                { name: "main.risk.fraud", version: "8", modelId: MLFLOW3_MODEL_ID, aliases: ["challenger"], source: MLFLOW3_UC_MODEL_VERSION.storage_location },
            );
        });
    });

    describe("registration status", () => {
        it("waits for PENDING_REGISTRATION with bounded backoff and progress lines", async () => {
            server.addModel("slow", [{ version: 1, status: "PENDING_REGISTRATION", readyAfterReads: 3 }], { champion: 1 });
            const info = await client("mlflow", { pending: { initialDelayMs: 1000, maxDelayMs: 3000, timeoutMs: 60_000 } }).resolve("slow", { alias: "champion" });
            assert.strictEqual(info.status, "READY");
            assert.deepStrictEqual(sleeps, [1000, 2000, 3000]);
            assert.strictEqual(progress.length, 3);
            assert.match(progress[0], /model slow version 1 is PENDING_REGISTRATION; checking again in 1 s/);
        });

        it("gives up on a registration that never finishes", async () => {
            server.addModel("stuck", [{ version: 1, status: "PENDING_REGISTRATION" }]);
            const err = await failure(client("mlflow", { pending: { initialDelayMs: 1000, maxDelayMs: 1000, timeoutMs: 3000 } }).resolve("stuck", { latest: true }), "registration-timeout");
            assert.match(err.message, /version 1 was still PENDING_REGISTRATION/);
            assert.deepStrictEqual(sleeps, [1000, 1000, 1000]);
        });

        it("reports FAILED_REGISTRATION with the registry's status message", async () => {
            server.addModel("broken", [{ version: 1, status: "FAILED_REGISTRATION", statusMessage: "Artifact copy failed: permission denied on models/" }]);
            const err = await failure(client().resolve("broken", { version: "1" }), "registration-failed");
            assert.match(err.message, /version 1 failed to register: Artifact copy failed: permission denied on models\//);
            assertNamesContext(err, "broken", "version 1");
        });
    });
});

// The same client against real MLflow 3.17 servers (plain, basic-auth, under a path prefix), for
// every route an open-source server has. Requests are counted through a recording proxy.
describe("registry client on a real MLflow server", function () {
    // Real servers, shared by the whole run, answer slowly on a busy 2-core machine (basic auth
    // hashes the password on every request).
    this.timeout(90_000);
    let plain: RealMlflow;
    let proxy: RecordingProxy;
    const names = { fraud: uniqueModelName("rc-fraud"), empty: uniqueModelName("rc-empty"), big: uniqueModelName("rc-big"), fraud3: uniqueModelName("rc-fraud3"), gone: uniqueModelName("rc-gone") };
    const nosuch = uniqueModelName("rc-nosuch");
    let runId: string;

    before(async function () {
        // Real servers start slowly on a busy machine.
        this.timeout(300_000);
        plain = await realMlflow("plain");
        const registry = new RealRegistry(plain);
        await registry.seed(names.fraud, {
            versions: [{ stage: "Archived" }, { stage: "Production", run: true, tags: { team: "risk" } }, { stage: "Staging" }, {}],
            aliases: { champion: 2, challenger: 3 },
        });
        runId = /^runs:\/([^/]+)\//.exec(await new RegistryClient({ kind: "mlflow", url: plain.url }).getDownloadUri(names.fraud, "2"))![1];
        await registry.seed(names.empty);
        await registry.seed(names.big, { versions: Array.from({ length: 25 }, (_, i) => (i === 10 ? { stage: "Production" as const } : {})) });
        await registry.seed(names.fraud3, { versions: [{ loggedModel: true }], aliases: { champion: 1 } });
        await registry.seed(names.gone, { versions: [{}, {}, {}] });
        proxy = new RecordingProxy(plain.url);
        await proxy.start();
    });
    beforeEach(() => proxy?.reset());
    after(async () => {
        await proxy?.stop();
    });

    function client(kind: RegistryKind = "mlflow", options: Partial<RegistryClientOptions> = {}): RegistryClient {
        return new RegistryClient({ kind, url: proxy.url, sleep: async () => undefined, timeoutMs: 10_000, ...options });
    }

    function assertNamesContext(err: Error, url: string, model: string, selector: string) {
        assert.ok(err.message.includes(`Registry: ${url} (`), `message names the registry URL: ${err.message}`);
        assert.ok(err.message.includes(`model: ${model}`), `message names the model: ${err.message}`);
        assert.ok(err.message.includes(`selector: ${selector}`), `message names the selector: ${err.message}`);
    }

    describe("self-hosted MLflow", () => {
        const cases: [string, Selector, string, string][] = [
            ["alias", { alias: "champion" }, "2", "registered-models/alias"],
            ["stage (any case)", { stage: "production" }, "2", "registered-models/get"],
            ["pinned version", { version: "3" }, "3", "model-versions/get"],
            ["latest", { latest: true }, "4", "registered-models/get"],
        ];
        for (const [title, selector, version, route] of cases) {
            it(`resolves by ${title} with exactly one request`, async () => {
                const info = await client().resolve(names.fraud, selector);
                assert.strictEqual(info.version, version);
                assert.strictEqual(info.status, "READY");
                assert.strictEqual(info.name, names.fraud);
                assert.deepStrictEqual(proxy.paths(), [`/api/2.0/mlflow/${route}`]);
            });
        }

        it("returns source, run id, stage, aliases and creation time from the version object", async () => {
            const info = await client().resolve(names.fraud, { alias: "champion" });
            assert.deepStrictEqual(info.aliases, ["champion"]);
            assert.strictEqual(info.source, `runs:/${runId}/model`);
            assert.strictEqual(info.runId, runId);
            assert.strictEqual(info.currentStage, "Production");
            assert.ok(info.creationTimestamp > 1_700_000_000_000, "milliseconds");
        });

        it("resolves latest with one registered-models/get, however many versions exist", async () => {
            const info = await client().resolve(names.big, { latest: true });
            assert.strictEqual(info.version, "25");
            assert.deepStrictEqual(proxy.requests.map((r) => [r.path, r.query.get("name")]), [["/api/2.0/mlflow/registered-models/get", names.big]]);
            assert.strictEqual((await client().resolve(names.big, { stage: "Production" })).version, "11");
        });

        it("gives a version found by stage or latest the aliases it has, as a refresh reads them", async () => {
            const byStage = await client().resolve(names.fraud, { stage: "Production" });
            assert.deepStrictEqual(byStage.aliases, ["champion"]);
            assert.deepStrictEqual((await client().getVersion(names.fraud, "2"))?.aliases, byStage.aliases);
            assert.deepStrictEqual((await client("databricks").resolve(names.fraud, { stage: "Staging" })).aliases, ["challenger"]);
        });

        it("treats a version without aliases (the key omitted) as having none", async () => {
            const info = await client().resolve(names.fraud, { version: "4" });
            assert.deepStrictEqual(info.aliases, []);
            assert.deepStrictEqual((await client().resolve(names.fraud, { latest: true })).aliases, []);
        });

        it("reads a version and reports a deleted one as gone", async () => {
            assert.strictEqual((await client().getVersion(names.gone, "3"))?.version, "3");
            await new RealRegistry(plain).deleteVersion(names.gone, 3);
            assert.strictEqual(await client().getVersion(names.gone, "3"), undefined);
            assert.strictEqual(await client().getVersion(nosuch, "1"), undefined);
            assert.strictEqual((await client().resolve(names.gone, { latest: true })).version, "2");
        });

        it("says whether a model exists, on definite answers only", async () => {
            assert.strictEqual(await client().modelExists(names.fraud), true);
            assert.strictEqual(await client().modelExists(names.empty), true);
            assert.strictEqual(await client().modelExists(nosuch), false);
        });

        it("gets a version's download URI", async () => {
            assert.strictEqual(await client().getDownloadUri(names.fraud, "2"), `runs:/${runId}/model`);
            assert.deepStrictEqual(proxy.paths(), ["/api/2.0/mlflow/model-versions/get-download-uri"]);
            const missing = await failure(client().getDownloadUri(names.fraud, "99"), "unknown-version");
            assert.match(missing.message, new RegExp(`version 99 does not exist\\. Registry: .*model: ${names.fraud}, selector: version 99`));
        });

        it("reads a version registered from a logged model (models:/m-<id>): the model id comes from the source", async () => {
            // Real MLflow 3.17 sends no model_id field on a model version, even when it was created with one.
            for (const selector of [{ alias: "champion" }, { latest: true }, { version: "1" }] as Selector[]) {
                const info = await client().resolve(names.fraud3, selector);
                assert.match(info.source, /^models:\/m-[0-9a-f]+$/);
                assert.strictEqual(info.modelId, info.source.slice("models:/".length));
                assert.deepStrictEqual(info.aliases, ["champion"]);
            }
            assert.match(await client().getDownloadUri(names.fraud3, "1"), /^mlflow-artifacts:\/0\/models\/m-[0-9a-f]+\/artifacts$/);
            assert.strictEqual((await client().resolve(names.fraud, { version: "2" })).modelId, undefined);
        });
    });

    describe("Databricks workspace registry routes (the same /api/2.0/mlflow routes)", () => {
        it("resolves latest with one registered-models/get (newest per stage, with the model's aliases)", async () => {
            const info = await client("databricks").resolve(names.fraud, { latest: true });
            assert.strictEqual(info.version, "4");
            assert.deepStrictEqual(proxy.paths(), ["/api/2.0/mlflow/registered-models/get"]);
        });

        it("resolves stage and version selectors", async () => {
            assert.strictEqual((await client("databricks").resolve(names.fraud, { stage: "Staging" })).version, "3");
            assert.strictEqual((await client("databricks").resolve(names.fraud, { version: "1" })).currentStage, "Archived");
        });
    });

    describe("not found", () => {
        it("explains an unknown model, whose alias lookup real MLflow 3 answers with 404, with the bootstrap path", async () => {
            const err = await failure(client().resolve(nosuch, { alias: "champion" }), "unknown-model");
            assertNamesContext(err, proxy.url, nosuch, 'alias "champion"');
            assert.match(err.message, /the model is not registered/);
            assert.match(err.message, /deploy the platform first .*register a version .*then list the model in mlflow-platform:models/);
            assert.strictEqual(err.status, 404);
        });

        it("explains an unknown alias on a known model (a 400 there), listing the aliases it has and how to set one", async () => {
            const err = await failure(client().resolve(names.fraud, { alias: "prod" }), "unknown-alias");
            assertNamesContext(err, proxy.url, names.fraud, 'alias "prod"');
            assert.match(err.message, /Aliases on this model: challenger -> 3, champion -> 2/);
            assert.match(err.message, new RegExp(`set_registered_model_alias\\("${names.fraud}", "prod", <version>\\), or pin version: <n>`));
            const none = await failure(client().resolve(names.empty, { alias: "prod" }), "unknown-alias");
            assert.match(none.message, /This model has no aliases yet/);
            // Aliases are case-sensitive.
            await failure(client().resolve(names.fraud, { alias: "Champion" }), "unknown-alias");
        });

        it("explains an unknown version", async () => {
            const err = await failure(client().resolve(names.fraud, { version: "99" }), "unknown-version");
            assertNamesContext(err, proxy.url, names.fraud, "version 99");
        });

        it("explains an empty stage and a model with no versions", async () => {
            const stage = await failure(client().resolve(names.empty, { stage: "Production" }), "empty-stage");
            assert.match(stage.message, /no version of the model is in stage "Production" \(it has no versions yet\)/);
            const latest = await failure(client().resolve(names.empty, { latest: true }), "no-versions");
            assertNamesContext(latest, proxy.url, names.empty, "the latest version");
            await failure(client().resolve(names.big, { stage: "Staging" }), "empty-stage");
            await failure(client().resolve(nosuch, { latest: true }), "unknown-model");
            await failure(client().resolve(nosuch, { stage: "Staging" }), "unknown-model");
            await failure(client().resolve(nosuch, { version: "1" }), "unknown-model");
        });
    });

    describe("a 404 is not always missing", () => {
        it("reports Unity Catalog routes on a plain MLflow server as not a registry, for every selector and getVersion", async () => {
            const uc = client("unity-catalog");
            for (const selector of [{ alias: "champion" }, { version: "2" }, { latest: true }] as Selector[]) {
                const err = await failure(uc.resolve(`main.risk.${names.fraud}`, selector), "not-a-registry");
                assert.match(err.message, new RegExp(`^this is not an MLflow registry at ${proxy.url.replace(/[.]/g, "\\.")}: /api/2\\.1/unity-catalog/\\S+ answered HTTP 404 with an HTML page`));
                assert.match(err.message, /a self-hosted MLflow server has none \(use registry kind mlflow\)/);
                assert.strictEqual(err.status, 404);
            }
            await failure(uc.getVersion(`main.risk.${names.fraud}`, "1"), "not-a-registry");
            await failure(uc.modelExists(`main.risk.${names.fraud}`), "not-a-registry");
        });

        it("reports a base URL with a path the server does not have as not a registry, not as a missing model", async () => {
            const wrong = new RegistryClient({ kind: "mlflow", url: `${proxy.url}/mlflow`, sleep: async () => undefined });
            for (const selector of [{ alias: "champion" }, { version: "2" }, { latest: true }] as Selector[]) {
                const err = await failure(wrong.resolve(names.fraud, selector), "not-a-registry");
                assert.ok(err.message.startsWith(`this is not an MLflow registry at ${proxy.url}/mlflow: /api/2.0/mlflow/`), err.message);
                assert.match(err.message, /answered HTTP 404 with an HTML page/);
                assert.match(err.message, /Give the MLflow server's base URL \(with its path prefix only if it serves under one/);
            }
        });
    });

    describe("authentication (MLflow's basic-auth app)", () => {
        let auth: RealMlflow;
        let authProxy: RecordingProxy;
        const secret = uniqueModelName("rc-secret");
        const open = uniqueModelName("rc-open");
        const bob = { username: `bob${process.pid}`, password: "bobs-pass-1234" };

        before(async function () {
            this.timeout(300_000);
            auth = await realMlflow("auth");
            const registry = new RealRegistry(auth);
            await registry.seed(secret, { versions: [{ stage: "Production" }, {}], aliases: { champion: 1 } });
            await registry.seed(open, { versions: [{}] });
            await registry.createUser(bob.username, bob.password);
            await registry.deny(bob.username, secret);
            authProxy = new RecordingProxy(auth.url);
            await authProxy.start();
        });
        beforeEach(() => authProxy?.reset());
        after(async () => {
            await authProxy?.stop();
        });
        const authClient = (options: Partial<RegistryClientOptions> = {}) => client("mlflow", { url: authProxy.url, ...options });

        it("sends basic credentials", async () => {
            const info = await authClient({ credential: basicAuth(auth.username!, auth.password!, "test") }).resolve(secret, { alias: "champion" });
            assert.strictEqual(info.version, "1");
            assert.strictEqual(authProxy.requests[0].authorization, `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`);
        });

        it("turns a 401 with an HTML body into a clear message naming where the credential came from", async () => {
            const err = await failure(
                authClient({ credential: basicAuth(auth.username!, "wrong-pass", "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD") }).resolve(secret, { alias: "champion" }),
                "unauthenticated",
            );
            assertNamesContext(err, authProxy.url, secret, 'alias "champion"');
            assert.match(err.message, /HTTP 401: You are not authenticated\. Please see https:\/\/www\.mlflow\.org/);
            assert.match(err.message, /sent the credential from MLFLOW_TRACKING_USERNAME\/MLFLOW_TRACKING_PASSWORD/);
            assert.doesNotMatch(err.message, /wrong-pass|<html|<title>/);
        });

        it("rejects a bearer token on a basic-auth server with 401, and no credential with 401", async () => {
            const bearer = await failure(authClient({ credential: bearerToken(TOKEN, "MLFLOW_TRACKING_TOKEN") }).resolve(open, { version: "1" }), "unauthenticated");
            assert.ok(!bearer.message.includes(TOKEN));
            const none = await failure(authClient().resolve(open, { version: "1" }), "unauthenticated");
            assert.match(none.message, /sent no credential/);
            await failure(authClient().modelExists(open), "unauthenticated");
        });

        it("turns a 403 into a permission message, per registered model", async () => {
            const denied = authClient({ credential: basicAuth(bob.username, bob.password, "test") });
            for (const selector of [{ latest: true }, { alias: "champion" }, { version: "1" }, { stage: "Production" }] as Selector[]) {
                const err = await failure(denied.resolve(secret, selector), "forbidden");
                assert.match(err.message, /HTTP 403: Permission denied/);
                assert.match(err.message, /Grant this identity read access/);
                assert.doesNotMatch(err.message, new RegExp(bob.password));
            }
            // The default permission (READ here) applies to every other model, and unknown models are 404s.
            assert.strictEqual((await denied.resolve(open, { latest: true })).version, "1");
            await failure(denied.resolve(nosuch, { latest: true }), "unknown-model");
        });
    });

    describe("a registry behind a path prefix (mlflow server --static-prefix)", () => {
        let prefixed: RealMlflow;
        const fraud = uniqueModelName("rc-prefixed");

        before(async function () {
            this.timeout(300_000);
            prefixed = await realMlflow("prefixed");
            assert.ok(prefixed.url.endsWith(STATIC_PREFIX), prefixed.url);
            await new RealRegistry(prefixed).seed(fraud, { versions: [{ stage: "Production" }, {}, {}], aliases: { champion: 2 } });
        });

        for (const [title, selector, version] of [
            ["alias", { alias: "champion" }, "2"],
            ["pinned version", { version: "1" }, "1"],
            ["latest", { latest: true }, "3"],
            ["stage", { stage: "Production" }, "1"],
        ] as [string, Selector, string][]) {
            it(`resolves by ${title} with the routes joined under the prefix`, async () => {
                const c = new RegistryClient({ kind: "mlflow", url: `${prefixed.url}/`, urlSource: "MLFLOW_TRACKING_URI" });
                assert.strictEqual(c.url, prefixed.url);
                const info = await c.resolve(fraud, selector);
                assert.strictEqual(info.version, version);
                assert.strictEqual(info.name, fraud);
            });
        }

        it("reads versions, download URIs and model existence under the prefix, and explains what is missing", async () => {
            const c = new RegistryClient({ kind: "mlflow", url: prefixed.url });
            assert.strictEqual((await c.getVersion(fraud, "2"))?.aliases[0], "champion");
            assert.strictEqual(await c.getVersion(fraud, "9"), undefined);
            assert.strictEqual(await c.modelExists(fraud), true);
            assert.strictEqual(await c.modelExists(nosuch), false);
            assert.match(await c.getDownloadUri(fraud, "1"), /^s3:\/\//);
            const err = await failure(c.resolve(nosuch, { alias: "champion" }), "unknown-model");
            assert.ok(err.message.includes(`Registry: ${prefixed.url} (mlflow)`), err.message);
        });

        it("reports the origin alone (the prefix left out) as not a registry, not as a missing model", async () => {
            const origin = new URL(prefixed.url).origin;
            const err = await failure(new RegistryClient({ kind: "mlflow", url: origin, sleep: async () => undefined }).resolve(fraud, { alias: "champion" }), "not-a-registry");
            assert.match(err.message, /answered HTTP 404 with an HTML page/);
            assert.match(err.message, /with its path prefix only if it serves under one/);
        });
    });
});
