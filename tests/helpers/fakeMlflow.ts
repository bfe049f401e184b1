// An in-process registry that answers as a real MLflow 3.17.2 server was observed to answer
// (tracking server, and the same store behind MLflow's basic-auth app; tests/differential.test.ts
// sends both the same requests and fails on any difference), plus the Databricks Unity Catalog
// routes as Databricks documents them (those cannot run here).
//
// What it models: versions as strings, empty fields omitted, `{}` (key absent) for an empty search
// or get-latest-versions, 400 (not 404) for an unknown alias on a known model but 404 for an
// unknown model (MLflow 3; 2.11 answered 400 for both), 400s for invalid stages, filter and
// order_by keys, max_results and non-integer versions, paging tokens whenever more rows exist,
// reserved aliases (`latest`, `v1`, `V1`), Content-Type checks on POST, error bodies with MLflow 3's
// `sqlstate` and `error_class` beside `error_code` and `message`, a bare-sentence HTML 401 with
// WWW-Authenticate, `Permission denied` 403s per registered model (search leaves out the models a user may not
// read; 2.11 did not check search), HTML 404s for routes it does not
// have and HTML 405s for a known route asked with the wrong method. Still true from 2.11.3: the
// alias, search and latest-versions shapes, the 401/403 bodies and the unknown-route page. A request
// it does not model gets the real server's unknown-route answer (HTML 404), never an exception;
// such requests are listed in `unmodeled` so a test can notice. Faults can be queued to test
// retries (429, 5xx, timeouts, resets), which a real server cannot produce on demand.
import * as http from "http";
import type { AddressInfo } from "net";

export interface FakeVersion {
    version: number;
    stage?: "None" | "Staging" | "Production" | "Archived";
    status?: "READY" | "PENDING_REGISTRATION" | "FAILED_REGISTRATION";
    statusMessage?: string;
    /** Reads of this version before a PENDING_REGISTRATION turns READY. */
    readyAfterReads?: number;
    source?: string;
    runId?: string;
    tags?: Record<string, string>;
    createdAt?: number;
    /** MLflow 3: the logged model (`m-…`) the version was registered from; its source is `models:/m-…`. */
    modelId?: string;
}

interface ModelRecord {
    name: string;
    createdAt: number;
    description?: string;
    aliases: Map<string, number>;
    versions: Map<number, FakeVersion & { updatedAt: number }>;
}

export type FakeAuth =
    | { mode: "none" }
    /**
     * MLflow's basic-auth app. Permissions are per registered model: `denied` lists the models a
     * user may not read; every other model gets the default (read) permission.
     */
    | { mode: "basic"; users: Record<string, { password: string; denied?: string[] }> }
    /** Databricks-style bearer tokens. The contract records no Databricks 401, so MLflow's is reused. */
    | { mode: "bearer"; tokens: string[] };

export interface Fault {
    /** Only requests whose path matches. */
    path?: RegExp;
    status?: number;
    body?: string;
    contentType?: string;
    retryAfter?: string;
    /** Answer after this long (the client's timeout may fire first). */
    delayMs?: number;
    /** Destroy the socket without answering. */
    reset?: boolean;
}

export interface RecordedRequest {
    method: string;
    path: string;
    query: URLSearchParams;
    authorization?: string;
    accept?: string;
}

export const JSON_TYPE = "application/json";
export const HTML_TYPE = "text/html; charset=utf-8";
export const HTML_404 =
    '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n';
export const UNAUTHENTICATED_BODY =
    "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.";
export const HTML_405 =
    '<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n';
export const HTML_500 =
    '<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.</p>\n';
export const MLFLOW_VERSION = "3.17.2";
/** MLflow 3 error bodies carry these beside error_code and message (observed on 3.17.2). */
export const ERROR_CLASSES: Record<string, string> = { INVALID_PARAMETER_VALUE: "INVALID_PARAMETER_VALUE", RESOURCE_DOES_NOT_EXIST: "RESOURCE_NOT_FOUND" };
export const SQLSTATE = "KAM00";

