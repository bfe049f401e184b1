import * as assert from "assert";
import { ModelVersion, ModelVersionProvider, type ModelVersionState } from "../components/registry/modelVersion";
import { planStack, recordProgram, renderPlanText, UNKNOWN_DISPLAY } from "../lib/plan";
import { MODEL_VERSION_TYPE, resolvePlannedModelVersions } from "../lib/plan/modelVersions";
import { skipWarning } from "../lib/serving/bootstrap";
import { deployedAzureMocks } from "./helpers/azureMocks";
import { FakeMlflowServer } from "./helpers/fakeMlflow";
import { MLFLOW3_MODEL_ID, onlyOfType, planEditedStack, PROJECT_DIR } from "./helpers/fixtures";
import { realMlflow, uniqueModelName, type RealMlflow } from "./helpers/realMlflow";
import { RealRegistry, RecordingProxy } from "./helpers/realRegistry";
import { loadSerializedProvider, providerConfig } from "./helpers/serializedProvider";

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const TOKEN = "fake-provider-token-for-tests";

describe("ModelVersion provider", () => {
    let server: FakeMlflowServer;
    let provider: ModelVersionProvider;

    beforeEach(async () => {
        server = new FakeMlflowServer();
        await server.start();
        server.addModel("fraud", [{ version: 5, stage: "Archived" }, { version: 6, stage: "Production" }, { version: 7 }], { champion: 6 });
        server.addModel("main.risk.fraud", [{ version: 1 }, { version: 2 }], { champion: 1 });
        provider = new ModelVersionProvider({ sleep: async () => undefined, timeoutMs: 2000, onProgress: () => undefined });
    });
    afterEach(() => server.stop());

    function inputs(selector: ModelVersionState["selector"], overrides: Partial<ModelVersionState> = {}): ModelVersionState {
        return { registryKind: "mlflow", registryUrl: server.url, model: "fraud", selector, ...overrides } as ModelVersionState;
    }

    async function checked(state: ModelVersionState): Promise<ModelVersionState> {
        const result = await provider.check({} as ModelVersionState, state);
        assert.deepStrictEqual(result.failures ?? [], [], "check failures");
        return result.inputs!;
    }

    describe("check", () => {
        // Resolution of each selector on self-hosted MLflow runs against a real server (below).
        it("resolves Unity Catalog aliases", async () => {
            await provider.configure({ config: providerConfig({ "mlflow-platform:registryToken": "token-for-an-open-server" }) });
            const state = await checked(inputs({ alias: "champion" }, { registryKind: "unity-catalog", model: "main.risk.fraud" }));
            assert.strictEqual(state.version, "1");
            assert.deepStrictEqual(state.aliases, ["champion"]);
            assert.strictEqual(state.modelUri, "models:/main.risk.fraud/1");
        });

        it("refuses a registry URL without http:// or https:// on property registryUrl, before any request", async () => {
            const result = await provider.check({} as ModelVersionState, inputs({ latest: true }, { registryUrl: server.url.replace("http://", "") }));
            assert.strictEqual(result.failures?.[0].property, "registryUrl");
            assert.match(result.failures![0].reason, /^registryUrl "127\.0\.0\.1:\d+" has no http:\/\/ or https:\/\//);
            assert.strictEqual(server.requests.length, 0);
        });

        it("publishes MLflow 3 versions (models:/m-<id> sources) with their model id", async () => {
            server.addModel("fraud3", [{ version: 1, modelId: MLFLOW3_MODEL_ID }], { champion: 1 });
            const state = await checked(inputs({ alias: "champion" }, { model: "fraud3" }));
            assert.strictEqual(state.source, `models:/${MLFLOW3_MODEL_ID}`);
            assert.strictEqual(state.modelId, MLFLOW3_MODEL_ID);
            assert.strictEqual(state.modelUri, "models:/fraud3/1", "serving still loads the registered version");
            assert.strictEqual((await checked(inputs({ version: "6" }))).modelId, "", "MLflow 2 versions have none");
        });

        it("leaves the version unknown, without a request, while the registry host is unknown", async () => {
            const state = await checked(inputs({ alias: "champion" }, { registryUrl: UNKNOWN }));
            for (const key of ["version", "modelUri", "source", "runId", "modelId", "status", "aliases", "createdAt"] as const) {
                assert.strictEqual(state[key], UNKNOWN, key);
            }
            assert.strictEqual(server.requests.length, 0);
        });

        const invalid: [string, Partial<ModelVersionState>, string, RegExp][] = [
            ["two selectors", { selector: { alias: "champion", latest: true } }, "selector", /alias and latest are all set: set exactly one/],
            ["no selector", { selector: {} }, "selector", /no selector: set exactly one of alias, stage, version or latest: true/],
            ["the reserved alias latest", { selector: { alias: "Latest" } }, "selector.alias", /reserved by MLflow/],
            ["a reserved v<n> alias", { selector: { alias: "v3" } }, "selector.alias", /reserved by MLflow/],
            ["a stage on Unity Catalog", { registryKind: "unity-catalog", model: "main.risk.fraud", selector: { stage: "Production" } }, "selector.stage", /Unity Catalog has no stages: select by alias/],
            ["an unknown stage", { selector: { stage: "Prod" } }, "selector.stage", /must be one of None, Staging, Production, Archived/],
            ["a two-part Unity Catalog name", { registryKind: "unity-catalog", model: "risk.fraud", selector: { latest: true } }, "model", /use three parts, catalog\.schema\.model/],
            ["a model name with a slash", { model: "risk/fraud", selector: { latest: true } }, "model", /not a usable MLflow model name/],
            ["an alias on the workspace registry", { registryKind: "databricks", selector: { alias: "champion" } }, "selector.alias", /no aliases \(they need Unity Catalog\)/],
            ["a version that is not a number", { selector: { version: "six" } }, "selector.version", /must be a whole number from 1/],
            ["an unknown registry kind", { registryKind: "sagemaker" as never, selector: { latest: true } }, "registryKind", /must be one of mlflow, databricks, unity-catalog/],
        ];
        for (const [title, overrides, property, reason] of invalid) {
            it(`fails ${title} on property ${property}, before any request`, async () => {
                const result = await provider.check({} as ModelVersionState, inputs({}, overrides));
                assert.strictEqual(result.failures?.length, 1);
                assert.strictEqual(result.failures![0].property, property);
                assert.match(result.failures![0].reason, reason);
                assert.strictEqual(server.requests.length, 0);
            });
        }

        it("waits for a pending registration and fails on FAILED_REGISTRATION with its message", async () => {
            server.addModel("pending", [{ version: 1, status: "PENDING_REGISTRATION", readyAfterReads: 2 }]);
            assert.strictEqual((await checked(inputs({ latest: true }, { model: "pending" }))).status, "READY");
            server.addModel("failed", [{ version: 1, status: "FAILED_REGISTRATION", statusMessage: "copy failed" }]);
            const result = await provider.check({} as ModelVersionState, inputs({ version: "1" }, { model: "failed" }));
            assert.match(result.failures![0].reason, /version 1 failed to register: copy failed/);
        });
    });

    describe("a registry outage", () => {
        let warnings: string[];
        const originalError = console.error;
        beforeEach(() => {
            warnings = [];
            console.error = (...args: unknown[]) => void warnings.push(args.join(" "));
        });
        afterEach(() => {
            console.error = originalError;
        });
        const onlyWarnings = () => warnings.filter((w) => w.startsWith("warning:"));

        async function deployed(selector: ModelVersionState["selector"]): Promise<ModelVersionState> {
            const { outs } = await provider.create(await checked(inputs(selector)));
            server.requests.length = 0;
            return outs!;
        }

        const outages: [string, () => Promise<void>][] = [
            ["refused connections", () => server.stop()],
            ["timeouts", async () => void server.faults.push(...Array.from({ length: 5 }, () => ({ delayMs: 300, status: 200, body: "{}" })))],
            ["5xx after the retries", async () => void server.faults.push(...Array.from({ length: 5 }, () => ({ status: 502, contentType: "text/html", body: "<html>Bad Gateway</html>" })))],
        ];
        for (const [title, outage] of outages) {
            it(`keeps the recorded version with one warning on ${title} when the selector is unchanged`, async () => {
                provider = new ModelVersionProvider({ sleep: async () => undefined, timeoutMs: 100 });
                const olds = await deployed({ alias: "champion" });
                server.setAlias("fraud", "champion", 7);
                const news = inputs({ alias: "champion" });
                await outage();
                const result = await provider.check(olds, news);
                assert.deepStrictEqual(result.failures ?? [], []);
                for (const key of ["version", "modelUri", "source", "runId", "modelId", "status", "aliases", "createdAt"] as const) {
                    assert.deepStrictEqual(result.inputs![key], olds[key], key);
                }
                assert.deepStrictEqual(await provider.diff("id", olds, result.inputs!), { changes: false, replaces: [] }, "nothing to update");
                assert.strictEqual(onlyWarnings().length, 1, warnings.join("\n"));
                assert.match(onlyWarnings()[0], /^warning: ModelVersion fraud \(alias "champion"\): the registry cannot be reached, so version 6, recorded at the last deployment with this same selector, is kept .* Cause: /);
            });
        }

        it("still fails on an outage when the selector changed or nothing was recorded", async () => {
            const olds = await deployed({ alias: "champion" });
            const [latest, otherModel, same] = [inputs({ latest: true }), inputs({ alias: "champion" }, { model: "other" }), inputs({ alias: "champion" })];
            await server.stop();
            const changed = await provider.check(olds, latest);
            assert.match(changed.failures?.[0].reason ?? "", /the connection to the registry was refused/);
            assert.strictEqual((await provider.check(olds, otherModel)).failures?.length, 1);
            assert.strictEqual((await provider.check({} as ModelVersionState, same)).failures?.length, 1);
            assert.strictEqual(onlyWarnings().length, 0);
        });

        it("still fails on an authentication failure or a definite \"does not exist\"", async () => {
            const olds = await deployed({ version: "7" });
            server.auth = { mode: "basic", users: {} };
            const unauthenticated = await provider.check(olds, inputs({ version: "7" }));
            assert.match(unauthenticated.failures?.[0].reason ?? "", /unauthenticated/);
            server.auth = { mode: "none" };
            server.deleteVersion("fraud", 7);
            const gone = await provider.check(olds, inputs({ version: "7" }));
            assert.match(gone.failures?.[0].reason ?? "", /version 7 does not exist/);
            server.faults.push({ status: 404, contentType: "text/html; charset=utf-8", body: "<!doctype html><title>404 Not Found</title>" });
            const wrongServer = await provider.check(olds, inputs({ version: "6" }));
            assert.match(wrongServer.failures?.[0].reason ?? "", /not an MLflow registry/);
            assert.strictEqual(onlyWarnings().length, 0);
        });
    });

    describe("diff", () => {
        it("shows a moved alias as an update of the version, not a replace", async () => {
            const olds = await checked(inputs({ alias: "champion" }));
            server.setAlias("fraud", "champion", 7);
            const news = await checked(inputs({ alias: "champion" }));
            assert.strictEqual(olds.version, "6");
            assert.strictEqual(news.version, "7");
            assert.deepStrictEqual(await provider.diff("id", olds, news), { changes: true, replaces: [] });
            const { outs } = await provider.update("id", olds, news);
            assert.strictEqual(outs?.version, "7", "dependents see the new version");
        });

        it("is no change at all when the version is unchanged", async () => {
            const olds = await checked(inputs({ alias: "champion" }));
            const news = await checked(inputs({ alias: "champion" }));
            assert.deepStrictEqual(await provider.diff("id", olds, news), { changes: false, replaces: [] });
        });

        it("replaces on a new model name, registry kind or registry URL", async () => {
            const olds = await checked(inputs({ latest: true }));
            assert.deepStrictEqual((await provider.diff("id", olds, { ...olds, model: "other" })).replaces, ["model"]);
            assert.deepStrictEqual((await provider.diff("id", olds, { ...olds, registryUrl: "https://other" })).replaces, ["registryUrl"]);
            assert.deepStrictEqual((await provider.diff("id", olds, { ...olds, registryKind: "databricks" })).replaces, ["registryKind"]);
        });

        it("updates when only the selector changes, even to the same version", async () => {
            const olds = await checked(inputs({ alias: "champion" }));
            const news = await checked(inputs({ version: "6" }));
            assert.deepStrictEqual(await provider.diff("id", olds, news), { changes: true, replaces: [] });
        });
    });

    describe("create, read, update, delete", () => {
        it("creates from the checked inputs without another request, and keeps __provider out of outputs", async () => {
            const news = await checked(inputs({ alias: "champion" }));
            server.requests.length = 0;
            const { id, outs } = await provider.create({ ...news, __provider: "code" } as ModelVersionState);
            assert.strictEqual(id, `${server.url}#fraud`);
            assert.strictEqual(outs?.version, "6");
            assert.ok(!("__provider" in (outs as object)));
            assert.strictEqual(server.requests.length, 0);
        });

        it("resolves in create when check could not (host unknown at preview)", async () => {
            const { outs } = await provider.create(inputs({ latest: true }, Object.fromEntries(["version", "modelUri"].map((k) => [k, UNKNOWN]))));
            assert.strictEqual(outs?.version, "7");
        });

        it("keeps the state on refresh when the answer is not a definite \"does not exist\"", async () => {
            const state = await checked(inputs({ version: "7" }));
            const ambiguous: [string, () => void, RegExp][] = [
                ["an HTML 404 (not a registry)", () => server.faults.push({ status: 404, contentType: "text/html; charset=utf-8", body: "<!doctype html><title>404 Not Found</title>" }), /this is not an MLflow registry at/],
                ["a JSON 404 without RESOURCE_DOES_NOT_EXIST", () => server.faults.push({ status: 404, body: '{"error_code":"ENDPOINT_NOT_FOUND","message":"no such API"}' }), /this is not an MLflow registry at/],
                ["5xx after the retries", () => { for (let i = 0; i < 5; i++) server.faults.push({ status: 503, body: '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}' }); }, /HTTP 503 .*gave up after 5 attempts/],
                ["a 401", () => (server.auth = { mode: "basic", users: {} }), /unauthenticated \(HTTP 401/],
            ];
            for (const [title, arrange, message] of ambiguous) {
                arrange();
                await assert.rejects(provider.read("id", state), (err: Error) => (assert.match(err.message, message, title), true), title);
                server.auth = { mode: "none" };
            }
            server.faults.push({ status: 404, body: '{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"Model Version (name=fraud, version=7) not found"}' });
            assert.deepStrictEqual(await provider.read("id", state), {}, "only a definite answer drops it");
        });

        it("publishes the same aliases after up and after refresh, whatever the selector", async () => {
            server.setAlias("fraud", "shadow", 7);
            for (const selector of [{ alias: "champion" }, { stage: "Production" }, { version: "7" }, { latest: true }] as const) {
                const state = await checked(inputs(selector));
                const { outs } = await provider.create(state);
                const refreshed = await provider.read("id", outs);
                assert.ok(outs!.aliases.length > 0, `${JSON.stringify(selector)} has aliases`);
                assert.deepStrictEqual(refreshed.props?.aliases, outs!.aliases, JSON.stringify(selector));
            }
        });

        it("leaves the registry untouched on delete", async () => {
            await checked(inputs({ version: "7" }));
            server.requests.length = 0;
            await provider.delete();
            assert.strictEqual(server.requests.length, 0);
            assert.ok(await checked(inputs({ version: "7" })));
        });
    });
});

describe("ModelVersion credentials", () => {
    let server: FakeMlflowServer;
    const savedEnv = { ...process.env };

    beforeEach(async () => {
        server = new FakeMlflowServer();
        await server.start();
        server.auth = { mode: "bearer", tokens: [TOKEN] };
        server.addModel("main.risk.fraud", [{ version: 1 }, { version: 2, status: "PENDING_REGISTRATION", readyAfterReads: 1 }], { champion: 2 });
        for (const key of ["DATABRICKS_TOKEN", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"]) delete process.env[key];
    });
    afterEach(async () => {
        process.env = { ...savedEnv };
        await server.stop();
    });

    it("never puts a token in the serialized provider, the outputs, log lines or error messages", async () => {
        process.env.DATABRICKS_TOKEN = TOKEN;
        // The real serialized code, as it would be stored in state.
        const plan = await recordProgram(
            () => {
                const mv = new ModelVersion("fraud-version", {
                    registryKind: "unity-catalog",
                    registryUrl: server.url,
                    model: "main.risk.fraud",
                    selector: { alias: "champion" },
                });
                return { version: mv.version };
            },
            { project: "mlflow-platform", stack: "test", config: { "mlflow-platform:registryToken": TOKEN }, secretKeys: ["mlflow-platform:registryToken"] },
        );
        const serialized = String(onlyOfType(plan, MODEL_VERSION_TYPE).inputs.__provider);
        assert.ok(serialized.length > 1000, "the provider was serialized");
        assert.ok(!serialized.includes(TOKEN), "no token in __provider");
        assert.ok(!JSON.stringify(plan).includes(TOKEN), "no token in inputs or outputs");

        // Run that very code as the dynamic provider host would, with the secret from stack config.
        delete process.env.DATABRICKS_TOKEN;
        const logged: string[] = [];
        const originalError = console.error;
        console.error = (...args: unknown[]) => logged.push(args.join(" "));
        try {
            const loaded = loadSerializedProvider(serialized, PROJECT_DIR);
            await loaded.configure!({ config: providerConfig({ "mlflow-platform:registryToken": TOKEN }) });
            const news = { registryKind: "unity-catalog", registryUrl: server.url, model: "main.risk.fraud", selector: { alias: "champion" }, __provider: serialized };
            const checkedResult = await loaded.check!({}, news);
            assert.deepStrictEqual(checkedResult.failures ?? [], []);
            assert.strictEqual(checkedResult.inputs.version, "2");
            assert.ok(server.requests.every((r) => r.authorization === `Bearer ${TOKEN}`), "the configured token was sent");
            const { outs } = await loaded.create(checkedResult.inputs);
            assert.ok(!JSON.stringify(outs).includes(TOKEN), "no token in outputs");

            // A server that echoes the token in its error: the message still never shows it.
            server.faults.push({ status: 400, body: JSON.stringify({ error_code: "BAD_REQUEST", message: `bad token ${TOKEN}` }) });
            const failed = await loaded.check!({}, { ...news, selector: { version: "1" } });
            assert.ok(failed.failures?.length, `the echoed error is a failure: ${JSON.stringify(failed)}`);
            assert.ok(!failed.failures![0].reason.includes(TOKEN), failed.failures![0].reason);
        } finally {
            console.error = originalError;
        }
        assert.ok(logged.some((line) => /PENDING_REGISTRATION/.test(line)), "progress was logged");
        assert.ok(!logged.join("\n").includes(TOKEN), "no token in log lines");
    });

    it("uses DATABRICKS_TOKEN from the environment when no secret config is set", async () => {
        process.env.DATABRICKS_TOKEN = TOKEN;
        const provider = new ModelVersionProvider({ sleep: async () => undefined });
        await provider.configure({ config: providerConfig({}) });
        const result = await provider.check({} as ModelVersionState, {
            registryKind: "unity-catalog",
            registryUrl: server.url,
            model: "main.risk.fraud",
            selector: { version: "1" },
        } as ModelVersionState);
        assert.strictEqual(result.inputs?.version, "1");
    });

    it("explains a 401 without showing the token that was refused", async () => {
        process.env.DATABRICKS_TOKEN = "fake-wrong-token-for-tests";
        const provider = new ModelVersionProvider({ sleep: async () => undefined });
        const result = await provider.check({} as ModelVersionState, {
            registryKind: "unity-catalog",
            registryUrl: server.url,
            model: "main.risk.fraud",
            selector: { version: "1" },
        } as ModelVersionState);
        assert.match(result.failures![0].reason, /unauthenticated \(HTTP 401.*sent the credential from DATABRICKS_TOKEN/);
        assert.ok(!result.failures![0].reason.includes("fake-wrong-token-for-tests"));
    });
});

describe("ModelVersion in the program", () => {
    it("dev resolves the latest version from its own workspace's registry", async () => {
        const plan = await planStack(PROJECT_DIR, "dev", "index.ts", { mocks: deployedAzureMocks, preview: false });
        const mv = onlyOfType(plan, MODEL_VERSION_TYPE);
        assert.strictEqual(mv.name, "dev-serving-fraud-version");
        assert.deepStrictEqual(mv.inputs.selector, { latest: true });
        assert.strictEqual(mv.inputs.registryKind, "unity-catalog");
        assert.strictEqual(mv.inputs.registryUrl, "https://adb-1234567890123456.7.azuredatabricks.net", "this stack's workspace URL");
        const models = plan.outputs.models as Record<string, Record<string, string>>;
        assert.strictEqual(models.fraud.version, "7");
        assert.strictEqual(models.fraud.modelUri, "models:/mlplatform.dev.fraud/7");
    });

    it("prd follows the champion alias in dev's registry through a StackReference", async () => {
        const plan = await planStack(PROJECT_DIR, "prd", "index.ts", { mocks: deployedAzureMocks, preview: false });
        const mv = onlyOfType(plan, MODEL_VERSION_TYPE);
        assert.deepStrictEqual(mv.inputs.selector, { alias: "champion" });
        assert.strictEqual(mv.inputs.registryUrl, "https://adb-1111111111111111.1.azuredatabricks.net", "dev's workspaceUrl output");
        assert.strictEqual(onlyOfType(plan, "pulumi:pulumi:StackReference").name, "organization/mlflow-platform/dev");
    });

    it("shows the selector in the plan and says the version is resolved at deploy without registry credentials", async () => {
        const plan = await planStack(PROJECT_DIR, "prd");
        const notes = await resolvePlannedModelVersions(plan, {});
        assert.deepStrictEqual(notes.map((n) => n.outcome), ["deferred"]);
        const text = renderPlanText(plan, notes);
        assert.match(text, /\+ pulumi-nodejs:dynamic\/registry:ModelVersion {2}prd-serving-fraud-version  \(parent: prd-serving\)\n {6}model: mlplatform\.prd\.fraud\n {6}registryKind: unity-catalog\n {6}registryUrl: \(known after deploy\)\n {6}selector\.alias: champion\n {6}=> version: resolved at deploy \(set DATABRICKS_HOST and DATABRICKS_TOKEN/);
        assert.doesNotMatch(text, /__provider/);
        assert.strictEqual(onlyOfType(plan, MODEL_VERSION_TYPE).inputs.registryUrl, UNKNOWN_DISPLAY);
    });

    describe("with a registry in the environment", () => {
        let server: FakeMlflowServer;
        beforeEach(async () => {
            server = new FakeMlflowServer();
            await server.start();
            server.auth = { mode: "bearer", tokens: [TOKEN] };
            server.addModel("mlplatform.prd.fraud", [{ version: 6 }, { version: 7 }], { champion: 6 });
            server.addModel("mlplatform.dev.fraud", [{ version: 6 }, { version: 7 }]);
        });
        afterEach(() => server.stop());

        it("resolves the real version in the plan", async () => {
            const env = { DATABRICKS_HOST: server.url, DATABRICKS_TOKEN: TOKEN };
            const prd = await resolvePlannedModelVersions(await planStack(PROJECT_DIR, "prd"), env);
            assert.deepStrictEqual(prd.map((n) => [n.outcome, n.text.replace(server.url, "URL")]), [
                ["resolved", "version: 6 (READY, models:/mlplatform.prd.fraud/6), resolved now from URL"],
            ]);
            const dev = await resolvePlannedModelVersions(await planStack(PROJECT_DIR, "dev"), env);
            assert.match(dev[0].text, /^version: 7 \(READY/);
            server.setAlias("mlplatform.prd.fraud", "champion", 7);
            const moved = await resolvePlannedModelVersions(await planStack(PROJECT_DIR, "prd"), env);
            assert.match(moved[0].text, /^version: 7 /, "a moved alias shows in the next plan");
        });

        it("resolves against a self-hosted MLflow server from MLFLOW_TRACKING_URI without any credential", async () => {
            server.auth = { mode: "none" };
            server.addModel("fraud", [{ version: 3 }, { version: 4 }]);
            const plan = await planEditedStack("dev", (config) => {
                config["mlflow-platform:registry"] = { kind: "mlflow" };
                config["mlflow-platform:models"][0].model = "fraud";
            });
            const notes = await resolvePlannedModelVersions(plan, { MLFLOW_TRACKING_URI: server.url });
            assert.deepStrictEqual(notes.map((n) => [n.outcome, n.text.replace(server.url, "URL")]), [["resolved", "version: 4 (READY, models:/fraud/4), resolved now from URL"]]);
            assert.ok(server.requests.every((r) => r.authorization === undefined), "no credential was needed or sent");
        });

        it("refuses a registry host without http:// or https://, naming the variable, and sends nothing", async () => {
            const mlflowPlan = await planEditedStack("dev", (config) => {
                config["mlflow-platform:registry"] = { kind: "mlflow" };
                config["mlflow-platform:models"][0].model = "fraud";
            });
            const port = new URL(server.url).port;
            const [mlflowNote] = await resolvePlannedModelVersions(mlflowPlan, { MLFLOW_TRACKING_URI: `127.0.0.1:${port}` });
            assert.strictEqual(mlflowNote.outcome, "failed");
            assert.match(mlflowNote.text, /^cannot resolve: MLFLOW_TRACKING_URI "127\.0\.0\.1:\d+" has no http:\/\/ or https:\/\/: write the registry URL in full/);
            const [ucNote] = await resolvePlannedModelVersions(await planStack(PROJECT_DIR, "prd"), { DATABRICKS_HOST: `127.0.0.1:${port}`, DATABRICKS_TOKEN: TOKEN });
            assert.match(ucNote.text, /^cannot resolve: DATABRICKS_HOST "127\.0\.0\.1:\d+" has no http:\/\/ or https:\/\//);
            assert.strictEqual(server.requests.length, 0, "no https:// was assumed and tried");
        });

        it("skips a model that is not registered yet with the deployment's own warning, and fails nothing", async () => {
            const fresh = new FakeMlflowServer();
            await fresh.start();
            try {
                fresh.auth = { mode: "bearer", tokens: [TOKEN] };
                const notes = await resolvePlannedModelVersions(await planStack(PROJECT_DIR, "prd"), { DATABRICKS_HOST: fresh.url, DATABRICKS_TOKEN: TOKEN });
                assert.deepStrictEqual(notes.map((n) => n.outcome), ["skipped"]);
                assert.strictEqual(
                    notes[0].text,
                    `skipped: ${skipWarning({ name: "fraud", model: "mlplatform.prd.fraud", reason: "not registered" })}`,
                );
                assert.match(notes[0].text, /models\[fraud\]: the registered model mlplatform\.prd\.fraud does not exist yet/);
            } finally {
                await fresh.stop();
            }
        });

        it("reports a version that cannot be resolved, as preview would", async () => {
            server.addModel("mlplatform.prd.fraud", [{ version: 1 }]);
            const notes = await resolvePlannedModelVersions(await planStack(PROJECT_DIR, "prd"), { DATABRICKS_HOST: server.url, DATABRICKS_TOKEN: TOKEN });
            assert.strictEqual(notes[0].outcome, "failed");
            assert.match(notes[0].text, /^cannot resolve: alias "champion" is not set on the model/);
            assert.ok(!notes[0].text.includes(TOKEN));
        });
    });
});

// The provider over real MLflow servers: a plain one (through a recording proxy, to count
// requests) and one under a path prefix.
describe("ModelVersion provider on real MLflow servers", function () {
    this.timeout(90_000);
    let plain: RealMlflow;
    let proxy: RecordingProxy;
    let registry: RealRegistry;
    let provider: ModelVersionProvider;
    const fraud = uniqueModelName("mv-fraud");

    before(async function () {
        this.timeout(300_000);
        plain = await realMlflow("plain");
        registry = new RealRegistry(plain);
        await registry.seed(fraud, { versions: [{ stage: "Archived" }, { stage: "Production", run: true }, {}], aliases: { champion: 2 } });
        proxy = new RecordingProxy(plain.url);
        await proxy.start();
        provider = new ModelVersionProvider({ sleep: async () => undefined, timeoutMs: 20_000, onProgress: () => undefined });
    });
    beforeEach(() => proxy?.reset());
    after(async () => {
        await proxy?.stop();
    });

    const inputs = (selector: ModelVersionState["selector"], overrides: Partial<ModelVersionState> = {}) =>
        ({ registryKind: "mlflow", registryUrl: proxy.url, model: fraud, selector, ...overrides }) as ModelVersionState;

    async function checked(state: ModelVersionState): Promise<ModelVersionState> {
        const result = await provider.check({} as ModelVersionState, state);
        assert.deepStrictEqual(result.failures ?? [], [], "check failures");
        return result.inputs!;
    }

    for (const [selector, version] of [
        [{ alias: "champion" }, "2"],
        [{ stage: "production" }, "2"],
        [{ version: "1" }, "1"],
        [{ latest: true }, "3"],
    ] as const) {
        it(`resolves ${JSON.stringify(selector)} into the checked inputs with one request`, async () => {
            const state = await checked(inputs(selector));
            assert.strictEqual(state.version, version);
            assert.strictEqual(state.modelUri, `models:/${fraud}/${version}`);
            assert.strictEqual(state.status, "READY");
            if (version === "2") assert.match(state.source, new RegExp(`^runs:/${state.runId}/model$`));
            assert.match(state.createdAt, /^\d{4}-\d\d-\d\dT/);
            assert.strictEqual(proxy.requests.length, 1, "one request");
        });
    }

    it("reports an unknown alias and an unknown model as check failures with the full message", async () => {
        const alias = await provider.check({} as ModelVersionState, inputs({ alias: "prod" }));
        assert.strictEqual(alias.failures?.[0].property, "selector");
        assert.match(alias.failures![0].reason, new RegExp(`alias "prod" is not set on the model\\. Registry: ${proxy.url.replace(/\./g, "\\.")} \\(mlflow\\), model: ${fraud}.*Aliases on this model: champion -> 2`));
        const model = await provider.check({} as ModelVersionState, inputs({ alias: "champion" }, { model: uniqueModelName("mv-nosuch") }));
        assert.match(model.failures![0].reason, /the model is not registered/);
    });

    it("refreshes a version's aliases on read, and reads a deleted version as gone", async () => {
        const name = uniqueModelName("mv-refresh");
        await registry.seed(name, { versions: [{}, {}] });
        const state = await checked(inputs({ version: "2" }, { model: name }));
        assert.deepStrictEqual(state.aliases, []);
        await registry.setAlias(name, "challenger", 2);
        const refreshed = await provider.read("id", state);
        assert.deepStrictEqual(refreshed.props?.aliases, ["challenger"]);
        assert.strictEqual(refreshed.props?.version, "2");
        await registry.deleteVersion(name, 2);
        assert.deepStrictEqual(await provider.read("id", state), {});
    });

    it("shows a moved alias as an update of the version", async () => {
        const name = uniqueModelName("mv-moved");
        await registry.seed(name, { versions: [{}, {}], aliases: { champion: 1 } });
        const first = await checked(inputs({ alias: "champion" }, { model: name }));
        await registry.setAlias(name, "champion", 2);
        const second = await checked(inputs({ alias: "champion" }, { model: name }));
        assert.strictEqual(second.version, "2");
        const diff = await provider.diff("id", first, second);
        assert.strictEqual(diff.changes, true);
        assert.deepStrictEqual(diff.replaces ?? [], []);
    });

    it("resolves against a registry under a path prefix (alias, pinned, latest)", async function () {
        this.timeout(300_000);
        const prefixed = await realMlflow("prefixed");
        const name = uniqueModelName("mv-prefixed");
        await new RealRegistry(prefixed).seed(name, { versions: [{}, {}, {}], aliases: { champion: 2 } });
        for (const [selector, version] of [[{ alias: "champion" }, "2"], [{ version: "1" }, "1"], [{ latest: true }, "3"]] as const) {
            const state = await checked(inputs(selector, { model: name, registryUrl: prefixed.url }));
            assert.strictEqual(state.version, version);
        }
    });
});
