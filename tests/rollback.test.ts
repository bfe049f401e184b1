// `npm run rollback`: prd's alias goes back to a version the prd model already has, with no copy and
// no new version, against the in-process fake of the documented Unity Catalog routes; and
// promotion streams large files instead of holding them whole.
import * as assert from "assert";
import { bearerToken } from "../lib/registry/credentials";
import { promote, PromoteError } from "../lib/registry/promote";
import { rollback } from "../lib/registry/rollback";
import { parseRollbackFlags } from "../scripts/rollback";
import { runScript } from "./helpers/cli";
import { FakeUnityCatalog, SIGNED_MLMODEL } from "./helpers/fakeUnityCatalog";

const DEPLOYER = "fake-token-for-tests-deployer";
const SCIENTIST = "fake-token-for-tests-scientist";
const FILES = { MLmodel: SIGNED_MLMODEL, "requirements.txt": "mlflow==3.17.2\n", "model.pkl": "weights" };

describe("rollback", () => {
    let uc: FakeUnityCatalog;
    let url: string;
    beforeEach(async () => {
        uc = new FakeUnityCatalog();
        url = await uc.start();
        uc.tokens = { [DEPLOYER]: "ml-deployers", [SCIENTIST]: "ml-data-scientists" };
        uc.privileges = { "mlplatform.prd": { createModel: [], manage: ["ml-deployers"] }, "mlplatform.dev": { createModel: ["ml-data-scientists"], manage: ["ml-data-scientists"] } };
        uc.addModel("mlplatform.prd.fraud", "ml-deployers", { 1: FILES, 2: FILES, 3: FILES });
        uc.model("mlplatform.prd.fraud")!.aliases.set("champion", 3);
    });
    afterEach(() => uc.stop());

    const run = (token: string, version: string, log: string[] = []) =>
        rollback({ model: "mlplatform.prd.fraud", version, alias: "champion" }, { host: url, credential: bearerToken(token, "test"), log: (l) => log.push(l) });

    it("moves the alias back to an earlier version: no copy, no new version", async () => {
        const log: string[] = [];
        assert.deepStrictEqual(await run(DEPLOYER, "2", log), { model: "mlplatform.prd.fraud", alias: "champion", from: "3", to: "2" });
        const prd = uc.model("mlplatform.prd.fraud")!;
        assert.strictEqual(prd.aliases.get("champion"), 2);
        assert.deepStrictEqual([...prd.versions.keys()], [1, 2, 3], "no version created");
        assert.deepStrictEqual(
            uc.calls.map((c) => `${c.method} ${c.path.replace("/api/2.0/mlflow/unity-catalog/", "")}`),
            ["GET model-versions/get", "GET registered-models/alias", "POST registered-models/alias"],
        );
        assert.deepStrictEqual(log, ["alias champion of mlplatform.prd.fraud now points at version 2 (was 3): no copy, no new version; the next pulumi up on prd serves it"]);
    });

    it("changes nothing when the alias already points there", async () => {
        const log: string[] = [];
        await run(DEPLOYER, "3", log);
        assert.ok(!uc.calls.some((c) => c.method === "POST"));
        assert.match(log[0], /already points at version 3: nothing to do/);
    });

    it("refuses a version prd does not have, one that is not READY, and a caller without MANAGE", async () => {
        await assert.rejects(run(DEPLOYER, "9"), (err: Error) => err instanceof PromoteError && /mlplatform\.prd\.fraud has no version 9 \(RESOURCE_DOES_NOT_EXIST\)/.test(err.message));
        uc.model("mlplatform.prd.fraud")!.versions.get(1)!.status = "FAILED_REGISTRATION";
        await assert.rejects(run(DEPLOYER, "1"), /version 1 of mlplatform\.prd\.fraud is FAILED_REGISTRATION: only a READY version can serve/);
        await assert.rejects(run(SCIENTIST, "2"), /permission denied .*Rolling back needs ownership or MANAGE on the prd model: only deployers hold it/);
        assert.strictEqual(uc.model("mlplatform.prd.fraud")!.aliases.get("champion"), 3, "the alias did not move");
    });

    describe("each call's failure, and odd answers", () => {
        const quick = (version: string, log: string[] = [], extra: { maxAttempts?: number; timeoutMs?: number } = {}) =>
            rollback({ model: "mlplatform.prd.fraud", version, alias: "champion" }, { host: url, credential: bearerToken(DEPLOYER, "test"), log: (l) => log.push(l), sleep: async () => undefined, ...extra });
        const refusedWith = (message: string, version = "2", extra: { maxAttempts?: number; timeoutMs?: number } = {}) =>
            assert.rejects(quick(version, [], extra), (err: Error) => {
                assert.ok(err instanceof PromoteError, String(err));
                assert.strictEqual(err.message, message);
                return true;
            });

        it("names the read or the alias move the registry refused", async () => {
            uc.faults.push({ route: "GET model-versions/get", status: 400, errorCode: "INVALID_PARAMETER_VALUE", message: "bad version" });
            await refusedWith("cannot read version 2 of mlplatform.prd.fraud: INVALID_PARAMETER_VALUE: bad version");
            uc.faults.push({ route: "GET model-versions/get", status: 400, errorCode: "X" });
            uc.answerHook = (route, body) => (route === "GET model-versions/get" ? null : body);
            await refusedWith(`cannot read version 2 of mlplatform.prd.fraud: ${url} answered HTTP 400 without an MLflow error (is it a Databricks workspace with Unity Catalog? the route /api/2.0/mlflow/unity-catalog/model-versions/get is missing)`);
            uc.answerHook = (route, body) => (route === "GET model-versions/get" ? { model_version: { version: "2" } } : body);
            await refusedWith("version 2 of mlplatform.prd.fraud is in an unknown state: only a READY version can serve");
            uc.answerHook = undefined;
            uc.faults.push({ route: "POST registered-models/alias", status: 400, errorCode: "INVALID_PARAMETER_VALUE", message: "reserved" });
            await refusedWith("cannot set alias champion of mlplatform.prd.fraud: INVALID_PARAMETER_VALUE: reserved");
            for (let i = 0; i < 2; i++) uc.faults.push({ route: "GET registered-models/alias", delayMs: 400 });
            await refusedWith(`cannot read alias champion of mlplatform.prd.fraud: the registry at ${url} did not answer within 100 ms (gave up after 2 attempts); try again later: a rerun picks up where this one stopped`, "2", { maxAttempts: 2, timeoutMs: 100 });
        });

        it("an alias it cannot read (an outage past the bound, an answer without a version) is moved, its old version unknown", async () => {
            for (let i = 0; i < 2; i++) uc.faults.push({ route: "GET registered-models/alias", status: 503 });
            const log: string[] = [];
            assert.deepStrictEqual(await quick("2", log, { maxAttempts: 2 }), { model: "mlplatform.prd.fraud", alias: "champion", from: undefined, to: "2" });
            assert.deepStrictEqual(log, ["alias champion of mlplatform.prd.fraud now points at version 2: no copy, no new version; the next pulumi up on prd serves it"]);
            for (const body of [{}, null]) {
                uc.answerHook = (route, b) => (route === "GET registered-models/alias" ? body : b);
                assert.strictEqual((await quick("1")).from, undefined, JSON.stringify(body));
            }
        });

        it("says what it found when there is nothing to do", async () => {
            assert.deepStrictEqual(await quick("3"), { model: "mlplatform.prd.fraud", alias: "champion", from: "3", to: "3" });
        });
    });

    it("takes flags: the model in the prd schema, a version number, an alias the registry allows", () => {
        const env = { DATABRICKS_HOST: "https://adb-1.2.azuredatabricks.net" };
        assert.deepStrictEqual(parseRollbackFlags(["--model", "mlplatform.prd.fraud", "--version", "2"], env), { model: "mlplatform.prd.fraud", version: "2", alias: "champion", host: "https://adb-1.2.azuredatabricks.net" });
        assert.throws(() => parseRollbackFlags(["--model", "mlplatform.dev.fraud", "--version", "2"], env), /is not in the prd schema \(prd, the prd stack's registry\.prdSchema\): .*npm run promote/);
        assert.throws(() => parseRollbackFlags(["--model", "mlplatform.prd.fraud", "--version", "two"], env), /--version "two" is not a version number/);
        assert.throws(() => parseRollbackFlags(["--model", "mlplatform.prd.fraud", "--version", "2", "--alias", "latest"], env), /--alias "latest" is not allowed/);
        assert.throws(() => parseRollbackFlags(["--model", "mlplatform.prd.fraud", "--version", "2"], {}), /no workspace: set DATABRICKS_HOST or --host/);
        assert.throws(
            () => parseRollbackFlags(["--model", "mlplatform.prd.fraud", "--version", "2", "--host", "https://token:dapi-secret-value@adb-1.azuredatabricks.net"], {}),
            (err: Error) => /holds a user name or password/.test(err.message) && !err.message.includes("dapi-secret-value"),
        );
    });

    it("runs as a command: usage errors exit 2, a refused rollback exits 1 without the token", async () => {
        const usage = await runScript("scripts/rollback.ts", ["--model", "mlplatform.prd.fraud"]);
        assert.strictEqual(usage.code, 2);
        assert.match(usage.stderr, /^rollback: --version is required/);
        const refused = await runScript("scripts/rollback.ts", ["--model", "mlplatform.prd.fraud", "--version", "2", "--host", url.replace("127.0.0.1", "localhost"), "--audit-store", "print"], {
            env: { ...process.env, DATABRICKS_TOKEN: "fake-token-for-tests-unknown" },
        });
        assert.strictEqual(refused.code, 1, refused.stderr);
        assert.match(refused.stderr, /rollback: cannot read version 2 of mlplatform\.prd\.fraud: the registry refused the credential from DATABRICKS_TOKEN \(HTTP 401\)/);
        assert.ok(!`${refused.stdout}${refused.stderr}`.includes("fake-token-for-tests-unknown"));
        const done = await runScript("scripts/rollback.ts", ["--model", "mlplatform.prd.fraud", "--version", "1", "--host", url.replace("127.0.0.1", "localhost"), "--audit-store", "print"], { env: { ...process.env, DATABRICKS_TOKEN: DEPLOYER } });
        assert.strictEqual(done.code, 0, done.stderr);
        assert.match(done.stdout, /rolled back: champion -> 1 \(was 3\)\. Next: pulumi up --stack prd/);
    });
});

describe("promote streams files", () => {
    it("copies a file larger than its chunk in appends at increasing offsets, byte for byte", async function () {
        this.timeout(30_000);
        const uc = new FakeUnityCatalog();
        const url = await uc.start();
        try {
            uc.tokens = { [DEPLOYER]: "ml-deployers" };
            uc.privileges = { "mlplatform.prd": { createModel: [], manage: ["ml-deployers"] } };
            const big = Buffer.alloc(3 * 1024 * 1024 + 123);
            for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
            uc.addModel("mlplatform.dev.fraud", "ml-deployers", { 4: { MLmodel: SIGNED_MLMODEL, "model.pkl": big.toString("latin1") } });
            const result = await promote(
                { source: "mlplatform.dev.fraud", version: "4", target: "mlplatform.prd.fraud", alias: "champion" },
                { host: url, credential: bearerToken(DEPLOYER, "test"), storageEndpoint: uc.storageEndpoint, sleep: async () => undefined, chunkBytes: 1024 * 1024 },
            );
            const copied = uc.filesOf(uc.model("mlplatform.prd.fraud")!.versions.get(Number(result.targetVersion))!.storageLocation);
            assert.ok(copied["model.pkl"] === big.toString("latin1"), "the copy equals the source");
            assert.ok(uc.appends.length >= 4, `${uc.appends.length} appends`);
            assert.ok(Math.max(...uc.appends) < 2 * 1024 * 1024, "no append holds much more than one chunk");
        } finally {
            await uc.stop();
        }
    });
});
