// The scoring client's decisions, each pinned against the fake scoring server: which answers are
// retried (502/503/504, resets) and which are not (500, timeouts), what each failure says, how an
// input and a scoring URI are checked before anything is sent, and how MLflow's messages are read.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { causeOf, checkScoringInput, endpointRoute, foldMessage, parseScoringUri, schemaColumns, score, scoringHint, ScoringError, type ScoringErrorKind } from "../lib/scoring/client";
import { FakeScoringServer } from "./helpers/fakeScoring";
import { PROJECT_DIR } from "./helpers/fixtures";

const sample = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "serving/sample-input.json"), "utf8"));
const KEYS = "dataframe_split, dataframe_records, instances, inputs";

async function failure(promise: Promise<unknown>, kind: ScoringErrorKind): Promise<ScoringError> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof ScoringError, `expected a ScoringError, got ${err}`);
        assert.strictEqual(err.kind, kind, err.message);
        return err;
    }
    assert.fail(`expected a ${kind} failure`);
}

describe("scoring client behaviour", () => {
    describe("inputs, checked before sending", () => {
        it("CSV text: empty is refused, anything else goes as is", () => {
            assert.strictEqual(checkScoringInput("  \n"), "the CSV input is empty");
            assert.strictEqual(checkScoringInput("a,b\n1,2\n"), undefined);
        });

        it("JSON must be an object with exactly one input key, plus optional params", () => {
            for (const bad of [null, 3, [1, 2], true]) assert.strictEqual(checkScoringInput(bad as never), `the input must be a JSON object with exactly one of ${KEYS} (or CSV text)`);
            assert.strictEqual(checkScoringInput({}), `the input must have exactly one of ${KEYS}, plus optional params; it has none of them`);
            assert.strictEqual(checkScoringInput({ dataframe_split: {}, inputs: {} }), `the input must have exactly one of ${KEYS}, plus optional params; it has "dataframe_split", "inputs"`);
            assert.strictEqual(checkScoringInput({ inputs: {}, extra: 1 }), `the input must have exactly one of ${KEYS}, plus optional params; it has "inputs", "extra"`);
            assert.strictEqual(checkScoringInput({ params: {} }), `the input must have exactly one of ${KEYS}, plus optional params; it has none of them`);
            assert.strictEqual(checkScoringInput({ inputs: {}, params: { k: 1 } }), undefined);
            for (const key of ["dataframe_split", "dataframe_records", "instances", "inputs"]) assert.strictEqual(checkScoringInput({ [key]: [] }), undefined, key);
        });
    });

    describe("MLflow's messages", () => {
        it("folds whitespace and keeps a long message's start and end within the bound", () => {
            assert.strictEqual(foldMessage("  a \n\n\t b  "), "a b");
            const exact = "x".repeat(40);
            assert.strictEqual(foldMessage(exact, 40), exact, "a message of exactly the bound is kept whole");
            const long = `abcdefghi ${"M".repeat(30)} ${"z".repeat(26)}`;
            assert.strictEqual(foldMessage(long, 40), `abcdefghi … ${"z".repeat(26)}`, "head of max/4 = 10, tail of 40 - 10 - 3 = 27, trimmed at the cut");
            const huge = "H".repeat(200) + "T".repeat(1000);
            assert.strictEqual(foldMessage(huge), `${"H".repeat(120)} … ${"T".repeat(377)}`, "the head is at most 120; the tail fills the 500");
        });

        it("reads the columns of a schema error, and only of one", () => {
            const message = "Failed to enforce schema of data '   a\n0  1' with schema '[...]'. Error: Model is missing inputs ['age', \"o'neil\", 3]. Note that there were extra inputs: ['Age', 'x'].";
            assert.deepStrictEqual(schemaColumns(message), { missing: ["age", "o'neil", "3"], extra: ["Age", "x"] });
            assert.deepStrictEqual(schemaColumns("Error: Model is missing inputs ['a']."), { missing: ["a"], extra: [] });
            assert.deepStrictEqual(schemaColumns("Error: Model is missing inputs []."), { missing: [], extra: [] });
            assert.strictEqual(schemaColumns("Failed to convert column age to type 'float64'"), undefined);
        });

        it("shows a schema error's cause without the tables before it, and other messages whole", () => {
            assert.strictEqual(causeOf("table\n  0 1\nError: Model is missing inputs ['a']."), "Model is missing inputs ['a'].");
            assert.strictEqual(causeOf("Error: Model is missing inputs ['a']."), "Model is missing inputs ['a'].", "at the very start too");
            assert.strictEqual(causeOf("Error: something else"), "Error: something else");
        });

        it("gives the hint that fits the message", () => {
            assert.strictEqual(scoringHint("Failed to convert column age to type 'float64'. more"), "Column age must hold values of type float64: send numbers, not strings or booleans.");
            assert.strictEqual(scoringHint("Invalid input. Ensure that input is a valid JSON formatted string."), "The body is not valid JSON.");
            assert.strictEqual(scoringHint("JSONDecodeError('x')"), "The body is not valid JSON.");
            assert.strictEqual(scoringHint("The input must be a JSON dictionary with exactly one of the input fields {...}"), `Send exactly one of ${KEYS}, plus optional params.`);
            assert.match(scoringHint("Encountered an Unexpected Error while evaluating the model."), /^The model failed on this input: look for null or missing values/);
            assert.strictEqual(scoringHint("anything"), "Check the input against the model's signature.");
            assert.strictEqual(
                scoringHint("Error: Model is missing inputs ['age', 'income']. Note that there were extra inputs: ['Age', 'zip']."),
                "The input lacks 2 columns the model's signature requires: age, income. It has 2 columns the model does not know: Age, zip. Column names are case-sensitive: rename Age -> age (and check zip). Send named columns (dataframe_split with columns, dataframe_records, or inputs as records or a dict of columns), not lists of lists.",
            );
            assert.strictEqual(
                scoringHint("Error: Model is missing inputs ['age']."),
                "The input lacks a column the model's signature requires: age. Send named columns (dataframe_split with columns, dataframe_records, or inputs as records or a dict of columns), not lists of lists.",
            );
        });
    });

    describe("scoring URIs", () => {
        it("completes a URI without a path, keeps /invocations, and refuses any other path with an example", () => {
            assert.deepStrictEqual(parseScoringUri("http://h:8080"), { uri: "http://h:8080/invocations", completed: true });
            assert.deepStrictEqual(parseScoringUri("https://h/"), { uri: "https://h/invocations", completed: true });
            assert.deepStrictEqual(parseScoringUri("https://h/x/invocations/"), { uri: "https://h/x/invocations", completed: false });
            assert.deepStrictEqual(parseScoringUri("https://h/x/invocations"), { uri: "https://h/x/invocations", completed: false });
            assert.throws(() => parseScoringUri("https://h/score/", "--url"), (err: Error) => {
                assert.ok(err instanceof ScoringError && err.kind === "invalid-input");
                assert.strictEqual(err.message, "--url https://h/score/ does not end in /invocations: MLflow scoring servers take predictions at <base>/invocations, for example https://h/score/invocations");
                return true;
            });
            assert.throws(() => parseScoringUri("https://h/invocations/more"), /does not end in \/invocations/);
            assert.throws(() => parseScoringUri("https://h/xinvocations"), /does not end in \/invocations/);
            assert.throws(() => parseScoringUri("nope"), /^ScoringError: the scoring URI "nope" is not a URL: use http\(s\):\/\/<host>\[:port\]\/invocations$/);
            assert.throws(() => parseScoringUri("ftp://h/invocations"), /^ScoringError: the scoring URI "ftp:\/\/h\/invocations" is not an http\(s\) URL: use http\(s\):\/\/<host>\[:port\]\/invocations$/);
        });

        it("derives /ping, /health and /version next to /invocations", () => {
            assert.strictEqual(endpointRoute("https://h/x/invocations", "ping"), "https://h/x/ping");
            assert.strictEqual(endpointRoute("https://h/invocations/", "health"), "https://h/health");
            assert.strictEqual(endpointRoute("https://h", "version"), "https://h/version");
        });
    });

    describe("answers and retries", () => {
        let server: FakeScoringServer;
        let uri: string;
        let sleeps: number[];
        beforeEach(async () => {
            server = new FakeScoringServer();
            server.columns = sample.dataframe_split.columns;
            uri = `${await server.start()}`;
            sleeps = [];
        });
        afterEach(async () => {
            assert.deepStrictEqual(server.unmodeled, []);
            await server.stop();
        });
        const opts = (extra = {}) => ({ sleep: async (ms: number) => void sleeps.push(ms), timeoutMs: 2000, ...extra });
        const invocations = () => server.requests.filter((r) => r.path === "/invocations");

        it("sends JSON as application/json and CSV as text/csv, with a bearer token only when given", async () => {
            await score(uri, sample, opts({ bearerToken: "tok-1" }));
            await score(uri, `${sample.dataframe_split.columns.join(",")}\n${sample.dataframe_split.data[0].join(",")}\n`, opts());
            assert.deepStrictEqual(invocations().map((r) => [r.contentType, r.authorization]), [
                ["application/json", "Bearer tok-1"],
                ["text/csv", undefined],
            ]);
        });

        it("refuses a bad input without sending it", async () => {
            const err = await failure(score(uri, {}, opts()), "invalid-input");
            assert.match(err.message, new RegExp(`it has none of them\\. Endpoint: ${uri}$`));
            assert.strictEqual(invocations().length, 0);
        });

        it("retries 502, 503 and 504 with doubling waits, then answers", async () => {
            for (const status of [502, 504]) server.faults.push({ status, body: "busy", contentType: "text/plain" });
            assert.ok(Array.isArray(await score(uri, sample, opts())));
            assert.deepStrictEqual(sleeps, [500, 1000]);
            sleeps.length = 0;
            server.faults.push({ status: 503, body: "" });
            await score(uri, sample, opts({ baseDelayMs: 10 }));
            assert.deepStrictEqual(sleeps, [10]);
        });

        it("gives up on 503s after the attempts: unavailable, saying how many", async () => {
            for (let i = 0; i < 2; i++) server.faults.push({ status: 503, body: '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"loading"}' });
            const err = await failure(score(uri, sample, opts({ maxAttempts: 2 })), "unavailable");
            assert.strictEqual(err.status, 503);
            assert.strictEqual(err.message, `the server failed (HTTP 503 TEMPORARILY_UNAVAILABLE: loading) after 2 attempts. Endpoint: ${uri}. The endpoint is starting or overloaded: wait, or give it more CPU and memory.`);
            assert.deepStrictEqual(sleeps, [500]);
        });

        it("does not retry a 500: the model's own error, with the logs to look at", async () => {
            server.faults.push({ status: 500, body: '{"error_code":"INTERNAL_ERROR","message":"boom","stack_trace":"/srv/app.py line 3"}' });
            const err = await failure(score(uri, sample, opts()), "server-error");
            assert.strictEqual(err.message, `the server failed (HTTP 500 INTERNAL_ERROR: boom). Endpoint: ${uri}. See the container logs for the model's error.`);
            assert.ok(!err.message.includes("stack_trace") && !err.message.includes("/srv/app.py"));
            assert.strictEqual(invocations().length, 1);
            server.faults.push({ status: 500, body: "", contentType: "text/plain" });
            assert.match((await failure(score(uri, sample, opts()), "server-error")).message, /^the server failed \(HTTP 500: \(empty\)\)\./);
        });

        it("retries a reset connection, and says how many attempts failed", async () => {
            server.faults.push({ reset: true });
            assert.ok(Array.isArray(await score(uri, sample, opts())));
            assert.deepStrictEqual(sleeps, [500]);
            for (let i = 0; i < 3; i++) server.faults.push({ reset: true });
            const err = await failure(score(uri, sample, opts()), "connection");
            assert.match(err.message, /^cannot connect \(ECONNRESET\) after 3 attempts\. Endpoint: .*\. Check the URL and that the endpoint is running \(npm run smoke waits for readiness\)\.$/);
            server.faults.push({ reset: true });
            const once = await failure(score(uri, sample, opts({ maxAttempts: 1 })), "connection");
            assert.match(once.message, /^cannot connect \(ECONNRESET\)\. Endpoint/, "one attempt: no count");
        });

        it("does not retry a timeout: the prediction may still be running", async () => {
            server.faults.push({ delayMs: 400, status: 200, body: '{"predictions":[1]}' });
            const err = await failure(score(uri, sample, opts({ timeoutMs: 100 })), "timeout");
            assert.strictEqual(err.message, `no answer within 100 ms. Endpoint: ${uri}. The model may be overloaded: try a larger size, or a smaller input.`);
            assert.strictEqual(invocations().length, 1);
            assert.deepStrictEqual(sleeps, []);
        });

        it("reads MLflow 2's {predictions} and MLflow 1's bare list; anything else at 200 is a bad response", async () => {
            server.faults.push({ status: 200, body: "[0, 1]" });
            assert.deepStrictEqual(await score(uri, sample, opts()), [0, 1]);
            server.faults.push({ status: 200, body: '{"predictions": {"a": 1}}' });
            assert.deepStrictEqual(await score(uri, sample, opts()), { a: 1 });
            server.faults.push({ status: 200, body: '{"result": 1}' });
            assert.match((await failure(score(uri, sample, opts()), "bad-response")).message, /^HTTP 200 without predictions: \{"result":1\}\. Endpoint: .*\. Check that the URL is an MLflow scoring endpoint \(…\/invocations\)\.$/);
            server.faults.push({ status: 200, body: "" });
            assert.match((await failure(score(uri, sample, opts()), "bad-response")).message, /^HTTP 200 without predictions: \(empty\)\./);
            server.faults.push({ status: 200, body: '{"predictions": [1' });
            assert.match((await failure(score(uri, sample, opts()), "bad-response")).message, /^HTTP 200 with a body that is not valid JSON: \{"predictions": \[1\. Endpoint: .*\. Check that the URL is an MLflow scoring endpoint\.$/);
            server.faults.push({ status: 200, body: "<html>hi</html>", contentType: "text/html" });
            assert.match((await failure(score(uri, sample, opts()), "bad-response")).message, /^HTTP 200 without predictions: /);
        });

        it("a 400 names the code and the cause, and hints what to change", async () => {
            server.faults.push({ status: 400, body: JSON.stringify({ error_code: "BAD_REQUEST", message: "Failed to convert column age to type 'float64'." }) });
            const err = await failure(score(uri, sample, opts()), "bad-request");
            assert.strictEqual(err.status, 400);
            assert.strictEqual(err.message, `the model refused the input (HTTP 400 BAD_REQUEST: Failed to convert column age to type 'float64'.). Endpoint: ${uri}. Column age must hold values of type float64: send numbers, not strings or booleans.`);
            server.faults.push({ status: 400, body: '{"message": "no code here"}' });
            assert.match((await failure(score(uri, sample, opts()), "bad-request")).message, /^the model refused the input \(HTTP 400: no code here\)\. /);
            server.faults.push({ status: 400, body: "not json at all", contentType: "text/plain" });
            assert.match((await failure(score(uri, sample, opts()), "bad-request")).message, /^the model refused the input \(HTTP 400: not json at all\)\. .*Check the input against the model's signature\.$/);
            server.faults.push({ status: 400, body: "{broken", contentType: "application/json" });
            assert.match((await failure(score(uri, sample, opts()), "bad-request")).message, /\(HTTP 400: \{broken\)/, "a broken error body is still reported by its status");
        });

        it("415, 401/403 and other statuses say what they mean; the token is never repeated", async () => {
            server.faults.push({ status: 415, body: "Unsupported", contentType: "text/plain" });
            assert.match((await failure(score(uri, "a,b\n1,2", opts()), "unsupported-media-type")).message, /^the server does not accept text\/csv \(HTTP 415: Unsupported\)\. Endpoint: .*\. Send JSON or CSV\.$/);
            server.faults.push({ status: 401, body: "bad token tok-secret-9", contentType: "text/plain" });
            const withToken = await failure(score(uri, sample, opts({ bearerToken: "tok-secret-9" })), "unauthorized");
            assert.ok(!withToken.message.includes("tok-secret-9"), withToken.message);
            assert.match(withToken.message, /^the endpoint refused the request \(HTTP 401: bad token .*\)\. Endpoint: .*\. The token is not accepted for this endpoint\.$/);
            server.faults.push({ status: 403, body: "Forbidden", contentType: "text/plain" });
            assert.match((await failure(score(uri, sample, opts()), "unauthorized")).message, /\(HTTP 403: Forbidden\)\. .*This endpoint needs a bearer token: set SCORING_TOKEN, or use --entra-scope with npm run smoke\.$/);
            server.faults.push({ status: 404, body: "nope", contentType: "text/plain" });
            const other = await failure(score(uri, sample, opts()), "bad-response");
            assert.strictEqual(other.status, 404);
            assert.match(other.message, /^unexpected HTTP 404: nope\. Endpoint: .*\. Check the URL\.$/);
        });
    });
});