const STAGES = ["None", "Staging", "Production", "Archived"] as const;
const MAX_SEARCH_RESULTS = 200_000;
const ORDER_BY_KEYS = ["name", "version_number", "creation_timestamp", "last_updated_timestamp"];
const FILTER_KEYS = ["name", "run_id", "source_path", "version_number"];
// Real MLflow prints these as Python sets, whose order changes with each server process's hash
// seed; the fake prints one fixed order.
const FILTER_KEYS_TEXT = "'{'name', 'run_id', 'source_path', 'version_number'}'";
const ORDER_BY_KEYS_TEXT = "'{'name', 'version_number', 'creation_timestamp', 'last_updated_timestamp'}'";
const PREFIX = "/api/2.0/mlflow/";
const UC_PREFIX = "/api/2.1/unity-catalog/models/";

type Params = Record<string, unknown>;

class Answered extends Error {}

export class FakeMlflowServer {
    readonly requests: RecordedRequest[] = [];
    readonly faults: Fault[] = [];
    /** Requests answered with the unknown-route 404 because the fake does not model them. */
    readonly unmodeled: string[] = [];
    auth: FakeAuth = { mode: "none" };
    /** Whether the Unity Catalog routes exist (a Databricks workspace); a plain MLflow server has none. */
    serveUnityCatalog = true;
    /** Largest page the Unity Catalog versions route returns. */
    ucPageSize = 100;
    /**
     * A Unity Catalog parent that does not exist yet (a stack's first run): an unknown model's
     * routes answer 404 with this code instead of RESOURCE_DOES_NOT_EXIST.
     */
    ucMissingParent?: "CATALOG_DOES_NOT_EXIST" | "SCHEMA_DOES_NOT_EXIST" | "METASTORE_DOES_NOT_EXIST";
    /** Insert an empty page (with a token) before the first Unity Catalog page, as the API may. */
    ucEmptyFirstPage = false;
    /** Server time added to every answer (a real MLflow server on SQLite takes a few ms). */
    latencyMs = 0;
    private readonly models = new Map<string, ModelRecord>();
    private readonly server: http.Server;
    private readonly reads = new Map<string, number>();
    private clock = 1_795_235_520_953;

