import * as assert from "assert";
import * as net from "net";
import { checkScoringInput, endpointRoute, foldMessage, parseScoringUri, score, ScoringError, type ScoringErrorKind } from "../lib/scoring/client";
import { FakeScoringServer } from "./helpers/fakeScoring";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "./helpers/fixtures";
import { startRealScoring, type RealScoring } from "./helpers/realScoring";

const sample = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "serving/sample-input.json"), "utf8"));

// What a real scoring server answers (predictions, schema errors, type errors, nulls) is tested
// against a real `mlflow models serve` below; the fake stays for faults a real server cannot
// produce on demand (503s, resets, timeouts, non-MLflow answers, an auth front).
describe("scoring client", () => {
    let server: FakeScoringServer;
    let uri: string;
    const noWait = { sleep: async () => undefined };

    beforeEach(async () => {
        server = new FakeScoringServer();
        server.columns = sample.dataframe_split.columns;
        uri = await server.start();
    });
    afterEach(async () => {
        assert.deepStrictEqual(server.unmodeled, []);
        await server.stop();
    });

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

    it("refuses a malformed input before sending it", async () => {
        assert.match(checkScoringInput({ data: [] }) ?? "", /exactly one of dataframe_split, dataframe_records, instances, inputs, plus optional params; it has "data"/);
        assert.match(checkScoringInput({ instances: [], inputs: [] }) ?? "", /it has "instances", "inputs"/);
        assert.match(checkScoringInput([1, 2] as never) ?? "", /must be a JSON object/);
        assert.strictEqual(checkScoringInput(sample), undefined);
        await failure(score(uri, { columns: [] }), "invalid-input");
        assert.strictEqual(server.requests.length, 0);
    });

    it("explains the server's 400 BAD_REQUEST for a wrong body key from the message", async () => {
        server.faults.push({
            status: 400,
            body: JSON.stringify({
                error_code: "BAD_REQUEST",
                message: "Invalid input. The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. Received dictionary with input fields: [].",
            }),
        });
        const err = await failure(score(uri, sample), "bad-request");
        assert.match(err.message, /the model refused the input \(HTTP 400 BAD_REQUEST: Invalid input\. The input must be a JSON dictionary/);
        assert.match(err.message, /Send exactly one of dataframe_split/);
    });

    it("says the body is not valid JSON when the server says so", async () => {
        // score() always sends valid JSON; this is the answer of a proxy or server that broke it.
        server.faults.push({ status: 400, body: JSON.stringify({ error_code: "BAD_REQUEST", message: "Invalid input. Ensure that input is a valid JSON formatted string. Error: 'JSONDecodeError('Expecting value: line 1 column 1 (char 0)')'\nInput: \nb''\n" }) });
        assert.match((await failure(score(uri, sample), "bad-request")).message, /The body is not valid JSON\./);
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

    it("derives the health routes from the scoring URI, never //ping", () => {
        assert.strictEqual(endpointRoute("http://a.westeurope.azurecontainer.io:8080/invocations", "ping"), "http://a.westeurope.azurecontainer.io:8080/ping");
        assert.strictEqual(endpointRoute("https://app.example.io/invocations/", "health"), "https://app.example.io/health");
        assert.strictEqual(endpointRoute("https://app.example.io/", "ping"), "https://app.example.io/ping");
        assert.strictEqual(endpointRoute("https://gw.example.io/models/fraud/invocations", "ping"), "https://gw.example.io/models/fraud/ping");
        assert.throws(() => endpointRoute("https://app.example.io/score", "ping"), /does not end in \/invocations: .* for example https:\/\/app\.example\.io\/score\/invocations/);
        assert.deepStrictEqual(parseScoringUri("http://h:8080"), { uri: "http://h:8080/invocations", completed: true });
        assert.throws(() => parseScoringUri("ftp://h/invocations"), /is not an http\(s\) URL/);
    });

    it("folds and bounds long messages, keeping their start and their end", () => {
        const long = `first line\n${"  x  \n".repeat(400)}the cause is here.`;
        const folded = foldMessage(long, 200);
        assert.ok(folded.length <= 200, String(folded.length));
        assert.match(folded, /^first line x x .* … .*x the cause is here\.$/);
        assert.strictEqual(foldMessage("short\n  message"), "short message");
    });
});

describe("scoring client on a real `mlflow models serve`", function () {
    this.timeout(60_000);
    let real: RealScoring;
    const columns = sample.dataframe_split.columns as string[];
    const row = sample.dataframe_split.data[0] as number[];
    const record: Record<string, number> = Object.fromEntries(columns.map((c, i) => [c, row[i]]));

    before(async function () {
        this.timeout(400_000);
        real = await startRealScoring();
    });
    after(async () => {
        await real?.stop();
    });

    async function refused(input: Parameters<typeof score>[1]): Promise<ScoringError> {
        try {
            await score(real.scoringUri, input, { sleep: async () => undefined });
        } catch (err) {
            assert.ok(err instanceof ScoringError, `expected a ScoringError, got ${err}`);
            assert.strictEqual(err.kind, "bad-request", err.message);
            assert.ok(err.message.includes(real.scoringUri), `names the endpoint: ${err.message}`);
            assert.ok(!err.message.includes("\n"), "whitespace folded");
            assert.doesNotMatch(err.message, /Traceback|site-packages|sqlstate|KAM00/, "no stack trace, only the message");
            return err;
        }
        assert.fail("expected the server to refuse the input");
    }

    it("scores the repository's sample input (dataframe_split): the model's own predictions", async () => {
        assert.deepStrictEqual(await score(real.scoringUri, sample), real.expected.sample_input_predictions);
    });

    it("accepts every MLflow JSON format and CSV, including inputs as a dict of columns", async () => {
        const expected = real.expected.sample_input_predictions[0];
        assert.deepStrictEqual(await score(real.scoringUri, { dataframe_records: [record, record] }), [expected, expected]);
        assert.deepStrictEqual(await score(real.scoringUri, { instances: [record] }), [expected]);
        assert.deepStrictEqual(await score(real.scoringUri, { inputs: [record], params: {} }), [expected]);
        assert.deepStrictEqual(await score(real.scoringUri, { inputs: Object.fromEntries(columns.map((c) => [c, [record[c]]])) }), [expected]);
        assert.deepStrictEqual(await score(real.scoringUri, real.sampleCsv), real.expected.sample_csv_predictions);
    });

    it("names the missing columns and the unexpected ones when every column is misspelt", async () => {
        const err = await refused({ dataframe_split: { columns: columns.map((c) => c.toUpperCase()), data: [row] } });
        // MLflow ends its message with "Model is missing inputs [...]. Note that there were extra inputs: [...]."
        const hint = err.message.slice(err.message.indexOf("The input lacks"));
        assert.match(hint, /^The input lacks 14 columns the model's signature requires: age, credit_card_balance, bank_account_balance, .*, transaction_amount\. /);
        for (const column of columns) {
            assert.ok(hint.includes(` ${column},`) || hint.includes(` ${column}.`), `hint names missing ${column}: ${hint}`);
            assert.ok(hint.includes(column.toUpperCase()), `hint names unexpected ${column.toUpperCase()}: ${hint}`);
        }
        assert.match(hint, /It has 14 columns the model does not know: /);
        assert.match(hint, /Column names are case-sensitive: rename .*AGE -> age/);
        assert.match(err.message, /HTTP 400 INVALID_PARAMETER_VALUE: Model is missing inputs \['age', /, "the message shows MLflow's cause, not its data tables");
    });

    it("names the one missing column and the unexpected one when some are misspelt or absent", async () => {
        const misspelt = columns.map((c) => (c === "credit_card_balance" ? "Credit_Card_Balance" : c));
        const err = await refused({ dataframe_split: { columns: misspelt, data: [row] } });
        assert.match(err.message, /The input lacks a column the model's signature requires: credit_card_balance\. It has a column the model does not know: Credit_Card_Balance\. Column names are case-sensitive: rename Credit_Card_Balance -> credit_card_balance\./);
        const partial = await refused({ dataframe_split: { columns: ["age"], data: [[35.5]] } });
        assert.match(partial.message, /The input lacks 13 columns the model's signature requires: credit_card_balance, .*transaction_amount\. Send named columns/);
        assert.doesNotMatch(partial.message, /does not know/);
    });

    it("reads lists of lists for a column signature as missing columns, as MLflow does", async () => {
        const err = await refused({ instances: [row] });
        assert.match(err.message, /Model is missing inputs \['age', /);
        assert.match(err.message, /does not know: 0, 1, 2, .*13/);
        assert.match(err.message, /not lists of lists/);
    });

    it("picks the hint from the message, not the error code: wrong types and nulls are BAD_REQUEST too", async () => {
        const typed = await refused({ dataframe_split: { columns, data: [["thirty-five", ...row.slice(1)]] } });
        assert.match(typed.message, /HTTP 400 BAD_REQUEST: Invalid input\. Data is not compatible with model signature\. Failed to convert column age to type 'float64'/);
        assert.match(typed.message, /Column age must hold values of type float64: send numbers/);
        const nulls = await refused({ dataframe_split: { columns, data: [[null, ...row.slice(1)]] } });
        assert.match(nulls.message, /HTTP 400 BAD_REQUEST: Encountered an unexpected error while evaluating the model/);
        assert.match(nulls.message, /look for null or missing values/);
    });
});
