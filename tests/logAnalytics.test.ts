// lib/azure/logAnalytics: the query API as a guarded rollout reads it, against a local server that
// answers in the documented shapes (tables; OneAPI errors; 429 with Retry-After; 5xx; silence).
import * as assert from "assert";
import * as http from "http";
import type { AddressInfo } from "net";
import { LogAnalyticsClient, readStepWindow } from "../lib/azure/logAnalytics";
import { MetricsUnreadable } from "../lib/serving/rolloutGuard";

const WORKSPACE = "63613592-b6f7-4c3d-a390-22ba13102111";
const TOKEN = "la-token-sentinel-8f2a";
const WINDOW = { start: "2026-12-02T10:00:00Z", end: "2026-12-02T10:10:00Z" };

type Reply = { status: number; body?: unknown; headers?: Record<string, string>; silent?: boolean };

async function fakeQueryApi(replies: Reply[]) {
    const seen: { url: string; auth: string | undefined; body: { query?: string; timespan?: string } }[] = [];
    const server = http.createServer((req, res) => {
        let text = "";
        req.on("data", (chunk) => (text += chunk));
        req.on("end", () => {
            seen.push({ url: req.url ?? "", auth: req.headers.authorization, body: JSON.parse(text || "{}") });
            const reply = replies.length > 1 ? replies.shift()! : replies[0];
            if (reply.silent) return; // never answers: the client's timeout
            res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
            res.end(typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {}));
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const sleeps: number[] = [];
    const lines: string[] = [];
    const client = new LogAnalyticsClient({
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        token: async () => TOKEN,
        retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 5_000, sleep: async (ms) => void sleeps.push(ms) },
        timeoutMs: 300,
        log: (line) => lines.push(line),
    });
    return { client, seen, sleeps, lines, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

const TABLES = {
    tables: [
        {
            name: "PrimaryResult",
            columns: [{ name: "revision", type: "string" }, { name: "requests", type: "long" }, { name: "errors", type: "long" }, { name: "p95LatencyMs", type: "real" }],
            rows: [["prd-fraud--v7-b", 240, 1, 130.04], ["prd-fraud--v6-a", 2100, 3, 118.5]],
        },
    ],
};

async function unreadable(promise: Promise<unknown>): Promise<string> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof MetricsUnreadable, `expected MetricsUnreadable, got ${err}`);
        assert.ok(!err.message.includes(TOKEN), "the token is never in a message");
        return err.message;
    }
    throw new Error("expected the query to fail");
}

describe("Log Analytics query API (guarded rollout reads)", () => {
    it("POSTs the step's query and timespan with the bearer token and reads both revisions", async () => {
        const api = await fakeQueryApi([{ status: 200, body: TABLES }]);
        try {
            const { windows, query } = await readStepWindow(api.client, WORKSPACE, "prd-fraud", ["prd-fraud--v7-b", "prd-fraud--v6-a"], WINDOW);
            assert.deepStrictEqual(windows.get("prd-fraud--v7-b"), { revision: "prd-fraud--v7-b", requests: 240, errors: 1, p95LatencyMs: 130 });
            assert.deepStrictEqual(windows.get("prd-fraud--v6-a"), { revision: "prd-fraud--v6-a", requests: 2100, errors: 3, p95LatencyMs: 118.5 });
            assert.deepStrictEqual(api.seen.map((s) => [s.url, s.auth, s.body.timespan]), [[`/v1/workspaces/${WORKSPACE}/query`, `Bearer ${TOKEN}`, "2026-12-02T10:00:00Z/2026-12-02T10:10:00Z"]]);
            assert.strictEqual(api.seen[0].body.query, query);
        } finally {
            await api.close();
        }
    });

    it("waits as a 429's Retry-After says, then reads the answer", async () => {
        const api = await fakeQueryApi([{ status: 429, headers: { "retry-after": "2" }, body: { error: { code: "ThrottledError", message: "slow down" } } }, { status: 200, body: TABLES }]);
        try {
            await readStepWindow(api.client, WORKSPACE, "prd-fraud", ["prd-fraud--v7-b"], WINDOW);
            assert.deepStrictEqual(api.sleeps, [2000]);
            assert.deepStrictEqual(api.lines, [`query Log Analytics workspace ${WORKSPACE}: HTTP 429, attempt 1 of 3; again in 2 s`]);
        } finally {
            await api.close();
        }
    });

    it("gives up after the bound on 5xx and on silence, saying so", async () => {
        const down = await fakeQueryApi([{ status: 503 }]);
        try {
            assert.strictEqual(await unreadable(down.client.query(WORKSPACE, "x", "PT1H")), `cannot query Log Analytics workspace ${WORKSPACE}: HTTP 503 (3 attempts)`);
            assert.deepStrictEqual(down.sleeps, [100, 200]);
        } finally {
            await down.close();
        }
        const silent = await fakeQueryApi([{ status: 200, silent: true }]);
        try {
            assert.match(await unreadable(silent.client.query(WORKSPACE, "x", "PT1H")), /no answer within 0.3 s \(ECONNABORTED\) \(3 attempts\)$/);
            assert.strictEqual(silent.seen.length, 3);
        } finally {
            await silent.close();
        }
    });

    it("names a refusal by its status and OneAPI code, with what to do, and never retries it", async () => {
        const cases: [Reply, RegExp][] = [
            [{ status: 403, body: { error: { code: "InsufficientAccessError", message: "The provided credentials have insufficient access" } } }, /HTTP 403 InsufficientAccessError: the deploying identity needs Log Analytics Reader/],
            [{ status: 400, body: { error: { code: "BadArgumentError", message: "syntax" } } }, /HTTP 400 BadArgumentError: the query was refused/],
            [{ status: 404, body: { error: { code: "WorkspaceNotFoundError", message: "x" } } }, /HTTP 404 WorkspaceNotFoundError: no such workspace/],
            [{ status: 418, body: "<html>teapot</html>" }, /HTTP 418$/],
            [{ status: 200, body: "<html>login</html>" }, /HTTP 200 without a JSON body/],
        ];
        for (const [reply, message] of cases) {
            const api = await fakeQueryApi([reply]);
            try {
                assert.match(await unreadable(api.client.query(WORKSPACE, "x", "PT1H")), message);
                assert.strictEqual(api.seen.length, 1, `${reply.status} is not retried`);
            } finally {
                await api.close();
            }
        }
    });

    it("takes a 200 with an error (a partial result) as unreadable", async () => {
        const api = await fakeQueryApi([{ status: 200, body: { ...TABLES, error: { code: "PartialError", message: "There were some errors when processing your query." } } }]);
        try {
            assert.match(await unreadable(readStepWindow(api.client, WORKSPACE, "prd-fraud", ["prd-fraud--v7-b"], WINDOW)), /partial \(PartialError\)/);
        } finally {
            await api.close();
        }
    });

    it("refuses a workspace id that is not a GUID before calling", async () => {
        const api = await fakeQueryApi([{ status: 200, body: TABLES }]);
        try {
            assert.match(await unreadable(api.client.query("my-workspace", "x", "PT1H")), /"my-workspace" is not a GUID/);
            assert.strictEqual(api.seen.length, 0);
        } finally {
            await api.close();
        }
    });
});