    constructor() {
        this.server = http.createServer((req, res) => void this.handle(req, res));
    }

    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return this.url;
    }

    get url(): string {
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    async stop(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    /** Registers a model with versions; returns this for chaining. */
    addModel(name: string, versions: FakeVersion[] = [], aliases: Record<string, number> = {}, description?: string): this {
        const record: ModelRecord = { name, createdAt: this.tick(), description, aliases: new Map(), versions: new Map() };
        for (const v of versions) {
            const createdAt = v.createdAt ?? this.tick();
            record.versions.set(v.version, { ...v, createdAt, updatedAt: createdAt + 92 });
        }
        for (const [alias, version] of Object.entries(aliases)) record.aliases.set(alias, version);
        this.models.set(name, record);
        return this;
    }

    setAlias(model: string, alias: string, version: number): void {
        const record = this.models.get(model)!;
        record.aliases.set(alias, version);
        const v = record.versions.get(version);
        if (v) v.updatedAt = this.tick();
    }

    /** Deletes a version, and (as MLflow does) the aliases that pointed at it. */
    deleteVersion(model: string, version: number): void {
        const record = this.models.get(model)!;
        record.versions.delete(version);
        for (const [alias, v] of record.aliases) if (v === version) record.aliases.delete(alias);
    }

    requestsTo(path: string): RecordedRequest[] {
        return this.requests.filter((r) => r.path === path);
    }

    private tick(): number {
        return (this.clock += 1000);
    }

    private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const url = new URL((req.url ?? "/").replace(/^\/+/, "/"), "http://fake");
        const method = req.method ?? "GET";
        this.requests.push({ method, path: url.pathname, query: url.searchParams, authorization: req.headers.authorization, accept: req.headers.accept });
        const body = await new Promise<string>((resolve) => {
            let data = "";
            req.on("data", (chunk) => (data += chunk));
            req.on("end", () => resolve(data));
        });

        const faultIndex = this.faults.findIndex((f) => !f.path || f.path.test(url.pathname));
        if (faultIndex >= 0) {
            const [fault] = this.faults.splice(faultIndex, 1);
            if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
            if (fault.reset) {
                req.socket.destroy();
                return;
            }
            if (fault.status !== undefined || fault.body !== undefined) {
                const headers: Record<string, string> = { "Content-Type": fault.contentType ?? JSON_TYPE };
                if (fault.retryAfter) headers["Retry-After"] = fault.retryAfter;
                res.writeHead(fault.status ?? 200, headers).end(fault.body ?? "");
                return;
            }
        }

        if (this.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
        try {
            // MLflow's auth app leaves /health open and checks everything else, known route or not.
            const user = url.pathname === "/health" ? undefined : this.authenticate(req, res);
            if (user === null) return;
            this.route(method, url, req.headers["content-type"], body, user, res);
        } catch (err) {
            if (err instanceof Answered) return;
            this.notFound(res, `${method} ${url.pathname}: ${(err as Error).message}`);
        }
    }

    /** The user name (basic auth), undefined when there is no per-user auth, null once refused. */
    private authenticate(req: http.IncomingMessage, res: http.ServerResponse): string | undefined | null {
        const header = req.headers.authorization ?? "";
        if (this.auth.mode === "none") return undefined;
        const refuse = () => {
            res.writeHead(401, { "Content-Type": HTML_TYPE, "WWW-Authenticate": 'Basic realm="mlflow"' }).end(UNAUTHENTICATED_BODY);
            return null;
        };
        if (this.auth.mode === "bearer") {
            const token = header.startsWith("Bearer ") ? header.slice(7) : undefined;
            return token && this.auth.tokens.includes(token) ? undefined : refuse();
        }
        const decoded = header.startsWith("Basic ") ? Buffer.from(header.slice(6), "base64").toString() : "";
        const [user, ...rest] = decoded.split(":");
        const entry = this.auth.users[user];
        return entry && entry.password === rest.join(":") ? user : refuse();
    }

    private route(method: string, url: URL, contentType: string | undefined, body: string, user: string | undefined, res: http.ServerResponse): void {
        const path = url.pathname;
        // MLflow 3.17: /health is text/plain, /version text/html.
        if (method === "GET" && path === "/health") return this.text(res, 200, "OK", "text/plain; charset=utf-8");
        if (method === "GET" && path === "/version") return this.text(res, 200, MLFLOW_VERSION);
        if (path.startsWith(UC_PREFIX) && this.serveUnityCatalog && method === "GET") return this.unityCatalog(url, res);
        if (!path.startsWith(PREFIX)) return this.notFound(res);
        const route = `${method} ${path.slice(PREFIX.length)}`;
        const handler = this.mlflowRoutes[route];
        if (!handler) {
            // A route the server has, asked with another method: 405 (HTML), as Flask answers.
            const known = Object.keys(this.mlflowRoutes).some((r) => r.split(" ")[1] === path.slice(PREFIX.length)) || KNOWN_POST_ROUTES.includes(path.slice(PREFIX.length));
            if (known) return void res.writeHead(405, { "Content-Type": HTML_TYPE }).end(HTML_405);
            return this.notFound(res);
        }
        let params: Params;
        if (method === "POST") {
            // MLflow checks the Content-Type of every POST body before reading it.
            if (contentType === undefined) return this.invalid(res, "Bad Request. Content-Type header is missing.");
            if (contentType.split(";")[0].trim() !== JSON_TYPE) return this.invalid(res, "Bad Request. Content-Type must be one of ['application/json'].");
            let parsed: unknown;
            try {
                parsed = JSON.parse(body || "{}");
            } catch {
                // Real MLflow 3.17 reads a body that is not JSON as no parameters at all.
                parsed = {};
            }
            // ... and fails with a 500 page on a JSON value that is not an object.
            if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return void res.writeHead(500, { "Content-Type": HTML_TYPE }).end(HTML_500);
            params = parsed as Params;
        } else {
            params = Object.fromEntries(url.searchParams);
            const stages = url.searchParams.getAll("stages");
            if (stages.length) params.stages = stages;
            const orderBy = url.searchParams.getAll("order_by");
            if (orderBy.length) params.order_by = orderBy;
        }
        handler.call(this, params, user, res);
    }

    private readonly mlflowRoutes: Record<string, (this: FakeMlflowServer, params: Params, user: string | undefined, res: http.ServerResponse) => void> = {
        "GET registered-models/alias"(params, user, res) {
            const name = this.required(res, params, "name");
            const alias = this.required(res, params, "alias");
            this.permitted(res, user, name);
            const model = this.models.get(name);
            // Real MLflow 3.17: 404 for an unknown model, but 400 (not 404) for an unknown alias.
            if (!model) return this.missing(res, `Registered Model with name=${name} not found`);
            const version = model.aliases.get(alias);
            const found = version !== undefined ? model.versions.get(version) : undefined;
            if (!found) return this.invalid(res, `Registered model alias ${alias} not found.`);
            this.json(res, 200, { model_version: this.versionJson(model, found, true) });
        },
        "GET model-versions/get"(params, user, res) {
            const name = this.required(res, params, "name");
            const version = this.required(res, params, "version");
            this.permitted(res, user, name);
            if (!/^-?\d+$/.test(version)) return this.invalid(res, `Parameter 'version' must be an integer, got '${version}'.`);
            const model = this.models.get(name);
            const found = model?.versions.get(Number(version));
            if (!model || !found) return this.missing(res, `Model Version (name=${name}, version=${version}) not found`);
            this.json(res, 200, { model_version: this.versionJson(model, found, true) });
        },
        "GET registered-models/get-latest-versions"(params, user, res) {
            this.latestVersions(params, user, res);
        },
        "POST registered-models/get-latest-versions"(params, user, res) {
            this.latestVersions(params, user, res);
        },
        "GET model-versions/search"(params, user, res) {
            this.search(params, user, res);
        },
        "GET model-versions/get-download-uri"(params, user, res) {
            const name = this.required(res, params, "name");
            const version = this.required(res, params, "version");
            this.permitted(res, user, name);
            const model = this.models.get(name);
            const found = /^\d+$/.test(version) ? model?.versions.get(Number(version)) : undefined;
            if (!model || !found) return this.missing(res, `Model Version (name=${name}, version=${version}) not found`);
            const artifactUri = found.modelId ? `mlflow-artifacts:/0/models/${found.modelId}/artifacts` : (found.source ?? `runs:/${found.runId ?? `run${found.version}`}/model`);
            this.json(res, 200, { artifact_uri: artifactUri });
        },
        "GET registered-models/get"(params, user, res) {
            const name = this.required(res, params, "name");
            this.permitted(res, user, name);
            const model = this.models.get(name);
            if (!model) return this.missing(res, `Registered Model with name=${name} not found`);
            const registered: Record<string, unknown> = { name: model.name, creation_timestamp: model.createdAt, last_updated_timestamp: model.createdAt };
            if (model.description) registered.description = model.description;
            const latest = this.latestPerStage(model, [...STAGES]);
            // Absent, not empty, for a model with no versions; never with aliases.
            if (latest.length) registered.latest_versions = latest.map((v) => this.versionJson(model, v, false));
            // Sorted by alias name, as MLflow 3.17 answers (its primary-key order).
            if (model.aliases.size) registered.aliases = [...model.aliases].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([alias, version]) => ({ alias, version: String(version) }));
            this.json(res, 200, { registered_model: registered });
        },
        "POST registered-models/alias"(params, user, res) {
            const name = this.required(res, params, "name");
            const alias = this.required(res, params, "alias");
            if (params.version === undefined) this.required(res, params, "version");
            if (typeof params.version !== "string") {
                return this.invalid(
                    res,
                    `Invalid value ${JSON.stringify(params.version)} for parameter 'version' supplied:  Hint: Value was of type '${pythonType(params.version)}'. See the API docs for more information about request parameters.`,
                );
            }
            if (alias.toLowerCase() === "latest") return this.invalid(res, "'latest' alias name (case insensitive) is reserved.");
            if (/^[vV]\d+$/.test(alias)) return this.invalid(res, `Version alias name '${alias}' is reserved.`);
            this.permitted(res, user, name);
            const model = this.models.get(name);
            // MLflow 3.17 names the version, not the model, when the model is unknown.
            if (!model || !model.versions.has(Number(params.version))) return this.missing(res, `Model Version (name=${name}, version=${params.version}) not found`);
            this.setAlias(name, alias, Number(params.version));
            this.json(res, 200, {});
        },
    };

    private latestVersions(params: Params, user: string | undefined, res: http.ServerResponse): void {
        const name = this.required(res, params, "name");
        this.permitted(res, user, name);
        const model = this.models.get(name);
        if (!model) return this.missing(res, `Registered Model with name=${name} not found`);
        const asked = Array.isArray(params.stages) ? (params.stages as unknown[]).map(String) : [];
        const stages: string[] = [];
        for (const stage of asked) {
            // Stage names are accepted in any case.
            const canonical = STAGES.find((s) => s.toLowerCase() === stage.toLowerCase());
            if (!canonical) return this.invalid(res, `Invalid Model Version stage: ${stage}. Value must be one of None, Staging, Production, Archived.`);
            stages.push(canonical);
        }
        const latest = this.latestPerStage(model, stages.length ? stages : [...STAGES]);
        if (latest.length === 0) return this.json(res, 200, {});
        // MLflow 3.17 fills in the aliases here (2.11 did not); registered_model.latest_versions has none.
        this.json(res, 200, { model_versions: latest.map((v) => this.versionJson(model, v, true)) });
    }

    /**
     * The newest version in each stage, in the order MLflow 3.17 builds them: one pass over the
     * versions in version order, each stage placed where it is first seen (a Python dict), holding
     * its newest version. So not sorted by version: [Archived v1, Production v5, Staging v3, None v6].
     */
    private latestPerStage(model: ModelRecord, stages: string[]) {
        const newest = new Map<string, FakeVersion & { updatedAt: number }>();
        for (const v of [...model.versions.values()].sort((a, b) => a.version - b.version)) {
            const stage = v.stage ?? "None";
            if (stages.includes(stage)) newest.set(stage, v);
        }
        return [...newest.values()];
    }

    private search(params: Params, user: string | undefined, res: http.ServerResponse): void {
        const filter = String(params.filter ?? "").trim();
        let match: [string, string] | undefined;
        if (filter) {
            const parsed = /^([\w.]+)\s*=\s*(?:'([^']*)'|"([^"]*)")$/.exec(filter);
            const key = /^\s*([\w.]+)/.exec(filter)?.[1] ?? filter;
            if (!parsed || !FILTER_KEYS.includes(parsed[1])) {
                return this.invalid(res, `Invalid attribute key '${key}' specified. Valid keys are ${FILTER_KEYS_TEXT}`);
            }
            match = [parsed[1], parsed[2] ?? parsed[3]];
        }
        const max = params.max_results === undefined ? MAX_SEARCH_RESULTS : Number(params.max_results);
        if (!Number.isInteger(max) || max < 1 || max > MAX_SEARCH_RESULTS) {
            // MLflow 3.17's wording for a GET query value (a string) out of range.
            return this.invalid(
                res,
                `Invalid value ${JSON.stringify(String(params.max_results))} for parameter 'max_results' supplied:  Hint: Value was of type 'str'. See the API docs for more information about request parameters.`,
            );
        }
        const orderBy = (Array.isArray(params.order_by) ? params.order_by : params.order_by ? [params.order_by] : []).map((o) => String(o).trim().split(/\s+/));
        for (const [key] of orderBy) {
            if (!ORDER_BY_KEYS.includes(key)) {
                return this.invalid(res, `Invalid attribute key '${key}' specified. Valid keys are ${ORDER_BY_KEYS_TEXT}`);
            }
        }
        const offset = params.page_token ? Number(JSON.parse(Buffer.from(String(params.page_token), "base64").toString()).offset) : 0;
        // MLflow 3.17's basic-auth app leaves out the models the user may not read (2.11 did not check search).
        const denied = this.auth.mode === "basic" && user !== undefined ? (this.auth.users[user]?.denied ?? []) : [];
        const candidates = [...this.models.values()].filter((m) => (!match || match[0] !== "name" || m.name === match[1]) && !denied.includes(m.name));
        type Row = { m: ModelRecord; v: FakeVersion & { updatedAt: number } };
        const byVersionDesc = orderBy.length === 1 && orderBy[0][0] === "version_number" && orderBy[0][1]?.toUpperCase() === "DESC";
        let total: number;
        let page: Row[];
        if (byVersionDesc && max === 1 && offset === 0 && candidates.length === 1 && (!match || match[0] === "name")) {
            // ORDER BY version DESC LIMIT 1 on an indexed column: no full sort, as a database does it.
            let top: Row["v"] | undefined;
            for (const v of candidates[0].versions.values()) if (!top || v.version > top.version) top = v;
            total = candidates[0].versions.size;
            page = top ? [{ m: candidates[0], v: top }] : [];
        } else {
            let rows: Row[] = candidates.flatMap((m) => [...m.versions.values()].map((v) => ({ m, v })));
            if (match && match[0] === "run_id") rows = rows.filter(({ v }) => (v.runId ?? `run${v.version}`) === match![1]);
            if (match && match[0] === "source_path") rows = rows.filter(({ v }) => this.sourceOf(v) === match![1]);
            if (match && match[0] === "version_number") rows = rows.filter(({ v }) => String(v.version) === match![1]);
            const keyOf = (row: Row, key: string): string | number =>
                key === "name" ? row.m.name : key === "version_number" ? row.v.version : key === "creation_timestamp" ? row.v.createdAt! : row.v.updatedAt;
            // Without order_by: last updated first.
            const order = orderBy.length ? orderBy : [["last_updated_timestamp", "DESC"]];
            rows.sort((a, b) => {
                for (const [key, direction] of order) {
                    const x = keyOf(a, key);
                    const y = keyOf(b, key);
                    if (x !== y) return (x < y ? -1 : 1) * (direction?.toUpperCase() === "DESC" ? -1 : 1);
                }
                return 0;
            });
            total = rows.length;
            page = rows.slice(offset, offset + max);
        }
        if (page.length === 0) return this.json(res, 200, {});
        const answer: Record<string, unknown> = { model_versions: page.map(({ m, v }) => this.versionJson(m, v, false)) };
        // Sent whenever more rows exist, even at max_results=1.
        if (offset + max < total) answer.next_page_token = Buffer.from(JSON.stringify({ offset: offset + max })).toString("base64");
        this.json(res, 200, answer);
    }

    private unityCatalog(url: URL, res: http.ServerResponse): void {
        const [fullName, kind, arg, ...rest] = url.pathname.slice(UC_PREFIX.length).split("/").map(decodeURIComponent);
        const includeAliases = url.searchParams.get("include_aliases") === "true";
        if (rest.length || (kind !== undefined && kind !== "aliases" && kind !== "versions") || (kind === "aliases" && !arg)) return this.notFound(res);
        if (kind === "versions" && arg !== undefined && !/^\d+$/.test(arg)) return this.notFound(res);
        const model = this.models.get(fullName);
        if (!model && this.ucMissingParent) {
            const [catalog, schema] = fullName.split(".");
            const what = this.ucMissingParent === "CATALOG_DOES_NOT_EXIST" ? `Catalog '${catalog}'` : this.ucMissingParent === "SCHEMA_DOES_NOT_EXIST" ? `Schema '${catalog}.${schema}'` : "Metastore";
            return this.json(res, 404, { error_code: this.ucMissingParent, message: `${what} does not exist.` });
        }
        if (!model) return this.missing(res, `Routine or Model '${fullName}' does not exist.`);
        if (kind === undefined) {
            const [catalog, schema, name] = fullName.split(".");
            const info: Record<string, unknown> = { full_name: fullName, catalog_name: catalog, schema_name: schema, name, created_at: model.createdAt };
            if (includeAliases) info.aliases = [...model.aliases].map(([alias, version]) => ({ alias_name: alias, version_num: version }));
            return this.json(res, 200, info);
        }
        if (kind === "aliases") {
            const version = model.aliases.get(arg);
            const found = version !== undefined ? model.versions.get(version) : undefined;
            if (!found) return this.missing(res, `Alias ${arg} does not exist.`);
            return this.json(res, 200, this.ucVersionJson(model, found, includeAliases));
        }
        if (arg !== undefined) {
            const found = model.versions.get(Number(arg));
            if (!found) return this.missing(res, `Model version ${fullName}/${arg} does not exist.`);
            return this.json(res, 200, this.ucVersionJson(model, found, includeAliases));
        }
        // No ordering is guaranteed: answer in a scrambled order, paged. Listed versions carry no aliases.
        const all = [...model.versions.values()].sort((a, b) => ((a.version * 7919) % 13) - ((b.version * 7919) % 13) || a.version - b.version);
        const size = Math.min(Number(url.searchParams.get("max_results") ?? this.ucPageSize) || this.ucPageSize, this.ucPageSize);
        const token = url.searchParams.get("page_token");
        if (this.ucEmptyFirstPage && !token) return this.json(res, 200, { model_versions: [], next_page_token: "offset:0" });
        const offset = token ? Number(token.replace("offset:", "")) : 0;
        const page = all.slice(offset, offset + size);
        const answer: Record<string, unknown> = { model_versions: page.map((v) => this.ucVersionJson(model, v, false)) };
        if (offset + size < all.length) answer.next_page_token = `offset:${offset + size}`;
        this.json(res, 200, answer);
    }

    private required(res: http.ServerResponse, params: Params, key: string): string {
        const value = params[key];
        if (value === undefined || value === "") {
            this.invalid(res, `Missing value for required parameter '${key}'. See the API docs for more information about request parameters.`);
            throw new Answered();
        }
        return String(value);
    }

    /** MLflow's basic-auth app: 403 for a model the user is denied; unknown models fall to the default. */
    private permitted(res: http.ServerResponse, user: string | undefined, model: string): void {
        if (this.auth.mode !== "basic" || user === undefined) return;
        if (this.auth.users[user]?.denied?.includes(model)) {
            res.writeHead(403, { "Content-Type": HTML_TYPE }).end("Permission denied");
            throw new Answered();
        }
    }

    private readStatus(model: ModelRecord, v: FakeVersion): FakeVersion["status"] {
        const key = `${model.name}/${v.version}`;
        const reads = (this.reads.get(key) ?? 0) + 1;
        this.reads.set(key, reads);
        if (v.status === "PENDING_REGISTRATION" && v.readyAfterReads !== undefined && reads > v.readyAfterReads) v.status = "READY";
        return v.status ?? "READY";
    }

    private sourceOf(v: FakeVersion): string {
        return v.source ?? (v.modelId ? `models:/${v.modelId}` : `runs:/${v.runId ?? `run${v.version}`}/model`);
    }

    private versionJson(model: ModelRecord, v: FakeVersion & { updatedAt: number }, withAliases: boolean): Record<string, unknown> {
        const json: Record<string, unknown> = {
            name: model.name,
            version: String(v.version),
            creation_timestamp: v.createdAt,
            last_updated_timestamp: v.updatedAt,
            current_stage: v.stage ?? "None",
            description: "",
            source: this.sourceOf(v),
            run_id: v.runId ?? `run${v.version}`,
            status: this.readStatus(model, v),
            run_link: "",
        };
        // Real MLflow 3.17.2 sends no model_id on a version, even one created with it: only the source names it.
        if (v.statusMessage) json.status_message = v.statusMessage;
        // Sorted by alias name, as MLflow 3.17 reads them (its primary-key order).
        const aliases = [...model.aliases]
            .filter(([, version]) => version === v.version)
            .map(([alias]) => alias)
            .sort();
        // Omitted when empty, and never in search results or latest_versions.
        if (withAliases && aliases.length) json.aliases = aliases;
        if (v.tags && Object.keys(v.tags).length) json.tags = Object.entries(v.tags).map(([key, value]) => ({ key, value }));
        return json;
    }

    private ucVersionJson(model: ModelRecord, v: FakeVersion, withAliases: boolean): Record<string, unknown> {
        const [catalog, schema, name] = model.name.split(".");
        const json: Record<string, unknown> = {
            model_name: name,
            catalog_name: catalog,
            schema_name: schema,
            version: v.version,
            source: v.source ?? (v.modelId ? `models:/${v.modelId}` : `dbfs:/databricks/mlflow-tracking/1/run${v.version}/artifacts/model`),
            storage_location: `abfss://models@store.dfs.core.windows.net/models/${name}/${v.version}`,
            run_id: v.runId ?? `run${v.version}`,
            run_workspace_id: 1234567890123456,
            status: this.readStatus(model, v),
            comment: "",
            id: `id-${v.version}`,
            created_at: v.createdAt,
            created_by: "someone@example.com",
            updated_at: v.createdAt,
            updated_by: "someone@example.com",
        };
        // Unity Catalog includes aliases only when asked (include_aliases=true), and never in a list.
        if (withAliases) {
            json.aliases = [...model.aliases].filter(([, version]) => version === v.version).map(([alias]) => ({ alias_name: alias, version_num: v.version }));
        }
        return json;
    }

    private invalid(res: http.ServerResponse, message: string): void {
        this.json(res, 400, mlflowError("INVALID_PARAMETER_VALUE", message));
    }

    private missing(res: http.ServerResponse, message: string): void {
        this.json(res, 404, mlflowError("RESOURCE_DOES_NOT_EXIST", message));
    }

    /** The real server's answer for a route it does not have. */
    private notFound(res: http.ServerResponse, unmodeled?: string): void {
        if (unmodeled) this.unmodeled.push(unmodeled);
        if (!res.headersSent) res.writeHead(404, { "Content-Type": HTML_TYPE }).end(HTML_404);
    }

    private text(res: http.ServerResponse, status: number, body: string, type = HTML_TYPE): void {
        res.writeHead(status, { "Content-Type": type }).end(body);
    }

    private json(res: http.ServerResponse, status: number, body: unknown): void {
        res.writeHead(status, { "Content-Type": JSON_TYPE }).end(JSON.stringify(body));
    }
}

/** An MLflow 3 error body: error_code and message, plus the sqlstate and error_class it adds. */
export function mlflowError(code: string, message: string): Record<string, string> {
    return { error_code: code, message, sqlstate: SQLSTATE, error_class: ERROR_CLASSES[code] ?? code };
}

/** POST-only routes of MLflow's registry API the fake does not serve (a GET of them is a 405). */
const KNOWN_POST_ROUTES = ["registered-models/create", "model-versions/create", "model-versions/transition-stage", "registered-models/update", "registered-models/delete"];

/** The Python type name MLflow's parameter validation reports. */
function pythonType(value: unknown): string {
    if (value === null) return "NoneType";
    if (typeof value === "number") return Number.isInteger(value) ? "int" : "float";
    if (typeof value === "boolean") return "bool";
    if (Array.isArray(value)) return "list";
    return typeof value === "object" ? "dict" : typeof value;
}
