// Audit records of promotions and rollbacks (issue 21, point 7): the record and its blob name, and the
// whole path end to end against Azurite (the Blob service) and the in-process fake of the Unity
// Catalog routes: promote then rollback write their records, `npm run audit` lists and looks them
// up, a failing store stops the change before the alias moves or fails loudly after, and no record
// is ever replaced.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { ContainerClient } from "@azure/storage-blob";
import { AuditError, auditBlobName, checkAuditRecord, githubActorsOf, githubRunOf, parseAuditBlobName, principalFromToken, versionOfRevision, whoText, type AuditContext, type AuditRecord } from "../lib/audit/record";
import { readAuditHistory, whoPutVersion, writeAuditRecord } from "../lib/audit/store";
import { auditStoreFromOutputs, checkBlobEndpoint } from "../lib/audit/target";
import { AuditTrail, auditContext, EXIT_AUDIT_NOT_WRITTEN, withApprovals } from "../lib/audit/trail";
import { bearerToken } from "../lib/registry/credentials";
import { imageTag } from "../lib/serving/image";
import { revisionSuffix, type RevisionSpec } from "../lib/serving/revision";
import { parseAuditFlags, runAudit } from "../scripts/audit";
import { parseFlags, promoteAudited } from "../scripts/promote";
import { parseRollbackFlags, rollbackAudited } from "../scripts/rollback";
import { startAzurite, type Azurite } from "./helpers/azuriteBlob";
import { runScript } from "./helpers/cli";
import { FakeUnityCatalog, SIGNED_MLMODEL } from "./helpers/fakeUnityCatalog";
import * as http from "http";

const DEPLOYER = "fake-token-for-tests-deployer";
const FILES = { MLmodel: SIGNED_MLMODEL, "requirements.txt": "mlflow==3.17.2\n", "model.pkl": "weights" };
const TOOL = { name: "mlflow-platform", version: "0.1.0", commit: "0123456789abcdef0123456789abcdef01234567" };

/** An unsigned JWT with these claims: what the claims reader sees of an Entra token. */
function jwt(claims: Record<string, unknown>): string {
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    return `${part({ alg: "RS256", typ: "JWT" })}.${part(claims)}.c2lnbmF0dXJl`;
}

/** A clock that gives these times in turn. */
function clock(...times: string[]): () => Date {
    let i = 0;
    return () => new Date(times[Math.min(i++, times.length - 1)]);
}

const GITHUB_ENV = {
    GITHUB_ACTIONS: "true",
    GITHUB_SERVER_URL: "https://github.com",
    GITHUB_REPOSITORY: "contoso/mlflow-platform",
    GITHUB_RUN_ID: "123456789",
    GITHUB_RUN_ATTEMPT: "2",
    GITHUB_WORKFLOW: "Promote",
    GITHUB_EVENT_NAME: "workflow_dispatch",
    GITHUB_REF: "refs/heads/main",
    GITHUB_SHA: TOOL.commit,
    GITHUB_ACTOR: "alice",
    GITHUB_TRIGGERING_ACTOR: "bob",
};

