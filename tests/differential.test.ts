// The fakes against the real thing: identical requests go to a real MLflow 3 server and to
// FakeMlflowServer (and to a real `mlflow models serve` and FakeScoringServer) seeded with the same models, versions, stages and aliases, and the answers must
// agree in HTTP status, Content-Type, error_code, and the set of keys present (recursively),
// with the values too except ids, timestamps, paging tokens and messages that quote server state.
// A difference means the fake lies about MLflow, and every test built on it may pass for nothing.
import * as assert from "assert";
import axios from "axios";
import * as fs from "fs";
import * as path from "path";
import { FakeMlflowServer, type FakeVersion } from "./helpers/fakeMlflow";
import { FakeScoringServer } from "./helpers/fakeScoring";
import { PROJECT_DIR } from "./helpers/fixtures";
import { startRealScoring, type RealScoring } from "./helpers/realScoring";
import { realMlflow, uniqueModelName, type RealMlflow } from "./helpers/realMlflow";
import { RealRegistry, seedSource, type SeedModel } from "./helpers/realRegistry";

export interface Answer {
    status: number;
    contentType: string;
    body: unknown;
}

interface Request {
    method?: "GET" | "POST" | "DELETE";
    /** Path and query from the server's root (its prefix, if any, is added). */
    path: string;
    /** A string is sent as is; anything else as JSON. */
    body?: unknown;
    /** null: no Content-Type header at all. Default for a body: application/json. */
    contentType?: string | null;
    authorization?: string;
}

export async function send(base: string, request: Request): Promise<Answer> {
    const headers: Record<string, string> = {};
    let data: string | undefined;
    if (request.body !== undefined) {
        data = typeof request.body === "string" ? request.body : JSON.stringify(request.body);
        if (request.contentType !== null) headers["Content-Type"] = request.contentType ?? "application/json";
    } else if (request.contentType) headers["Content-Type"] = request.contentType;
    if (request.authorization) headers.Authorization = request.authorization;
    const answer = await axios.request<string>({
        url: `${base}${request.path}`,
        method: request.method ?? "GET",
        data,
        headers,
        // axios would add a Content-Type of its own to a body sent without one.
        transformRequest: [(body, h) => {
            if (request.contentType === null && h) delete h["Content-Type"];
            return body;
        }],
        validateStatus: () => true,
        responseType: "text",
        transformResponse: [(body) => body],
        timeout: 20_000,
    });
    const contentType = String(answer.headers["content-type"] ?? "").toLowerCase();
    let body: unknown = answer.data;
    if (contentType.includes("json")) {
        try {
            body = JSON.parse(answer.data);
        } catch {
            body = `(invalid JSON) ${answer.data}`;
        }
    }
    return { status: answer.status, contentType, body };
}

/** Keys whose values differ between any two servers (ids, clocks, paging state, run ids). */
const VARYING = /(^|_)(timestamp|token|id)$|^run_link$|^artifact_uri$/;

/**
 * What must agree: every key (recursively), array lengths, and values except VARYING ones;
 * `message` values are compared after replacing the model names the two sides share.
 */
export function shape(value: unknown, key = ""): unknown {
    if (Array.isArray(value)) return value.map((v) => shape(v, key));
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(
            Object.keys(value)
                .sort()
                .map((k) => [k, shape((value as Record<string, unknown>)[k], k)]),
        );
    }
    if (VARYING.test(key)) return `<${typeof value}>`;
    return value;
}

