// An in-process Unity Catalog model registry and Azure Data Lake Storage account, answering the
// routes a promotion calls as MLflow's client and Databricks document them (lib/registry/promote.ts):
// MLflow-style JSON errors (`error_code`, `message`) with MLflow's status mapping; versions as
// strings in `model_version`; new versions PENDING_REGISTRATION until finalized; aliases only by
// the model's owner or a principal with MANAGE (PERMISSION_DENIED otherwise); `version` in the
// alias call must be a JSON string; files writable only while the version is pending and only
// under the SAS the registry handed out for it. Unknown routes get an HTML 404.
// Unity Catalog requires a signature with inputs and outputs on every model version: finalize of a
// version whose MLmodel has none is refused (400 INVALID_PARAMETER_VALUE) and the version is left
// FAILED_REGISTRATION. The wording is MLflow's own refusal for Unity Catalog (its UC registry store
// checks the MLmodel before it creates a version); the service's own wording is not recorded.
import * as http from "http";
import type { AddressInfo } from "net";

interface Version {
    status: "PENDING_REGISTRATION" | "READY" | "FAILED_REGISTRATION";
    storageLocation: string;
    runId?: string;
    source?: string;
}

interface Model {
    owner: string;
    versions: Map<number, Version>;
    aliases: Map<string, number>;
}

/** A transient failure the real service produces and a test queues: the next matching registry call gets it. */
export interface UcFault {
    /** `METHOD route` (e.g. "POST model-versions/create") it applies to; any call when absent. */
    route?: string;
    /** Answer with this status and MLflow's error body for it (429 REQUEST_LIMIT_EXCEEDED, 500 INTERNAL_ERROR, else TEMPORARILY_UNAVAILABLE); absent: answer normally (after delayMs). */
    status?: number;
    /** Answer only after this long (the client's timeout fires first). */
    delayMs?: number;
    /** With a status: do the work first, then answer the error (the call took effect, the client cannot tell). */
    afterEffect?: boolean;
    /** Let this many matching calls through first. */
    skip?: number;
    /** Another MLflow error than the status's usual one (e.g. 400 INVALID_PARAMETER_VALUE). */
    errorCode?: string;
    message?: string;
    /** A Retry-After header on the error answer (Databricks sends one with 429 and 503). */
    retryAfter?: string;
}

export interface RecordedCall {
    method: string;
    path: string;
    principal?: string;
    contentType?: string;
}

/** A request to the storage account, with the headers promotion must send. */
export interface RecordedStorageRequest {
    method: string;
    path: string;
    /** The query's `action` (append, flush), when there is one. */
    action?: string;
    version?: string;
    contentType?: string;
}

const ACCOUNT = "mlplatdevmodels";

/** MLflow's refusal of a model without a signature in Unity Catalog. */
export const UC_SIGNATURE_REQUIRED =
    "Model passed for registration did not contain any signature metadata. All models in the Unity Catalog must be logged with a model signature containing both input and output type specifications.";

/** Whether an MLmodel file (YAML) has a `signature:` block with both `inputs` and `outputs`. */
export function hasSignature(mlmodel: string): boolean {
    const block = /^signature:[ \t]*\n((?:[ \t]+.*\n?)*)/m.exec(mlmodel)?.[1] ?? "";
    return /^[ \t]+inputs:[ \t]*\S/m.test(block) && /^[ \t]+outputs:[ \t]*\S/m.test(block);
}

/** An MLmodel with a one-column signature, for fixtures of Unity Catalog versions. */
export const SIGNED_MLMODEL = `flavors: {}\nsignature:\n  inputs: '[{"type": "double", "name": "x", "required": true}]'\n  outputs: '[{"type": "double", "required": true}]'\n`;