describe("audit records", () => {
    const sample: AuditRecord = {
        schema: 1,
        stage: "done",
        action: "promote",
        model: "mlplatform.prd.fraud",
        version: "4",
        alias: "champion",
        from: { model: "mlplatform.dev.fraud", version: "12" },
        who: { objectId: "3f2b8c1e-5d4a-4e6f-9b7c-2a1d0e9f8c7b", name: "deployer@contoso.com", credential: "Microsoft Entra ID (the deployer's sign-in)" },
        startedAt: "2026-12-02T09:05:07.042Z",
        when: "2026-12-02T09:05:08.001Z",
        registry: "https://adb-1.azuredatabricks.net",
        tool: TOOL,
    };

    it("a record's blob name is <model>/<yyyy>/<mm>/<dd>/<time>-<action>-<version>.json (UTC), its intent beside it, and the name reads back", () => {
        assert.strictEqual(auditBlobName(sample), "mlplatform.prd.fraud/2026/12/02/090507.042Z-promote-4.json");
        assert.strictEqual(auditBlobName({ ...sample, stage: "intent" }), "mlplatform.prd.fraud/2026/12/02/090507.042Z-promote-4.intent.json");
        assert.deepStrictEqual(parseAuditBlobName("mlplatform.prd.fraud/2026/12/02/090507.042Z-promote-4.intent.json"), {
            model: "mlplatform.prd.fraud",
            key: "mlplatform.prd.fraud/2026/12/02/090507.042Z-promote-4.json",
            action: "promote",
            version: "4",
            stage: "intent",
        });
        for (const name of ["x.json", "m/2026/12/02/090507.042Z-deploy-4.json", "m/2026/12/02/090507Z-promote-4.json", "m/2026/12/02/090507.042Z-promote-04.json"]) assert.strictEqual(parseAuditBlobName(name), undefined, name);
        assert.throws(() => auditBlobName({ ...sample, startedAt: "2026-12-02T10:05:07.042+01:00" }), /is not UTC ISO 8601 with milliseconds/);
        assert.throws(() => auditBlobName({ ...sample, model: "../fraud" }), /cannot name an audit record/);
        assert.throws(() => auditBlobName({ ...sample, version: "champion" }), /version "champion" cannot name an audit record/);
    });

    it("checks a document before it is taken for a record", () => {
        assert.strictEqual(checkAuditRecord(sample), sample);
        assert.match(String(checkAuditRecord({ ...sample, schema: 2 })), /schema 2 is not 1/);
        assert.match(String(checkAuditRecord({ ...sample, action: "delete" })), /action is not promote, rollback or rollout/);
        // A guarded rollout's record carries which revisions and how it ended.
        assert.match(String(checkAuditRecord({ ...sample, action: "rollout" })), /rollout is not \{candidate, stable, outcome\}/);
        assert.match(String(checkAuditRecord({ ...sample, action: "rollout", rollout: { candidate: "a--v2-b", stable: "a--v1-a", outcome: "maybe" } })), /rollout is not/);
        const rollout = { ...sample, stage: "done", action: "rollout", rollout: { candidate: "a--v2-b", stable: "a--v1-a", outcome: "rolled-back", reason: "p95" } };
        assert.strictEqual(checkAuditRecord(rollout), rollout);
        assert.strictEqual(parseAuditBlobName(auditBlobName(rollout as never))?.action, "rollout");
        assert.match(String(checkAuditRecord({ ...sample, who: {} })), /who is missing/);
        assert.match(String(checkAuditRecord({ ...sample, from: { version: "1" } })), /from is not/);
        assert.match(String(checkAuditRecord({ ...sample, when: "yesterday" })), /is not UTC ISO 8601/);
        assert.strictEqual(checkAuditRecord([]), "not a JSON object");
    });

    it("who: an Entra token's oid, upn or application id, name and tenant; GitHub's actors; never the token", () => {
        assert.deepStrictEqual(principalFromToken(jwt({ oid: "o-1", upn: "alice@contoso.com", name: "Alice", tid: "t-1", appid: "ignored" })), { objectId: "o-1", name: "alice@contoso.com", displayName: "Alice", tenantId: "t-1" });
        // A service principal (GitHub's OIDC identity, a managed identity): its application id.
        assert.deepStrictEqual(principalFromToken(jwt({ oid: "o-2", appid: "a-2", tid: "t-1" })), { objectId: "o-2", name: "a-2", tenantId: "t-1" });
        assert.deepStrictEqual(principalFromToken("not-a-jwt"), {});
        assert.deepStrictEqual(principalFromToken("a.!!!.c"), {});
        assert.deepStrictEqual(githubActorsOf(GITHUB_ENV), { githubActor: "alice", githubTriggeringActor: "bob" });
        assert.deepStrictEqual(githubActorsOf({ ...GITHUB_ENV, GITHUB_TRIGGERING_ACTOR: "alice" }), { githubActor: "alice" });
        assert.deepStrictEqual(githubActorsOf({ GITHUB_ACTOR: "alice" }), {}, "only in Actions");
        assert.strictEqual(whoText({ objectId: "o-1", name: "alice@contoso.com", credential: "x", githubActor: "alice", githubTriggeringActor: "bob" }), "alice@contoso.com (o-1), github:alice/bob");
        assert.strictEqual(whoText({ credential: "DATABRICKS_TOKEN" }), "unknown principal (DATABRICKS_TOKEN)");
    });

    it("who, when the Entra sign-in gives no token: the credential's source alone (the write then says why it failed)", async () => {
        const context = await auditContext({ env: {}, credentialSource: "DATABRICKS_TOKEN", entraToken: async () => Promise.reject(new Error("az login needed")), tool: TOOL });
        assert.deepStrictEqual(context, { who: { credential: "DATABRICKS_TOKEN" }, tool: TOOL });
        assert.deepStrictEqual((await auditContext({ env: {}, credentialSource: "x", entraToken: async () => undefined, tool: TOOL })).who, { credential: "x" });
    });

    it("the run: its URL and context from the runner's variables, only in Actions", () => {
        assert.deepStrictEqual(githubRunOf(GITHUB_ENV), {
            url: "https://github.com/contoso/mlflow-platform/actions/runs/123456789",
            repository: "contoso/mlflow-platform",
            runId: "123456789",
            runAttempt: "2",
            workflow: "Promote",
            eventName: "workflow_dispatch",
            ref: "refs/heads/main",
            sha: TOOL.commit,
        });
        assert.strictEqual(githubRunOf({ ...GITHUB_ENV, GITHUB_ACTIONS: undefined }), undefined);
        assert.strictEqual(githubRunOf({ ...GITHUB_ENV, GITHUB_RUN_ID: "" }), undefined);
    });

    it("the approvals: GitHub's review history of the run, or why it was not read", async () => {
        let seen: { url?: string; authorization?: string } = {};
        const server = http.createServer((req, res) => {
            seen = { url: req.url, authorization: req.headers.authorization };
            if (req.url?.includes("/runs/404/")) {
                res.writeHead(404).end("{}");
                return;
            }
            res.writeHead(200, { "Content-Type": "application/json" }).end(
                JSON.stringify([{ state: "approved", comment: "ship it", environments: [{ id: 1, name: "production" }], user: { login: "carol", id: 3 } }, { state: "rejected", environments: [], user: { login: "dave" } }]),
            );
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const api = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
        try {
            const run = githubRunOf(GITHUB_ENV)!;
            const withReviews = await withApprovals(run, { GITHUB_TOKEN: "ghs_fake", GITHUB_API_URL: api });
            assert.strictEqual(seen.url, "/repos/contoso/mlflow-platform/actions/runs/123456789/approvals");
            assert.strictEqual(seen.authorization, "Bearer ghs_fake");
            assert.deepStrictEqual(withReviews.approvals, [
                { user: "carol", state: "approved", environments: ["production"], comment: "ship it" },
                { user: "dave", state: "rejected", environments: [] },
            ]);
            assert.ok(!JSON.stringify(withReviews).includes("ghs_fake"), "the token is not recorded");
            assert.match((await withApprovals({ ...run, runId: "404" }, { GITHUB_TOKEN: "t", GITHUB_API_URL: api })).approvalsNote!, /GitHub answered HTTP 404/);
            assert.match((await withApprovals(run, {})).approvalsNote!, /GITHUB_TOKEN not set/);
        } finally {
            server.close();
        }
        assert.match((await withApprovals(githubRunOf(GITHUB_ENV)!, { GITHUB_TOKEN: "t", GITHUB_API_URL: api }, 2000)).approvalsNote!, /did not answer \(ECONNREFUSED\)/);
    });

    it("finds the version in a revision's name and an image tag, as the platform makes them", () => {
        const spec: RevisionSpec = { image: "models/fraud:x", env: [], cpu: 1, memoryGb: 2, workers: 1, probes: {} };
        assert.strictEqual(versionOfRevision(`prd-fraud--${revisionSuffix("17", spec)}`), "17");
        assert.strictEqual(versionOfRevision(imageTag("mlplatform.prd.fraud", "4", "0123456789ab")), "4");
        assert.strictEqual(versionOfRevision("fraud--v4"), "4");
        assert.strictEqual(versionOfRevision("my-containerapp--20mh1s9"), undefined);
    });

    it("the store: the stack's blobEndpoint and audit container; an endpoint given by hand is https and holds no credential", () => {
        assert.deepStrictEqual(auditStoreFromOutputs({ blobEndpoint: "https://mlplatprdmodels.blob.core.windows.net/", containerNames: { data: "data", models: "models", audit: "audit" } }, "prd"), {
            blobEndpoint: "https://mlplatprdmodels.blob.core.windows.net/",
            container: "audit",
        });
        assert.throws(() => auditStoreFromOutputs({}, "prd"), /stack prd has no blobEndpoint output: run `pulumi up --stack prd`, or give --audit-store/);
        assert.throws(() => checkBlobEndpoint("http://acct.blob.core.windows.net/", "--audit-store"), /must use https/);
        assert.throws(
            () => checkBlobEndpoint("https://acct.blob.core.windows.net/?sv=2024&sig=secretsignature", "--audit-store"),
            (err: Error) => /holds a user name, password or query/.test(err.message) && !err.message.includes("secretsignature"),
        );
        assert.throws(() => checkBlobEndpoint("acct", "--audit-store"), /is not a URL/);
        assert.strictEqual(checkBlobEndpoint("http://127.0.0.1:10000/devstoreaccount1", "x"), "http://127.0.0.1:10000/devstoreaccount1");
    });
});

describe("npm run audit flags", () => {
    it("reads the history's and the lookup's flags", () => {
        assert.deepStrictEqual(parseAuditFlags(["--stack", "prd"]), { stack: "prd", json: false });
        assert.deepStrictEqual(parseAuditFlags(["--stack", "prd", "--model", "fraud", "--revision", "prd-fraud--v7-1a2b3c4d5e", "--request-id", "abc123", "--at", "2026-12-02T13:00:00+01:00", "--json"]), {
            stack: "prd",
            json: true,
            model: "fraud",
            revision: "prd-fraud--v7-1a2b3c4d5e",
            requestId: "abc123",
            at: "2026-12-02T12:00:00.000Z",
        });
    });

    const refusals: [string[], RegExp][] = [
        [[], /--stack is required/],
        [["--stack", "prd", "--bogus"], /Unknown option '--bogus'/],
        [["--stack"], /argument missing/],
        [["--stack", "p rd"], /--stack "p rd" is not a stack name/],
        [["--stack", "prd", "--model", "a/b"], /--model "a\/b" is not a model name/],
        [["--stack", "prd", "--version", "0"], /--version "0" is not a version number/],
        [["--stack", "prd", "--version", "1", "--revision", "x--v1"], /give --version or --revision, not both/],
        [["--stack", "prd", "--revision", "my-app--20mh1s9"], /names no model version/],
        [["--stack", "prd", "--request-id", "abc"], /--request-id needs --revision/],
        [["--stack", "prd", "--version", "1", "--request-id", "a b"], /--request-id must be/],
        [["--stack", "prd", "--at", "2026-12-02T12:00:00Z"], /--at needs --version or --revision/],
        [["--stack", "prd", "--version", "1", "--at", "noon"], /--at "noon" is not a time/],
        [["--stack", "prd", "--version", "1", "--at", "2026-12-02T12:00:00"], /is not a time: ISO 8601 with a zone/],
        [["--stack", "prd", "--write", "r.json", "--json"], /--write takes only --stack and --audit-store/],
        [["--stack", "prd", "--audit-store", ""], /--audit-store is empty/],
    ];
    for (const [argv, expected] of refusals) {
        it(`refuses ${argv.join(" ") || "no flags"}`, () => assert.throws(() => parseAuditFlags(argv), (err: Error) => expected.test(err.message)));
    }

    it("npm run audit: a bad flag exits 2 with the usage; a store it cannot find or reach exits 1 with the reason", async function () {
        this.timeout(60_000);
        const env = { PATH: "/nonexistent", HOME: os.tmpdir() };
        const bad = await runScript("scripts/audit.ts", ["--stack", "prd", "--version", "x"], { env });
        assert.strictEqual(bad.code, 2);
        assert.match(bad.stderr, /^audit: --version "x" is not a version number: use a whole number from 1\nusage: npm run audit -- --stack/);
        const lost = await runScript("scripts/audit.ts", ["--stack", "prd"], { env });
        assert.strictEqual(lost.code, 1);
        assert.strictEqual(lost.stderr.trim(), "audit: cannot find the audit store: the Pulumi CLI is not on PATH: give --audit-store <blob endpoint>, or set AUDIT_STORE");
        const sas = await runScript("scripts/audit.ts", ["--stack", "prd"], { env: { ...env, AUDIT_STORE: "https://a.blob.core.windows.net/?sig=secretsig" } });
        assert.strictEqual(sas.code, 1);
        assert.match(sas.stderr, /^audit: AUDIT_STORE holds a user name, password or query/);
        assert.ok(!sas.stderr.includes("secretsig"));
    });

    it("promote and rollback take --audit-store; an empty one is refused", () => {
        const env = { DATABRICKS_HOST: "https://adb-1.azuredatabricks.net" };
        assert.strictEqual(parseFlags(["--model", "mlplatform.dev.fraud", "--version", "7", "--audit-store", "print"], env).auditStore, "print");
        assert.strictEqual(parseFlags(["--model", "mlplatform.dev.fraud", "--version", "7"], env).auditStore, undefined);
        assert.throws(() => parseFlags(["--model", "mlplatform.dev.fraud", "--version", "7", "--audit-store", ""], env), /--audit-store is empty/);
        assert.strictEqual(parseRollbackFlags(["--model", "mlplatform.prd.fraud", "--version", "2", "--audit-store", "https://a.blob.core.windows.net/"], env).auditStore, "https://a.blob.core.windows.net/");
        assert.throws(() => parseRollbackFlags(["--model", "mlplatform.prd.fraud", "--version", "2", "--audit-store", ""], env), /--audit-store is empty/);
    });

    it("the commands exit 1 before any registry call when the audit store cannot be found, and print the record with --audit-store print", async function () {
        this.timeout(60_000);
        const uc = new FakeUnityCatalog();
        const url = await uc.start();
        try {
            uc.tokens = { [DEPLOYER]: "ml-deployers" };
            uc.privileges = { "mlplatform.prd": { createModel: [], manage: ["ml-deployers"] } };
            uc.addModel("mlplatform.prd.fraud", "ml-deployers", { 1: FILES, 2: FILES });
            uc.model("mlplatform.prd.fraud")!.aliases.set("champion", 2);
            // No PATH: no Pulumi CLI to read the stack's outputs.
            const env = { PATH: "/nonexistent", HOME: os.tmpdir(), DATABRICKS_TOKEN: DEPLOYER };
            const host = url.replace("127.0.0.1", "localhost");
            const lost = await runScript("scripts/rollback.ts", ["--model", "mlplatform.prd.fraud", "--version", "1", "--host", host], { env });
            assert.strictEqual(lost.code, 1, lost.stderr);
            assert.strictEqual(lost.stderr.trim(), "rollback: cannot find the audit store: the Pulumi CLI is not on PATH: give --audit-store <blob endpoint>, or set AUDIT_STORE; nothing was changed");
            const bad = await runScript("scripts/promote.ts", ["--model", "mlplatform.dev.fraud", "--version", "1", "--host", host, "--audit-store", "ftp://x"], { env });
            assert.strictEqual(bad.code, 1);
            assert.match(bad.stderr, /^promote: --audit-store must use https:\/\/ \(got ftp:\); nothing was changed/);
            assert.deepStrictEqual(uc.calls, [], "no registry call");

            const printed = await runScript("scripts/rollback.ts", ["--model", "mlplatform.prd.fraud", "--version", "1", "--host", host, "--audit-store", "print"], { env: { ...env, ...GITHUB_ENV } });
            assert.strictEqual(printed.code, 0, printed.stderr);
            assert.strictEqual(uc.model("mlplatform.prd.fraud")!.aliases.get("champion"), 1);
            assert.match(printed.stderr, /^audit: --audit-store print: NO audit record was written/);
            const record = checkAuditRecord(JSON.parse(printed.stderr.slice(printed.stderr.indexOf("{"))));
            assert.ok(typeof record !== "string", String(record));
            assert.deepStrictEqual([record.stage, record.action, record.model, record.version, record.from, record.who.credential, record.who.githubActor, record.run?.url], [
                "done",
                "rollback",
                "mlplatform.prd.fraud",
                "1",
                { model: "mlplatform.prd.fraud", version: "2" },
                "DATABRICKS_TOKEN",
                "alice",
                "https://github.com/contoso/mlflow-platform/actions/runs/123456789",
            ]);
            assert.ok(!printed.stdout.includes(DEPLOYER) && !printed.stderr.includes(DEPLOYER));
        } finally {
            await uc.stop();
        }
    });
});

describe("the audit path end to end (Azurite and the fake Unity Catalog)", function () {
    this.timeout(60_000);
    let azurite: Azurite;
    let audit: ContainerClient;
    let uc: FakeUnityCatalog;
    let url: string;
    const lines: { log: string[]; error: string[] } = { log: [], error: [] };
    const out = { log: (l: string) => lines.log.push(l), error: (l: string) => lines.error.push(l), warn: (l: string) => lines.error.push(l) };
    const context = async (env: NodeJS.ProcessEnv, claims: Record<string, unknown>): Promise<AuditContext> =>
        auditContext({ env, credentialSource: "Microsoft Entra ID (the deployer's sign-in)", entraToken: async () => jwt(claims), tool: TOOL });
    const sink = (container: ContainerClient) => ({ kind: "store" as const, container, where: `${azurite.endpoint}/${container.containerName}` });
    const host = () => url;
    const promoteFlags = () => ({ source: "mlplatform.dev.fraud", version: "7", target: "mlplatform.prd.fraud", alias: "champion", host: host() });
    const rollbackFlags = (version: string) => ({ model: "mlplatform.prd.fraud", version, alias: "champion", host: host() });
    const names = async (container: ContainerClient) => {
        const all: string[] = [];
        for await (const item of container.listBlobsFlat()) all.push(item.name);
        return all.sort();
    };

    before(async () => {
        azurite = await startAzurite();
        audit = azurite.service().getContainerClient("audit");
        await audit.create();
    });
    after(async () => {
        await azurite?.stop();
    });
    beforeEach(async () => {
        lines.log = [];
        lines.error = [];
        uc = new FakeUnityCatalog();
        url = await uc.start();
        uc.tokens = { [DEPLOYER]: "ml-deployers" };
        uc.privileges = { "mlplatform.prd": { createModel: [], manage: ["ml-deployers"] }, "mlplatform.dev": { createModel: ["ml-deployers"], manage: ["ml-deployers"] } };
        uc.addModel("mlplatform.dev.fraud", "ml-deployers", { 7: FILES });
    });
    afterEach(() => uc.stop());

    it("promote then rollback write their records; npm run audit lists them newest first and says who put a version in prd", async () => {
        const deployer = { oid: "3f2b8c1e-5d4a-4e6f-9b7c-2a1d0e9f8c7b", appid: "a1b2c3d4-0000-4000-8000-000000000001", tid: "tenant-1" };
        const credential = bearerToken(DEPLOYER, "test");
        // Promotion in GitHub Actions (no GITHUB_TOKEN: the reviews are not read, and it says so).
        const promoted = new AuditTrail(sink(audit), await context(GITHUB_ENV, deployer), out, clock("2026-12-02T09:00:00.000Z", "2026-12-02T09:00:01.500Z"));
        assert.strictEqual(await promoteAudited(promoteFlags(), credential, promoted, out, { storageEndpoint: uc.storageEndpoint, sleep: async () => undefined }), 0, lines.error.join("\n"));
        assert.strictEqual(uc.model("mlplatform.prd.fraud")!.aliases.get("champion"), 1);
        // A second promotion (version 2), then a rollback to version 1 from a laptop.
        uc.addModel("mlplatform.dev.fraud", "ml-deployers", { 8: { ...FILES, "model.pkl": "v8" } });
        const again = new AuditTrail(sink(audit), await context(GITHUB_ENV, deployer), out, clock("2026-12-03T10:00:00.000Z", "2026-12-03T10:00:02.000Z"));
        assert.strictEqual(await promoteAudited({ ...promoteFlags(), version: "8" }, credential, again, out, { storageEndpoint: uc.storageEndpoint, sleep: async () => undefined }), 0);
        const laptop = new AuditTrail(sink(audit), await context({}, { oid: "9d8c7b6a-1111-4222-8333-444455556666", upn: "erin@contoso.com", name: "Erin" }), out, clock("2026-12-03T11:30:00.250Z", "2026-12-03T11:30:00.900Z"));
        assert.strictEqual(await rollbackAudited(rollbackFlags("1"), credential, laptop, out), 0, lines.error.join("\n"));
        assert.strictEqual(uc.model("mlplatform.prd.fraud")!.aliases.get("champion"), 1);
        assert.deepStrictEqual(lines.error, []);

        assert.deepStrictEqual(await names(audit), [
            "mlplatform.prd.fraud/2026/12/02/090000.000Z-promote-1.intent.json",
            "mlplatform.prd.fraud/2026/12/02/090000.000Z-promote-1.json",
            "mlplatform.prd.fraud/2026/12/03/100000.000Z-promote-2.intent.json",
            "mlplatform.prd.fraud/2026/12/03/100000.000Z-promote-2.json",
            "mlplatform.prd.fraud/2026/12/03/113000.250Z-rollback-1.intent.json",
            "mlplatform.prd.fraud/2026/12/03/113000.250Z-rollback-1.json",
        ]);
        assert.ok(lines.log.includes(`audit: recorded at ${azurite.endpoint}/audit/mlplatform.prd.fraud/2026/12/03/113000.250Z-rollback-1.json`));
        const first = JSON.parse((await audit.getBlobClient("mlplatform.prd.fraud/2026/12/02/090000.000Z-promote-1.json").downloadToBuffer()).toString("utf8"));
        assert.deepStrictEqual(first, {
            schema: 1,
            stage: "done",
            action: "promote",
            model: "mlplatform.prd.fraud",
            version: "1",
            alias: "champion",
            from: { model: "mlplatform.dev.fraud", version: "7" },
            registry: url,
            who: { objectId: deployer.oid, name: deployer.appid, tenantId: "tenant-1", credential: "Microsoft Entra ID (the deployer's sign-in)", githubActor: "alice", githubTriggeringActor: "bob" },
            startedAt: "2026-12-02T09:00:00.000Z",
            when: "2026-12-02T09:00:01.500Z",
            run: { ...githubRunOf(GITHUB_ENV), approvalsNote: "GITHUB_TOKEN not set: the run's environment reviews were not read" },
            tool: TOOL,
        });
        assert.strictEqual(
            JSON.parse((await audit.getBlobClient("mlplatform.prd.fraud/2026/12/02/090000.000Z-promote-1.intent.json").downloadToBuffer()).toString("utf8")).stage,
            "intent",
        );

        // The history, newest first, as a table.
        lines.log = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--model", "fraud"]), audit, out), 0);
        const who = `${deployer.appid} (${deployer.oid}), github:alice/bob`;
        const run = "https://github.com/contoso/mlflow-platform/actions/runs/123456789";
        assert.deepStrictEqual(lines.log[0].split("\n"), [
            `WHEN (UTC)            ACTION    MODEL                 VERSION       FROM                    ${"WHO".padEnd(who.length)}  RUN`,
            `2026-12-03 11:30:00Z  rollback  mlplatform.prd.fraud  1 (champion)  mlplatform.prd.fraud/2  ${"erin@contoso.com (9d8c7b6a-1111-4222-8333-444455556666)".padEnd(who.length)}  -`,
            `2026-12-03 10:00:02Z  promote   mlplatform.prd.fraud  2 (champion)  mlplatform.dev.fraud/8  ${who}  ${run}`,
            `2026-12-02 09:00:01Z  promote   mlplatform.prd.fraud  1 (champion)  mlplatform.dev.fraud/7  ${who}  ${run}`,
        ]);
        lines.log = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--model", "mlplatform.prd.other"]), audit, out), 0);
        assert.deepStrictEqual(lines.log, ["no audit records for mlplatform.prd.other in stack prd's audit container"]);
        lines.log = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--json"]), audit, out), 0);
        assert.deepStrictEqual((JSON.parse(lines.log[0]) as { record: AuditRecord }[]).map((e) => `${e.record.action}-${e.record.version}`), ["rollback-1", "promote-2", "promote-1"]);

        // The one lookup, from a request record's revision: the newest change to that version...
        lines.log = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--model", "fraud", "--revision", "prd-fraud--v1-1a2b3c4d5e", "--request-id", "req-42"]), audit, out), 0);
        assert.deepStrictEqual(lines.log[0].split("\n"), [
            "request req-42 was answered by revision prd-fraud--v1-1a2b3c4d5e, version 1 of fraud of mlplatform.prd.fraud: put in prd by erin@contoso.com (9d8c7b6a-1111-4222-8333-444455556666) at 2026-12-03T11:30:00.900Z, rolled back to it (from version 2), alias champion",
            "  run: none (run outside GitHub Actions)",
            "  2 changes pointed an alias at this version; newest first: rollback 2026-12-03T11:30:00.900Z, promote 2026-12-02T09:00:01.500Z",
        ]);
        // ...or the one in force at the request's time.
        lines.log = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--revision", "prd-fraud--v1-1a2b3c4d5e", "--at", "2026-12-02T12:00:00.123Z", "--json"]), audit, out), 0);
        const answer = JSON.parse(lines.log[0]);
        assert.deepStrictEqual([answer.putBy.record.action, answer.putBy.record.from, answer.putBy.record.who.githubActor, answer.putBy.record.run.url], ["promote", { model: "mlplatform.dev.fraud", version: "7" }, "alice", "https://github.com/contoso/mlflow-platform/actions/runs/123456789"]);
        lines.log = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--version", "1", "--at", "2026-12-01T00:00:00Z"]), audit, out), 1, "nothing before the first promotion");
        assert.match(lines.log[0], /^version 1: no audit record puts it in prd before 2026-12-01T00:00:00.000Z \(2 later\)/);
        lines.log = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--version", "9"]), audit, out), 1);
        assert.match(lines.log[0], /^version 9: no audit record puts it in prd: it got there before audit records began/);
        assert.throws(() => whoPutVersion({ entries: [], unreadable: [] }, { revision: "x" }), AuditError);
    });

    it("create-only: a record is never replaced, whoever writes it", async () => {
        const record: AuditRecord = {
            schema: 1,
            stage: "done",
            action: "rollback",
            model: "mlplatform.prd.once",
            version: "3",
            alias: "champion",
            from: { model: "mlplatform.prd.once", version: "4" },
            who: { credential: "test" },
            startedAt: "2026-12-04T08:00:00.000Z",
            when: "2026-12-04T08:00:01.000Z",
            registry: "https://adb-1.azuredatabricks.net",
            tool: TOOL,
        };
        const name = await writeAuditRecord(audit, record);
        const blob = audit.getBlobClient(name);
        const before = await blob.getProperties();
        await assert.rejects(writeAuditRecord(audit, { ...record, who: { credential: "someone else" } }), (err: Error) => {
            assert.ok(err instanceof AuditError);
            assert.strictEqual(err.message, `audit/${name} already exists: an audit record is never replaced`);
            return true;
        });
        // The hand-written path (npm run audit -- --write) is create-only too.
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "audit-")), "record.json");
        fs.writeFileSync(file, JSON.stringify({ ...record, who: { credential: "forged" } }));
        await assert.rejects(runAudit(parseAuditFlags(["--stack", "prd", "--write", file]), audit, out), /already exists: an audit record is never replaced/);
        assert.strictEqual((await blob.getProperties()).etag, before.etag);
        assert.strictEqual(JSON.parse((await blob.downloadToBuffer()).toString("utf8")).who.credential, "test");
        // A blob that is not a record, or whose content does not match its name, is skipped and said.
        await audit.getBlockBlobClient("mlplatform.prd.once/notes.txt").upload("x", 1);
        await audit.getBlockBlobClient("mlplatform.prd.once/2026/12/04/090000.000Z-rollback-3.json").upload(JSON.stringify(record), JSON.stringify(record).length);
        const history = await readAuditHistory(audit, "mlplatform.prd.once");
        assert.deepStrictEqual(history.entries.map((e) => e.key), [name]);
        assert.deepStrictEqual(history.unreadable, [
            { name: "mlplatform.prd.once/2026/12/04/090000.000Z-rollback-3.json", reason: "its content does not match its name (edited or copied by hand?)" },
            { name: "mlplatform.prd.once/notes.txt", reason: "not an audit record's name" },
        ]);
    });

    it("a store that refuses the intent stops the change before the alias moves", async () => {
        uc.addModel("mlplatform.prd.fraud", "ml-deployers", { 1: FILES, 2: FILES });
        uc.model("mlplatform.prd.fraud")!.aliases.set("champion", 2);
        const credential = bearerToken(DEPLOYER, "test");
        const ctx = await context({}, {});
        // A wrong signature (403), a container that does not exist (404), a store that is down.
        const wrongKey = azurite.service({ key: Buffer.from("not the key").toString("base64"), tries: 1 }).getContainerClient("audit");
        const missing = azurite.service({ tries: 1 }).getContainerClient("no-such-container");
        const down = (await import("@azure/storage-blob")).BlobServiceClient;
        const { StorageSharedKeyCredential } = await import("@azure/storage-blob");
        const gone = new down("http://127.0.0.1:9/devstoreaccount1", new StorageSharedKeyCredential("devstoreaccount1", "a2V5"), { retryOptions: { maxTries: 1 } }).getContainerClient("audit");
        const expected: [ContainerClient, RegExp][] = [
            [wrongKey, /^rollback: writing audit\/mlplatform\.prd\.fraud\/2026\/12\/05\/070000\.000Z-rollback-1\.intent\.json failed: the signed-in identity may not write or read there \(403 AuthorizationFailure\): it needs Storage Blob Data Contributor on the audit container .*; so the alias was not moved: prd is unchanged$/],
            [missing, /^rollback: writing no-such-container\/.*intent\.json failed: the container no-such-container does not exist: run `pulumi up --stack prd`; so the alias was not moved: prd is unchanged$/],
            [gone, /^rollback: writing audit\/.*intent\.json failed: .*ECONNREFUSED.*; so the alias was not moved: prd is unchanged$/],
        ];
        for (const [container, message] of expected) {
            lines.error = [];
            const trail = new AuditTrail(sink(container), ctx, out, clock("2026-12-05T07:00:00.000Z"));
            assert.strictEqual(await rollbackAudited(rollbackFlags("1"), credential, trail, out), 1);
            assert.strictEqual(lines.error.length, 1, lines.error.join("\n"));
            assert.match(lines.error[0], message);
            assert.strictEqual(uc.model("mlplatform.prd.fraud")!.aliases.get("champion"), 2, "the alias did not move");
        }
        assert.ok(!uc.calls.some((c) => c.method === "POST" && c.path.endsWith("registered-models/alias")), "no alias call");

        // Promotion likewise: the copy is made (a rerun reuses it), the alias does not move.
        lines.error = [];
        const trail = new AuditTrail(sink(missing), ctx, out, clock("2026-12-05T07:10:00.000Z"));
        assert.strictEqual(await promoteAudited(promoteFlags(), credential, trail, out, { storageEndpoint: uc.storageEndpoint, sleep: async () => undefined }), 1);
        assert.match(lines.error[0], /; so the alias was not moved: prd is unchanged \(version 3 of mlplatform\.prd\.fraud is kept: a rerun reuses it\)$/);
        assert.strictEqual(uc.model("mlplatform.prd.fraud")!.aliases.get("champion"), 2);
    });

    it("a record that cannot be written after the alias moved: exit 3, the record printed, the change shown unconfirmed until it is written by hand", async () => {
        uc.addModel("mlplatform.prd.fraud", "ml-deployers", { 1: FILES, 2: FILES });
        uc.model("mlplatform.prd.fraud")!.aliases.set("champion", 2);
        const credential = bearerToken(DEPLOYER, "test");
        const ctx = await context({}, { oid: "o-9", upn: "frank@contoso.com" });
        // The store refuses the record after the alias moved: a blob already holds its name.
        const doneName = "mlplatform.prd.fraud/2026/12/06/060000.000Z-rollback-1.json";
        const squatter = await audit.getBlockBlobClient(doneName).upload("{}", 2);
        const trail = new AuditTrail(sink(audit), ctx, out, clock("2026-12-06T06:00:00.000Z", "2026-12-06T06:00:00.700Z"));
        assert.strictEqual(await rollbackAudited(rollbackFlags("1"), credential, trail, out), EXIT_AUDIT_NOT_WRITTEN);
        assert.strictEqual(uc.model("mlplatform.prd.fraud")!.aliases.get("champion"), 1, "the change happened");
        assert.match(lines.error[0], /^audit: THE CHANGE WAS MADE \(alias champion of mlplatform\.prd\.fraud -> version 1\), BUT ITS AUDIT RECORD WAS NOT WRITTEN: audit\/mlplatform\.prd\.fraud\/2026\/12\/06\/060000\.000Z-rollback-1\.json already exists/);
        const printed = checkAuditRecord(JSON.parse(lines.error[1]));
        assert.ok(typeof printed !== "string");
        assert.deepStrictEqual([printed.stage, printed.version, printed.from.version, printed.who.name, printed.when], ["done", "1", "2", "frank@contoso.com", "2026-12-06T06:00:00.700Z"]);
        // The squatter is not the record: the history shows the intent, unconfirmed, and says what it skipped.
        const history = await readAuditHistory(audit, "mlplatform.prd.fraud");
        const entry = history.entries.find((e) => e.key === doneName)!;
        assert.strictEqual(entry.status, "unconfirmed");
        assert.strictEqual(entry.record.stage, "intent");
        assert.deepStrictEqual(history.unreadable.filter((u) => u.name === doneName).map((u) => u.reason), ["schema undefined is not 1 (written by another version of this tool?)"]);
        lines.log = [];
        await runAudit(parseAuditFlags(["--stack", "prd", "--model", "fraud"]), audit, out);
        assert.match(lines.log[0].split("\n")[1], /^2026-12-06 06:00:00Z  rollback \(unconfirmed\)  mlplatform\.prd\.fraud  1 \(champion\)/);

        // Written by hand from what was printed (here after the squatter is removed; a real store's
        // retention policy would keep it, and the record would go beside it under another time).
        await audit.deleteBlob(doneName);
        assert.ok(squatter.etag);
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "audit-")), "record.json");
        fs.writeFileSync(file, lines.error[1]);
        lines.log = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--write", file]), audit, out), 0);
        assert.deepStrictEqual(lines.log, [`audit: wrote audit/${doneName}`]);
        assert.strictEqual((await readAuditHistory(audit, "mlplatform.prd.fraud")).entries.find((e) => e.key === doneName)!.status, "done");
    });

    it("an alias move the registry refuses after the intent: exit 1, and the intent stays, unconfirmed, which the command says", async () => {
        uc.addModel("mlplatform.prd.fraud", "ml-deployers", { 1: FILES, 2: FILES });
        uc.model("mlplatform.prd.fraud")!.aliases.set("champion", 2);
        uc.faults.push({ route: "POST registered-models/alias", status: 400, errorCode: "INVALID_PARAMETER_VALUE", message: "no" });
        const trail = new AuditTrail(sink(audit), await context({}, {}), out, clock("2026-12-08T08:00:00.000Z"));
        assert.strictEqual(await rollbackAudited(rollbackFlags("1"), bearerToken(DEPLOYER, "test"), trail, out), 1);
        assert.deepStrictEqual(lines.error, [
            "rollback: cannot set alias champion of mlplatform.prd.fraud: INVALID_PARAMETER_VALUE: no",
            "audit: the intent record of this change stays in the history, shown as unconfirmed: the alias most likely did not move, but check it in the registry (an answer lost in transit can hide a move that happened)",
        ]);
        const entry = (await readAuditHistory(audit, "mlplatform.prd.fraud")).entries.find((e) => e.record.startedAt === "2026-12-08T08:00:00.000Z")!;
        assert.strictEqual(entry.status, "unconfirmed");
        // A failure before the intent says nothing of one.
        lines.error = [];
        const before = new AuditTrail(sink(audit), await context({}, {}), out, clock("2026-12-08T08:10:00.000Z"));
        assert.strictEqual(await rollbackAudited(rollbackFlags("9"), bearerToken(DEPLOYER, "test"), before, out), 1);
        assert.strictEqual(lines.error.length, 1);
        assert.match(lines.error[0], /^rollback: mlplatform\.prd\.fraud has no version 9/);
    });

    it("a rollback that changes nothing writes no record", async () => {
        uc.addModel("mlplatform.prd.fraud", "ml-deployers", { 1: FILES });
        uc.model("mlplatform.prd.fraud")!.aliases.set("champion", 1);
        const before = await names(audit);
        const trail = new AuditTrail(sink(audit), await context({}, {}), out, clock("2026-12-07T07:00:00.000Z"));
        assert.strictEqual(await rollbackAudited(rollbackFlags("1"), bearerToken(DEPLOYER, "test"), trail, out), 0);
        assert.deepStrictEqual(await names(audit), before);
    });
});
