// One request table per fake, each answer checked against the rows of
// ../shared/mlflow-registry-contract.md (status, error_code, message, keys present or absent,
// content type), recorded on MLflow 2.11.3; where MLflow 3.17.2 answers differently (the fakes now
// follow it, and tests/differential.test.ts checks them against a real 3.17.2 server) the row says
// so. A fake that drifts from what the real servers answered fails here.
import * as assert from "assert";
import * as http from "http";
import { FakeMlflowServer, UNAUTHENTICATED_BODY } from "./helpers/fakeMlflow";
import { FakeScoringServer, FRAUD_COLUMNS } from "./helpers/fakeScoring";

interface Answer {
    status: number;
    contentType: string;
    headers: http.IncomingHttpHeaders;
    text: string;
    json?: any;
}

interface Row {
    name: string;
    method?: "GET" | "POST";
    path: string;
    headers?: Record<string, string>;
    body?: string;
    status: number;
    type: RegExp;
    errorCode?: string;
    /** Matched against `message` (JSON) or the whole body (text). */
    message?: RegExp;
    /** Key paths that must be present / absent; `a[].b` means in every element of list `a`. */
    present?: string[];
    absent?: string[];
    check?: (answer: Answer) => void;
}

const JSON_TYPE = /^application\/json/;
const HTML_TYPE = /^text\/html; charset=utf-8$/;

function send(base: string, row: Pick<Row, "method" | "path" | "headers" | "body">): Promise<Answer> {
    return new Promise((resolve, reject) => {
        const url = new URL(base);
        const req = http.request({ host: url.hostname, port: url.port, method: row.method ?? "GET", path: row.path, headers: row.headers ?? {} }, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (chunk) => (text += chunk));
            res.on("end", () => {
                const contentType = String(res.headers["content-type"] ?? "");
                let json: unknown;
                if (JSON_TYPE.test(contentType)) {
                    try {
                        json = JSON.parse(text);
                    } catch {
                        json = undefined;
                    }
                }
                resolve({ status: res.statusCode ?? 0, contentType, headers: res.headers, text, json });
            });
        });
        req.on("error", reject);
        if (row.body !== undefined) req.write(row.body);
        req.end();
    });
}

function valuesAt(value: any, path: string): unknown[] {
    let current: unknown[] = [value];
    for (const part of path.split(".")) {
        const list = part.endsWith("[]");
        const key = list ? part.slice(0, -2) : part;
        current = current.flatMap((v) => {
            const next = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[key] : undefined;
            return list ? (Array.isArray(next) ? next : [undefined]) : [next];
        });
    }
    return current;
}

function checkRow(row: Row, answer: Answer): void {
    const where = `${row.name}: ${answer.status} ${answer.contentType} ${answer.text.slice(0, 200)}`;
    assert.strictEqual(answer.status, row.status, where);
    assert.match(answer.contentType, row.type, where);
    if (row.errorCode) assert.strictEqual(answer.json?.error_code, row.errorCode, where);
    if (row.message) assert.match(answer.json ? String(answer.json.message) : answer.text, row.message, where);
    for (const path of row.present ?? []) assert.ok(valuesAt(answer.json, path).every((v) => v !== undefined), `${row.name}: ${path} present`);
    for (const path of row.absent ?? []) assert.ok(valuesAt(answer.json, path).every((v) => v === undefined), `${row.name}: ${path} absent`);
    row.check?.(answer);
}

