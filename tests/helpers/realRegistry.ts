// Seeds a real MLflow server (tests/helpers/realMlflow.ts) through its own REST API, the way a
// user's MLflow client would: registered-models/create, model-versions/create, aliases, stages,
// tags, descriptions. Also a recording proxy, so a test can count the requests a client sends to
// the real server.
import axios, { type AxiosInstance } from "axios";
import * as http from "http";
import type { AddressInfo } from "net";
import type { RealMlflow } from "./realMlflow";

export type Stage = "None" | "Staging" | "Production" | "Archived";

export interface SeedVersion {
    stage?: Stage;
    /** Where the version's files are; an s3:// URI needs no run on the server. */
    source?: string;
    tags?: Record<string, string>;
    /** Register from a new run (`runs:/<run>/model`, with its run_id). */
    run?: boolean;
    /** MLflow 3: register from a new logged model (`models:/m-<id>`). */
    loggedModel?: boolean;
}

export interface SeedModel {
    versions?: SeedVersion[];
    /** alias → version number. */
    aliases?: Record<string, number>;
    description?: string;
}

/** A source the real server accepts without a run (local paths and runs:/ need a run_id there). */
export function seedSource(model: string, version: number): string {
    return `s3://test-bucket/${model}/${version}/model`;
}

export class RealRegistry {
    private readonly http: AxiosInstance;

    constructor(readonly server: RealMlflow) {
        const auth = server.username ? { username: server.username, password: server.password ?? "" } : undefined;
        this.http = axios.create({ baseURL: `${server.url}/api/2.0/mlflow/`, auth, validateStatus: () => true, timeout: 30_000 });
    }

    /** POSTs a JSON body to a route under /api/2.0/mlflow/ (or an absolute URL); throws with the server's answer unless it is 200. */
    async post(route: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
        const answer = await this.http.post(route, body, { headers: { "Content-Type": "application/json" } });
        if (answer.status !== 200) throw new Error(`seeding ${route} ${JSON.stringify(body)}: HTTP ${answer.status} ${JSON.stringify(answer.data)}`);
        return answer.data;
    }

    async createModel(name: string, description?: string): Promise<void> {
        await this.post("registered-models/create", description ? { name, description } : { name });
    }

    /** Creates the next version (1, 2, ...) and returns its number. */
    /** A new run in the default experiment; returns its id. */
    async createRun(): Promise<string> {
        const answer = await this.post("runs/create", { experiment_id: "0" });
        return (answer.run as { info: { run_id: string } }).info.run_id;
    }

    /** MLflow 3: a new logged model in the default experiment; returns its id (`m-…`). */
    async createLoggedModel(): Promise<string> {
        const answer = await this.post("logged-models", { experiment_id: "0", name: "model" });
        return (answer.model as { info: { model_id: string } }).info.model_id;
    }

    async createVersion(name: string, version: SeedVersion = {}, expected?: number): Promise<number> {
        const tags = Object.entries(version.tags ?? {}).map(([key, value]) => ({ key, value }));
        const body: Record<string, unknown> = { name, source: version.source ?? seedSource(name, expected ?? 0), ...(tags.length ? { tags } : {}) };
        if (version.run) {
            // Real MLflow 3.17 accepts a runs:/ source only with the run_id of an existing run.
            body.run_id = await this.createRun();
            body.source = `runs:/${body.run_id}/model`;
        }
        if (version.loggedModel) {
            body.model_id = await this.createLoggedModel();
            body.source = `models:/${body.model_id}`;
        }
        const answer = await this.post("model-versions/create", body);
        const created = Number((answer.model_version as { version: string }).version);
        if (version.stage && version.stage !== "None") await this.transition(name, created, version.stage);
        return created;
    }

    async transition(name: string, version: number, stage: Stage): Promise<void> {
        await this.post("model-versions/transition-stage", { name, version: String(version), stage, archive_existing_versions: false });
    }

    async setAlias(name: string, alias: string, version: number): Promise<void> {
        await this.post("registered-models/alias", { name, alias, version: String(version) });
    }

    async deleteVersion(name: string, version: number): Promise<void> {
        const answer = await this.http.delete("model-versions/delete", { data: { name, version: String(version) }, headers: { "Content-Type": "application/json" } });
        if (answer.status !== 200) throw new Error(`deleting ${name} v${version}: HTTP ${answer.status} ${JSON.stringify(answer.data)}`);
    }

    /** Basic-auth servers: a user without admin rights. */
    async createUser(username: string, password: string): Promise<void> {
        await this.post("users/create", { username, password });
    }

    /** Basic-auth servers: denies a user one registered model (MLflow 3.17: resource grant DENY under /api/3.0). */
    async deny(username: string, model: string): Promise<void> {
        await this.post(`${this.server.url}/api/3.0/mlflow/users/permissions/grant`, { username, resource_type: "registered_model", resource_id: model, permission: "DENY" });
    }

    /** Registers a model with versions 1..n in order (stages, tags, aliases as given). */
    async seed(name: string, model: SeedModel = {}): Promise<void> {
        await this.createModel(name, model.description);
        let n = 0;
        for (const version of model.versions ?? []) await this.createVersion(name, { source: seedSource(name, ++n), ...version }, n);
        for (const [alias, version] of Object.entries(model.aliases ?? {})) await this.setAlias(name, alias, version);
    }
}

export interface ProxiedRequest {
    method: string;
    path: string;
    query: URLSearchParams;
    authorization?: string;
}

/**
 * A loopback HTTP proxy in front of a real server that records each request (method, path
 * without the target's prefix, query), so tests can assert how many requests a client made.
 */
export class RecordingProxy {
    readonly requests: ProxiedRequest[] = [];
    private readonly server: http.Server;
    private readonly target: URL;

    constructor(targetUrl: string) {
        this.target = new URL(targetUrl);
        this.server = http.createServer((req, res) => {
            const url = new URL(req.url ?? "/", "http://proxy");
            const prefix = this.target.pathname.replace(/\/+$/, "");
            this.requests.push({
                method: req.method ?? "GET",
                path: prefix && url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname,
                query: url.searchParams,
                authorization: req.headers.authorization,
            });
            const upstream = http.request(
                { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.target.host } },
                (answer) => {
                    res.writeHead(answer.statusCode ?? 502, answer.headers);
                    answer.pipe(res);
                },
            );
            upstream.on("error", () => res.destroy());
            req.pipe(upstream);
        });
    }

    /** Starts listening; the proxy's URL keeps the target's path prefix. */
    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return this.url;
    }

    get url(): string {
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${this.target.pathname.replace(/\/+$/, "")}`;
    }

    paths(): string[] {
        return this.requests.map((r) => r.path);
    }

    reset(): void {
        this.requests.length = 0;
    }

    async stop(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }
}
