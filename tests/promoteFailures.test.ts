// What promotion says when each step is refused or answered oddly, so a deployer knows which step
// failed and why: every registry call's refusal by name, answers that are not Unity Catalog's,
// storage refusals and outages, directory entries and paged listings, and chunk boundaries.
import * as assert from "assert";
import * as http from "http";
import type { AddressInfo } from "net";
import axios, { AxiosError, type AxiosAdapter } from "axios";
import { dataLakeEndpoint, DEFAULT_CHUNK_BYTES, parseStorageLocation, promote, PromoteError, retryDelayMs, TransientPromoteError, type PromoteOptions } from "../lib/registry/promote";
import { bearerToken, entraToken } from "../lib/registry/credentials";
import { FakeUnityCatalog, SIGNED_MLMODEL } from "./helpers/fakeUnityCatalog";

const DEPLOYER_TOKEN = "fake-token-for-tests-deployer";
/** A signed MLmodel (Unity Catalog needs one) of exactly `bytes` bytes, for the chunking tests. */
const signedOfLength = (bytes: number) => {
    const signed = "signature:\n  inputs: '[1]'\n  outputs: '[1]'\n#";
    return signed + "x".repeat(bytes - signed.length - 1) + "\n";
};
const FILES = { MLmodel: SIGNED_MLMODEL, "requirements.txt": "mlflow==2.11.3\n", "model.pkl": "v7" };
const TARGET = "mlplatform.prd.fraud";

/** What a storage proxy answers instead of the fake: a status (with an error code, a Retry-After, a body, after a delay) or a reset. */
type StorageDecision = { status: number; code?: string; retryAfter?: string; body?: string; delayMs?: number } | "reset" | undefined;