const json = (body: unknown) => ({ headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
const mlflow = (route: string) => `/api/2.0/mlflow/${route}`;

describe("fakes against the contract", () => {
    describe("registry (MLflow tracking server: 2.11 contract, 3.17 where it changed)", () => {
        let server: FakeMlflowServer;
        beforeEach(async () => {
            server = new FakeMlflowServer();
            // A plain MLflow server: no Unity Catalog routes.
            server.serveUnityCatalog = false;
            await server.start();
            server
                .addModel("fraud", [{ version: 1, stage: "Archived" }, { version: 2, stage: "Production" }, { version: 3, stage: "Staging" }, { version: 4 }], { champion: 2 })
                .addModel("empty")
                .addModel("prodonly", [{ version: 1, stage: "Production" }]);
        });
        afterEach(async () => {
            assert.deepStrictEqual(server.unmodeled, []);
            await server.stop();
        });

        const rows: Row[] = [
            { name: "alias", path: mlflow("registered-models/alias?name=fraud&alias=champion"), status: 200, type: JSON_TYPE, present: ["model_version.aliases"], check: (a) => assert.strictEqual(a.json.model_version.version, "2") },
            { name: "unknown alias: 400, not 404", path: mlflow("registered-models/alias?name=fraud&alias=nosuch"), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^Registered model alias nosuch not found\.$/ },
            // MLflow 3.17 (2.11 answered 400 "Registered model alias champion not found.").
            { name: "alias of an unknown model: 404 since MLflow 3", path: mlflow("registered-models/alias?name=nosuch&alias=champion"), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST", message: /^Registered Model with name=nosuch not found$/ },
            { name: "aliases are case-sensitive", path: mlflow("registered-models/alias?name=fraud&alias=Champion"), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE" },
            { name: "alias param missing", path: mlflow("registered-models/alias?name=fraud"), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^Missing value for required parameter 'alias'\. See the API docs for more information about request parameters\.$/ },
            {
                name: "version: string version, empty fields omitted",
                path: mlflow("model-versions/get?name=fraud&version=3"),
                status: 200,
                type: JSON_TYPE,
                present: ["model_version.name", "model_version.creation_timestamp", "model_version.current_stage", "model_version.source", "model_version.run_id", "model_version.status"],
                absent: ["model_version.aliases", "model_version.tags"],
                check: (a) => assert.strictEqual(a.json.model_version.version, "3"),
            },
            { name: "unknown version", path: mlflow("model-versions/get?name=fraud&version=99"), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST", message: /^Model Version \(name=fraud, version=99\) not found$/ },
            { name: "version of an unknown model", path: mlflow("model-versions/get?name=nosuch&version=1"), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST" },
            { name: "non-integer version", path: mlflow("model-versions/get?name=fraud&version=abc"), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^Parameter 'version' must be an integer, got 'abc'\.$/ },
            {
                // MLflow 3.17 fills in aliases here (2.11 did not).
                name: "latest versions by stage, with their aliases",
                path: mlflow("registered-models/get-latest-versions?name=fraud&stages=Production"),
                status: 200,
                type: JSON_TYPE,
                present: ["model_versions[].aliases"],
                check: (a) => assert.deepStrictEqual(a.json.model_versions.map((v: any) => v.version), ["2"]),
            },
            { name: "stage names in any case", path: mlflow("registered-models/get-latest-versions?name=fraud&stages=production&stages=STAGING"), status: 200, type: JSON_TYPE, check: (a) => assert.deepStrictEqual(a.json.model_versions.map((v: any) => v.version), ["2", "3"]) },
            {
                name: "latest versions without stages: one per stage including None, sorted by version",
                path: mlflow("registered-models/get-latest-versions?name=fraud"),
                status: 200,
                type: JSON_TYPE,
                check: (a) => assert.deepStrictEqual(a.json.model_versions.map((v: any) => [v.version, v.current_stage]), [["1", "Archived"], ["2", "Production"], ["3", "Staging"], ["4", "None"]]),
            },
            { name: "no version in the stage: {}", path: mlflow("registered-models/get-latest-versions?name=prodonly&stages=Staging"), status: 200, type: JSON_TYPE, absent: ["model_versions"] },
            { name: "model without versions: {}", path: mlflow("registered-models/get-latest-versions?name=empty"), status: 200, type: JSON_TYPE, absent: ["model_versions"] },
            { name: "latest versions of an unknown model", path: mlflow("registered-models/get-latest-versions?name=nosuch"), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST", message: /^Registered Model with name=nosuch not found$/ },
            { name: "invalid stage", path: mlflow("registered-models/get-latest-versions?name=fraud&stages=Bogus"), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^Invalid Model Version stage: Bogus\. Value must be one of None, Staging, Production, Archived\.$/ },
            { name: "latest versions without name", path: mlflow("registered-models/get-latest-versions"), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE" },
            { name: "latest versions by POST", method: "POST", path: mlflow("registered-models/get-latest-versions"), ...json({ name: "fraud", stages: ["Production"] }), status: 200, type: JSON_TYPE, check: (a) => assert.strictEqual(a.json.model_versions[0].version, "2") },
            {
                name: "search at max_results=1: a token whenever more rows exist, no aliases",
                path: mlflow(`model-versions/search?filter=${encodeURIComponent("name='fraud'")}&order_by=${encodeURIComponent("version_number DESC")}&max_results=1`),
                status: 200,
                type: JSON_TYPE,
                present: ["next_page_token"],
                absent: ["model_versions[].aliases"],
                check: (a) => assert.deepStrictEqual(a.json.model_versions.map((v: any) => v.version), ["4"]),
            },
            { name: "search, last page: no token", path: mlflow(`model-versions/search?filter=${encodeURIComponent("name='fraud'")}&max_results=4`), status: 200, type: JSON_TYPE, present: ["model_versions"], absent: ["next_page_token"] },
            { name: "search without match: {}", path: mlflow(`model-versions/search?filter=${encodeURIComponent("name='nosuch'")}`), status: 200, type: JSON_TYPE, absent: ["model_versions", "next_page_token"] },
            { name: "search of a model without versions: {}", path: mlflow(`model-versions/search?filter=${encodeURIComponent("name='empty'")}`), status: 200, type: JSON_TYPE, absent: ["model_versions"] },
            { name: "search, bad filter key", path: mlflow(`model-versions/search?filter=${encodeURIComponent("x='1'")}`), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^Invalid attribute key 'x' specified\./ },
            {
                name: "search, bad order_by key",
                path: mlflow("model-versions/search?order_by=bogus"),
                status: 400,
                type: JSON_TYPE,
                errorCode: "INVALID_PARAMETER_VALUE",
                message: /^Invalid attribute key 'bogus' specified\. Valid keys are '\{'name', 'version_number', 'creation_timestamp', 'last_updated_timestamp'\}'$/,
            },
            { name: "search, max_results above 200000", path: mlflow("model-versions/search?max_results=200001"), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^Invalid value "200001" for parameter 'max_results' supplied:/ },
            { name: "download URI", path: mlflow("model-versions/get-download-uri?name=fraud&version=2"), status: 200, type: JSON_TYPE, check: (a) => assert.match(a.json.artifact_uri, /^runs:\//) },
            { name: "download URI of an unknown version", path: mlflow("model-versions/get-download-uri?name=fraud&version=99"), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST", message: /^Model Version \(name=fraud, version=99\) not found$/ },
            {
                name: "registered model",
                path: mlflow("registered-models/get?name=fraud"),
                status: 200,
                type: JSON_TYPE,
                present: ["registered_model.name", "registered_model.creation_timestamp", "registered_model.last_updated_timestamp", "registered_model.latest_versions", "registered_model.aliases"],
                absent: ["registered_model.description", "registered_model.latest_versions[].aliases"],
                check: (a) => assert.deepStrictEqual(a.json.registered_model.aliases, [{ alias: "champion", version: "2" }]),
            },
            { name: "registered model without versions or aliases", path: mlflow("registered-models/get?name=empty"), status: 200, type: JSON_TYPE, absent: ["registered_model.latest_versions", "registered_model.aliases", "registered_model.description"] },
            { name: "unknown registered model", path: mlflow("registered-models/get?name=nosuch"), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST", message: /^Registered Model with name=nosuch not found$/ },
            { name: "set alias", method: "POST", path: mlflow("registered-models/alias"), ...json({ name: "fraud", alias: "challenger", version: "3" }), status: 200, type: JSON_TYPE, check: (a) => assert.deepStrictEqual(a.json, {}) },
            {
                name: "set alias: version must be a string",
                method: "POST",
                path: mlflow("registered-models/alias"),
                ...json({ name: "fraud", alias: "challenger", version: 3 }),
                status: 400,
                type: JSON_TYPE,
                errorCode: "INVALID_PARAMETER_VALUE",
                message: /^Invalid value 3 for parameter 'version' supplied: {2}Hint: Value was of type 'int'\./,
            },
            { name: "reserved alias latest, any case", method: "POST", path: mlflow("registered-models/alias"), ...json({ name: "fraud", alias: "LaTeSt", version: "3" }), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^'latest' alias name \(case insensitive\) is reserved\.$/ },
            { name: "reserved alias V1", method: "POST", path: mlflow("registered-models/alias"), ...json({ name: "fraud", alias: "V1", version: "3" }), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^Version alias name 'V1' is reserved\.$/ },
            { name: "reserved alias v12", method: "POST", path: mlflow("registered-models/alias"), ...json({ name: "fraud", alias: "v12", version: "3" }), status: 400, type: JSON_TYPE, message: /^Version alias name 'v12' is reserved\.$/ },
            { name: "set alias on an unknown model", method: "POST", path: mlflow("registered-models/alias"), ...json({ name: "nosuch", alias: "x", version: "1" }), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST" },
            { name: "set alias on an unknown version", method: "POST", path: mlflow("registered-models/alias"), ...json({ name: "fraud", alias: "x", version: "99" }), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST" },
            {
                name: "POST with another content type",
                method: "POST",
                path: mlflow("registered-models/alias"),
                headers: { "Content-Type": "text/plain" },
                body: JSON.stringify({ name: "fraud", alias: "x", version: "1" }),
                status: 400,
                type: JSON_TYPE,
                errorCode: "INVALID_PARAMETER_VALUE",
                message: /^Bad Request\. Content-Type must be one of \['application\/json'\]\.$/,
            },
            { name: "POST without content type", method: "POST", path: mlflow("registered-models/alias"), body: "{}", status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /^Bad Request\. Content-Type header is missing\.$/ },
            { name: "health", path: "/health", status: 200, type: /./, message: /^OK$/ },
            { name: "version", path: "/version", status: 200, type: /./, message: /^3\.17\.2$/ },
            { name: "wrong base path: HTML 404", path: "/mlflow/api/2.0/mlflow/model-versions/get?name=fraud&version=1", status: 404, type: HTML_TYPE, message: /<title>404 Not Found<\/title>/ },
            { name: "Unity Catalog route on plain MLflow: HTML 404", path: "/api/2.1/unity-catalog/models/main.risk.fraud", status: 404, type: HTML_TYPE, message: /<title>404 Not Found<\/title>/ },
            { name: "unknown route under the prefix: HTML 404", path: mlflow("registered-models/nosuch"), status: 404, type: HTML_TYPE, message: /^<!doctype html>/ },
        ];
        for (const row of rows) {
            it(row.name, async () => checkRow(row, await send(server.url, row)));
        }

        it("pages search results with page_token until the token is absent", async () => {
            const seen: string[] = [];
            let token: string | undefined;
            do {
                const answer = await send(server.url, {
                    path: mlflow(`model-versions/search?filter=${encodeURIComponent("name='fraud'")}&order_by=${encodeURIComponent("version_number DESC")}&max_results=1${token ? `&page_token=${encodeURIComponent(token)}` : ""}`),
                });
                seen.push(...answer.json.model_versions.map((v: any) => v.version));
                token = answer.json.next_page_token;
            } while (token);
            assert.deepStrictEqual(seen, ["4", "3", "2", "1"]);
        });

        it("orders search results last-updated first without order_by", async () => {
            server.setAlias("fraud", "challenger", 1);
            const answer = await send(server.url, { path: mlflow(`model-versions/search?filter=${encodeURIComponent("name='fraud'")}`) });
            assert.strictEqual(answer.json.model_versions[0].version, "1");
        });

        it("MLflow 3 versions from a logged model carry a models:/m-<id> source, and (3.17.2) no model_id field", async () => {
            server.addModel("fraud3", [{ version: 1, modelId: "m-abc123" }]);
            const answer = await send(server.url, { path: mlflow("model-versions/get?name=fraud3&version=1") });
            assert.strictEqual(answer.json.model_version.model_id, undefined);
            assert.strictEqual(answer.json.model_version.source, "models:/m-abc123");
        });
    });

    describe("registry behind MLflow's basic-auth app", () => {
        let server: FakeMlflowServer;
        const basic = (user: string, password: string) => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });
        beforeEach(async () => {
            server = new FakeMlflowServer();
            await server.start();
            server.addModel("fraud", [{ version: 1 }]).addModel("other", [{ version: 1 }]);
            server.auth = { mode: "basic", users: { alice: { password: "alice-pass-for-tests" }, bob: { password: "bob-pass-for-tests", denied: ["fraud"] } } };
        });
        afterEach(() => server.stop());

        const unauthenticated = (a: Answer) => {
            assert.strictEqual(a.headers["www-authenticate"], 'Basic realm="mlflow"');
            assert.strictEqual(a.text, UNAUTHENTICATED_BODY, "one bare sentence, not an HTML page");
        };
        const rows: Row[] = [
            { name: "no credentials: 401", path: mlflow("registered-models/get?name=fraud"), status: 401, type: HTML_TYPE, check: unauthenticated },
            { name: "wrong password: 401", path: mlflow("registered-models/get?name=fraud"), headers: basic("alice", "wrong"), status: 401, type: HTML_TYPE, check: unauthenticated },
            { name: "a bearer token: 401", path: mlflow("registered-models/get?name=fraud"), headers: { Authorization: "Bearer fake-token-for-tests" }, status: 401, type: HTML_TYPE, check: unauthenticated },
            { name: "a permitted user", path: mlflow("registered-models/get?name=fraud"), headers: basic("alice", "alice-pass-for-tests"), status: 200, type: JSON_TYPE },
            { name: "a denied model: 403", path: mlflow("model-versions/get?name=fraud&version=1"), headers: basic("bob", "bob-pass-for-tests"), status: 403, type: HTML_TYPE, message: /^Permission denied$/ },
            { name: "a denied alias lookup: 403", path: mlflow("registered-models/alias?name=fraud&alias=x"), headers: basic("bob", "bob-pass-for-tests"), status: 403, type: HTML_TYPE },
            { name: "another model under the default permission", path: mlflow("model-versions/get?name=other&version=1"), headers: basic("bob", "bob-pass-for-tests"), status: 200, type: JSON_TYPE },
            { name: "an unknown model: 404", path: mlflow("registered-models/get?name=nosuch"), headers: basic("bob", "bob-pass-for-tests"), status: 404, type: JSON_TYPE, errorCode: "RESOURCE_DOES_NOT_EXIST" },
            {
                // 2.11 did not check search; 3.17 leaves out the models the user may not read.
                name: "search leaves out a denied model (MLflow 3.17)",
                path: mlflow(`model-versions/search?filter=${encodeURIComponent("name='fraud'")}`),
                headers: basic("bob", "bob-pass-for-tests"),
                status: 200,
                type: JSON_TYPE,
                absent: ["model_versions"],
            },
        ];
        for (const row of rows) {
            it(row.name, async () => checkRow(row, await send(server.url, row)));
        }
    });

    describe("scoring server (mlflow models serve)", () => {
        let server: FakeScoringServer;
        let origin: string;
        beforeEach(async () => {
            server = new FakeScoringServer();
            origin = new URL(await server.start()).origin;
        });
        afterEach(async () => {
            assert.deepStrictEqual(server.unmodeled, []);
            await server.stop();
        });

        const row = FRAUD_COLUMNS.map((_, i) => 100 + i);
        const record = Object.fromEntries(FRAUD_COLUMNS.map((c, i) => [c, row[i]]));
        const invoke = (body: unknown, type = "application/json") => ({ method: "POST" as const, path: "/invocations", headers: { "Content-Type": type }, body: typeof body === "string" ? body : JSON.stringify(body) });
        const predictions = (a: Answer) => assert.ok(Array.isArray(a.json.predictions), a.text);
        const rows: Row[] = [
            { name: "GET /ping", path: "/ping", status: 200, type: /./ },
            { name: "GET /health", path: "/health", status: 200, type: /./ },
            { name: "GET /version: JSON content type", path: "/version", status: 200, type: JSON_TYPE, message: /^3\.17\.2$/ },
            // MLflow 3.17's FastAPI scoring server (2.11's Flask one answered //ping with 200, and HTML 404/405 pages).
            { name: "GET //ping: 404 since MLflow 3", path: "//ping", status: 404, type: JSON_TYPE, check: (a) => assert.deepStrictEqual(a.json, { detail: "Not Found" }) },
            { name: "GET /invocations: 405 JSON since MLflow 3", path: "/invocations", status: 405, type: JSON_TYPE, check: (a) => assert.deepStrictEqual(a.json, { detail: "Method Not Allowed" }) },
            { name: "unknown route: 404 JSON since MLflow 3", path: "/score", status: 404, type: JSON_TYPE, check: (a) => assert.deepStrictEqual(a.json, { detail: "Not Found" }) },
            { name: "dataframe_split", ...invoke({ dataframe_split: { columns: FRAUD_COLUMNS, data: [row] } }), status: 200, type: JSON_TYPE, check: predictions },
            { name: "dataframe_records", ...invoke({ dataframe_records: [record] }), status: 200, type: JSON_TYPE, check: predictions },
            { name: "instances as records", ...invoke({ instances: [record] }), status: 200, type: JSON_TYPE, check: predictions },
            { name: "inputs as records, with params", ...invoke({ inputs: [record], params: { threshold: 0.5 } }), status: 200, type: JSON_TYPE, check: predictions },
            { name: "inputs as a dict of columns", ...invoke({ inputs: Object.fromEntries(FRAUD_COLUMNS.map((c, i) => [c, [row[i], row[i]]])) }), status: 200, type: JSON_TYPE, check: (a) => assert.strictEqual(a.json.predictions.length, 2) },
            { name: "CSV", ...invoke(`${FRAUD_COLUMNS.join(",")}\n${row.join(",")}\n`, "text/csv"), status: 200, type: JSON_TYPE, check: predictions },
            { name: "not JSON", ...invoke("{not json"), status: 400, type: JSON_TYPE, errorCode: "BAD_REQUEST", message: /^Invalid input\. Ensure that input is a valid JSON formatted string\. Error: 'JSONDecodeError\(.*\)'\nInput: / },
            { name: "empty body", ...invoke(""), status: 400, type: JSON_TYPE, errorCode: "BAD_REQUEST", message: /^Invalid input\. Ensure that input is a valid JSON formatted string\./ },
            { name: "a JSON array", ...invoke([record]), status: 400, type: JSON_TYPE, errorCode: "BAD_REQUEST", message: /^Invalid input\. The input must be a JSON dictionary with exactly one of the input fields \{.*\}\. Received a list\.$/ },
            { name: "no known key", ...invoke({ data: [row] }), status: 400, type: JSON_TYPE, errorCode: "BAD_REQUEST", message: /exactly one of the input fields \{.*\}\. Received dictionary with input fields: \[\]/ },
            { name: "several known keys, only those listed", ...invoke({ instances: [record], inputs: [record], data: 1 }), status: 400, type: JSON_TYPE, errorCode: "BAD_REQUEST", message: /Received dictionary with input fields: \['instances', 'inputs'\]/ },
            { name: "a value of the wrong type", ...invoke({ dataframe_records: [{ ...record, age: "old" }] }), status: 400, type: JSON_TYPE, errorCode: "BAD_REQUEST", message: /^Invalid input\. Data is not compatible with model signature\. Failed to convert column age to type 'float64'\./ },
            {
                name: "a null value: evaluation error with a stack_trace",
                ...invoke({ dataframe_records: [{ ...record, age: null }] }),
                status: 400,
                type: JSON_TYPE,
                errorCode: "BAD_REQUEST",
                message: /^Encountered an unexpected error while evaluating the model\. Verify that the serialized input Dataframe is compatible with the model for inference\.$/,
                present: ["stack_trace"],
            },
            {
                name: "missing columns: a many-line message, cause at the end",
                ...invoke({ dataframe_split: { columns: ["age"], data: [[35.5]] } }),
                status: 400,
                type: JSON_TYPE,
                errorCode: "INVALID_PARAMETER_VALUE",
                message: /^Failed to predict data '[^\n]*\n[\s\S]*Error: Failed to enforce schema of data '[\s\S]*' with schema '\[.*\]'\. Error: Model is missing inputs \['credit_card_balance', [^\]]*\]\.$/,
                absent: ["stack_trace"],
            },
            { name: "instances as lists of lists: missing inputs", ...invoke({ instances: [row] }), status: 400, type: JSON_TYPE, errorCode: "INVALID_PARAMETER_VALUE", message: /Model is missing inputs \['age', / },
            { name: "another content type: 415 plain text", ...invoke("age=1", "application/x-www-form-urlencoded"), status: 415, type: /^text\/plain/ },
        ];
        for (const r of rows) {
            it(r.name, async () => checkRow(r, await send(origin, r)));
        }

        it("starts as the real server does: connections refused, then a held first /ping, never a 503", async () => {
            const starting = new FakeScoringServer();
            starting.loadMs = 250;
            const startingOrigin = new URL(await starting.startLater(150)).origin;
            try {
                await assert.rejects(send(startingOrigin, { path: "/ping" }), /ECONNREFUSED/);
                await new Promise((resolve) => setTimeout(resolve, 200));
                const t = performance.now();
                const answer = await send(startingOrigin, { path: "/ping" });
                assert.strictEqual(answer.status, 200);
                assert.ok(performance.now() - t >= 150, "the first /ping was held until the model loaded");
            } finally {
                await starting.stop();
            }
        });
    });
});