export class FakeUnityCatalog {
    readonly calls: RecordedCall[] = [];
    readonly storageRequests: RecordedStorageRequest[] = [];
    /** The size of each storage append, in order. */
    readonly appends: number[] = [];
    /** Files by `<container>/<path>`. */
    readonly files = new Map<string, Buffer>();
    /** Bearer token → principal name. */
    tokens: Record<string, string> = {};
    /** Per schema (`catalog.schema`): principals with CREATE_MODEL and MANAGE there. */
    privileges: Record<string, { createModel: string[]; manage: string[] }> = {};
    /** Queued transient failures, taken in order by the calls they match. */
    readonly faults: UcFault[] = [];
    /**
     * What finalize leaves a version with files in: READY (default), FAILED_REGISTRATION (the
     * registry refused it), or PENDING_REGISTRATION until it has been read `pendingReads` times
     * (Infinity: it never finishes), as a real finalize may report before registration completes.
     */
    finalizeOutcome: "READY" | "FAILED_REGISTRATION" | "PENDING_REGISTRATION" = "READY";
    /** Rewrites a route's JSON answers: a test of how the client takes answers the documented API never gives. */
    answerHook?: (route: string, body: unknown) => unknown;
    pendingReads = Infinity;
    private readonly pendingLeft = new Map<string, number>();
    private readonly models = new Map<string, Model>();
    private readonly sas = new Map<string, { prefix: string; write: boolean }>();
    private sasCounter = 0;
    private readonly server = http.createServer((req, res) => void this.handle(req, res));

    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return this.url;
    }

    get url(): string {
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    /** Where a test points promote's storage calls for an account. */
    storageEndpoint = (account: string) => `${this.url}/storage/${account}`;

    stop(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }

    /** A registered model with READY versions, each with files under its storage location. */
    addModel(name: string, owner: string, versions: Record<number, Record<string, string>>, status: Version["status"] = "READY"): void {
        const model: Model = { owner, versions: new Map(), aliases: new Map() };
        for (const [v, files] of Object.entries(versions)) {
            // A READY Unity Catalog version always has a signature; a fixture without one is not real.
            if (status === "READY" && files.MLmodel !== undefined && !hasSignature(files.MLmodel)) throw new Error(`fixture ${name} version ${v}: a READY Unity Catalog version's MLmodel must carry a signature (use SIGNED_MLMODEL)`);
            const location = `abfss://models@${ACCOUNT}.dfs.core.windows.net/unity-catalog/models/${name}/versions/${v}`;
            model.versions.set(Number(v), { status, storageLocation: location, runId: `run-${v}` });
            for (const [file, content] of Object.entries(files)) this.files.set(`models/unity-catalog/models/${name}/versions/${v}/${file}`, Buffer.from(content));
        }
        this.models.set(name, model);
    }

    model(name: string): { owner: string; versions: Map<number, Version>; aliases: Map<string, number> } | undefined {
        return this.models.get(name);
    }

    filesOf(location: string): Record<string, string> {
        const prefix = location.replace(/^abfss:\/\/([^@]+)@[^/]+\//, "$1/") + "/";
        return Object.fromEntries([...this.files].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v.toString()]));
    }

    private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const chunks: Buffer[] = [];
        for await (const chunk of req) chunks.push(chunk as Buffer);
        const body = Buffer.concat(chunks);
        const url = new URL(req.url ?? "/", "http://x");
        const json = (status: number, data: unknown) => {
            res.writeHead(status, { "Content-Type": "application/json" });
            res.end(JSON.stringify(data));
        };
        const error = (status: number, code: string, message: string) => json(status, { error_code: code, message });
        if (url.pathname.startsWith("/storage/")) {
            this.storageRequests.push({ method: req.method ?? "", path: url.pathname, action: url.searchParams.get("action") ?? undefined, version: req.headers["x-ms-version"] as string | undefined, contentType: req.headers["content-type"] });
            return this.storage(req.method ?? "GET", url, body, res);
        }
        const principal = this.tokens[(req.headers.authorization ?? "").replace(/^Bearer /, "")];
        this.calls.push({ method: req.method ?? "", path: url.pathname, principal, contentType: req.headers["content-type"] });
        if (!url.pathname.startsWith("/api/2.0/mlflow/unity-catalog/")) {
            res.writeHead(404, { "Content-Type": "text/html" });
            return void res.end("<html><body>Not Found</body></html>");
        }
        if (!principal) return error(401, "UNAUTHENTICATED", "Invalid access token.");
        const route = `${req.method} ${url.pathname.slice("/api/2.0/mlflow/unity-catalog/".length)}`;
        const faultAt = this.faults.findIndex((f) => (!f.route || f.route === route) && !(f.skip && f.skip-- > 0));
        if (faultAt !== -1) {
            const [fault] = this.faults.splice(faultAt, 1);
            // A slow answer: the client's timeout fires first; the work still happens, as on a real server.
            if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
            if (fault.status === undefined) return this.route(route, req, url, body, principal, res);
            // The work happens, and then the answer is an error: the client cannot tell it took effect.
            if (fault.afterEffect) await this.route(route, req, url, body, principal, { writeHead: () => undefined, end: () => undefined } as unknown as http.ServerResponse);
            // MLflow's status mapping: REQUEST_LIMIT_EXCEEDED 429, INTERNAL_ERROR 500, TEMPORARILY_UNAVAILABLE 503.
            const code = fault.errorCode ?? (fault.status === 429 ? "REQUEST_LIMIT_EXCEEDED" : fault.status === 500 ? "INTERNAL_ERROR" : "TEMPORARILY_UNAVAILABLE");
            const answer = { error_code: code, message: fault.message ?? (fault.status === 429 ? "Too many requests. Please wait and try again." : "The service is temporarily unavailable.") };
            if (fault.retryAfter !== undefined) res.setHeader("Retry-After", fault.retryAfter);
            return json(fault.status, this.answerHook ? this.answerHook(route, answer) : answer);
        }
        return this.route(route, req, url, body, principal, res);
    }

    private async route(route: string, req: http.IncomingMessage, url: URL, body: Buffer, principal: string, res: http.ServerResponse): Promise<void> {
        const json = (status: number, data: unknown) => {
            res.writeHead(status, { "Content-Type": "application/json" });
            res.end(JSON.stringify(this.answerHook ? this.answerHook(route, data) : data));
        };
        const error = (status: number, code: string, message: string) => json(status, { error_code: code, message });
        const params: Record<string, unknown> = req.method === "GET" ? Object.fromEntries(url.searchParams) : body.length ? JSON.parse(body.toString()) : {};
        const name = String(params.name ?? "");
        const schema = name.split(".").slice(0, 2).join(".");
        const model = this.models.get(name);
        const can = (what: "createModel" | "manage") => model?.owner === principal || (this.privileges[schema]?.[what] ?? []).includes(principal) || (what === "createModel" && (this.privileges[schema]?.manage ?? []).includes(principal));
        const info = (v: number, mv: Version) => ({ name, version: String(v), status: mv.status, storage_location: mv.storageLocation, run_id: mv.runId, source: mv.source, aliases: [...model!.aliases].filter(([, n]) => n === v).map(([alias]) => ({ alias, version: String(v) })) });
        switch (route) {
            case "GET model-versions/get": {
                const mv = model?.versions.get(Number(params.version));
                if (!model || !mv) return error(404, "RESOURCE_DOES_NOT_EXIST", `Routine or Model '${name}' version '${params.version}' does not exist.`);
                // A finalized version still registering turns READY after `pendingReads` reads.
                const left = this.pendingLeft.get(`${name}/${params.version}`);
                if (left !== undefined && mv.status === "PENDING_REGISTRATION") {
                    if (left <= 1) {
                        mv.status = "READY";
                        this.pendingLeft.delete(`${name}/${params.version}`);
                    } else this.pendingLeft.set(`${name}/${params.version}`, left - 1);
                }
                return json(200, { model_version: info(Number(params.version), mv) });
            }
            case "GET model-versions/search": {
                // MLflow's UC client: filter "name='<full name>'" only here, no order_by, paged by token;
                // versions carry their source and status but no aliases (model_version_search_from_uc_proto).
                const match = /^name\s*=\s*'((?:[^']|'')*)'$/.exec(String(params.filter ?? "").trim());
                if (!match) return error(400, "INVALID_PARAMETER_VALUE", `Unsupported filter: ${params.filter}. Only name='<model>' is supported here.`);
                const searched = this.models.get(match[1].replace(/''/g, "'"));
                const size = Math.max(1, Number(params.max_results ?? 100) || 100);
                const all = searched ? [...searched.versions].sort(([a], [b]) => b - a) : [];
                const offset = Number(params.page_token ?? 0) || 0;
                const page = all.slice(offset, offset + size).map(([v, mv]) => ({ name: match[1], version: String(v), status: mv.status, storage_location: mv.storageLocation, run_id: mv.runId, source: mv.source }));
                return json(200, { ...(page.length ? { model_versions: page } : {}), ...(offset + size < all.length ? { next_page_token: String(offset + size) } : {}) });
            }
            case "POST registered-models/create": {
                if (model) return error(400, "RESOURCE_ALREADY_EXISTS", `Registered model '${name}' already exists.`);
                if (!(this.privileges[schema]?.createModel ?? []).includes(principal) && !(this.privileges[schema]?.manage ?? []).includes(principal)) {
                    return error(403, "PERMISSION_DENIED", `User does not have CREATE MODEL on Schema '${schema}'.`);
                }
                this.models.set(name, { owner: principal, versions: new Map(), aliases: new Map() });
                return json(200, { registered_model: { name } });
            }
            case "POST model-versions/create": {
                if (!model) return error(404, "RESOURCE_DOES_NOT_EXIST", `Registered model '${name}' does not exist.`);
                if (!can("createModel")) return error(403, "PERMISSION_DENIED", `User does not have CREATE MODEL VERSION on Registered model '${name}'.`);
                const v = Math.max(0, ...model.versions.keys()) + 1;
                const mv: Version = { status: "PENDING_REGISTRATION", storageLocation: `abfss://models@${ACCOUNT}.dfs.core.windows.net/unity-catalog-prd/models/${name}/versions/${v}`, runId: params.run_id as string, source: params.source as string };
                model.versions.set(v, mv);
                return json(200, { model_version: info(v, mv) });
            }
            case "POST model-versions/generate-temporary-credentials": {
                const mv = model?.versions.get(Number(params.version));
                if (!model || !mv) return error(404, "RESOURCE_DOES_NOT_EXIST", `Model version does not exist.`);
                const write = params.operation === "MODEL_VERSION_OPERATION_READ_WRITE";
                if (write && mv.status !== "PENDING_REGISTRATION") return error(400, "INVALID_PARAMETER_VALUE", "Model version files can only be written at creation time.");
                if (write && !can("createModel")) return error(403, "PERMISSION_DENIED", "User cannot write this model version.");
                const token = `sv=2021-08-06&sr=d&sp=${write ? "racwl" : "rl"}&sig=fake-sas-${++this.sasCounter}`;
                this.sas.set(`fake-sas-${this.sasCounter}`, { prefix: mv.storageLocation.replace(/^abfss:\/\/([^@]+)@[^/]+\//, "$1/"), write });
                return json(200, { credentials: { azure_user_delegation_sas: { sas_token: token }, expiration_time: Date.now() + 3_600_000 } });
            }
            case "POST model-versions/finalize": {
                const mv = model?.versions.get(Number(params.version));
                if (!model || !mv) return error(404, "RESOURCE_DOES_NOT_EXIST", `Model version does not exist.`);
                const mlmodel = this.filesOf(mv.storageLocation).MLmodel;
                if (mlmodel !== undefined && !hasSignature(mlmodel)) {
                    mv.status = "FAILED_REGISTRATION";
                    return error(400, "INVALID_PARAMETER_VALUE", UC_SIGNATURE_REQUIRED);
                }
                mv.status = mlmodel !== undefined ? this.finalizeOutcome : "FAILED_REGISTRATION";
                if (mv.status === "PENDING_REGISTRATION") this.pendingLeft.set(`${name}/${params.version}`, this.pendingReads);
                return json(200, { model_version: info(Number(params.version), mv) });
            }
            case "GET registered-models/alias": {
                const version = model?.aliases.get(String(params.alias));
                // Only the documented answer (an alias that exists); other answers are not recorded.
                if (!model || version === undefined) break;
                return json(200, { model_version: info(version, model.versions.get(version)!) });
            }
            case "POST registered-models/alias": {
                if (typeof params.version !== "string") return error(400, "INVALID_PARAMETER_VALUE", `Invalid value ${params.version} for parameter 'version' supplied.`);
                if (!model || !model.versions.has(Number(params.version))) return error(404, "RESOURCE_DOES_NOT_EXIST", "Model version does not exist.");
                if (!can("manage")) return error(403, "PERMISSION_DENIED", `User does not have MANAGE on Registered model '${name}'.`);
                model.aliases.set(String(params.alias), Number(params.version));
                return json(200, {});
            }
        }
        res.writeHead(404, { "Content-Type": "text/html" });
        res.end("<html><body>Not Found</body></html>");
    }

    private storage(method: string, url: URL, body: Buffer, res: http.ServerResponse): void {
        const [, , , container, ...rest] = url.pathname.split("/");
        const path = rest.map(decodeURIComponent).join("/");
        // A SAS is the query's sv, sr, sp and sig parameters; "?sv=" inside the query is no sv.
        const grant = url.searchParams.has("sv") ? this.sas.get(url.searchParams.get("sig") ?? "") : undefined;
        const fail = (status: number, code: string) => {
            res.writeHead(status, { "x-ms-error-code": code });
            res.end();
        };
        const key = `${container}/${path}`;
        if (method === "GET" && url.searchParams.get("resource") === "filesystem") {
            const dir = `${container}/${url.searchParams.get("directory")}`;
            if (!grant || !dir.startsWith(grant.prefix)) return fail(403, "AuthorizationPermissionMismatch");
            const paths = [...this.files.keys()].filter((k) => k.startsWith(`${dir}/`)).map((k) => ({ name: k.slice(container.length + 1), contentLength: String(this.files.get(k)!.length) }));
            res.writeHead(200, { "Content-Type": "application/json" });
            return void res.end(JSON.stringify({ paths }));
        }
        if (!grant || !key.startsWith(grant.prefix)) return fail(403, "AuthorizationPermissionMismatch");
        if (method === "GET") {
            const content = this.files.get(key);
            if (!content) return fail(404, "PathNotFound");
            res.writeHead(200, { "Content-Type": "application/octet-stream" });
            return void res.end(content);
        }
        if (!grant.write) return fail(403, "AuthorizationPermissionMismatch");
        if (method === "PUT" && url.searchParams.get("resource") === "file") {
            this.pending.set(key, Buffer.alloc(0));
            res.writeHead(201);
            return void res.end();
        }
        if (method === "PATCH" && url.searchParams.get("action") === "append") {
            const current = this.pending.get(key);
            if (!current || Number(url.searchParams.get("position")) !== current.length) return fail(400, "InvalidFlushPosition");
            this.pending.set(key, Buffer.concat([current, body]));
            this.appends.push(body.length);
            res.writeHead(202);
            return void res.end();
        }
        if (method === "PATCH" && url.searchParams.get("action") === "flush") {
            const current = this.pending.get(key);
            if (!current || Number(url.searchParams.get("position")) !== current.length) return fail(400, "InvalidFlushPosition");
            this.files.set(key, current);
            res.writeHead(200);
            return void res.end();
        }
        fail(400, "UnsupportedRestVersion");
    }

    private readonly pending = new Map<string, Buffer>();
}
