import * as assert from "assert";
import * as net from "net";
import { checkScoringInput, endpointRoute, score, ScoringError, type ScoringErrorKind } from "../lib/scoring/client";
import { FakeScoringServer } from "./helpers/fakeScoring";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "./helpers/fixtures";

const sample = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "serving/sample-input.json"), "utf8"));

describe("scoring client", () => {
    let server: FakeScoringServer;
    let uri: string;
    const noWait = { sleep: async () => undefined };

    beforeEach(async () => {
        server = new FakeScoringServer();
        server.columns = sample.dataframe_split.columns;
        uri = await server.start();
    });
    afterEach(() => server.stop());

    async function failure(promise: Promise<unknown>, kind: ScoringErrorKind): Promise<ScoringError> {
        try {
            await promise;
        } catch (err) {
            assert.ok(err instanceof ScoringError, `expected a ScoringError, got ${err}`);
            assert.strictEqual(err.kind, kind, err.message);
            assert.ok(err.message.includes(uri) || kind === "connection", `names the endpoint: ${err.message}`);
            return err;
        }
        assert.fail(`expected ${kind}`);
    }

    it("scores the repository's sample input (dataframe_split) and returns the predictions", async () => {
        assert.deepStrictEqual(await score(uri, sample), [1]);
        assert.strictEqual(server.requests[0].contentType, "application/json");
    });

    it("accepts every MLflow JSON format and CSV", async () => {
        const columns = sample.dataframe_split.columns as string[];
        const row = sample.dataframe_split.data[0] as number[];
        const record = Object.fromEntries(columns.map((c, i) => [c, row[i]]));
        assert.deepStrictEqual(await score(uri, { dataframe_records: [record, { ...record, transaction_amount: 5 }] }), [1, 0]);
        assert.deepStrictEqual(await score(uri, { instances: [[1], [2], [3]] }), [0, 1, 0]);
        assert.deepStrictEqual(await score(uri, { inputs: [[1]], params: { threshold: 0.5 } }), [0]);
        assert.deepStrictEqual(await score(uri, `${columns.join(",")}\n${row.join(",")}\n`), [1]);
        assert.strictEqual(server.requests.at(-1)?.contentType, "text/csv");
    });

    it("refuses a malformed input before sending it", async () => {
        assert.match(checkScoringInput({ data: [] }) ?? "", /exactly one of dataframe_split, dataframe_records, instances, inputs, plus optional params; it has "data"/);
        assert.match(checkScoringInput({ instances: [], inputs: [] }) ?? "", /it has "instances", "inputs"/);
        assert.match(checkScoringInput([1, 2] as never) ?? "", /must be a JSON object/);
        assert.strictEqual(checkScoringInput(sample), undefined);
        await failure(score(uri, { columns: [] }), "invalid-input");
        assert.strictEqual(server.requests.length, 0);
    });

    it("explains the server's 400 BAD_REQUEST for a wrong body key", async () => {
        server.faults.push({
            status: 400,
            body: JSON.stringify({ error_code: "BAD_REQUEST", message: "The input must be a JSON dictionary with exactly one of the input fields {...}" }),
        });
        const err = await failure(score(uri, sample), "bad-request");
        assert.match(err.message, /the model refused the input \(HTTP 400 BAD_REQUEST: The input must be a JSON dictionary/);
        assert.match(err.message, /Send exactly one of dataframe_split/);
    });

    it("explains a 400 INVALID_PARAMETER_VALUE for input that does not match the signature", async () => {
        const err = await failure(score(uri, { dataframe_split: { columns: ["age"], data: [[1]] } }), "bad-request");
        assert.match(err.message, /HTTP 400 INVALID_PARAMETER_VALUE: Failed to predict data/);
        assert.match(err.message, /does not match the model's signature/);
    });

    it("explains a 415 with a plain-text body", async () => {
        server.faults.push({ status: 415, contentType: "text/plain", body: "This predictor only supports the following content types" });
        const err = await failure(score(uri, sample), "unsupported-media-type");
        assert.match(err.message, /does not accept application\/json \(HTTP 415: This predictor only supports/);
    });

    it("retries 502/503/504 with a bound, then succeeds", async () => {
        server.faults.push({ status: 503, body: "" }, { status: 502, body: "" });
        const sleeps: number[] = [];
        assert.deepStrictEqual(await score(uri, sample, { sleep: async (ms) => void sleeps.push(ms), baseDelayMs: 100 }), [1]);
        assert.deepStrictEqual(sleeps, [100, 200]);
        assert.strictEqual(server.requests.length, 3);
    });

    it("gives up on 503 after the bound with a clear message", async () => {
        server.faults.push({ status: 503 }, { status: 503 }, { status: 504 });
        const err = await failure(score(uri, sample, noWait), "unavailable");
        assert.match(err.message, /the server failed \(HTTP 504: \(empty\)\) after 3 attempts/);
    });

    it("does not retry a 500: the model itself failed", async () => {
        server.faults.push({ status: 500, body: JSON.stringify({ error_code: "INTERNAL_ERROR", message: "division by zero" }) });
        const err = await failure(score(uri, sample, noWait), "server-error");
        assert.match(err.message, /HTTP 500 INTERNAL_ERROR: division by zero/);
        assert.strictEqual(server.requests.length, 1);
    });

    it("retries a reset connection, but not a timeout", async () => {
        server.faults.push({ reset: true });
        assert.deepStrictEqual(await score(uri, sample, noWait), [1]);
        server.faults.push({ delayMs: 300, status: 200, body: '{"predictions":[0]}' });
        const before = server.requests.length;
        const err = await failure(score(uri, sample, { ...noWait, timeoutMs: 100 }), "timeout");
        assert.match(err.message, /no answer within 100 ms/);
        assert.strictEqual(server.requests.length, before + 1, "one attempt only");
    });

    it("fails clearly when nothing listens", async () => {
        const port = await new Promise<number>((resolve) => {
            const s = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (s.address() as net.AddressInfo).port;
                s.close(() => resolve(p));
            });
        });
        const err = await failure(score(`http://127.0.0.1:${port}/invocations`, sample, noWait), "connection");
        assert.match(err.message, /cannot connect \(ECONNREFUSED\) after 3 attempts\. Endpoint: http:\/\/127\.0\.0\.1:\d+\/invocations/);
    });

    it("reports answers that are not MLflow's", async () => {
        server.faults.push({ status: 200, body: '{"result": 1}' });
        assert.match((await failure(score(uri, sample), "bad-response")).message, /HTTP 200 without predictions/);
        server.faults.push({ status: 200, body: "{not json" });
        assert.match((await failure(score(uri, sample), "bad-response")).message, /not valid JSON/);
    });

    it("answers a bare list (MLflow 1) as the predictions", async () => {
        server.faults.push({ status: 200, body: "[0, 1]" });
        assert.deepStrictEqual(await score(uri, sample), [0, 1]);
    });

    it("sends a bearer token when given, and never repeats it", async () => {
        server.requiredToken = "scoring-token-abc123";
        const unauthorized = await failure(score(uri, sample), "unauthorized");
        assert.match(unauthorized.message, /HTTP 401: Unauthorized.*needs a bearer token/);
        assert.deepStrictEqual(await score(uri, sample, { bearerToken: "scoring-token-abc123" }), [1]);
        assert.strictEqual(server.requests.at(-1)?.authorization, "Bearer scoring-token-abc123");
        const wrong = await failure(score(uri, sample, { bearerToken: "wrong-token-xyz789" }), "unauthorized");
        assert.ok(!wrong.message.includes("wrong-token-xyz789"));
    });

    it("derives the health routes from the scoring URI", () => {
        assert.strictEqual(endpointRoute("http://a.westeurope.azurecontainer.io:8080/invocations", "ping"), "http://a.westeurope.azurecontainer.io:8080/ping");
        assert.strictEqual(endpointRoute("https://app.example.io/invocations", "health"), "https://app.example.io/health");
    });
});
