// An in-process registry that answers as ../shared/mlflow-registry-contract.md records a real
// MLflow 2.11 server (and the Databricks Unity Catalog routes) answering: versions as strings,
// empty fields omitted, `{}` for an empty search, 400 (not 404) for an unknown alias, HTML 401s,
// plain-text 403s, HTML 404s for unknown routes. Faults can be queued to test retries.
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
}

interface ModelRecord {
    name: string;
    createdAt: number;
    description?: string;
    aliases: Map<string, number>;
    versions: Map<number, FakeVersion>;
}

export type FakeAuth =
    | { mode: "none" }
    | { mode: "basic"; users: Record<string, { password: string; canRead: boolean }> }
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
}

const JSON_TYPE = "application/json";
const HTML_404 = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server.</p>\n";
const HTML_401 = "<!doctype html>\n<html lang=en>\n<title>401 Unauthorized</title>\n<h1>Unauthorized</h1>\n<p>You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.</p>\n";

export class FakeMlflowServer {
    readonly requests: RecordedRequest[] = [];
    readonly faults: Fault[] = [];
    auth: FakeAuth = { mode: "none" };
    /** Largest page the Unity Catalog versions route returns. */
    ucPageSize = 100;
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
        for (const v of versions) record.versions.set(v.version, { createdAt: this.tick(), ...v });
        for (const [alias, version] of Object.entries(aliases)) record.aliases.set(alias, version);
        this.models.set(name, record);
        return this;
    }

    setAlias(model: string, alias: string, version: number): void {
        this.models.get(model)!.aliases.set(alias, version);
    }

    deleteVersion(model: string, version: number): void {
        this.models.get(model)!.versions.delete(version);
    }

    requestsTo(path: string): RecordedRequest[] {
        return this.requests.filter((r) => r.path === path);
    }

    private tick(): number {
        return (this.clock += 1000);
    }

    private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const url = new URL(req.url ?? "/", "http://fake");
        this.requests.push({ method: req.method ?? "GET", path: url.pathname, query: url.searchParams, authorization: req.headers.authorization });
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
        if (!this.authorized(req, res)) return;

        try {
            if (url.pathname.startsWith("/api/2.1/unity-catalog/models/")) return this.unityCatalog(url, res);
            if (req.method === "POST" && !String(req.headers["content-type"] ?? "").startsWith(JSON_TYPE)) {
                return this.json(res, 400, {
                    error_code: "INVALID_PARAMETER_VALUE",
                    message: "Bad Request. Content-Type must be one of ['application/json'].",
                });
            }
            const params = req.method === "POST" ? JSON.parse(body || "{}") : Object.fromEntries(url.searchParams);
            const stages = req.method === "POST" ? params.stages : url.searchParams.getAll("stages");
            return this.mlflow(req.method ?? "GET", url.pathname, params, stages, res);
        } catch (err) {
            this.json(res, 500, { error_code: "INTERNAL_ERROR", message: String(err) });
        }
    }

    private authorized(req: http.IncomingMessage, res: http.ServerResponse): boolean {
        const header = req.headers.authorization ?? "";
        if (this.auth.mode === "none") return true;
        if (this.auth.mode === "bearer") {
            const token = header.startsWith("Bearer ") ? header.slice(7) : undefined;
            if (token && this.auth.tokens.includes(token)) return true;
            res.writeHead(401, { "Content-Type": "text/html; charset=utf-8" }).end(HTML_401);
            return false;
        }
        const decoded = header.startsWith("Basic ") ? Buffer.from(header.slice(6), "base64").toString() : "";
        const [user, ...rest] = decoded.split(":");
        const entry = this.auth.users[user];
        if (!entry || entry.password !== rest.join(":")) {
            res.writeHead(401, { "Content-Type": "text/html; charset=utf-8", "WWW-Authenticate": 'Basic realm="mlflow"' }).end(HTML_401);
            return false;
        }
        if (!entry.canRead) {
            res.writeHead(403, { "Content-Type": "text/plain; charset=utf-8" }).end("Permission denied");
            return false;
        }
        return true;
    }

    private mlflow(method: string, path: string, params: Record<string, any>, stages: string[] | undefined, res: http.ServerResponse): void {
        const route = `${method} ${path.replace(/^\/api\/2\.0\/mlflow\//, "")}`;
        const model = typeof params.name === "string" ? this.models.get(params.name) : undefined;
        const missingModel = () =>
            this.json(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: `Registered Model with name=${params.name} not found` });
        switch (route) {
            case "GET registered-models/alias": {
                if (!params.alias) {
                    return this.json(res, 400, {
                        error_code: "INVALID_PARAMETER_VALUE",
                        message: "Missing value for required parameter 'alias'. See the API docs for more information about request parameters.",
                    });
                }
                const version = model?.aliases.get(params.alias);
                const found = version !== undefined ? model!.versions.get(version) : undefined;
                if (!model || !found) {
                    // Real MLflow: 400, not 404, for an unknown alias and for an unknown model alike.
                    return this.json(res, 400, { error_code: "INVALID_PARAMETER_VALUE", message: `Registered model alias ${params.alias} not found.` });
                }
                return this.json(res, 200, { model_version: this.versionJson(model, found, true) });
            }
            case "GET model-versions/get": {
                const found = model?.versions.get(Number(params.version));
                if (!model || !found || !/^\d+$/.test(String(params.version))) {
                    return this.json(res, 404, {
                        error_code: "RESOURCE_DOES_NOT_EXIST",
                        message: `Model Version (name=${params.name}, version=${params.version}) not found`,
                    });
                }
                return this.json(res, 200, { model_version: this.versionJson(model, found, true) });
            }
            case "GET registered-models/get-latest-versions":
            case "POST registered-models/get-latest-versions": {
                if (!params.name) return this.json(res, 400, { error_code: "INVALID_PARAMETER_VALUE", message: "Missing value for required parameter 'name'." });
                if (!model) return missingModel();
                const wanted = (stages && stages.length ? stages : ["None", "Staging", "Production", "Archived"]).map(capitalise);
                const latest = wanted
                    .map((stage) => [...model.versions.values()].filter((v) => (v.stage ?? "None") === stage).sort((a, b) => b.version - a.version)[0])
                    .filter((v): v is FakeVersion => v !== undefined);
                return this.json(res, 200, { model_versions: latest.map((v) => this.versionJson(model, v, false)) });
            }
            case "GET model-versions/search": {
                const filter = String(params.filter ?? "");
                const match = /^name\s*=\s*'([^']*)'$/.exec(filter.trim());
                if (filter && !match) {
                    const key = /^\s*([\w.]+)/.exec(filter)?.[1] ?? filter;
                    return this.json(res, 400, {
                        error_code: "INVALID_PARAMETER_VALUE",
                        message: `Invalid attribute key '${key}' specified. Valid keys are '{'name', 'run_id', 'source_path'}'`,
                    });
                }
                const candidates = [...this.models.values()].filter((m) => !match || m.name === match[1]);
                const max = Number(params.max_results ?? 10000);
                const descending = String(params.order_by ?? "").replace(/\s+/g, " ") === "version_number DESC";
                let rows: { m: ModelRecord; v: FakeVersion }[];
                if (descending && max === 1 && candidates.length === 1) {
                    // ORDER BY version DESC LIMIT 1 on an indexed column: no full sort, as a database does it.
                    let top: FakeVersion | undefined;
                    for (const v of candidates[0].versions.values()) if (!top || v.version > top.version) top = v;
                    rows = top ? [{ m: candidates[0], v: top }] : [];
                } else {
                    rows = candidates.flatMap((m) => [...m.versions.values()].map((v) => ({ m, v })));
                    if (descending) rows.sort((a, b) => b.v.version - a.v.version);
                    rows = rows.slice(0, max);
                }
                if (rows.length === 0) return this.json(res, 200, {});
                return this.json(res, 200, { model_versions: rows.map(({ m, v }) => this.versionJson(m, v, false)) });
            }
            case "GET model-versions/get-download-uri": {
                const found = model?.versions.get(Number(params.version));
                if (!model || !found) return this.json(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: "Model Version not found" });
                return this.json(res, 200, { artifact_uri: found.source ?? `runs:/run${found.version}/model` });
            }
            case "GET registered-models/get": {
                if (!model) return missingModel();
                const registered: Record<string, unknown> = {
                    name: model.name,
                    creation_timestamp: model.createdAt,
                    last_updated_timestamp: model.createdAt,
                    latest_versions: ["None", "Staging", "Production", "Archived"]
                        .map((stage) => [...model.versions.values()].filter((v) => (v.stage ?? "None") === stage).sort((a, b) => b.version - a.version)[0])
                        .filter((v): v is FakeVersion => v !== undefined)
                        .map((v) => this.versionJson(model, v, false)),
                };
                if (model.description) registered.description = model.description;
                if (model.aliases.size) registered.aliases = [...model.aliases].map(([alias, version]) => ({ alias, version: String(version) }));
                return this.json(res, 200, { registered_model: registered });
            }
            case "POST registered-models/alias": {
                if (typeof params.version !== "string") {
                    return this.json(res, 400, {
                        error_code: "INVALID_PARAMETER_VALUE",
                        message: `Invalid value ${JSON.stringify(params.version)} for parameter 'version' supplied. Hint: Value was of type '${typeof params.version}'.`,
                    });
                }
                if (String(params.alias).toLowerCase() === "latest" || /^v\d+$/.test(String(params.alias))) {
                    return this.json(res, 400, { error_code: "INVALID_PARAMETER_VALUE", message: `'${params.alias}' is a reserved alias.` });
                }
                if (!model || !model.versions.has(Number(params.version))) {
                    return this.json(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: `Model Version (name=${params.name}, version=${params.version}) not found` });
                }
                model.aliases.set(params.alias, Number(params.version));
                return this.json(res, 200, {});
            }
        }
        res.writeHead(404, { "Content-Type": "text/html; charset=utf-8" }).end(HTML_404);
    }

    private unityCatalog(url: URL, res: http.ServerResponse): void {
        const [fullName, kind, arg] = url.pathname.slice("/api/2.1/unity-catalog/models/".length).split("/").map(decodeURIComponent);
        const model = this.models.get(fullName);
        if (!model) {
            return this.json(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: `Routine or Model '${fullName}' does not exist.` });
        }
        if (kind === undefined) {
            const [catalog, schema, name] = fullName.split(".");
            return this.json(res, 200, {
                full_name: fullName,
                catalog_name: catalog,
                schema_name: schema,
                name,
                created_at: model.createdAt,
                aliases: [...model.aliases].map(([alias, version]) => ({ alias_name: alias, version_num: version })),
            });
        }
        if (kind === "aliases") {
            const version = model.aliases.get(arg);
            const found = version !== undefined ? model.versions.get(version) : undefined;
            if (!found) return this.json(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: `Alias ${arg} does not exist.` });
            return this.json(res, 200, this.ucVersionJson(model, found));
        }
        if (kind === "versions" && arg !== undefined) {
            const found = model.versions.get(Number(arg));
            if (!found) return this.json(res, 404, { error_code: "RESOURCE_DOES_NOT_EXIST", message: `Model version ${fullName}/${arg} does not exist.` });
            return this.json(res, 200, this.ucVersionJson(model, found));
        }
        if (kind === "versions") {
            // No ordering is guaranteed: answer in a scrambled order, paged.
            const all = [...model.versions.values()].sort((a, b) => ((a.version * 7919) % 13) - ((b.version * 7919) % 13) || a.version - b.version);
            const size = Math.min(Number(url.searchParams.get("max_results") ?? this.ucPageSize) || this.ucPageSize, this.ucPageSize);
            const token = url.searchParams.get("page_token");
            if (this.ucEmptyFirstPage && !token) return this.json(res, 200, { model_versions: [], next_page_token: "offset:0" });
            const offset = token ? Number(token.replace("offset:", "")) : 0;
            const page = all.slice(offset, offset + size);
            const answer: Record<string, unknown> = { model_versions: page.map((v) => this.ucVersionJson(model, v)) };
            if (offset + size < all.length) answer.next_page_token = `offset:${offset + size}`;
            return this.json(res, 200, answer);
        }
        res.writeHead(404, { "Content-Type": "text/html; charset=utf-8" }).end(HTML_404);
    }

    private readStatus(model: ModelRecord, v: FakeVersion): FakeVersion["status"] {
        const key = `${model.name}/${v.version}`;
        const reads = (this.reads.get(key) ?? 0) + 1;
        this.reads.set(key, reads);
        if (v.status === "PENDING_REGISTRATION" && v.readyAfterReads !== undefined && reads > v.readyAfterReads) v.status = "READY";
        return v.status ?? "READY";
    }

    private versionJson(model: ModelRecord, v: FakeVersion, withAliases: boolean): Record<string, unknown> {
        const json: Record<string, unknown> = {
            name: model.name,
            version: String(v.version),
            creation_timestamp: v.createdAt,
            last_updated_timestamp: (v.createdAt ?? 0) + 92,
            current_stage: v.stage ?? "None",
            description: "",
            source: v.source ?? `runs:/${v.runId ?? `run${v.version}`}/model`,
            run_id: v.runId ?? `run${v.version}`,
            status: this.readStatus(model, v),
            run_link: "",
        };
        if (v.statusMessage) json.status_message = v.statusMessage;
        const aliases = [...model.aliases].filter(([, version]) => version === v.version).map(([alias]) => alias);
        // Omitted when empty, and never in search results or latest_versions.
        if (withAliases && aliases.length) json.aliases = aliases;
        if (v.tags && Object.keys(v.tags).length) json.tags = Object.entries(v.tags).map(([key, value]) => ({ key, value }));
        return json;
    }

    private ucVersionJson(model: ModelRecord, v: FakeVersion): Record<string, unknown> {
        const [catalog, schema, name] = model.name.split(".");
        return {
            model_name: name,
            catalog_name: catalog,
            schema_name: schema,
            version: v.version,
            source: v.source ?? `dbfs:/databricks/mlflow-tracking/1/run${v.version}/artifacts/model`,
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
            aliases: [...model.aliases].filter(([, version]) => version === v.version).map(([alias]) => ({ alias_name: alias, version_num: v.version })),
        };
    }

    private json(res: http.ServerResponse, status: number, body: unknown): void {
        res.writeHead(status, { "Content-Type": JSON_TYPE }).end(JSON.stringify(body));
    }
}

function capitalise(stage: string): string {
    const lower = stage.toLowerCase();
    return lower === "none" ? "None" : lower.charAt(0).toUpperCase() + lower.slice(1);
}
