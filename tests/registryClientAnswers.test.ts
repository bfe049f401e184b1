// The registry client, answer by answer: the routes it asks, how it reads each field of a version
// (MLflow and Unity Catalog shapes), every refusal's exact message, the transport failures it
// retries and the ones it does not, and what it does with answers a real server sends only when
// broken (those are scripted as faults on the fake; the shapes of the good answers are the fake's
// own, which tests/differential.test.ts holds to a real MLflow server).
import * as assert from "assert";
import axios, { AxiosError, type AxiosAdapter } from "axios";
import { DEFAULT_PENDING, DEFAULT_RETRY, parseRegistryUrl, RegistryClient, type RegistryClientOptions } from "../lib/registry/client";
import { bearerToken, type Credential } from "../lib/registry/credentials";
import { RegistryError } from "../lib/registry/errors";
import type { RegistryKind, Selector } from "../lib/registry/types";
import { FakeMlflowServer, HTML_404, HTML_TYPE, mlflowError } from "./helpers/fakeMlflow";
import { MLFLOW3_MODEL_ID, MLFLOW3_MODEL_VERSION, MLFLOW3_UC_MODEL_VERSION } from "./helpers/fixtures";
import { failure } from "./helpers/registryFailure";

const UC = "main.risk.fraud";
const json = (value: unknown) => JSON.stringify(value);

