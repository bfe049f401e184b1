import * as assert from "assert";
import * as net from "net";
import { RegistryClient, type RegistryClientOptions } from "../lib/registry/client";
import { basicAuth, bearerToken, entraToken, selectCredential, AZURE_DATABRICKS_SCOPE } from "../lib/registry/credentials";
import { RegistryError, type RegistryErrorKind } from "../lib/registry/errors";
import type { RegistryKind, Selector } from "../lib/registry/types";
import { FakeMlflowServer } from "./helpers/fakeMlflow";

const TOKEN = "fake-registry-token-for-tests";

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
    afterEach(() => server.stop());

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

    async function failure(promise: Promise<unknown>, kind: RegistryErrorKind): Promise<RegistryError> {
        try {
            await promise;
        } catch (err) {
            assert.ok(err instanceof RegistryError, `expected a RegistryError, got ${err}`);
            assert.strictEqual(err.kind, kind, err.message);
            return err;
        }
        assert.fail(`expected a ${kind} failure`);
    }

    function assertNamesContext(err: Error, model: string, selector: string) {
        assert.ok(err.message.includes(server.url), `message names the registry URL: ${err.message}`);
        assert.ok(err.message.includes(`model: ${model}`), `message names the model: ${err.message}`);
        assert.ok(err.message.includes(`selector: ${selector}`), `message names the selector: ${err.message}`);
    }

    describe("self-hosted MLflow", () => {
        const cases: [string, Selector, string, string][] = [
            ["alias", { alias: "champion" }, "2", "registered-models/alias"],
            ["stage (any case)", { stage: "production" }, "2", "registered-models/get-latest-versions"],
            ["pinned version", { version: "3" }, "3", "model-versions/get"],
            ["latest", { latest: true }, "4", "model-versions/search"],
        ];
        for (const [title, selector, version, route] of cases) {
            it(`resolves by ${title} with exactly one request`, async () => {
                const info = await client().resolve("fraud", selector);
                assert.strictEqual(info.version, version);
                assert.strictEqual(info.status, "READY");
                assert.strictEqual(info.name, "fraud");
                assert.deepStrictEqual(server.requests.map((r) => r.path), [`/api/2.0/mlflow/${route}`]);
            });
        }

        it("returns source, run id, stage, aliases and creation time from the version object", async () => {
            const info = await client().resolve("fraud", { alias: "champion" });
            assert.deepStrictEqual(info.aliases, ["champion"]);
            assert.strictEqual(info.source, "runs:/7caf1b56/model");
            assert.strictEqual(info.runId, "7caf1b56");
            assert.strictEqual(info.currentStage, "Production");
            assert.ok(info.creationTimestamp > 1_700_000_000_000, "milliseconds");
        });

        it("asks for latest as search ordered by version_number DESC with max_results=1, however many versions exist", async () => {
            server.addModel("big", Array.from({ length: 500 }, (_, i) => ({ version: i + 1 })));
            const info = await client().resolve("big", { latest: true });
            assert.strictEqual(info.version, "500");
            assert.strictEqual(server.requests.length, 1);
            const q = server.requests[0].query;
            assert.strictEqual(q.get("filter"), "name='big'");
            assert.strictEqual(q.get("order_by"), "version_number DESC");
            assert.strictEqual(q.get("max_results"), "1");
        });

        it("treats a version without aliases (the key omitted) as having none", async () => {
            const info = await client().resolve("fraud", { version: "4" });
            assert.deepStrictEqual(info.aliases, []);
        });

        it("reads a version and reports a deleted one as gone", async () => {
            assert.strictEqual((await client().getVersion("fraud", "3"))?.version, "3");
            server.deleteVersion("fraud", 3);
            assert.strictEqual(await client().getVersion("fraud", "3"), undefined);
            assert.strictEqual(await client().getVersion("nosuch", "1"), undefined);
        });
    });

    describe("Databricks workspace registry", () => {
        it("resolves latest with one get-latest-versions request over all stages", async () => {
            const info = await client("databricks").resolve("fraud", { latest: true });
            assert.strictEqual(info.version, "4");
            assert.deepStrictEqual(server.requests.map((r) => r.path), ["/api/2.0/mlflow/registered-models/get-latest-versions"]);
            assert.deepStrictEqual(server.requests[0].query.getAll("stages"), []);
        });

        it("resolves stage and version selectors", async () => {
            assert.strictEqual((await client("databricks").resolve("fraud", { stage: "Staging" })).version, "3");
            assert.strictEqual((await client("databricks").resolve("fraud", { version: "1" })).currentStage, "Archived");
        });
    });

    describe("Unity Catalog", () => {
        it("resolves an alias and a pinned version with one request each", async () => {
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
        });

        it("pages through every version for latest, including an empty page that carries a token", async () => {
            server.ucPageSize = 2;
            server.ucEmptyFirstPage = true;
            const info = await client("unity-catalog").resolve("main.risk.fraud", { latest: true });
            assert.strictEqual(info.version, "5");
            assert.strictEqual(server.requests.length, 4, "empty page + 3 pages of 2");
            assert.ok(server.requests.every((r) => r.path === "/api/2.1/unity-catalog/models/main.risk.fraud/versions"));
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

    describe("not found", () => {
        it("explains an unknown model, whose alias lookup real MLflow answers with 400, with the bootstrap path", async () => {
            const err = await failure(client().resolve("nosuch", { alias: "champion" }), "unknown-model");
            assertNamesContext(err, "nosuch", 'alias "champion"');
            assert.match(err.message, /the model is not registered/);
            assert.match(err.message, /deploy the platform first .*register a version .*then list the model in mlflow-platform:models/);
        });

        it("explains an unknown alias on a known model, listing the aliases it has and how to set one", async () => {
            const err = await failure(client().resolve("fraud", { alias: "prod" }), "unknown-alias");
            assertNamesContext(err, "fraud", 'alias "prod"');
            assert.match(err.message, /Aliases on this model: champion -> 2, challenger -> 3/);
            assert.match(err.message, /set_registered_model_alias\("fraud", "prod", <version>\), or pin version: <n>/);
        });

        it("explains an unknown version", async () => {
            const err = await failure(client().resolve("fraud", { version: "99" }), "unknown-version");
            assertNamesContext(err, "fraud", "version 99");
        });

        it("explains an empty stage and a model with no versions", async () => {
            const stage = await failure(client().resolve("empty", { stage: "Production" }), "empty-stage");
            assert.match(stage.message, /no version of the model is in stage "Production"/);
            const latest = await failure(client().resolve("empty", { latest: true }), "no-versions");
            assertNamesContext(latest, "empty", "the latest version");
            await failure(client().resolve("nosuch", { latest: true }), "unknown-model");
            await failure(client().resolve("nosuch", { stage: "Staging" }), "unknown-model");
            await failure(client().resolve("nosuch", { version: "1" }), "unknown-model");
        });
    });

    describe("authentication", () => {
        beforeEach(() => {
            server.auth = { mode: "basic", users: { alice: { password: "s3cret-pass", canRead: true }, bob: { password: "bobs-pass", canRead: false } } };
        });

        it("sends basic credentials", async () => {
            const info = await client("mlflow", { credential: basicAuth("alice", "s3cret-pass", "test") }).resolve("fraud", { alias: "champion" });
            assert.strictEqual(info.version, "2");
            assert.strictEqual(server.requests[0].authorization, `Basic ${Buffer.from("alice:s3cret-pass").toString("base64")}`);
        });

        it("turns a 401 with an HTML body into a clear message naming where the credential came from", async () => {
            const err = await failure(
                client("mlflow", { credential: basicAuth("alice", "wrong-pass", "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD") }).resolve("fraud", { alias: "champion" }),
                "unauthenticated",
            );
            assertNamesContext(err, "fraud", 'alias "champion"');
            assert.match(err.message, /HTTP 401: 401 Unauthorized Unauthorized You are not authenticated/);
            assert.match(err.message, /sent the credential from MLFLOW_TRACKING_USERNAME\/MLFLOW_TRACKING_PASSWORD/);
            assert.doesNotMatch(err.message, /wrong-pass|<html|<title>/);
        });

        it("rejects a bearer token on a basic-auth server with 401, and no credential with 401", async () => {
            const bearer = await failure(client("mlflow", { credential: bearerToken(TOKEN, "MLFLOW_TRACKING_TOKEN") }).resolve("fraud", { version: "1" }), "unauthenticated");
            assert.ok(!bearer.message.includes(TOKEN));
            const none = await failure(client().resolve("fraud", { version: "1" }), "unauthenticated");
            assert.match(none.message, /sent no credential/);
        });

        it("turns a 403 text body into a permission message", async () => {
            const err = await failure(client("mlflow", { credential: basicAuth("bob", "bobs-pass", "test") }).resolve("fraud", { latest: true }), "forbidden");
            assert.match(err.message, /HTTP 403: Permission denied/);
            assert.match(err.message, /Grant this identity read access/);
        });

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
            assert.strictEqual(selectCredential("databricks", {}, {})?.source, "Microsoft Entra ID (DefaultAzureCredential)");
        });

        it("refuses half a username/password pair, naming the variables", () => {
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
            assert.match(err.message, /did not answer within 100 ms\. .* \(gave up after 2 attempts\)$/);
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
            assert.match(err.message, new RegExp(`^the connection to the registry was refused\\. Registry: http://127\\.0\\.0\\.1:${closed} \\(mlflow\\), model: fraud, selector: alias "champion"\\. Check the registry URL`));
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

        it("reports an HTML 404 from a wrong base URL", async () => {
            const err = await failure(new RegistryClient({ kind: "mlflow", url: `${server.url}/wrong` }).resolve("fraud", { version: "2" }), "unknown-model");
            // The version route and the model route both 404 under a wrong prefix.
            assert.match(err.message, /Otherwise check the model name and the registry host/);
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
