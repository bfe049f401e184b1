// `npm run promote`: the copy from the dev schema into the deployers' prd schema and the alias move,
// against an in-process fake of the documented Unity Catalog routes and the storage API.
import * as assert from "assert";
import { promote, PromoteError, parseStorageLocation } from "../lib/registry/promote";
import { bearerToken } from "../lib/registry/credentials";
import { parseFlags } from "../scripts/promote";
import { runScript } from "./helpers/cli";
import { FakeUnityCatalog, SIGNED_MLMODEL } from "./helpers/fakeUnityCatalog";

const DEPLOYER_TOKEN = "fake-token-for-tests-deployer";
const SCIENTIST_TOKEN = "fake-token-for-tests-scientist";
const FILES = { MLmodel: SIGNED_MLMODEL, "requirements.txt": "mlflow==2.11.3\n", "model.pkl": "\u0000binary\u0001" };

describe("promote", () => {
    let uc: FakeUnityCatalog;
    let url: string;
    beforeEach(async () => {
        uc = new FakeUnityCatalog();
        url = await uc.start();
        uc.tokens = { [DEPLOYER_TOKEN]: "ml-deployers", [SCIENTIST_TOKEN]: "ml-data-scientists" };
        uc.privileges = { "mlplatform.prd": { createModel: [], manage: ["ml-deployers"] }, "mlplatform.dev": { createModel: ["ml-data-scientists"], manage: ["ml-data-scientists"] } };
        uc.addModel("mlplatform.dev.fraud", "ml-data-scientists", { 6: FILES, 7: { ...FILES, "model.pkl": "v7" } });
    });
    afterEach(() => uc.stop());

    const run = (token: string, request: Partial<Parameters<typeof promote>[0]> = {}, log: string[] = []) =>
        promote(
            { source: "mlplatform.dev.fraud", version: "7", target: "mlplatform.prd.fraud", alias: "champion", ...request },
            { host: url, credential: bearerToken(token, "test"), storageEndpoint: uc.storageEndpoint, sleep: async () => undefined, log: (l) => log.push(l) },
        );

    it("copies the version's files into a new prd version, finalizes it and moves the alias, saying each step", async () => {
        const log: string[] = [];
        const result = await run(DEPLOYER_TOKEN, {}, log);
        const bytes = Object.values({ ...FILES, "model.pkl": "v7" }).reduce((n, text) => n + Buffer.byteLength(text), 0);
        assert.deepStrictEqual(result, { source: "mlplatform.dev.fraud", sourceVersion: "7", target: "mlplatform.prd.fraud", targetVersion: "1", alias: "champion", files: 3, bytes });
        const prd = uc.model("mlplatform.prd.fraud")!;
        assert.strictEqual(prd.owner, "ml-deployers", "the deployer created it");
        assert.strictEqual(prd.versions.get(1)!.status, "READY");
        assert.strictEqual(prd.versions.get(1)!.source, "models:/mlplatform.dev.fraud/7");
        assert.strictEqual(prd.versions.get(1)!.runId, "run-7");
        assert.deepStrictEqual(uc.filesOf(prd.versions.get(1)!.storageLocation), { ...FILES, "model.pkl": "v7" });
        assert.strictEqual(prd.aliases.get("champion"), 1);
        assert.deepStrictEqual(
            uc.calls.map((c) => `${c.method} ${c.path.replace("/api/2.0/mlflow/unity-catalog/", "")}`),
            [
                "GET model-versions/get",
                "POST registered-models/create",
                "GET model-versions/search",
                "POST model-versions/create",
                "POST model-versions/generate-temporary-credentials",
                "POST model-versions/generate-temporary-credentials",
                "POST model-versions/finalize",
                "POST registered-models/alias",
            ],
        );
        assert.deepStrictEqual(log, [
            "created registered model mlplatform.prd.fraud",
            "created version 1 of mlplatform.prd.fraud from models:/mlplatform.dev.fraud/7 (PENDING_REGISTRATION until its files are copied)",
            `copied 3 file(s), ${bytes} bytes, to abfss://models@mlplatdevmodels.dfs.core.windows.net/unity-catalog-prd/models/mlplatform.prd.fraud/versions/1`,
            "version 1 of mlplatform.prd.fraud is READY",
            "alias champion of mlplatform.prd.fraud now points at version 1: the next pulumi up on prd serves it",
        ]);
        // A second promotion adds a version to the existing model.
        const again = await run(DEPLOYER_TOKEN, { version: "6" });
        assert.strictEqual(again.targetVersion, "2");
        assert.strictEqual(prd.aliases.get("champion"), 2);
    });

    it("a data scientist cannot promote: the prd schema refuses, and the error says only deployers can", async () => {
        await assert.rejects(run(SCIENTIST_TOKEN), (err: Error) => {
            assert.ok(err instanceof PromoteError);
            assert.match(err.message, /^cannot create mlplatform\.prd\.fraud: permission denied \(User does not have CREATE MODEL on Schema 'mlplatform\.prd'\.\)\. Promoting needs .* only deployers hold them$/);
            return true;
        });
        // Even on an existing prd model, the alias is the owner's.
        await run(DEPLOYER_TOKEN);
        uc.privileges["mlplatform.prd"].createModel.push("ml-data-scientists");
        await assert.rejects(run(SCIENTIST_TOKEN), /cannot set alias champion of mlplatform\.prd\.fraud: permission denied \(User does not have MANAGE on Registered model 'mlplatform\.prd\.fraud'\.\)/);
        assert.strictEqual(uc.model("mlplatform.prd.fraud")!.aliases.get("champion"), 1, "prd still serves the deployer's version");
    });

    it("names a version that does not exist, or that is not READY, and changes nothing", async () => {
        await assert.rejects(run(DEPLOYER_TOKEN, { version: "9" }), /^PromoteError: mlplatform\.dev\.fraud has no version 9 \(RESOURCE_DOES_NOT_EXIST\)/);
        uc.addModel("mlplatform.dev.churn", "ml-data-scientists", { 1: FILES }, "PENDING_REGISTRATION");
        await assert.rejects(run(DEPLOYER_TOKEN, { source: "mlplatform.dev.churn", version: "1" }), /version 1 of mlplatform\.dev\.churn is PENDING_REGISTRATION: only a READY version can be promoted/);
        assert.strictEqual(uc.model("mlplatform.prd.fraud"), undefined);
    });

    it("says when the host is not a Unity Catalog registry, or refuses the credential, without repeating it", async () => {
        const other = new FakeUnityCatalog();
        const otherUrl = await other.start();
        try {
            await assert.rejects(
                promote({ source: "a.dev.m", version: "1", target: "a.prd.m", alias: "champion" }, { host: `${otherUrl}/not-here`, credential: bearerToken(DEPLOYER_TOKEN, "DATABRICKS_TOKEN") }),
                /cannot read version 1 of a\.dev\.m: .* answered HTTP 404 without an MLflow error \(is it a Databricks workspace with Unity Catalog\?/,
            );
        } finally {
            await other.stop();
        }
        await assert.rejects(run("fake-token-for-tests-unknown"), (err: Error) => {
            assert.match(err.message, /refused the credential from test \(HTTP 401\)/);
            assert.ok(!err.message.includes("fake-token-for-tests-unknown"));
            return true;
        });
    });

    it("refuses storage it cannot copy, by its location", () => {
        assert.deepStrictEqual(parseStorageLocation("abfss://models@acct.dfs.core.windows.net/unity-catalog/x/"), { container: "models", account: "acct", path: "unity-catalog/x" });
        assert.throws(() => parseStorageLocation("s3://bucket/x"), /only Azure Data Lake Storage \(abfss:\/\/\) locations are supported/);
    });

    describe("flags", () => {
        const env = { DATABRICKS_HOST: "https://adb-1.2.azuredatabricks.net" };
        it("defaults the target to the prd stack's schema and alias", () => {
            assert.deepStrictEqual(parseFlags(["--model", "mlplatform.dev.fraud", "--version", "7"], env), {
                source: "mlplatform.dev.fraud",
                version: "7",
                target: "mlplatform.prd.fraud",
                alias: "champion",
                host: "https://adb-1.2.azuredatabricks.net",
            });
        });
        const bad: [string[], NodeJS.ProcessEnv, RegExp][] = [
            [["--version", "7"], env, /^--model is required/],
            [["--model", "fraud", "--version", "7"], env, /^--model "fraud": "fraud" is not a Unity Catalog model name: use three parts/],
            [["--model", "mlplatform.dev.fraud"], env, /^--version is required/],
            [["--model", "mlplatform.dev.fraud", "--version", "v7"], env, /^--version "v7" is not a version number/],
            [["--model", "mlplatform.prd.fraud", "--version", "7"], env, /is in the same schema as --model mlplatform\.prd\.fraud: promotion copies from the dev schema into the prd schema/],
            [["--model", "mlplatform.dev.fraud", "--version", "7", "--alias", "latest"], env, /^--alias "latest" is not allowed/],
            [["--model", "mlplatform.dev.fraud", "--version", "7"], {}, /^no workspace: set DATABRICKS_HOST or --host/],
            [["--model", "mlplatform.dev.fraud", "--version", "7", "--host", "adb-1.azuredatabricks.net"], {}, /is not a URL: write it in full/],
            [["--model", "mlplatform.dev.fraud", "--version", "7", "--force"], env, /Unknown option '--force'/],
        ];
        for (const [argv, e, expected] of bad) {
            it(`refuses ${argv.join(" ") || "no flags"}${e.DATABRICKS_HOST ? "" : " without a host"}`, () => {
                assert.throws(() => parseFlags(argv, e), (err: Error) => expected.test(err.message));
            });
        }

        it("the command exits 2 with the usage on a bad flag, and 1 with the registry's reason, never a stack trace", async function () {
            this.timeout(30_000);
            const bad = await runScript("scripts/promote.ts", ["--model", "fraud", "--version", "7"]);
            assert.strictEqual(bad.code, 2);
            assert.match(bad.stderr, /^promote: --model "fraud"/);
            assert.match(bad.stderr, /usage: npm run promote -- --model/);
            const denied = await runScript("scripts/promote.ts", ["--model", "mlplatform.dev.fraud", "--version", "7", "--host", url, "--audit-store", "print"], { env: { ...process.env, DATABRICKS_TOKEN: SCIENTIST_TOKEN } });
            assert.strictEqual(denied.code, 1);
            assert.match(denied.stdout, /^promote: mlplatform\.dev\.fraud version 7 -> mlplatform\.prd\.fraud \(alias champion\) at http:\/\/127\.0\.0\.1:\d+, as DATABRICKS_TOKEN/);
            assert.match(denied.stderr, /^promote: cannot create mlplatform\.prd\.fraud: permission denied/);
            assert.doesNotMatch(denied.stdout + denied.stderr, /\n\s+at |fake-token-for-tests/);
        });
    });
});