describe("registry client: answers, field by field and message by message", () => {
    let server: FakeMlflowServer;
    let sleeps: number[];
    let progress: string[];

    beforeEach(async () => {
        server = new FakeMlflowServer();
        await server.start();
        sleeps = [];
        progress = [];
        server
            .addModel("fraud", [{ version: 1, stage: "Archived" }, { version: 2, stage: "Production" }, { version: 3, stage: "Staging" }], { champion: 2 })
            .addModel("empty")
            .addModel(UC, [{ version: 1 }, { version: 2 }], { champion: 1 });
    });
    afterEach(async () => {
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
            retry: { maxAttempts: 3 },
            ...options,
        });
    }
    /** The message every registry error has: what, where, about what, what next. */
    function message(what: string, kind: RegistryKind, about: string, next: string): string {
        return `${what}. Registry: ${server.url} (${kind}), ${about}.${next ? ` ${next}` : ""}`;
    }
    const about = (model: string, selector?: string) => (selector ? `model: ${model}, selector: ${selector}` : `model: ${model}`);
    /** A scripted answer for the next request to a route (a fault the real server gives only when broken). */
    function answer(path: RegExp, status: number, body: unknown, extra: { contentType?: string; retryAfter?: string } = {}): void {
        server.faults.push({ path, status, body: typeof body === "string" ? body : json(body), ...extra });
    }

    describe("routes and defaults", () => {
        it("asks MLflow's and Unity Catalog's documented routes", async () => {
            await client().resolve("fraud", { alias: "champion" });
            await client().resolve("fraud", { stage: "Production" });
            await client("unity-catalog").resolve(UC, { alias: "champion" });
            await client("unity-catalog").getVersion(UC, "2");
            assert.deepStrictEqual(new Set(server.requests.map((r) => r.accept)), new Set(["application/json"]), "asks for JSON");
            const asked = server.requests.map((r) => `${r.path}?${r.query.toString()}`);
            assert.deepStrictEqual(asked, [
                "/api/2.0/mlflow/registered-models/alias?name=fraud&alias=champion",
                "/api/2.0/mlflow/registered-models/get?name=fraud",
                "/api/2.1/unity-catalog/models/main.risk.fraud/aliases/champion?include_aliases=true",
                "/api/2.1/unity-catalog/models/main.risk.fraud/versions/2?include_aliases=true",
            ]);
        });

        it("retries five times with 0.5 s doubling to 8 s, caps Retry-After at 30 s, waits up to 10 minutes for a registration", () => {
            assert.deepStrictEqual(DEFAULT_RETRY, { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 8000, maxRetryAfterMs: 30000 });
            assert.deepStrictEqual(DEFAULT_PENDING, { timeoutMs: 600000, initialDelayMs: 1000, maxDelayMs: 15000 });
        });

        it("without an injected sleep, really waits the Retry-After", async () => {
            answer(/registered-models\/alias/, 503, mlflowError("TEMPORARILY_UNAVAILABLE", "busy"), { retryAfter: "1" });
            const started = Date.now();
            const info = await client("mlflow", { sleep: undefined }).resolve("fraud", { alias: "champion" });
            assert.strictEqual(info.version, "2");
            assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
        });
    });

    describe("URLs", () => {
        const EXAMPLES = "for example https://adb-1234567890123456.7.azuredatabricks.net or http://mlflow.internal:5000";
        const refused = (url: unknown, allowPath = false) => {
            try {
                parseRegistryUrl(url, "DATABRICKS_HOST", allowPath);
            } catch (err) {
                assert.ok(err instanceof RegistryError && err.kind === "invalid-url", String(err));
                return err.message;
            }
            assert.fail(`accepted ${JSON.stringify(url)}`);
        };

        it("an empty, blank or missing URL", () => {
            for (const url of ["", "   ", undefined, 42]) assert.strictEqual(refused(url), `DATABRICKS_HOST is empty: give the registry's URL, ${EXAMPLES}`);
        });

        it("no scheme, another scheme, or a scheme not at the start", () => {
            assert.strictEqual(refused("adb-1.azuredatabricks.net"), `DATABRICKS_HOST "adb-1.azuredatabricks.net" has no http:// or https://: write the registry URL in full, ${EXAMPLES}`);
            assert.strictEqual(refused("1http://host"), `DATABRICKS_HOST "1http:/…" has no http:// or https://: write the registry URL in full, ${EXAMPLES}`);
            assert.strictEqual(
                refused("ftp://files.example/http://mlflow"),
                `DATABRICKS_HOST starts with "ftp:", not http:// or https://: the registry must be an MLflow or Databricks server's URL, ${EXAMPLES}`,
            );
        });

        it("a URL that does not parse", () => {
            assert.strictEqual(refused("http://exa mple.com"), `DATABRICKS_HOST "http://exa mple.com" is not a valid URL: use ${EXAMPLES}`);
        });

        it("a user name or a password alone, never echoed", () => {
            for (const url of ["https://someone@adb-1.azuredatabricks.net", "https://:dapi0123456789@adb-1.azuredatabricks.net"]) {
                const text = refused(url);
                assert.strictEqual(
                    text,
                    "DATABRICKS_HOST has a user name or password in it: remove them, and give credentials through MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD, DATABRICKS_TOKEN or the secret config mlflow-platform:registryToken",
                );
            }
        });

        it("a query or a fragment, naming the address to give instead", () => {
            assert.strictEqual(
                refused("https://adb-1.azuredatabricks.net/?o=123"),
                "DATABRICKS_HOST has a query string (?...) in it: give only the server's address (https://adb-1.azuredatabricks.net); the client adds /api/2.0/mlflow/... itself",
            );
            assert.strictEqual(
                refused("http://mlflow.internal/mlflow/#/models", true),
                "DATABRICKS_HOST has a fragment (#...) in it: give only the server's address (http://mlflow.internal/mlflow); the client adds /api/2.0/mlflow/... itself",
            );
        });

        it("a path where the workspace answers at its root; an API route under a prefix", () => {
            assert.strictEqual(
                refused("https://adb-1.azuredatabricks.net/ml"),
                `DATABRICKS_HOST "https://adb-1.azuredatabricks.net/…" has a path after the host (not shown: a pasted address may carry a token): a Databricks workspace answers at its root, so give only the scheme, host and port (https://adb-1.azuredatabricks.net); the client adds /api/2.0/mlflow/... itself`,
            );
            for (const url of ["http://mlflow.internal/mlflow/api/2.0", "http://mlflow.internal/mlflow/api/2.0/mlflow/"]) {
                assert.strictEqual(
                    refused(url, true),
                    `DATABRICKS_HOST "http://mlflow.internal/…" includes an API route (/api/2.x/…): give the server's base URL (http://mlflow.internal/mlflow); the client adds /api/2.0/mlflow/... itself`,
                );
            }
            assert.strictEqual(parseRegistryUrl("http://mlflow.internal:5000/mlflow//", "x", true), "http://mlflow.internal:5000/mlflow");
            assert.strictEqual(parseRegistryUrl("https://adb-1.azuredatabricks.net/", "x"), "https://adb-1.azuredatabricks.net");
        });
    });

    describe("reading versions", () => {
        it("an MLflow 3 version, field by field", async () => {
            answer(/model-versions\/get$/, 200, { model_version: MLFLOW3_MODEL_VERSION });
            assert.deepStrictEqual(await client().getVersion("fraud", "8"), {
                name: "fraud",
                version: "8",
                status: "READY",
                statusMessage: undefined,
                source: `models:/${MLFLOW3_MODEL_ID}`,
                runId: "9d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a",
                modelId: MLFLOW3_MODEL_ID,
                aliases: ["challenger"],
                currentStage: "None",
                creationTimestamp: 1_795_235_600_000,
            });
        });

        it("an MLflow version with fields missing, empty or of another type", async () => {
            answer(/model-versions\/get$/, 200, {
                model_version: { version: 4, status: "FAILED_REGISTRATION", status_message: "", run_id: "", source: 7, aliases: ["a", 3, "b"], model_id: "", current_stage: 1, creation_timestamp: "1" },
            });
            assert.deepStrictEqual(await client().getVersion("fraud", "4"), {
                name: "fraud",
                version: "4",
                status: "FAILED_REGISTRATION",
                statusMessage: undefined,
                source: "",
                runId: undefined,
                modelId: undefined,
                aliases: ["a", "b"],
                currentStage: undefined,
                creationTimestamp: 0,
            });
            answer(/model-versions\/get$/, 200, { model_version: { name: "other", version: "5", status: "PENDING_REGISTRATION", status_message: "copying", run_id: "r1", source: "models:/m-77/" } });
            const info = await client().getVersion("fraud", "5");
            assert.deepStrictEqual([info?.name, info?.statusMessage, info?.runId, info?.modelId, info?.aliases], ["other", "copying", "r1", "m-77", []]);
            // A status message or run id that is not text is left out; a model_id wins over the source.
            answer(/model-versions\/get$/, 200, { model_version: { version: "6", status: "READY", status_message: 7, run_id: 7, model_id: "m-own", source: "runs:/r6/model" } });
            const odd = await client().getVersion("fraud", "6");
            assert.deepStrictEqual([odd?.statusMessage, odd?.runId, odd?.modelId, odd?.source], [undefined, undefined, "m-own", "runs:/r6/model"]);
        });

        it("a model id only from a models:/m-… source with nothing after it", async () => {
            for (const [source, modelId] of [["models:/m-1", "m-1"], ["models:/m-1/", "m-1"], ["xmodels:/m-1", undefined], ["models:/m-1/extra", undefined], ["runs:/abc/model", undefined]] as const) {
                answer(/model-versions\/get$/, 200, { model_version: { version: "1", status: "READY", source } });
                assert.strictEqual((await client().getVersion("fraud", "1"))?.modelId, modelId, source);
            }
        });

        it("a Unity Catalog version, field by field, and with fields missing", async () => {
            answer(/versions\/8$/, 200, MLFLOW3_UC_MODEL_VERSION);
            assert.deepStrictEqual(await client("unity-catalog").getVersion(UC, "8"), {
                name: "main.risk.fraud",
                version: "8",
                status: "READY",
                statusMessage: undefined,
                source: "abfss://models@store.dfs.core.windows.net/models/fraud/8",
                runId: "9d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a",
                modelId: MLFLOW3_MODEL_ID,
                aliases: ["challenger"],
                creationTimestamp: 1_795_235_600_000,
            });
            answer(/versions\/9$/, 200, {
                catalog_name: "main",
                schema_name: "risk",
                version: "9",
                status: "FAILED_REGISTRATION",
                status_message: "no signature",
                source: "models:/m-9",
                storage_location: "",
                run_id: "",
                aliases: [{ alias_name: "a" }, "b", { alias_name: 3 }],
                created_at: "yesterday",
            });
            assert.deepStrictEqual(await client("unity-catalog").getVersion(UC, "9"), {
                name: UC,
                version: "9",
                status: "FAILED_REGISTRATION",
                statusMessage: "no signature",
                source: "models:/m-9",
                runId: undefined,
                modelId: "m-9",
                aliases: ["a"],
                creationTimestamp: 0,
            });
            for (const missing of ["catalog_name", "schema_name", "model_name"]) {
                const partial: Record<string, unknown> = { catalog_name: "c", schema_name: "s", model_name: "m", version: 1, status: "READY" };
                delete partial[missing];
                answer(/versions\/1$/, 200, partial);
                assert.strictEqual((await client("unity-catalog").getVersion(UC, "1"))?.name, UC, `without ${missing}`);
            }
            // Fields that are not text are left out; the source stands in for a storage location that is not text.
            answer(/versions\/10$/, 200, { version: 10, status: "READY", status_message: 7, storage_location: 7, run_id: 7, source: "runs:/r10/model" });
            const odd = await client("unity-catalog").getVersion(UC, "10");
            assert.deepStrictEqual([odd?.statusMessage, odd?.source, odd?.runId], [undefined, "runs:/r10/model", undefined]);
            answer(/versions\/1$/, 200, { catalog_name: "c", schema_name: "s", model_name: "m", version: 1, status: "READY" });
            assert.deepStrictEqual(await client("unity-catalog").getVersion(UC, "1"), { name: "c.s.m", version: "1", status: "READY", statusMessage: undefined, source: "", runId: undefined, modelId: undefined, aliases: [], creationTimestamp: 0 });
        });

        for (const kind of ["mlflow", "unity-catalog"] as RegistryKind[]) {
            it(`${kind}: a version that is not an object, has no numeric version, or an unknown status is a bad response`, async () => {
                const route = kind === "mlflow" ? /model-versions\/get$/ : /versions\/1$/;
                const wrap = (v: unknown) => (kind === "mlflow" ? { model_version: v } : v);
                const expected = kind === "mlflow" ? ["a model version object", 'a model version with a numeric "version"'] : ["a model version info object", 'a model version info with a numeric "version"'];
                const bad = async (body: unknown, what: string) => {
                    answer(route, 200, body);
                    const err = await failure(client(kind).getVersion(kind === "mlflow" ? "fraud" : UC, "1"), "bad-response");
                    assert.ok(err.message.startsWith(`the registry's answer is not what MLflow sends: expected ${what}, got `), err.message);
                    assert.ok(err.message.endsWith("Check that the registry URL and registry kind match the server."), err.message);
                };
                if (kind === "mlflow") await bad({ model_version: "1" }, 'a JSON object with "model_version"');
                else await bad([1], "a JSON object");
                for (const version of ["1a", "a1", "", 1.5, null, [1], ["1"]]) await bad(wrap({ version, status: "READY" }), expected[1]);
                await bad(wrap({ version: "1", status: "DELETED" }), '"status" READY, PENDING_REGISTRATION or FAILED_REGISTRATION');
                await bad(wrap({ version: "1" }), '"status" READY, PENDING_REGISTRATION or FAILED_REGISTRATION');
            });
        }

        it("a listed version that is not an object is a bad response (MLflow's latest_versions, Unity Catalog's version list)", async () => {
            for (const item of [null, "3"]) {
                answer(/registered-models\/get$/, 200, { registered_model: { name: "fraud", latest_versions: [item] } });
                const mlflow = await failure(client().resolve("fraud", { latest: true }), "bad-response");
                assert.ok(mlflow.message.startsWith(`the registry's answer is not what MLflow sends: expected a model version object, got ${JSON.stringify(item).replace(/"/g, "")}. `), mlflow.message);
                answer(/versions$/, 200, { model_versions: [item] });
                const uc = await failure(client("unity-catalog").resolve(UC, { latest: true }), "bad-response");
                assert.ok(uc.message.startsWith(`the registry's answer is not what MLflow sends: expected a model version info object, got ${JSON.stringify(item).replace(/"/g, "")}. `), uc.message);
            }
        });

        it("MLflow: an answer without a model_version object", async () => {
            for (const body of [[], { model_version: [] }, { other: {} }]) {
                answer(/model-versions\/get$/, 200, body);
                const err = await failure(client().getVersion("fraud", "1"), "bad-response");
                assert.ok(err.message.startsWith(`the registry's answer is not what MLflow sends: expected ${Array.isArray(body) ? "a JSON object" : 'a JSON object with "model_version"'}, got `), err.message);
                assert.ok(err.message.includes(`. Registry: ${server.url} (mlflow), model: fraud, selector: version 1.`), err.message);
            }
        });

        it("download URIs: MLflow's artifact_uri; missing versions and answers; none in Unity Catalog", async () => {
            answer(/get-download-uri$/, 200, { artifact_uri: "mlflow-artifacts:/1/abc/artifacts/model" });
            assert.strictEqual(await client().getDownloadUri("fraud", "2"), "mlflow-artifacts:/1/abc/artifacts/model");
            assert.deepStrictEqual(server.requests.at(-1)?.query.toString(), "name=fraud&version=2");
            answer(/get-download-uri$/, 404, mlflowError("RESOURCE_DOES_NOT_EXIST", "Model Version (name=fraud, version=9) not found"));
            const missing = await failure(client().getDownloadUri("fraud", "9"), "unknown-version");
            assert.strictEqual(missing.message, message("version 9 does not exist", "mlflow", about("fraud", "version 9"), "Pick a registered version."));
            assert.strictEqual(missing.status, 404);
            for (const body of [{}, { artifact_uri: "" }, { artifact_uri: 3 }]) {
                answer(/get-download-uri$/, 200, body);
                const err = await failure(client().getDownloadUri("fraud", "2"), "bad-response");
                assert.ok(err.message.startsWith(`the registry's answer is not what MLflow sends: expected a JSON object with "artifact_uri", got ${json(body)}.`), err.message);
            }
            const uc = await failure(client("unity-catalog").getDownloadUri(UC, "1"), "invalid-reference");
            assert.strictEqual(
                uc.message,
                message("Unity Catalog has no get-download-uri: its versions are downloaded with short-lived storage credentials", "unity-catalog", about(UC, "version 1"), "Let MLflow download models:/<name>/<version> itself."),
            );
        });
    });

    describe("selectors that find nothing", () => {
        const UNKNOWN_MODEL_NEXT =
            "A new workspace has no models yet: deploy the platform first (no entries in mlflow-platform:models), register a version (mlflow.register_model(...) from a Databricks notebook or job), then list the model in mlflow-platform:models and run `pulumi up` again. Otherwise check the model name and the registry host.";

        it("an unknown model, in every registry and for every selector", async () => {
            const cases: [RegistryKind, Selector, string][] = [
                ["mlflow", { alias: "champion" }, 'alias "champion"'],
                ["mlflow", { version: "1" }, "version 1"],
                ["mlflow", { latest: true }, "the latest version"],
                ["databricks", { stage: "Production" }, 'stage "Production"'],
                ["unity-catalog", { latest: true }, "the latest version"],
                ["unity-catalog", { alias: "champion" }, 'alias "champion"'],
            ];
            for (const [kind, selector, described] of cases) {
                const name = kind === "unity-catalog" ? "main.risk.nothing" : "nothing";
                const err = await failure(client(kind).resolve(name, selector), "unknown-model");
                assert.strictEqual(err.message, message("the model is not registered", kind, about(name, described), UNKNOWN_MODEL_NEXT));
                assert.strictEqual(err.status, 404);
            }
        });

        it("an unknown alias names the aliases there are, or says there are none", async () => {
            const set = await failure(client().resolve("fraud", { alias: "gold" }), "unknown-alias");
            assert.strictEqual(
                set.message,
                message('alias "gold" is not set on the model', "mlflow", about("fraud", 'alias "gold"'), 'Aliases on this model: champion -> 2. Set it with MlflowClient().set_registered_model_alias("fraud", "gold", <version>), or pin version: <n>.'),
            );
            server.addModel("plain", [{ version: 1 }]);
            const none = await failure(client().resolve("plain", { alias: "gold" }), "unknown-alias");
            assert.ok(none.message.endsWith('This model has no aliases yet. Set it with MlflowClient().set_registered_model_alias("plain", "gold", <version>), or pin version: <n>.'), none.message);
        });

        it("MLflow 2.11's 400 for an unknown alias means the same; other 400s are bad requests", async () => {
            answer(/registered-models\/alias/, 400, mlflowError("INVALID_PARAMETER_VALUE", "Registered model alias gold not found."));
            await failure(client().resolve("fraud", { alias: "gold" }), "unknown-alias");
            answer(/registered-models\/alias/, 400, mlflowError("INVALID_PARAMETER_VALUE", "Registered model alias gold not found."));
            await failure(client().resolve("nothing", { alias: "gold" }), "unknown-model");
            answer(/registered-models\/alias/, 400, mlflowError("INVALID_PARAMETER_VALUE", "Alias name is invalid."));
            const other = await failure(client().resolve("fraud", { alias: "gold" }), "bad-request");
            assert.strictEqual(other.message, message("the registry answered HTTP 400 INVALID_PARAMETER_VALUE: Alias name is invalid.", "mlflow", about("fraud", 'alias "gold"'), "Check the model name and selector."));
            answer(/registered-models\/alias/, 400, mlflowError("BAD_REQUEST", "Registered model alias gold not found."));
            await failure(client().resolve("fraud", { alias: "gold" }), "bad-request");
            answer(/registered-models\/alias/, 409, mlflowError("INVALID_PARAMETER_VALUE", "Registered model alias gold not found."));
            await failure(client().resolve("fraud", { alias: "gold" }), "bad-request");
        });

        it("an unknown version, and a model with no versions", async () => {
            const version = await failure(client().resolve("fraud", { version: "9" }), "unknown-version");
            assert.strictEqual(version.message, message("version 9 does not exist", "mlflow", about("fraud", "version 9"), "Pick a registered version, or select by alias or latest: true."));
            const latest = await failure(client().resolve("empty", { latest: true }), "no-versions");
            assert.strictEqual(latest.message, message("the model has no versions yet", "mlflow", about("empty", "the latest version"), "Register a version first, then run `pulumi up` again."));
            server.addModel("main.risk.empty");
            const uc = await failure(client("unity-catalog").resolve("main.risk.empty", { latest: true }), "no-versions");
            assert.strictEqual(uc.message, message("the model has no versions yet", "unity-catalog", about("main.risk.empty", "the latest version"), "Register a version first, then run `pulumi up` again."));
        });

        it("an empty stage, with and without versions elsewhere", async () => {
            const none = await failure(client().resolve("empty", { stage: "Production" }), "empty-stage");
            assert.strictEqual(
                none.message,
                message('no version of the model is in stage "Production" (it has no versions yet)', "mlflow", about("empty", 'stage "Production"'), "Transition a version to Production in the registry, or pin one with version: <n>."),
            );
            server.addModel("staged", [{ version: 1, stage: "Staging" }]);
            const other = await failure(client().resolve("staged", { stage: "Production" }), "empty-stage");
            assert.ok(other.message.startsWith('no version of the model is in stage "Production". Registry:'), other.message);
        });

        it("Unity Catalog has no stages", async () => {
            const err = await failure(client("unity-catalog").resolve(UC, { stage: "Production" }), "invalid-reference");
            assert.strictEqual(err.message, message("Unity Catalog has no stages", "unity-catalog", about(UC, 'stage "Production"'), "Select by alias, version or latest: true."));
            assert.strictEqual(server.requests.length, 0, "refused before any request");
        });
    });

    describe("latest and stages", () => {
        it("the newest of latest_versions wherever it is listed, with its own aliases only", async () => {
            answer(/registered-models\/get$/, 200, {
                registered_model: {
                    name: "fraud",
                    latest_versions: [
                        { version: "10", status: "READY", current_stage: "Production" },
                        { version: "9", status: "READY", current_stage: "Staging" },
                        { version: "2", status: "READY", current_stage: "None" },
                    ],
                    aliases: [{ alias: "champion", version: "10" }, { alias: "old", version: "9" }, { alias: "n", version: 10 }, { alias: 5, version: "10" }, { alias: "x" }, "junk"],
                },
            });
            const info = await client().resolve("fraud", { latest: true });
            assert.deepStrictEqual([info.version, info.aliases], ["10", ["champion", "n"]]);
        });

        it("a stage match ignores case and versions without a stage", async () => {
            answer(/registered-models\/get$/, 200, {
                registered_model: { name: "fraud", latest_versions: [{ version: "3", status: "READY" }, { version: "2", status: "READY", current_stage: "production" }] },
            });
            assert.strictEqual((await client().resolve("fraud", { stage: "Production" })).version, "2");
        });

        it("latest_versions that is not a list, or a registered_model that is not an object, is a bad response", async () => {
            answer(/registered-models\/get$/, 200, { registered_model: { name: "fraud", latest_versions: { version: "1" } } });
            const err = await failure(client().resolve("fraud", { latest: true }), "bad-response");
            assert.ok(err.message.startsWith('the registry\'s answer is not what MLflow sends: expected "latest_versions" as a list, got '), err.message);
            answer(/registered-models\/get$/, 200, { registered_model: "fraud" });
            await failure(client().resolve("fraud", { latest: true }), "bad-response");
        });

        it("latest passes over newer versions that are not READY, reading every page of search", async () => {
            server.addModel("busy", [{ version: 1 }, ...Array.from({ length: 101 }, (_, i) => ({ version: i + 2, status: "FAILED_REGISTRATION" as const, statusMessage: "no space" }))]);
            const info = await client().resolve("busy", { latest: true });
            assert.strictEqual(info.version, "1");
            const searches = server.requestsTo("/api/2.0/mlflow/model-versions/search");
            assert.strictEqual(searches.length, 2, "two pages");
            assert.strictEqual(searches[0].query.get("filter"), "name='busy'");
            assert.ok(searches[1].query.get("page_token"), "the second page asked with the token");
            assert.strictEqual(progress.length, 1);
            assert.ok(progress[0].startsWith(`registry ${server.url}: latest of busy is version 1, the newest READY one; passed over version 102 (FAILED_REGISTRATION: no space), version 101 (FAILED_REGISTRATION: no space)`), progress[0]);
        });

        it("latest says nothing when the newest is READY, and quotes a name with a quote in the search filter", async () => {
            await client().resolve("fraud", { latest: true });
            assert.deepStrictEqual(progress, []);
            answer(/registered-models\/get$/, 200, { registered_model: { name: "o'brien", latest_versions: [{ version: "2", status: "FAILED_REGISTRATION" }] } });
            answer(/model-versions\/search$/, 200, { model_versions: [{ version: "2", status: "FAILED_REGISTRATION" }, { version: "1", status: "READY" }], next_page_token: "" });
            assert.strictEqual((await client().resolve("o'brien", { latest: true })).version, "1");
            assert.strictEqual(server.requestsTo("/api/2.0/mlflow/model-versions/search")[0].query.get("filter"), "name='o''brien'");
            assert.strictEqual(server.requestsTo("/api/2.0/mlflow/model-versions/search").length, 1, "an empty next_page_token ends the listing");
        });

        it("latest: a search whose first version is READY passes over nothing and says nothing; a token that is not text ends the listing", async () => {
            // latest_versions (a replica behind) still shows version 3 registering; search has it READY.
            answer(/registered-models\/get$/, 200, { registered_model: { name: "fraud", latest_versions: [{ version: "3", status: "PENDING_REGISTRATION" }] } });
            answer(/model-versions\/search$/, 200, { model_versions: [{ version: "3", status: "READY" }], next_page_token: 7 });
            assert.strictEqual((await client().resolve("fraud", { latest: true })).version, "3");
            assert.deepStrictEqual(progress, []);
            assert.strictEqual(server.requestsTo("/api/2.0/mlflow/model-versions/search").length, 1);
            answer(/main.risk.fraud\/versions$/, 200, { model_versions: [{ version: 2, status: "READY" }], next_page_token: 7 });
            assert.strictEqual((await client("unity-catalog").resolve(UC, { latest: true })).version, "2");
            assert.strictEqual(server.requestsTo("/api/2.1/unity-catalog/models/main.risk.fraud/versions").length, 1);
        });

        it("latest with nothing READY: the newest still registering is waited for; otherwise each is named", async () => {
            server.addModel("failing", [{ version: 1, status: "FAILED_REGISTRATION" }, { version: 2, status: "FAILED_REGISTRATION" }]);
            const failed = await failure(client().resolve("failing", { latest: true }), "registration-failed");
            assert.strictEqual(
                failed.message,
                message("no version of the model is READY (2 FAILED_REGISTRATION, 1 FAILED_REGISTRATION)", "mlflow", about("failing", "the latest version"), "Fix the registration (its status message says why), register a new version, or pin one with version: <n>."),
            );
            // latest_versions says a version is registering, search finds none (a lagging replica).
            answer(/registered-models\/get$/, 200, { registered_model: { name: "fraud", latest_versions: [{ version: "5", status: "PENDING_REGISTRATION" }] } });
            answer(/model-versions\/search$/, 200, {});
            const gone = await failure(client().resolve("fraud", { latest: true }), "registration-failed");
            assert.ok(gone.message.startsWith("no version of the model is READY (none found). Registry:"), gone.message);
            answer(/model-versions\/search$/, 200, { model_versions: { version: "1" } });
            answer(/registered-models\/get$/, 200, { registered_model: { name: "fraud", latest_versions: [{ version: "5", status: "PENDING_REGISTRATION" }] } });
            const bad = await failure(client().resolve("fraud", { latest: true }), "bad-response");
            assert.ok(bad.message.startsWith('the registry\'s answer is not what MLflow sends: expected "model_versions" as a list'), bad.message);
        });

        it("Unity Catalog latest: the newest READY across pages, naming only the newer ones passed over", async () => {
            server.addModel("main.risk.busy", [
                { version: 1 },
                { version: 3, status: "FAILED_REGISTRATION" },
                { version: 4 },
                { version: 2, status: "FAILED_REGISTRATION" },
                { version: 5, status: "PENDING_REGISTRATION", readyAfterReads: 99 },
                { version: 6, status: "FAILED_REGISTRATION", statusMessage: "no signature" },
            ]);
            server.ucPageSize = 2;
            const info = await client("unity-catalog").resolve("main.risk.busy", { latest: true });
            assert.strictEqual(info.version, "4");
            assert.deepStrictEqual(progress, [
                `registry ${server.url}: latest of main.risk.busy is version 4, the newest READY one; passed over version 6 (FAILED_REGISTRATION), version 5 (PENDING_REGISTRATION)`,
            ]);
        });

        it("Unity Catalog latest with nothing READY and nothing registering names each version", async () => {
            server.addModel("main.risk.failing", [{ version: 1, status: "FAILED_REGISTRATION" }, { version: 2, status: "FAILED_REGISTRATION" }]);
            const err = await failure(client("unity-catalog").resolve("main.risk.failing", { latest: true }), "registration-failed");
            assert.strictEqual(
                err.message,
                message("no version of the model is READY (1 FAILED_REGISTRATION, 2 FAILED_REGISTRATION)", "unity-catalog", about("main.risk.failing", "the latest version"), "Fix the registration (its status message says why), register a new version, or pin one with version: <n>."),
            );
        });

        it("Unity Catalog latest: model_versions that is not a list; a version gone between list and read", async () => {
            answer(/fraud\/versions$/, 200, { model_versions: {} });
            const bad = await failure(client("unity-catalog").resolve(UC, { latest: true }), "bad-response");
            assert.ok(bad.message.startsWith('the registry\'s answer is not what MLflow sends: expected "model_versions" as a list'), bad.message);
            answer(/fraud\/versions\/2$/, 404, mlflowError("RESOURCE_DOES_NOT_EXIST", "Model version 2 does not exist."));
            const gone = await failure(client("unity-catalog").resolve(UC, { latest: true }), "unknown-version");
            assert.strictEqual(gone.message, message("version 2 disappeared while it was being read", "unity-catalog", about(UC, "the latest version"), "Run `pulumi up` again."));
        });
    });

    describe("waiting for a registration", () => {
        it("polls with doubling delays and gives up naming the time waited", async () => {
            server.addModel("slow", [{ version: 1, status: "PENDING_REGISTRATION", readyAfterReads: 99 }]);
            const err = await failure(client("mlflow", { pending: { timeoutMs: 5000, initialDelayMs: 1000, maxDelayMs: 3000 } }).resolve("slow", { version: "1" }), "registration-timeout");
            assert.deepStrictEqual(sleeps, [1000, 2000, 3000]);
            assert.strictEqual(
                err.message,
                message("version 1 was still PENDING_REGISTRATION after 6 s of waiting", "mlflow", about("slow", "version 1"), "Check the registration job in the workspace, then run `pulumi up` again, or pin an older READY version."),
            );
            assert.deepStrictEqual(progress.slice(0, 2), ["model slow version 1 is PENDING_REGISTRATION; checking again in 1 s", "model slow version 1 is PENDING_REGISTRATION; checking again in 2 s"]);
        });

        it("a version deleted while it registers; a failed one with and without a status message", async () => {
            server.addModel("slow", [{ version: 1, status: "PENDING_REGISTRATION", readyAfterReads: 99 }]);
            answer(/model-versions\/get$/, 200, { model_version: { name: "slow", version: "1", status: "PENDING_REGISTRATION" } });
            answer(/model-versions\/get$/, 404, mlflowError("RESOURCE_DOES_NOT_EXIST", "Model Version (name=slow, version=1) not found"));
            const gone = await failure(client().resolve("slow", { version: "1" }), "unknown-version");
            assert.strictEqual(gone.message, message("version 1 disappeared while it was being registered", "mlflow", about("slow", "version 1"), "Check the registry, then run `pulumi up` again."));
            server.addModel("broken", [{ version: 1, status: "FAILED_REGISTRATION", statusMessage: "disk full" }, { version: 2, status: "FAILED_REGISTRATION" }]);
            const withReason = await failure(client().resolve("broken", { version: "1" }), "registration-failed");
            assert.strictEqual(withReason.message, message("version 1 failed to register: disk full", "mlflow", about("broken", "version 1"), "Register the model again, or select another version."));
            const without = await failure(client().resolve("broken", { version: "2" }), "registration-failed");
            assert.ok(without.message.startsWith("version 2 failed to register. Registry:"), without.message);
        });
    });

    describe("answers that are not what they should be", () => {
        it("bodies: an empty JSON body is {}, invalid JSON and text are bad responses", async () => {
            answer(/registered-models\/alias/, 200, "");
            const empty = await failure(client().resolve("fraud", { alias: "champion" }), "bad-response");
            assert.ok(empty.message.startsWith('the registry\'s answer is not what MLflow sends: expected a JSON object with "model_version", got {}.'), empty.message);
            answer(/registered-models\/alias/, 200, "{not json");
            const invalid = await failure(client().resolve("fraud", { alias: "champion" }), "bad-response");
            assert.ok(invalid.message.startsWith("the registry's answer is not what MLflow sends: expected valid JSON, got {not json."), invalid.message);
            assert.strictEqual(invalid.status, 200);
            answer(/registered-models\/alias/, 200, "<p>hello</p>", { contentType: HTML_TYPE });
            const text = await failure(client().resolve("fraud", { alias: "champion" }), "bad-response");
            assert.ok(text.message.startsWith("the registry's answer is not what MLflow sends: expected a JSON object, got hello."), text.message);
        });

        it("only 2xx is an answer: 300 and 418 are not", async () => {
            answer(/registered-models\/alias/, 300, mlflowError("MULTIPLE", "choose"));
            const multiple = await failure(client().resolve("fraud", { alias: "champion" }), "bad-request");
            assert.strictEqual(multiple.message, message("the registry answered HTTP 300 MULTIPLE: choose", "mlflow", about("fraud", 'alias "champion"'), "Check the model name and selector."));
            answer(/registered-models\/alias/, 418, "<h1>I'm a   teapot</h1>", { contentType: HTML_TYPE });
            const teapot = await failure(client().resolve("fraud", { alias: "champion" }), "bad-response");
            assert.strictEqual(teapot.message, message("the registry answered HTTP 418 with a non-JSON body: I'm a teapot", "mlflow", about("fraud", 'alias "champion"'), "Check that the registry URL is the MLflow or Databricks workspace host."));
            answer(/registered-models\/alias/, 418, "", { contentType: HTML_TYPE });
            assert.ok((await failure(client().resolve("fraud", { alias: "champion" }), "bad-response")).message.startsWith("the registry answered HTTP 418 with a non-JSON body: (empty). Registry:"));
            answer(/registered-models\/alias/, 400, { error_code: "X", message: "two  spaces\nand a line" });
            assert.ok((await failure(client().resolve("fraud", { alias: "champion" }), "bad-request")).message.startsWith("the registry answered HTTP 400 X: two spaces and a line. Registry:"));
            answer(/registered-models\/alias/, 400, { detail: "no code" });
            assert.ok((await failure(client().resolve("fraud", { alias: "champion" }), "bad-request")).message.startsWith('the registry answered HTTP 400 : {"detail":"no code"}. Registry:'));
        });

        it("401 and 403 name what was sent and what to set, per registry", async () => {
            const token = bearerToken("dapi-abcdefghijklmnop", "DATABRICKS_TOKEN");
            answer(/registered-models\/alias/, 401, "You are not authenticated.", { contentType: "text/plain" });
            const mlflow = await failure(client().resolve("fraud", { alias: "champion" }), "unauthenticated");
            assert.strictEqual(
                mlflow.message,
                message(
                    "the registry refused the request as unauthenticated (HTTP 401: You are not authenticated.); sent no credential",
                    "mlflow",
                    about("fraud", 'alias "champion"'),
                    "Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN, or the secret config mlflow-platform:registryToken.",
                ),
            );
            answer(/registered-models\/get$/, 401, "", { contentType: HTML_TYPE });
            const databricks = await failure(client("databricks", { credential: token }).resolve("fraud", { stage: "Production" }), "unauthenticated");
            assert.strictEqual(
                databricks.message,
                message(
                    "the registry refused the request as unauthenticated (HTTP 401); sent the credential from DATABRICKS_TOKEN",
                    "databricks",
                    about("fraud", 'stage "Production"'),
                    "Set DATABRICKS_TOKEN, or the secret config mlflow-platform:registryToken, or sign in with `az login` for a Microsoft Entra token.",
                ),
            );
            answer(/aliases\/champion$/, 403, mlflowError("PERMISSION_DENIED", "User does not have EXECUTE on main.risk.fraud"));
            const forbidden = await failure(client("unity-catalog", { credential: token }).resolve(UC, { alias: "champion" }), "forbidden");
            assert.strictEqual(
                forbidden.message,
                message(
                    'the registry refused access (HTTP 403: PERMISSION_DENIED User does not have EXECUTE on main.risk.fraud); sent the credential from DATABRICKS_TOKEN',
                    "unity-catalog",
                    about(UC, 'alias "champion"'),
                    "Grant this identity read access to the model (CAN_READ, or USE/EXECUTE in Unity Catalog).",
                ),
            );
            answer(/registered-models\/alias/, 403, "", { contentType: HTML_TYPE });
            assert.ok((await failure(client().resolve("fraud", { alias: "champion" }), "forbidden")).message.startsWith("the registry refused access (HTTP 403); sent no credential."));
        });

        it("a secret cut by an excerpt's shortening is redacted before the cut", async () => {
            const secret = "zq-0123456789abcdef";
            const credential = bearerToken(secret, "DATABRICKS_TOKEN");
            // The secret starts two characters before each excerpt's cut (40 for HTML 404s, 160 for
            // 401/403, 80 otherwise): redacted first, the cut leaves "**" of its "***", not "zq".
            const around = (cut: number) => `${"x".repeat(cut - 2)}${secret} tail`;
            const cases: [number, number, RegistryError["kind"]][] = [
                [404, 40, "not-a-registry"],
                [401, 160, "unauthenticated"],
                [403, 160, "forbidden"],
                [418, 80, "bad-response"],
            ];
            for (const [status, cut, kind] of cases) {
                answer(/registered-models\/get$/, status, around(cut), { contentType: HTML_TYPE });
                const err = await failure(client("databricks", { credential }).resolve("fraud", { stage: "Production" }), kind);
                assert.ok(!err.message.includes("zq"), `${status}: ${err.message}`);
                assert.ok(err.message.includes(`${"x".repeat(cut - 2)}**…`), `${status}: redacted before the cut: ${err.message}`);
            }
            answer(/registered-models\/get$/, 200, `{"registered_model": "${"x".repeat(57)}${secret}"}`);
            const bad = await failure(client("databricks", { credential }).resolve("fraud", { stage: "Production" }), "bad-response");
            assert.ok(!bad.message.includes("zq") && bad.message.includes("x**…"), `the bad-response excerpt too: ${bad.message}`);
        });

        it("404s: HTML, ENDPOINT_NOT_FOUND or no error code mean no registry there, with advice per registry", async () => {
            const advice: Record<RegistryKind, string> = {
                "unity-catalog":
                    "The Unity Catalog routes (/api/2.1/unity-catalog/...) are missing: a self-hosted MLflow server has none (use registry kind mlflow), otherwise give the Databricks workspace URL (https://adb-….azuredatabricks.net).",
                mlflow: "Give the MLflow server's base URL (with its path prefix only if it serves under one, as with mlflow server --static-prefix), not a scoring endpoint or another server.",
                databricks: "Give the Databricks workspace URL with no path (https://adb-….azuredatabricks.net), not a scoring endpoint or another server.",
            };
            for (const kind of ["mlflow", "databricks", "unity-catalog"] as RegistryKind[]) {
                const model = kind === "unity-catalog" ? UC : "fraud";
                const route = kind === "unity-catalog" ? "/api/2.1/unity-catalog/models/main.risk.fraud/versions/1" : "/api/2.0/mlflow/model-versions/get";
                answer(/versions?\/(get|1)$/, 404, HTML_404, { contentType: HTML_TYPE });
                const html = await failure(client(kind).getVersion(model, "1"), "not-a-registry");
                assert.strictEqual(
                    html.message,
                    message(`this is not an MLflow registry at ${server.url}: ${route} answered HTTP 404 with an HTML page ("404 Not Found Not Found The requested UR…"), which means the route does not exist there, not that the model is missing`, kind, about(model, "version 1"), advice[kind]),
                );
            }
            answer(/model-versions\/get$/, 404, mlflowError("ENDPOINT_NOT_FOUND", "No API found"));
            assert.ok((await failure(client().getVersion("fraud", "1"), "not-a-registry")).message.includes("answered HTTP 404 with ENDPOINT_NOT_FOUND, which means"));
            answer(/model-versions\/get$/, 404, { message: "gone" });
            assert.ok((await failure(client().getVersion("fraud", "1"), "not-a-registry")).message.includes("answered HTTP 404 with a JSON body without error_code, which means"));
            answer(/model-versions\/get$/, 404, "", { contentType: HTML_TYPE });
            assert.ok((await failure(client().getVersion("fraud", "1"), "not-a-registry")).message.includes('with an HTML page ("(empty)")'));
            answer(/model-versions\/get$/, 404, mlflowError("FEATURE_DISABLED", "the registry is off"));
            const other = await failure(client().getVersion("fraud", "1"), "bad-request");
            assert.ok(other.message.startsWith("the registry answered HTTP 404 FEATURE_DISABLED: the registry is off."), other.message);
        });

        it("a missing catalog, schema or metastore means 'not registered' only in Unity Catalog", async () => {
            for (const code of ["CATALOG_DOES_NOT_EXIST", "SCHEMA_DOES_NOT_EXIST", "METASTORE_DOES_NOT_EXIST"]) {
                answer(/main.risk.fraud$/, 404, mlflowError(code, "nope"));
                assert.strictEqual(await client("unity-catalog").modelExists(UC), false, code);
                answer(/registered-models\/get$/, 404, mlflowError(code, "nope"));
                await failure(client("databricks").modelExists("fraud"), "bad-request");
            }
            for (const code of ["RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"]) {
                answer(/registered-models\/get$/, 404, mlflowError(code, "nope"));
                assert.strictEqual(await client().modelExists("fraud"), false, code);
            }
            answer(/registered-models\/get$/, 400, mlflowError("RESOURCE_DOES_NOT_EXIST", "nope"));
            await failure(client().modelExists("fraud"), "bad-request");
            assert.strictEqual(await client().modelExists("fraud"), true);
        });
    });

    describe("odd answers: each read as what it says, never guessed", () => {
        it("a JSON null where an object belongs, and an empty text body", async () => {
            answer(/registered-models\/alias/, 200, "null");
            const nothing = await failure(client().resolve("fraud", { alias: "champion" }), "bad-response");
            assert.ok(nothing.message.startsWith("the registry's answer is not what MLflow sends: expected a JSON object, got null. Registry:"), nothing.message);
            answer(/registered-models\/alias/, 200, "", { contentType: "text/plain" });
            const empty = await failure(client().resolve("fraud", { alias: "champion" }), "bad-response");
            assert.ok(empty.message.startsWith("the registry's answer is not what MLflow sends: expected a JSON object, got (empty). Registry:"), empty.message);
        });

        it("an error_code that is not text is no code", async () => {
            answer(/registered-models\/alias/, 400, { error_code: 42, message: "odd" });
            const err = await failure(client().resolve("fraud", { alias: "champion" }), "bad-request");
            assert.strictEqual(err.message, message("the registry answered HTTP 400 : odd", "mlflow", about("fraud", 'alias "champion"'), "Check the model name and selector."));
        });

        it("a refusal's words: its message alone without a code, the body without a message, a JSON null", async () => {
            const refused = async (body: string) => {
                answer(/registered-models\/alias/, 403, body);
                const err = await failure(client().resolve("fraud", { alias: "champion" }), "forbidden");
                return err.message.slice(0, err.message.indexOf("; sent"));
            };
            assert.strictEqual(await refused(json({ message: "Permission denied" })), "the registry refused access (HTTP 403: Permission denied)");
            assert.strictEqual(await refused(json({ error_code: "PERMISSION_DENIED" })), 'the registry refused access (HTTP 403: {"error_code":"PERMISSION_DENIED"})');
            assert.strictEqual(await refused("null"), "the registry refused access (HTTP 403: null)");
        });

        it("a final 5xx with an empty body is named in one clean line", async () => {
            for (let i = 0; i < 3; i++) answer(/registered-models\/alias/, 503, "", { contentType: "text/plain" });
            const err = await failure(client().resolve("fraud", { alias: "champion" }), "unavailable");
            assert.ok(err.message.startsWith("the registry answered HTTP 503 (gave up after 3 attempts). Registry:"), err.message);
        });

        it("a failure about a model alone (no selector) names the model", async () => {
            answer(/registered-models\/get$/, 403, mlflowError("PERMISSION_DENIED", "no"));
            const err = await failure(client().modelExists("fraud"), "forbidden");
            assert.strictEqual(
                err.message,
                message("the registry refused access (HTTP 403: PERMISSION_DENIED no); sent no credential", "mlflow", about("fraud"), "Grant this identity read access to the model (CAN_READ, or USE/EXECUTE in Unity Catalog)."),
            );
        });

        it("an unknown alias names only well-formed aliases of the model (MLflow's and Unity Catalog's shapes)", async () => {
            answer(/registered-models\/alias/, 400, mlflowError("INVALID_PARAMETER_VALUE", "Registered model alias gold not found."));
            answer(/registered-models\/get$/, 200, { registered_model: { name: "fraud", aliases: [null, "x", { alias: "noversion" }, { version: "1" }, { alias: "champion", version: "2" }, { alias_name: "uc", version_num: 3 }] } });
            const err = await failure(client().resolve("fraud", { alias: "gold" }), "unknown-alias");
            assert.ok(err.message.includes(". Aliases on this model: champion -> 2, uc -> 3. Set it with"), err.message);
            answer(/registered-models\/alias/, 400, mlflowError("INVALID_PARAMETER_VALUE", "Registered model alias gold not found."));
            answer(/registered-models\/get$/, 200, { registered_model: { name: "fraud", aliases: {} } });
            const none = await failure(client().resolve("fraud", { alias: "gold" }), "unknown-alias");
            assert.ok(none.message.includes(". This model has no aliases yet. Set it with"), none.message);
        });

        it("latest on MLflow: a page token that is not text ends the listing also when nothing on the page is READY", async () => {
            answer(/registered-models\/get$/, 200, { registered_model: { name: "fraud", latest_versions: [{ version: "5", status: "FAILED_REGISTRATION" }] } });
            answer(/model-versions\/search$/, 200, { model_versions: [{ version: "5", status: "FAILED_REGISTRATION" }], next_page_token: 7 });
            const err = await failure(client().resolve("fraud", { latest: true }), "registration-failed");
            assert.ok(err.message.startsWith("no version of the model is READY (5 FAILED_REGISTRATION). Registry:"), err.message);
            assert.strictEqual(server.requestsTo("/api/2.0/mlflow/model-versions/search").length, 1);
        });

        it("Unity Catalog latest: a list without model_versions is a model with no versions", async () => {
            answer(/main.risk.fraud\/versions$/, 200, {});
            const err = await failure(client("unity-catalog").resolve(UC, { latest: true }), "no-versions");
            assert.strictEqual(err.message, message("the model has no versions yet", "unity-catalog", about(UC, "the latest version"), "Register a version first, then run `pulumi up` again."));
        });

        it("Unity Catalog latest with nothing READY: the newest registering is chosen and not reported as passed over", async () => {
            server.addModel("main.risk.first", [{ version: 1, status: "FAILED_REGISTRATION" }, { version: 2, status: "PENDING_REGISTRATION", readyAfterReads: 1 }]);
            const info = await client("unity-catalog").resolve("main.risk.first", { latest: true });
            assert.deepStrictEqual([info.version, info.status], ["2", "READY"]);
            assert.ok(!progress.some((m) => m.includes("passed over")), progress.join("\n"));
        });
    });

    describe("retries and transport failures", () => {
        it("Retry-After: seconds, an HTTP date, junk, and the cap", async () => {
            const cases: [string, (ms: number) => boolean][] = [
                ["12", (ms) => ms === 12000],
                ["120", (ms) => ms === 30000],
                ["3abc", (ms) => ms === 250], // not a number or a date: the backoff (random 0.5 x 500 ms)
                ["", (ms) => ms === 250],
                ["abc3", (ms) => ms === 250],
                [new Date(Date.now() + 20_000).toUTCString(), (ms) => ms > 15_000 && ms <= 20_000],
                ["Wed, 21 Oct 2015 07:28:00 GMT", (ms) => ms === 0],
            ];
            for (const [header, ok] of cases) {
                sleeps = [];
                answer(/registered-models\/alias/, 429, mlflowError("REQUEST_LIMIT_EXCEEDED", "slow down"), { retryAfter: header || undefined });
                await client("mlflow", { retry: { maxAttempts: 3, baseDelayMs: 500 } }).resolve("fraud", { alias: "champion" });
                assert.strictEqual(sleeps.length, 1);
                assert.ok(ok(sleeps[0]), `Retry-After ${JSON.stringify(header)}: slept ${sleeps[0]} ms`);
            }
        });

        it("a final 5xx or 429 names the status, code and message in one line", async () => {
            for (let i = 0; i < 3; i++) answer(/registered-models\/alias/, 503, { message: "down   for\nmaintenance" });
            const down = await failure(client().resolve("fraud", { alias: "champion" }), "unavailable");
            assert.strictEqual(down.message, message("the registry answered HTTP 503 down for maintenance (gave up after 3 attempts)", "mlflow", about("fraud", 'alias "champion"'), "The registry is failing: check its health, then try again."));
            assert.strictEqual(down.status, 503);
            for (let i = 0; i < 3; i++) answer(/registered-models\/alias/, 429, mlflowError("REQUEST_LIMIT_EXCEEDED", "slow down"));
            const limited = await failure(client().resolve("fraud", { alias: "champion" }), "rate-limited");
            assert.ok(limited.message.startsWith("the registry answered HTTP 429 REQUEST_LIMIT_EXCEEDED slow down (gave up after 3 attempts). Registry:"), limited.message);
            assert.ok(limited.message.endsWith("The registry is throttling requests: wait a minute and try again."));
        });

        it("a credential that cannot give a token is unauthenticated, its message without trailing dots", async () => {
            const broken: Credential = {
                source: "az login",
                authorization: async () => {
                    throw new Error("Please run 'az login' to set up an account...");
                },
                secrets: () => [],
            };
            const err = await failure(client("databricks", { credential: broken }).resolve("fraud", { stage: "Production" }), "unauthenticated");
            assert.strictEqual(err.message, `Please run 'az login' to set up an account. Registry: ${server.url} (databricks), model: fraud, selector: stage "Production".`);
            assert.strictEqual(server.requests.length, 0);
        });

        describe("network errors (scripted in axios's adapter: a real socket cannot fail with each code on demand)", () => {
            let original: typeof axios.defaults.adapter;
            let script: (() => never)[];
            beforeEach(() => {
                original = axios.defaults.adapter;
                script = [];
                const adapter: AxiosAdapter = async (config) => {
                    const next = script.shift();
                    if (next) next();
                    return { data: json({ model_version: { name: "fraud", version: "2", status: "READY" } }), status: 200, statusText: "OK", headers: { "content-type": "application/json" }, config };
                };
                // axios.create copies the defaults, so clients made from here on use the script.
                axios.defaults.adapter = adapter;
            });
            afterEach(() => {
                axios.defaults.adapter = original;
            });
            const code = (c: string | undefined, cause?: string) => () => {
                const err = new AxiosError(`failed with ${c}`, c);
                if (cause) (err as AxiosError & { cause: unknown }).cause = Object.assign(new Error("inner"), { code: cause });
                throw err;
            };

            it("ECONNRESET, EPIPE, EAI_AGAIN and a refused connection are retried; the last one is reported with the count", async () => {
                for (const c of ["ECONNRESET", "EPIPE", "EAI_AGAIN"]) {
                    script = [code(c), code(c), code(c)];
                    sleeps = [];
                    const err = await failure(client().resolve("fraud", { version: "2" }), "connection");
                    assert.strictEqual(sleeps.length, 2, c);
                    assert.strictEqual(err.message, message(`the connection to the registry failed (${c}) (gave up after 3 attempts)`, "mlflow", about("fraud", "version 2"), "Check the registry URL and network, then try again."));
                    assert.ok(progress.at(-1)!.endsWith(`the connection to the registry failed (${c}); retry 2/2 in 500 ms`), progress.at(-1));
                }
                script = [code("ECONNREFUSED"), code("ECONNREFUSED"), code("ECONNREFUSED")];
                const refused = await failure(client().resolve("fraud", { version: "2" }), "connection");
                assert.strictEqual(refused.message, message("the connection to the registry was refused (gave up after 3 attempts)", "mlflow", about("fraud", "version 2"), "Check the registry URL and that the server is running."));
                script = [code("ECONNRESET")];
                assert.strictEqual((await client().resolve("fraud", { version: "2" })).version, "2", "a retry that succeeds");
            });

            it("a timeout says how long it waited; the code may sit in the error's cause", async () => {
                for (const c of ["ECONNABORTED", "ETIMEDOUT"]) {
                    script = [code(c), code(c), code(c)];
                    const err = await failure(client().resolve("fraud", { version: "2" }), "timeout");
                    assert.strictEqual(err.message, message("the registry did not answer within 2000 ms (gave up after 3 attempts)", "mlflow", about("fraud", "version 2"), "Check the registry host and network path, then try again."));
                }
                script = [code(undefined, "ECONNRESET"), code(undefined, "ECONNRESET"), code(undefined, "ECONNRESET")];
                assert.ok((await failure(client().resolve("fraud", { version: "2" }), "connection")).message.startsWith("the connection to the registry failed (ECONNRESET) (gave up after 3 attempts)."));
            });

            it("a host that does not resolve, an unknown code and a non-network error are not retried", async () => {
                script = [code("ENOTFOUND")];
                const dns = await failure(client().resolve("fraud", { version: "2" }), "connection");
                assert.strictEqual(dns.message, message("the registry host name does not resolve", "mlflow", about("fraud", "version 2"), "Check the registry URL."));
                script = [code("EHOSTUNREACH")];
                const unknown = await failure(client().resolve("fraud", { version: "2" }), "connection");
                assert.strictEqual(unknown.message, message("the connection to the registry failed (EHOSTUNREACH)", "mlflow", about("fraud", "version 2"), "Check the registry URL and network, then try again."));
                script = [
                    () => {
                        throw new TypeError("socket is not a function");
                    },
                ];
                assert.ok((await failure(client().resolve("fraud", { version: "2" }), "connection")).message.startsWith("the connection to the registry failed (socket is not a function). Registry:"));
                script = [code(undefined)];
                assert.ok((await failure(client().resolve("fraud", { version: "2" }), "connection")).message.startsWith("the connection to the registry failed (failed with undefined). Registry:"));
                assert.deepStrictEqual(sleeps, [], "no retries");
            });
        });
    });
});