/** Every difference between two answers, as readable lines; empty when they agree. */
export function differences(real: Answer, fake: Answer, ignoreValues: string[] = []): string[] {
    const out: string[] = [];
    if (real.status !== fake.status) out.push(`status: real ${real.status}, fake ${fake.status}`);
    if (real.contentType !== fake.contentType) out.push(`content-type: real ${real.contentType}, fake ${fake.contentType}`);
    const walk = (a: unknown, b: unknown, at: string) => {
        if (Array.isArray(a) || Array.isArray(b)) {
            if (!Array.isArray(a) || !Array.isArray(b)) {
                out.push(`${at}: real ${JSON.stringify(a)}, fake ${JSON.stringify(b)}`);
                return;
            }
            if (a.length !== b.length) out.push(`${at}: real has ${a.length} items, fake ${b.length}`);
            for (let i = 0; i < Math.min(a.length, b.length); i++) walk(a[i], b[i], `${at}[${i}]`);
            return;
        }
        if (typeof a === "object" && a !== null && typeof b === "object" && b !== null) {
            const ka = Object.keys(a);
            const kb = Object.keys(b);
            for (const k of ka) if (!kb.includes(k)) out.push(`${at}.${k}: only the real server sends it (${JSON.stringify((a as Record<string, unknown>)[k])})`);
            for (const k of kb) if (!ka.includes(k)) out.push(`${at}.${k}: only the fake sends it (${JSON.stringify((b as Record<string, unknown>)[k])})`);
            for (const k of ka) if (kb.includes(k)) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
            return;
        }
        const key = at.replace(/\[\d+\]$/, "").split(".").pop() ?? "";
        if (ignoreValues.includes(key)) return;
        if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${at}: real ${JSON.stringify(a)}, fake ${JSON.stringify(b)}`);
    };
    walk(shape(real.body), shape(fake.body), "body");
    return out;
}

/** The fake's seed for a model seeded on the real server with the same spec. */
export function fakeVersions(name: string, model: SeedModel): FakeVersion[] {
    return (model.versions ?? []).map((v, i) => ({ version: i + 1, stage: v.stage, tags: v.tags, source: v.source ?? seedSource(name, i + 1), runId: "" }));
}

describe("differential: the fake registry answers as real MLflow 3 does", function () {
    // Real servers, shared by the whole run, answer slowly on a busy 2-core machine (basic auth
    // hashes the password on every request).
    this.timeout(90_000);
    let real: RealMlflow;
    let fake: FakeMlflowServer;
    const names = { fraud: uniqueModelName("diff-fraud"), empty: uniqueModelName("diff-empty"), plain: uniqueModelName("diff-plain"), other: uniqueModelName("diff-other") };
    const models: Record<keyof typeof names, SeedModel> = {
        fraud: {
            versions: [{ stage: "Archived" }, { stage: "Production", tags: { team: "risk" } }, { stage: "Staging" }, {}, { stage: "Production" }, {}],
            aliases: { champion: 2, challenger: 3 },
            description: "fraud scoring",
        },
        empty: {},
        plain: { versions: [{}] },
        other: { versions: [{ stage: "Staging" }, {}] },
    };

    before(async function () {
        this.timeout(120_000);
        real = await realMlflow("plain");
        fake = new FakeMlflowServer();
        // A plain MLflow server has no Unity Catalog routes.
        fake.serveUnityCatalog = false;
        await fake.start();
        const registry = new RealRegistry(real);
        for (const [key, name] of Object.entries(names) as [keyof typeof names, string][]) {
            await registry.seed(name, models[key]);
            fake.addModel(name, fakeVersions(name, models[key]), models[key].aliases, models[key].description);
        }
    });
    after(async () => {
        await fake?.stop();
    });

    /** Sends the request to both; fails listing every difference. */
    async function compare(request: Request, ignoreValues: string[] = []): Promise<{ real: Answer; fake: Answer }> {
        const [r, f] = await Promise.all([send(real.url, request), send(fake.url, request)]);
        const diff = differences(r, f, ignoreValues);
        assert.deepStrictEqual(diff, [], `${request.method ?? "GET"} ${request.path}:\n  ${diff.join("\n  ")}\nreal: ${JSON.stringify(r.body).slice(0, 800)}`);
        return { real: r, fake: f };
    }

    const q = (params: Record<string, string | string[]>) =>
        Object.entries(params)
            .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `${encodeURIComponent(k)}=${encodeURIComponent(x)}`))
            .join("&");
    const api = (route: string, params: Record<string, string | string[]> = {}) => `/api/2.0/mlflow/${route}${Object.keys(params).length ? `?${q(params)}` : ""}`;
    const unknown = "diff-no-such-model";

    const cases: [string, () => Request][] = [
        ["registered-models/get", () => ({ path: api("registered-models/get", { name: names.fraud }) })],
        ["registered-models/get, a model with no versions", () => ({ path: api("registered-models/get", { name: names.empty }) })],
        ["registered-models/get, a model without description or aliases", () => ({ path: api("registered-models/get", { name: names.plain }) })],
        ["registered-models/get, unknown model", () => ({ path: api("registered-models/get", { name: unknown }) })],
        ["registered-models/get, no name", () => ({ path: api("registered-models/get") })],
        ["alias", () => ({ path: api("registered-models/alias", { name: names.fraud, alias: "champion" }) })],
        ["alias, another case", () => ({ path: api("registered-models/alias", { name: names.fraud, alias: "Champion" }) })],
        ["alias, unknown alias", () => ({ path: api("registered-models/alias", { name: names.fraud, alias: "nope" }) })],
        ["alias, unknown model", () => ({ path: api("registered-models/alias", { name: unknown, alias: "champion" }) })],
        ["alias, no alias", () => ({ path: api("registered-models/alias", { name: names.fraud }) })],
        ["get-latest-versions GET, no stages", () => ({ path: api("registered-models/get-latest-versions", { name: names.fraud }) })],
        ["get-latest-versions GET, one stage", () => ({ path: api("registered-models/get-latest-versions", { name: names.fraud, stages: "Production" }) })],
        ["get-latest-versions GET, stages in lower case", () => ({ path: api("registered-models/get-latest-versions", { name: names.fraud, stages: ["production", "staging"] }) })],
        ["get-latest-versions GET, a stage nobody is in", () => ({ path: api("registered-models/get-latest-versions", { name: names.plain, stages: "Production" }) })],
        ["get-latest-versions GET, invalid stage", () => ({ path: api("registered-models/get-latest-versions", { name: names.fraud, stages: "Bogus" }) })],
        ["get-latest-versions GET, no versions", () => ({ path: api("registered-models/get-latest-versions", { name: names.empty }) })],
        ["get-latest-versions GET, unknown model", () => ({ path: api("registered-models/get-latest-versions", { name: unknown }) })],
        ["get-latest-versions GET, no name", () => ({ path: api("registered-models/get-latest-versions") })],
        ["get-latest-versions POST", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: { name: names.fraud, stages: ["Staging", "Production"] } })],
        ["get-latest-versions POST, no stages", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: { name: names.other } })],
        ["get-latest-versions POST, JSON with a charset", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: { name: names.fraud }, contentType: "application/json; charset=utf-8" })],
        ["get-latest-versions POST, text/plain", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: { name: names.fraud }, contentType: "text/plain" })],
        ["get-latest-versions POST, form-encoded", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: `name=${names.fraud}`, contentType: "application/x-www-form-urlencoded" })],
        ["get-latest-versions POST, no Content-Type", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: { name: names.fraud }, contentType: null })],
        ["get-latest-versions POST, a body that is not JSON", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: "not json" })],
        ["get-latest-versions POST, an empty body", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: "" })],
        ["get-latest-versions POST, a JSON list", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: [1] })],
        ["get-latest-versions POST, invalid stage", () => ({ method: "POST", path: api("registered-models/get-latest-versions"), body: { name: names.fraud, stages: ["Bogus"] } })],
        ["model-versions/get", () => ({ path: api("model-versions/get", { name: names.fraud, version: "2" }) })],
        ["model-versions/get, a version with two aliases' neighbour", () => ({ path: api("model-versions/get", { name: names.fraud, version: "3" }) })],
        ["model-versions/get, unknown version", () => ({ path: api("model-versions/get", { name: names.fraud, version: "99" }) })],
        ["model-versions/get, unknown model", () => ({ path: api("model-versions/get", { name: unknown, version: "1" }) })],
        ["model-versions/get, version not an integer", () => ({ path: api("model-versions/get", { name: names.fraud, version: "abc" }) })],
        ["model-versions/get, no version", () => ({ path: api("model-versions/get", { name: names.fraud }) })],
        ["get-download-uri", () => ({ path: api("model-versions/get-download-uri", { name: names.fraud, version: "2" }) })],
        ["get-download-uri, unknown version", () => ({ path: api("model-versions/get-download-uri", { name: names.fraud, version: "99" }) })],
        ["get-download-uri, unknown model", () => ({ path: api("model-versions/get-download-uri", { name: unknown, version: "1" }) })],
        ["search, newest first, one result", () => ({ path: api("model-versions/search", { filter: `name='${names.fraud}'`, order_by: "version_number DESC", max_results: "1" }) })],
        ["search, oldest first", () => ({ path: api("model-versions/search", { filter: `name='${names.fraud}'`, order_by: "version_number ASC", max_results: "4" }) })],
        ["search, no order_by (last updated first)", () => ({ path: api("model-versions/search", { filter: `name='${names.other}'` }) })],
        ["search, double quotes in the filter", () => ({ path: api("model-versions/search", { filter: `name="${names.plain}"` }) })],
        ["search, unknown model", () => ({ path: api("model-versions/search", { filter: `name='${unknown}'` }) })],
        ["search, model with no versions", () => ({ path: api("model-versions/search", { filter: `name='${names.empty}'` }) })],
        ["search, bad filter key", () => ({ path: api("model-versions/search", { filter: "bogus='x'" }) })],
        ["search, bad order_by key", () => ({ path: api("model-versions/search", { filter: `name='${names.fraud}'`, order_by: "bogus DESC" }) })],
        ["search, max_results too large", () => ({ path: api("model-versions/search", { filter: `name='${names.fraud}'`, max_results: "200001" }) })],
        ["search, max_results at the bound", () => ({ path: api("model-versions/search", { filter: `name='${names.plain}'`, max_results: "200000" }) })],
        ["set alias, reserved 'latest'", () => ({ method: "POST", path: api("registered-models/alias"), body: { name: names.fraud, alias: "Latest", version: "1" } })],
        ["set alias, reserved 'V1'", () => ({ method: "POST", path: api("registered-models/alias"), body: { name: names.fraud, alias: "V1", version: "1" } })],
        ["set alias, reserved 'v12'", () => ({ method: "POST", path: api("registered-models/alias"), body: { name: names.fraud, alias: "v12", version: "1" } })],
        ["set alias, version as a number", () => ({ method: "POST", path: api("registered-models/alias"), body: { name: names.fraud, alias: "x", version: 3 } })],
        ["set alias, unknown model", () => ({ method: "POST", path: api("registered-models/alias"), body: { name: unknown, alias: "x", version: "1" } })],
        ["set alias, unknown version", () => ({ method: "POST", path: api("registered-models/alias"), body: { name: names.plain, alias: "x", version: "9" } })],
        ["set alias, text/plain", () => ({ method: "POST", path: api("registered-models/alias"), body: { name: names.plain, alias: "x", version: "1" }, contentType: "text/plain" })],
        ["a GET of a POST-only route", () => ({ path: api("registered-models/create") })],
        ["a POST to a GET-only route", () => ({ method: "POST", path: api("registered-models/get"), body: { name: names.fraud } })],
        ["an unknown route under the API", () => ({ path: api("no-such-route") })],
        ["an unknown route", () => ({ path: "/no/such/route" })],
        ["the API under a prefix the server does not have", () => ({ path: `/mlflow${api("registered-models/get", { name: names.fraud })}` })],
        ["Unity Catalog routes on a plain server", () => ({ path: `/api/2.1/unity-catalog/models/main.risk.${names.fraud}/aliases/champion` })],
        ["Unity Catalog mirror routes on a plain server", () => ({ path: api("unity-catalog/registered-models/alias", { name: `main.risk.${names.fraud}`, alias: "champion" }) })],
        ["/health", () => ({ path: "/health" })],
        ["/version", () => ({ path: "/version" })],
    ];
    // Their messages list valid keys as a Python set, in an order that changes with each server process.
    const setOrdered = new Set(["search, bad filter key", "search, bad order_by key"]);
    for (const [title, request] of cases) {
        it(title, async () => {
            await compare(request(), setOrdered.has(title) ? ["message"] : []);
        });
    }

    it("search pages: a token whenever more rows exist, and page_token returns the next page", async () => {
        const first = { path: api("model-versions/search", { filter: `name='${names.fraud}'`, order_by: "version_number DESC", max_results: "4" }) };
        const [r1, f1] = await Promise.all([send(real.url, first), send(fake.url, first)]);
        assert.deepStrictEqual(differences(r1, f1), []);
        const token = (a: Answer) => (a.body as { next_page_token?: string }).next_page_token ?? "";
        assert.ok(token(r1) && token(f1), "both send a token with more rows to come");
        const next = (a: Answer) => ({ path: api("model-versions/search", { filter: `name='${names.fraud}'`, order_by: "version_number DESC", max_results: "4", page_token: token(a) }) });
        const [r2, f2] = await Promise.all([send(real.url, next(r1)), send(fake.url, next(f1))]);
        assert.deepStrictEqual(differences(r2, f2), []);
        assert.deepStrictEqual((r2.body as { model_versions: { version: string }[] }).model_versions.map((v) => v.version), ["2", "1"]);
    });

    it("a version registered from a logged model (MLflow 3) agrees, but for its own model id", async () => {
        const name = uniqueModelName("diff-logged");
        await new RealRegistry(real).seed(name, { versions: [{ loggedModel: true }] });
        fake.addModel(name, [{ version: 1, modelId: "m-0123456789abcdef0123456789abcdef", runId: "" }]);
        const { real: answer } = await compare({ path: api("model-versions/get", { name, version: "1" }) }, ["source"]);
        assert.match((answer.body as { model_version: { source: string } }).model_version.source, /^models:\/m-[0-9a-f]+$/);
        await compare({ path: api("model-versions/get-download-uri", { name, version: "1" }) });
        await compare({ path: api("registered-models/get", { name }) }, ["source"]);
    });

    it("setting an alias, then reading it, agrees", async () => {
        await compare({ method: "POST", path: api("registered-models/alias"), body: { name: names.other, alias: "shadow", version: "2" } });
        await compare({ path: api("model-versions/get", { name: names.other, version: "2" }) });
        await compare({ path: api("registered-models/get", { name: names.other }) });
    });
});

describe("differential: the fake scoring server answers as real `mlflow models serve` does", function () {
    this.timeout(90_000);
    let real: RealScoring;
    let fake: FakeScoringServer;
    let fakeOrigin: string;
    const sample = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "serving", "sample-input.json"), "utf8"));
    const columns = sample.dataframe_split.columns as string[];
    const row = sample.dataframe_split.data[0] as number[];
    const record = Object.fromEntries(columns.map((c, i) => [c, row[i]]));

    before(async function () {
        this.timeout(400_000);
        real = await startRealScoring();
        fake = new FakeScoringServer();
        fakeOrigin = new URL(await fake.start()).origin;
    });
    after(async () => {
        await fake?.stop();
        await real?.stop();
    });

    const invocations = (body: unknown, contentType: string | null = "application/json"): Request => ({ method: "POST", path: "/invocations", body, contentType });
    const withRow = (change: (r: unknown[]) => void) => {
        const r: unknown[] = [...row];
        change(r);
        return { dataframe_split: { columns, data: [r] } };
    };
    // [title, request, message compared?]: messages quoting a Python set (its order changes with
    // each server process) or a JSON parser's own wording are compared by status and keys only.
    const cases: [string, Request, boolean][] = [
        ["GET /ping", { path: "/ping" }, true],
        ["GET /health", { path: "/health" }, true],
        ["GET /version", { path: "/version" }, true],
        ["GET /invocations", { path: "/invocations" }, true],
        ["GET //ping (a URI joined naively)", { path: "//ping" }, true],
        ["an unknown route", { path: "/no/such/route" }, true],
        ["dataframe_split", invocations(sample), true],
        ["dataframe_records", invocations({ dataframe_records: [record, record] }), false],
        ["instances as records", invocations({ instances: [record] }), false],
        ["inputs as records, with params", invocations({ inputs: [record], params: {} }), false],
        ["inputs as a dict of columns", invocations({ inputs: Object.fromEntries(columns.map((c, i) => [c, [row[i]]])) }), false],
        ["CSV", { method: "POST", path: "/invocations", body: `${columns.join(",")}\n${row.join(",")}\n`, contentType: "text/csv" }, false],
        ["a body that is not JSON", invocations("not json"), true],
        ["an empty body", invocations(""), true],
        ["a JSON list", invocations([record]), false],
        ["no input key", invocations({ data: [] }), false],
        ["two input keys", invocations({ instances: [record], inputs: [record] }), false],
        ["every column misspelt", invocations({ dataframe_split: { columns: columns.map((c) => c.toUpperCase()), data: [row] } }), false],
        ["some columns missing", invocations({ dataframe_split: { columns: ["age", "Credit_Card_Balance"], data: [[35.5, 1], [40, 2]] } }), false],
        ["lists of lists for a column signature", invocations({ instances: [row] }), false],
        ["a string where a number belongs", invocations(withRow((r) => (r[0] = "thirty-five"))), true],
        ["a null value", invocations(withRow((r) => (r[0] = null))), true],
        ["text/plain", invocations(JSON.stringify(sample), "text/plain"), true],
        ["no Content-Type", invocations(JSON.stringify(sample), null), true],
    ];
    for (const [title, request, compareMessage] of cases) {
        it(title, async () => {
            const [r, f] = await Promise.all([send(real.origin, request), send(fakeOrigin, request)]);
            // Predictions are the model's own (the fake's rule is simpler): compare their count.
            const diff = differences(r, f, [...(compareMessage ? [] : ["message"]), "predictions", "stack_trace"]);
            assert.deepStrictEqual(diff, [], `${request.method ?? "GET"} ${request.path}:\n  ${diff.join("\n  ")}\nreal: ${JSON.stringify(r.body).slice(0, 600)}`);
            if (!compareMessage && typeof r.body === "object" && r.body !== null && "message" in r.body) {
                // Same kind of message: same first words, same cause at the end.
                const [rm, fm] = [(r.body as { message: string }).message, (f.body as { message: string }).message];
                // Up to the first quote: after it come pandas tables and Python sets, laid out by the server.
                const lead = (m: string) => m.split(/['{\n]/)[0];
                assert.strictEqual(lead(fm), lead(rm), `message starts alike:\nreal: ${rm.slice(0, 200)}\nfake: ${fm.slice(0, 200)}`);
                assert.strictEqual(/Model is missing inputs/.test(fm), /Model is missing inputs/.test(rm));
                assert.strictEqual(/Note that there were extra inputs/.test(fm), /Note that there were extra inputs/.test(rm));
            }
        });
    }
});

describe("differential: the fake's basic mode answers as MLflow's basic-auth app does", function () {
    this.timeout(90_000);
    let real: RealMlflow;
    let fake: FakeMlflowServer;
    const secret = uniqueModelName("diff-secret");
    const open = uniqueModelName("diff-open");
    const bob = { username: `diffbob${process.pid}`, password: "diff-bob-pass-1234" };
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    let admin = "";

    before(async function () {
        this.timeout(300_000);
        real = await realMlflow("auth");
        admin = basic(real.username!, real.password!);
        const registry = new RealRegistry(real);
        const seed: SeedModel = { versions: [{ stage: "Production" }, {}], aliases: { champion: 1 } };
        await registry.seed(secret, seed);
        await registry.seed(open, seed);
        await registry.createUser(bob.username, bob.password);
        await registry.deny(bob.username, secret);
        fake = new FakeMlflowServer();
        fake.serveUnityCatalog = false;
        fake.auth = { mode: "basic", users: { [real.username!]: { password: real.password! }, [bob.username]: { password: bob.password, denied: [secret] } } };
        await fake.start();
        for (const name of [secret, open]) fake.addModel(name, fakeVersions(name, seed), seed.aliases);
    });
    after(async () => {
        await fake?.stop();
    });

    const api = (route: string) => `/api/2.0/mlflow/${route}`;
    const cases: [string, () => Request][] = [
        ["no credentials", () => ({ path: api(`registered-models/get?name=${open}`) })],
        ["a wrong password", () => ({ path: api(`registered-models/get?name=${open}`), authorization: basic(real.username!, "wrong") })],
        ["an unknown user", () => ({ path: api(`registered-models/get?name=${open}`), authorization: basic("nobody", "x") })],
        ["a bearer token", () => ({ path: api(`registered-models/get?name=${open}`), authorization: "Bearer some-token" })],
        ["the admin", () => ({ path: api(`registered-models/get?name=${secret}`), authorization: admin })],
        ["a user denied the model: get", () => ({ path: api(`registered-models/get?name=${secret}`), authorization: basic(bob.username, bob.password) })],
        ["a user denied the model: alias", () => ({ path: api(`registered-models/alias?name=${secret}&alias=champion`), authorization: basic(bob.username, bob.password) })],
        ["a user denied the model: version", () => ({ path: api(`model-versions/get?name=${secret}&version=1`), authorization: basic(bob.username, bob.password) })],
        ["a user denied the model: latest versions", () => ({ path: api(`registered-models/get-latest-versions?name=${secret}`), authorization: basic(bob.username, bob.password) })],
        ["a user denied the model: download URI", () => ({ path: api(`model-versions/get-download-uri?name=${secret}&version=1`), authorization: basic(bob.username, bob.password) })],
        ["a user denied the model: search", () => ({ path: api(`model-versions/search?filter=${encodeURIComponent(`name='${secret}'`)}`), authorization: basic(bob.username, bob.password) })],
        ["the same user, another model (default permission)", () => ({ path: api(`registered-models/alias?name=${open}&alias=champion`), authorization: basic(bob.username, bob.password) })],
        ["the same user, an unknown model", () => ({ path: api("registered-models/get?name=diff-no-such-model"), authorization: basic(bob.username, bob.password) })],
        ["/health without credentials", () => ({ path: "/health" })],
        ["/version without credentials", () => ({ path: "/version" })],
        ["an unknown route without credentials", () => ({ path: "/no/such/route" })],
        ["an unknown route with credentials", () => ({ path: "/no/such/route", authorization: admin })],
    ];
    for (const [title, request] of cases) {
        it(title, async () => {
            const [r, f] = await Promise.all([send(real.url, request()), send(fake.url, request())]);
            const diff = differences(r, f);
            assert.deepStrictEqual(diff, [], `${title}:\n  ${diff.join("\n  ")}\nreal: ${JSON.stringify(r.body).slice(0, 600)}`);
        });
    }
});