/** A proxy in front of the fake's storage that lets `decide` answer a request instead. */
async function storageProxy(storageBase: string, decide: (req: http.IncomingMessage) => StorageDecision): Promise<{ endpoint: (account: string) => string; stop: () => Promise<void> }> {
    const proxy = http.createServer(async (req, res) => {
        const decision = decide(req);
        if (decision === "reset") return void req.socket.destroy();
        if (decision) {
            if (decision.delayMs) await new Promise((resolve) => setTimeout(resolve, decision.delayMs));
            res.writeHead(decision.status, { ...(decision.code ? { "x-ms-error-code": decision.code } : {}), ...(decision.retryAfter ? { "Retry-After": decision.retryAfter } : {}) });
            return void res.end(decision.body);
        }
        const chunks: Buffer[] = [];
        req.on("data", (c) => chunks.push(c));
        req.on("end", async () => {
            const answer = await fetch(new URL(req.url!, storageBase), { method: req.method, body: chunks.length ? Buffer.concat(chunks) : undefined, headers: { "x-ms-version": String(req.headers["x-ms-version"] ?? "") } });
            const headers: Record<string, string> = {};
            answer.headers.forEach((v, k) => (headers[k] = v));
            res.writeHead(answer.status, headers);
            res.end(Buffer.from(await answer.arrayBuffer()));
        });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const port = (proxy.address() as AddressInfo).port;
    return {
        endpoint: (account) => `http://127.0.0.1:${port}/storage/${account}`,
        stop: async () => {
            proxy.closeAllConnections();
            await new Promise((resolve) => proxy.close(resolve));
        },
    };
}

/** A fake Unity Catalog where the deployers may manage prd and dev holds fraud version 7. */
async function startedUnityCatalog(): Promise<{ uc: FakeUnityCatalog; url: string }> {
    const uc = new FakeUnityCatalog();
    const url = await uc.start();
    uc.tokens = { [DEPLOYER_TOKEN]: "ml-deployers" };
    uc.privileges = { "mlplatform.prd": { createModel: [], manage: ["ml-deployers"] } };
    uc.addModel("mlplatform.dev.fraud", "ml-data-scientists", { 7: FILES });
    return { uc, url };
}

describe("promote: each step's failure, said plainly", () => {
    let uc: FakeUnityCatalog;
    let url: string;
    let sleeps: number[];
    beforeEach(async () => {
        ({ uc, url } = await startedUnityCatalog());
        sleeps = [];
    });
    afterEach(() => uc.stop());

    const run = (extra: Partial<PromoteOptions> = {}, log: string[] = []) =>
        promote(
            { source: "mlplatform.dev.fraud", version: "7", target: TARGET, alias: "champion" },
            { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: uc.storageEndpoint, sleep: async (ms) => void sleeps.push(ms), log: (l) => log.push(l), ...extra },
        );
    const refused = async (message: string | RegExp, extra: Partial<PromoteOptions> = {}) =>
        assert.rejects(run(extra), (err: Error) => {
            assert.ok(err instanceof PromoteError, String(err));
            if (typeof message === "string") assert.strictEqual(err.message, message);
            else assert.match(err.message, message);
            return true;
        });

    it("names the step the registry refused, with its error code and message", async () => {
        const steps: [string, number, string][] = [
            ["GET model-versions/get", 0, "read version 7 of mlplatform.dev.fraud"],
            ["POST registered-models/create", 0, `create ${TARGET}`],
            ["GET model-versions/search", 0, `list the versions of ${TARGET}`],
            ["POST model-versions/create", 0, `create a version of ${TARGET}`],
            ["POST model-versions/generate-temporary-credentials", 0, "get read credentials for mlplatform.dev.fraud version 7"],
            ["POST model-versions/generate-temporary-credentials", 1, `get write credentials for ${TARGET} version 1`],
            ["POST model-versions/finalize", 0, `finalize version 1 of ${TARGET}`],
            ["POST registered-models/alias", 0, `set alias champion of ${TARGET}`],
        ];
        for (const [route, skip, what] of steps) {
            uc.faults.push({ route, skip, status: 400, errorCode: "INVALID_PARAMETER_VALUE", message: "no such thing" });
            await refused(`cannot ${what}: INVALID_PARAMETER_VALUE: no such thing`);
            assert.deepStrictEqual(sleeps, [], `${route}: a 400 is not retried`);
        }
    });

    it("a poll of a registering version that is refused names that read", async () => {
        uc.finalizeOutcome = "PENDING_REGISTRATION";
        uc.faults.push({ route: "GET model-versions/get", skip: 2, status: 400, errorCode: "INVALID_PARAMETER_VALUE", message: "gone" });
        await refused(`cannot read version 1 of ${TARGET}: INVALID_PARAMETER_VALUE: gone`);
    });

    it("a 403 without an error code, and PERMISSION_DENIED under another status, are both permission errors", async () => {
        uc.answerHook = (route, body) => (route === "POST registered-models/create" ? { detail: "forbidden" } : body);
        uc.faults.push({ route: "POST registered-models/create", status: 403 });
        await refused(/^cannot create mlplatform\.prd\.fraud: permission denied \(HTTP 403\)\. Promoting needs USE_CATALOG, USE_SCHEMA and EXECUTE on the source/);
        uc.answerHook = undefined;
        uc.faults.push({ route: "POST registered-models/create", status: 400, errorCode: "PERMISSION_DENIED", message: "User lacks MANAGE." });
        await refused(/^cannot create mlplatform\.prd\.fraud: permission denied \(User lacks MANAGE\.\)\. Promoting needs/);
    });

    it("an answer that is not Unity Catalog's is named as such", async () => {
        uc.answerHook = (route, body) => (route === "GET model-versions/get" ? { something: "else" } : body);
        await refused("cannot read version 7 of mlplatform.dev.fraud: the registry's answer has no model_version: it is not a Unity Catalog registry answer");
        uc.answerHook = (route, body) => (route === "GET model-versions/get" ? { model_version: { name: "x" } } : body);
        await refused(/has no model_version: it is not a Unity Catalog registry answer$/);
        uc.answerHook = (route, body) => (route === "GET model-versions/get" ? { model_version: "7" } : body);
        await refused(/has no model_version/);
        uc.answerHook = (route, body) => (route === "POST model-versions/create" ? { model_version: { version: "1", status: "PENDING_REGISTRATION" } } : body);
        await refused(`the new version 1 of ${TARGET} has no storage location: cannot copy files to it`);
        uc.answerHook = (route, body) => (route === "GET model-versions/get" ? { model_version: { version: "7", status: "READY" } } : body);
        await refused("version 7 of mlplatform.dev.fraud has no storage location in the registry's answer: cannot copy its files");
        uc.answerHook = (route, body) => (route === "GET model-versions/get" ? { model_version: { version: "7", status: "FAILED_REGISTRATION", status_message: "broken" } } : body);
        await refused("version 7 of mlplatform.dev.fraud is FAILED_REGISTRATION (broken): only a READY version can be promoted");
        uc.answerHook = (route, body) => (route === "GET model-versions/get" ? { model_version: { version: "7" } } : body);
        await refused("version 7 of mlplatform.dev.fraud is in an unknown state: only a READY version can be promoted");
    });

    it("a JSON answer without an MLflow error is said to be another server's", async () => {
        uc.faults.push({ route: "POST registered-models/create", status: 400, errorCode: "X" });
        uc.answerHook = (route, body) => (route === "POST registered-models/create" ? { detail: "nope" } : body);
        await refused(`cannot create ${TARGET}: ${url} answered HTTP 400 without an MLflow error (is it a Databricks workspace with Unity Catalog? the route /api/2.0/mlflow/unity-catalog/registered-models/create is missing)`);
    });

    it("a model that exists already is used, and said so", async () => {
        uc.addModel(TARGET, "ml-deployers", {});
        const log: string[] = [];
        await run({}, log);
        assert.strictEqual(log[0], `registered model ${TARGET} exists`);
    });

    it("the temporary credentials must be an Azure SAS outside default storage", async () => {
        uc.answerHook = (route, body) => (route === "POST model-versions/generate-temporary-credentials" ? { credentials: { storage_mode: "DEFAULT_STORAGE" } } : body);
        await refused("mlplatform.dev.fraud is in Databricks default storage, which this command cannot copy: give the catalog an external location (this stack's catalog has one)");
        uc.answerHook = (route, body) => (route === "POST model-versions/generate-temporary-credentials" ? { credentials: { aws_temp_credentials: {} } } : body);
        await refused("the registry gave no Azure SAS token for mlplatform.dev.fraud version 7: only Azure storage is supported");
        uc.answerHook = (route, body) => (route === "POST model-versions/generate-temporary-credentials" ? {} : body);
        await refused(/gave no Azure SAS token/);
        uc.answerHook = (route, body) => (route === "POST model-versions/generate-temporary-credentials" ? { credentials: { azure_user_delegation_sas: {} } } : body);
        await refused(/gave no Azure SAS token/);
    });

    it("takes a SAS token with or without its leading ?, and a host with a trailing slash", async () => {
        uc.answerHook = (route, body) => {
            const sas = (body as { credentials?: { azure_user_delegation_sas?: { sas_token?: string } } }).credentials?.azure_user_delegation_sas;
            if (route === "POST model-versions/generate-temporary-credentials" && sas?.sas_token) sas.sas_token = `?${sas.sas_token}`;
            return body;
        };
        const result = await run({ host: `${url}/` });
        assert.strictEqual(result.files, 3);
    });

    it("backs off on a Retry-After only when it is whole seconds", async () => {
        const { retryDelayMs } = await import("../lib/registry/promote");
        assert.deepStrictEqual(["7s", "x7", "1.5", ""].map((v) => retryDelayMs(1, v)), [1000, 1000, 1000, 1000]);
        assert.strictEqual(retryDelayMs(3, undefined), 4000);
    });

    it("asks read credentials for the source and read-write ones for the copy", async () => {
        const operations: unknown[] = [];
        uc.answerHook = (route, body) => {
            if (route === "POST model-versions/generate-temporary-credentials") operations.push((body as { credentials?: { azure_user_delegation_sas?: { sas_token?: string } } }).credentials?.azure_user_delegation_sas?.sas_token?.match(/sp=(\w+)/)?.[1]);
            return body;
        };
        await run();
        assert.deepStrictEqual(operations, ["rl", "racwl"]);
    });

    describe("storage", () => {
        let proxy: Awaited<ReturnType<typeof storageProxy>> | undefined;
        afterEach(async () => {
            await proxy?.stop();
            proxy = undefined;
        });
        const through = async (decide: Parameters<typeof storageProxy>[1]) => {
            proxy = await storageProxy(uc.url, decide);
            return { storageEndpoint: proxy.endpoint };
        };

        it("a refusal names the file operation and the storage error code, never the SAS", async () => {
            const cases: [RegExp, { status: number; code?: string }, string][] = [
                [/resource=filesystem/, { status: 403, code: "AuthorizationPermissionMismatch" }, "cannot list the files of mlplatform.dev.fraud version 7: the storage account answered HTTP 403 (AuthorizationPermissionMismatch)"],
                [/resource=file&/, { status: 409, code: "PathAlreadyExists" }, `cannot create MLmodel in ${TARGET}: the storage account answered HTTP 409 (PathAlreadyExists)`],
                [/action=append/, { status: 400 }, "cannot write MLmodel: the storage account answered HTTP 400 (no error code)"],
                [/action=flush/, { status: 400, code: "InvalidFlushPosition" }, "cannot flush MLmodel: the storage account answered HTTP 400 (InvalidFlushPosition)"],
            ];
            for (const [pattern, answer, message] of cases) {
                let done = false;
                const options = await through((req) => (!done && pattern.test(req.url!) ? ((done = true), answer) : undefined));
                await refused(message, options);
                await proxy!.stop();
                proxy = undefined;
            }
            let read = false;
            const options = await through((req) => (!read && req.method === "GET" && !req.url!.includes("resource=filesystem") ? ((read = true), { status: 404, code: "PathNotFound" }) : undefined));
            await assert.rejects(run(options), (err: Error) => {
                assert.match(err.message, /^cannot read (MLmodel|requirements\.txt|model\.pkl): the storage account answered HTTP 404 \(PathNotFound\)$/);
                assert.ok(!/sig=|sv=/.test(err.message), "no SAS in the message");
                return true;
            });
        });

        it("a storage 503 past the bound is an outage, with the attempts counted", async () => {
            const options = await through((req) => (req.url!.includes("resource=filesystem") ? { status: 503, code: "ServerBusy" } : undefined));
            await assert.rejects(run({ ...options, maxAttempts: 3 }), (err: Error) => {
                assert.ok(err instanceof TransientPromoteError);
                assert.strictEqual(err.message, "cannot list the files of mlplatform.dev.fraud version 7: the storage account answered HTTP 503 (ServerBusy) (gave up after 3 attempts); try again later: a rerun picks up where this one stopped");
                return true;
            });
            assert.deepStrictEqual(sleeps, [1000, 2000]);
        });

        it("a reset read or create is retried; a reset append is not repeated (a rerun copies the file again)", async () => {
            let resets = 2;
            const retried = await through((req) => (resets > 0 && (req.url!.includes("resource=file&") || (req.method === "GET" && !req.url!.includes("resource=filesystem"))) ? (resets--, "reset") : undefined));
            const result = await run(retried);
            assert.strictEqual(result.files, 3);
            assert.deepStrictEqual(sleeps, [1000, 2000], "the first file's create, reset twice");
            await proxy!.stop();
            sleeps = [];
            let appendReset = false;
            const options = await through((req) => (!appendReset && req.url!.includes("action=append") ? ((appendReset = true), "reset") : undefined));
            await assert.rejects(
                promote({ source: "mlplatform.dev.fraud", version: "7", target: "mlplatform.prd.other", alias: "champion" }, { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), sleep: async (ms) => void sleeps.push(ms), ...options }),
                (err: Error) => {
                    assert.ok(err instanceof TransientPromoteError, String(err));
                    assert.match(err.message, /^cannot write MLmodel: the storage account did not answer \(ECONNRESET\)$/);
                    return true;
                },
            );
            assert.deepStrictEqual(sleeps, []);
        });

        it("a storage account that is not there at all is not retried", async () => {
            await refused(/^cannot list the files of mlplatform\.dev\.fraud version 7: the storage account did not answer \(ENOTFOUND|EAI_AGAIN/, { storageEndpoint: (account) => `http://${account}.invalid` });
        });
    });

    describe("listing and copying", () => {
        it("skips directory entries, and follows the listing's continuation", async () => {
            const base = uc.storageEndpoint("x").replace(/\/storage\/x$/, "");
            let page = 0;
            const proxy = http.createServer(async (req, res) => {
                const answer = await fetch(new URL(req.url!, base), { method: req.method, body: req.method === "GET" ? undefined : await new Promise<Buffer>((resolve) => { const c: Buffer[] = []; req.on("data", (d) => c.push(d)); req.on("end", () => resolve(Buffer.concat(c))); }) });
                let body = Buffer.from(await answer.arrayBuffer());
                const headers: Record<string, string> = { "content-type": answer.headers.get("content-type") ?? "application/octet-stream" };
                if (req.url!.includes("resource=filesystem")) {
                    // A client that does not send the token would ask page 1 for ever: refuse a third listing.
                    if (page >= 2) return void (res.writeHead(400), res.end());
                    const listing = JSON.parse(body.toString()) as { paths: { name: string; isDirectory?: unknown }[] };
                    const dir = listing.paths[0].name.replace(/\/[^/]+$/, "");
                    // Page 1: a directory entry (both spellings) and the first file; page 2: the rest.
                    // The second page only for the request that names it.
                    const second = new URL(req.url!, base).searchParams.get("continuation") === "page-2";
                    const paths = !second ? [{ name: `${dir}/sub`, isDirectory: "true" }, { name: `${dir}/sub2`, isDirectory: true }, listing.paths[0]] : listing.paths.slice(1);
                    if (!second) headers["x-ms-continuation"] = "page-2";
                    page++;
                    body = Buffer.from(JSON.stringify({ paths }));
                }
                res.writeHead(answer.status, headers);
                res.end(body);
            });
            await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
            const port = (proxy.address() as AddressInfo).port;
            try {
                const result = await run({ storageEndpoint: (account) => `http://127.0.0.1:${port}/storage/${account}` });
                assert.strictEqual(result.files, 3);
                assert.strictEqual(page, 2, "two listing pages");
                assert.deepStrictEqual(uc.filesOf(uc.model(TARGET)!.versions.get(1)!.storageLocation), FILES);
            } finally {
                proxy.closeAllConnections();
                await new Promise((resolve) => proxy.close(resolve));
            }
        });

        it("a source with no files is refused before anything is written", async () => {
            uc.addModel("mlplatform.dev.empty", "ml-data-scientists", { 1: {} });
            await assert.rejects(
                promote({ source: "mlplatform.dev.empty", version: "1", target: TARGET, alias: "champion" }, { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: uc.storageEndpoint }),
                /^PromoteError: version 1 of mlplatform\.dev\.empty has no files at abfss:\/\/models@mlplatdevmodels\.dfs\.core\.windows\.net\/unity-catalog\/models\/mlplatform\.dev\.empty\/versions\/1: nothing to promote$/,
            );
        });

        it("appends a file's pieces once they reach the chunk size, and the rest at the end", async () => {
            uc.addModel("mlplatform.dev.sized", "ml-data-scientists", { 1: { MLmodel: signedOfLength(64) }, 2: { MLmodel: signedOfLength(65) } });
            const go = (version: string) => promote({ source: "mlplatform.dev.sized", version, target: TARGET, alias: "champion" }, { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: uc.storageEndpoint, chunkBytes: 64 });
            await go("1");
            assert.deepStrictEqual(uc.appends, [64]);
            uc.appends.length = 0;
            await go("2");
            assert.deepStrictEqual(uc.appends, [65], "one piece of 65 bytes is appended whole");
            uc.addModel("mlplatform.dev.blank", "ml-data-scientists", { 1: { MLmodel: signedOfLength(64), "empty.txt": "" } });
            uc.appends.length = 0;
            const blank = await promote({ source: "mlplatform.dev.blank", version: "1", target: "mlplatform.prd.blank", alias: "champion" }, { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: uc.storageEndpoint });
            assert.deepStrictEqual({ files: blank.files, bytes: blank.bytes, appends: uc.appends.length }, { files: 2, bytes: 64, appends: 1 }, "an empty file: created and flushed, no append (the one append is MLmodel's)");
        });

        it("appends whatever pieces arrive once together they reach the chunk size", async () => {
            uc.addModel("mlplatform.dev.pieces", "ml-data-scientists", { 1: { MLmodel: signedOfLength(65) } });
            let pieces: number[] = [];
            const base = uc.storageEndpoint("x").replace(/\/storage\/x$/, "");
            const proxy = http.createServer(async (req, res) => {
                const chunks: Buffer[] = [];
                for await (const c of req) chunks.push(c as Buffer);
                const answer = await fetch(new URL(req.url!, base), { method: req.method, body: chunks.length ? Buffer.concat(chunks) : undefined, headers: { "x-ms-version": String(req.headers["x-ms-version"] ?? "") } });
                const body = Buffer.from(await answer.arrayBuffer());
                res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/octet-stream" });
                // A file's content, in the pieces given, each sent on its own.
                if (req.method === "GET" && !req.url!.includes("resource=filesystem") && answer.status === 200) {
                    let at = 0;
                    for (const size of pieces) {
                        res.write(body.subarray(at, at + size));
                        at += size;
                        await new Promise((resolve) => setTimeout(resolve, 30));
                    }
                    return void res.end(body.subarray(at));
                }
                res.end(body);
            });
            await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
            const port = (proxy.address() as AddressInfo).port;
            const go = (target: string) =>
                promote({ source: "mlplatform.dev.pieces", version: "1", target, alias: "champion" }, { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: (account) => `http://127.0.0.1:${port}/storage/${account}`, chunkBytes: 64 });
            try {
                pieces = [30, 30];
                await go("mlplatform.prd.a");
                assert.deepStrictEqual(uc.appends, [65], "30 + 30 + 5: one append once 64 is reached");
                uc.appends.length = 0;
                pieces = [64];
                await go("mlplatform.prd.b");
                assert.deepStrictEqual(uc.appends, [64, 1], "exactly 64 is appended at once, the last byte on its own");
                assert.deepStrictEqual(uc.filesOf(uc.model("mlplatform.prd.b")!.versions.get(1)!.storageLocation), { MLmodel: signedOfLength(65) });
            } finally {
                proxy.closeAllConnections();
                await new Promise((resolve) => proxy.close(resolve));
            }
        });

        it("keeps the folders under the version's location", async () => {
            uc.addModel("mlplatform.dev.nested", "ml-data-scientists", { 1: { MLmodel: SIGNED_MLMODEL, "artifacts/model dir/data.bin": "d" } });
            const result = await promote({ source: "mlplatform.dev.nested", version: "1", target: TARGET, alias: "champion" }, { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: uc.storageEndpoint });
            assert.deepStrictEqual(uc.filesOf(uc.model(TARGET)!.versions.get(Number(result.targetVersion))!.storageLocation), { MLmodel: SIGNED_MLMODEL, "artifacts/model dir/data.bin": "d" });
        });
    });

    it("storage locations: the container, account and path, without a trailing slash", () => {
        assert.deepStrictEqual(parseStorageLocation("abfss://c@acct.dfs.core.windows.net/a/b//"), { container: "c", account: "acct", path: "a/b" });
        assert.deepStrictEqual(parseStorageLocation("abfss://c@acct.dfs.core.windows.net"), { container: "c", account: "acct", path: "" });
        for (const bad of ["xabfss://c@acct.dfs.core.windows.net/a", "abfss://c@acct.dfs.core.windows.net.evil.com/a", "abfss://c@acct.dfs.core.windows.netx/a"]) {
            assert.throws(() => parseStorageLocation(bad), /only Azure Data Lake Storage \(abfss:\/\/\) locations are supported/, bad);
        }
    });
});

describe("promote: what it sends, and odd answers read exactly", () => {
    let uc: FakeUnityCatalog;
    let url: string;
    let sleeps: number[];
    let proxy: Awaited<ReturnType<typeof storageProxy>> | undefined;
    beforeEach(async () => {
        ({ uc, url } = await startedUnityCatalog());
        sleeps = [];
    });
    afterEach(async () => {
        await proxy?.stop();
        proxy = undefined;
        await uc.stop();
    });

    const run = (extra: Partial<PromoteOptions> = {}, log: string[] = [], target = TARGET) =>
        promote(
            { source: "mlplatform.dev.fraud", version: "7", target, alias: "champion" },
            { host: url, credential: bearerToken(DEPLOYER_TOKEN, "test"), storageEndpoint: uc.storageEndpoint, sleep: async (ms) => void sleeps.push(ms), log: (l) => log.push(l), ...extra },
        );
    const refused = (message: string, extra: Partial<PromoteOptions> = {}, type: typeof PromoteError = PromoteError, target = TARGET) =>
        assert.rejects(run(extra, [], target), (err: Error) => {
            assert.ok(err instanceof type, String(err));
            assert.strictEqual(err.message, message);
            return true;
        });
    const through = async (decide: (req: http.IncomingMessage) => StorageDecision) => {
        proxy = await storageProxy(uc.url, decide);
        return { storageEndpoint: proxy.endpoint };
    };
    const hook = (route: string, answer: (body: unknown) => unknown) => {
        uc.answerHook = (r, body) => (r === route ? answer(body) : body);
    };

    it("sends JSON to the registry, the storage API version to storage, and each file in one 4 MiB-bounded append", async () => {
        await run();
        const posts = uc.calls.filter((c) => c.method === "POST");
        assert.ok(posts.length >= 5, "create, create version, two credentials, finalize, alias");
        for (const c of posts) assert.strictEqual(c.contentType, "application/json", c.path);
        assert.ok(uc.storageRequests.length > 0);
        for (const r of uc.storageRequests) assert.strictEqual(r.version, "2021-08-06", `${r.method} ${r.path}`);
        const appends = uc.storageRequests.filter((r) => r.action === "append");
        assert.strictEqual(appends.length, 3);
        for (const r of appends) assert.strictEqual(r.contentType, "application/octet-stream", r.path);
        assert.strictEqual(DEFAULT_CHUNK_BYTES, 4 * 1024 * 1024);
        assert.deepStrictEqual(uc.appends, Object.values(FILES).map((f) => Buffer.byteLength(f)), "one append per file");
    });

    it("a registry error that is JSON null, or has a code and no message", async () => {
        uc.faults.push({ route: "POST registered-models/create", status: 400, errorCode: "X" });
        hook("POST registered-models/create", () => null);
        await refused(`cannot create ${TARGET}: ${url} answered HTTP 400 without an MLflow error (is it a Databricks workspace with Unity Catalog? the route /api/2.0/mlflow/unity-catalog/registered-models/create is missing)`);
        uc.faults.push({ route: "POST registered-models/create", status: 400, errorCode: "INVALID_STATE" });
        hook("POST registered-models/create", () => ({ error_code: "INVALID_STATE" }));
        await refused(`cannot create ${TARGET}: INVALID_STATE: `);
    });

    it("a 502 that is not an MLflow error, past the bound, names the status only", async () => {
        for (let i = 0; i < 2; i++) uc.faults.push({ route: "GET model-versions/get", status: 502 });
        hook("GET model-versions/get", () => "Bad Gateway");
        await refused(
            `cannot read version 7 of mlplatform.dev.fraud: the registry at ${url} answered HTTP 502 (gave up after 2 attempts); it is failing: try again later: a rerun picks up where this one stopped`,
            { maxAttempts: 2 },
            TransientPromoteError,
        );
    });

    it("honours the registry's and the storage account's Retry-After in seconds, spaces and all", async () => {
        assert.strictEqual(retryDelayMs(1, " 3 "), 3000);
        uc.faults.push({ route: "GET model-versions/get", status: 503, retryAfter: "3" });
        const options = await through((req) => (req.url!.includes("resource=filesystem") && !sleeps.includes(4000) ? { status: 503, code: "ServerBusy", retryAfter: "4" } : undefined));
        await run(options);
        assert.deepStrictEqual(sleeps, [3000, 4000]);
    });

    it("without an injected sleep, really waits before another attempt", async () => {
        uc.faults.push({ route: "GET model-versions/get", status: 503 });
        const started = Date.now();
        await run({ sleep: undefined });
        assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
    });

    it("takes a host with several trailing slashes, and reaches storage at the account's Data Lake endpoint", async () => {
        assert.strictEqual((await run({ host: `${url}////` })).files, 3);
        assert.strictEqual(dataLakeEndpoint("mlplatdevmodels"), "https://mlplatdevmodels.dfs.core.windows.net");
    });

    it("a credential that cannot give a token is said as such, not as the registry's silence", async () => {
        const credential = entraToken({ getToken: async () => Promise.reject(new Error("AzureCliCredential: Please run 'az login'.")) });
        await refused("cannot read version 7 of mlplatform.dev.fraud: no Microsoft Entra token for Azure Databricks: AzureCliCredential: Please run 'az login'. Run `az login`, or set DATABRICKS_TOKEN, or the secret config mlflow-platform:registryToken", { credential });
        assert.deepStrictEqual(uc.calls, [], "nothing was asked");
        assert.deepStrictEqual(sleeps, [], "nor retried");
    });

    it("a rerun names the read of the earlier copy that failed", async () => {
        await run();
        uc.faults.push({ route: "GET model-versions/get", skip: 1, status: 400, errorCode: "INVALID_PARAMETER_VALUE", message: "gone" });
        await refused(`cannot read version 1 of ${TARGET}: INVALID_PARAMETER_VALUE: gone`);
        uc.answerHook = (route, body) => (route === "GET model-versions/get" && JSON.stringify(body).includes(TARGET) ? {} : body);
        await refused(`cannot read version 1 of ${TARGET}: the registry's answer has no model_version: it is not a Unity Catalog registry answer`);
    });

    it("a finalize or a poll without a model_version names that call", async () => {
        hook("POST model-versions/finalize", () => ({}));
        await refused(`cannot finalize version 1 of ${TARGET}: the registry's answer has no model_version: it is not a Unity Catalog registry answer`);
        uc.finalizeOutcome = "PENDING_REGISTRATION";
        uc.answerHook = (route, body) => (route === "GET model-versions/get" && JSON.stringify(body).includes("mlplatform.prd.other") ? {} : body);
        await refused("cannot read version 1 of mlplatform.prd.other: the registry's answer has no model_version: it is not a Unity Catalog registry answer", {}, PromoteError, "mlplatform.prd.other");
    });

    it("a rerun finds the earlier copy of a model whose name has a quote (doubled in the search filter)", async () => {
        const quoted = "mlplatform.prd.o'brien";
        assert.strictEqual((await run({}, [], quoted)).targetVersion, "1");
        const log: string[] = [];
        assert.strictEqual((await run({}, log, quoted)).targetVersion, "1");
        assert.ok(log.some((l) => l.includes("from an earlier promotion: not copied again")), log.join("\n"));
    });

    it("an answer of JSON null or a null model_version is not a Unity Catalog answer", async () => {
        for (const body of [null, { model_version: null }]) {
            hook("GET model-versions/get", () => body);
            await refused("cannot read version 7 of mlplatform.dev.fraud: the registry's answer has no model_version: it is not a Unity Catalog registry answer");
        }
        hook("POST model-versions/generate-temporary-credentials", () => null);
        await refused("the registry gave no Azure SAS token for mlplatform.dev.fraud version 7: only Azure storage is supported");
    });

    it("a search: entries that are not copies are skipped, and a page token that is not text ends it", async () => {
        hook("GET model-versions/search", () => ({
            model_versions: [null, { source: "models:/mlplatform.dev.fraud/7", status: "READY", version: "a1" }, { source: "models:/mlplatform.dev.fraud/7", status: "READY", version: "1a" }],
            next_page_token: 7,
        }));
        const result = await run();
        assert.strictEqual(result.targetVersion, "1", "a new version: none of the entries is a copy");
        assert.strictEqual(uc.calls.filter((c) => c.path.endsWith("model-versions/search")).length, 1);
    });

    it("of several earlier copies, in whatever order the search lists them, the newest is reused (two digits too)", async () => {
        uc.addModel(TARGET, "ml-deployers", Object.fromEntries(Array.from({ length: 12 }, (_, i) => [i + 1, FILES])));
        for (const v of [5, 12]) uc.model(TARGET)!.versions.get(v)!.source = "models:/mlplatform.dev.fraud/7";
        // Unity Catalog's search has no order: the fake's newest first, then oldest first.
        assert.strictEqual((await run()).targetVersion, "12");
        hook("GET model-versions/search", (body) => ({ ...(body as object), model_versions: [...((body as { model_versions: unknown[] }).model_versions ?? [])].reverse() }));
        const log: string[] = [];
        const result = await run({}, log);
        assert.strictEqual(result.targetVersion, "12");
        assert.ok(log.includes(`version 12 of ${TARGET} already holds models:/mlplatform.dev.fraud/7 (READY), from an earlier promotion: not copied again`), log.join("\n"));
    });

    it("storage: a 300 is a refusal, a listing without paths has no files, a slow answer times out at timeoutMs", async () => {
        let options = await through((req) => (req.url!.includes("resource=filesystem") ? { status: 300 } : undefined));
        await refused("cannot list the files of mlplatform.dev.fraud version 7: the storage account answered HTTP 300 (no error code)", options);
        await proxy!.stop();
        options = await through((req) => (req.url!.includes("resource=filesystem") ? { status: 200, body: "{}" } : undefined));
        await refused("version 7 of mlplatform.dev.fraud has no files at abfss://models@mlplatdevmodels.dfs.core.windows.net/unity-catalog/models/mlplatform.dev.fraud/versions/7: nothing to promote", options);
        await proxy!.stop();
        options = await through((req) => (req.url!.includes("resource=filesystem") ? { status: 200, body: '{"paths":[]}', delayMs: 600 } : undefined));
        await refused("cannot list the files of mlplatform.dev.fraud version 7: the storage account did not answer (ECONNABORTED) (gave up after 2 attempts)", { ...options, timeoutMs: 150, maxAttempts: 2 }, TransientPromoteError);
    });

    it("finalize: an unknown state, and a failure with the registry's reason", async () => {
        hook("POST model-versions/finalize", () => ({ model_version: { version: "1" } }));
        await refused(`version 1 of ${TARGET} is in an unknown state after finalizing; the alias was not moved`);
        hook("POST model-versions/finalize", () => ({ model_version: { version: "1", status: "FAILED_REGISTRATION", status_message: "no signature" } }));
        await refused("version 1 of mlplatform.prd.other is FAILED_REGISTRATION after finalizing (no signature); the alias was not moved", {}, PromoteError, "mlplatform.prd.other");
    });

    describe("network errors (scripted in axios's adapter: a real socket cannot fail with each code on demand)", () => {
        let original: typeof axios.defaults.adapter;
        beforeEach(() => {
            original = axios.defaults.adapter;
        });
        afterEach(() => {
            axios.defaults.adapter = original;
        });
        /** Registry calls fail with `codes` in turn (then go through); storage calls fail with `storage` when given. */
        const script = (codes: (string | undefined)[], storage?: () => never) => {
            const real = axios.getAdapter(original);
            const adapter: AxiosAdapter = async (config) => {
                const target = `${config.baseURL ?? ""}${config.url ?? ""}`;
                if (target.includes("/storage/")) {
                    if (storage) storage();
                    return real(config);
                }
                if (codes.length) {
                    const c = codes.shift();
                    throw new AxiosError(`failed with ${c}`, c);
                }
                return real(config);
            };
            // axios.create copies the defaults, so the instances a promotion makes use the script.
            axios.defaults.adapter = adapter;
        };

        it("refused, reset, broken or timed-out connections are retried, and the last is named with the count", async () => {
            for (const [code, reason] of [["ECONNREFUSED", "did not answer (ECONNREFUSED)"], ["EPIPE", "did not answer (EPIPE)"], ["EAI_AGAIN", "did not answer (EAI_AGAIN)"], ["ETIMEDOUT", "did not answer within 30000 ms"]]) {
                script([code, code]);
                sleeps = [];
                await refused(`cannot read version 7 of mlplatform.dev.fraud: the registry at ${url} ${reason} (gave up after 2 attempts); try again later: a rerun picks up where this one stopped`, { maxAttempts: 2 }, TransientPromoteError);
                assert.deepStrictEqual(sleeps, [1000], code);
            }
        });

        it("a host that does not resolve, or a failure without a code, is said at once", async () => {
            script(["ENOTFOUND"]);
            await refused(`cannot read version 7 of mlplatform.dev.fraud: the registry at ${url} did not answer (ENOTFOUND)`);
            script([undefined]);
            await refused(`cannot read version 7 of mlplatform.dev.fraud: the registry at ${url} did not answer (network error)`);
            assert.deepStrictEqual(sleeps, []);
            script([], () => {
                throw new TypeError("socket is not a function");
            });
            await refused("cannot list the files of mlplatform.dev.fraud version 7: the storage account did not answer (network error)");
        });
    });
});
