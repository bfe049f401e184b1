// Promotion: a deployer's action that copies an approved candidate version from the dev schema
// into the prd schema (which the deployers own) and points the prd alias at the copy. Data
// scientists hold no privilege on the prd schema, so this is the only way a version reaches prd.
//
// The routes are the ones MLflow's own client calls for `MlflowClient.copy_model_version` on a
// Unity Catalog registry (mlflow/store/_unity_catalog/registry/rest_store.py and the routes in
// databricks_uc_registry_service.proto): copy_model_version is create_model_version with source
// `models:/<src>/<version>`, which creates the version, uploads the files to its storage location
// with temporary credentials, then finalizes it:
//   GET  /api/2.0/mlflow/unity-catalog/model-versions/get
//   POST /api/2.0/mlflow/unity-catalog/registered-models/create
//   POST /api/2.0/mlflow/unity-catalog/model-versions/create
//   POST /api/2.0/mlflow/unity-catalog/model-versions/generate-temporary-credentials
//   POST /api/2.0/mlflow/unity-catalog/model-versions/finalize
//   POST /api/2.0/mlflow/unity-catalog/registered-models/alias
// Files move with the Azure Data Lake Storage Gen2 REST API (list paths, read, create, append,
// flush) under the user delegation SAS tokens the registry hands out, as MLflow's
// AzureDataLakeArtifactRepository does.
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import type { Readable } from "stream";
import type { Credential } from "./credentials";

const UC = "/api/2.0/mlflow/unity-catalog";
/** Azure Storage REST version for the Data Lake calls. */
export const STORAGE_API_VERSION = "2021-08-06";

export class PromoteError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "PromoteError";
    }
}

export interface PromoteRequest {
    /** `catalog.devSchema.model` */
    source: string;
    version: string;
    /** `catalog.prdSchema.model` */
    target: string;
    alias: string;
}

export interface PromoteOptions {
    /** The workspace URL (`https://adb-….azuredatabricks.net`). */
    host: string;
    credential: Credential;
    /** `https://<account>.dfs.core.windows.net` unless a test points elsewhere. */
    storageEndpoint?: (account: string) => string;
    timeoutMs?: number;
    /** Progress lines, each saying what was done. */
    log?: (line: string) => void;
    sleep?: (ms: number) => Promise<void>;
    /** Largest append to the target file (default 4 MiB): the most of a file held in memory. */
    chunkBytes?: number;
    /** Attempts per call on 429, 5xx and timeouts (default 5), the first included. */
    maxAttempts?: number;
    /**
     * Called just before the alias moves, with the prd version it will point at (the audit trail's
     * intent record). If it throws, the alias is not moved.
     */
    beforeAlias?: (change: { version: string }) => Promise<void>;
}

/** Runs a before-the-alias step; its failure becomes a PromoteError saying prd did not change. */
export async function beforeAliasMoves(step: (() => Promise<void>) | undefined, what: string): Promise<void> {
    if (!step) return;
    try {
        await step();
    } catch (err) {
        throw new PromoteError(`${(err as Error).message}; so the alias was not moved: ${what}`);
    }
}

export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

export interface PromoteResult {
    source: string;
    sourceVersion: string;
    target: string;
    targetVersion: string;
    alias: string;
    files: number;
    bytes: number;
}

export interface ModelVersionInfo {
    name?: string;
    version?: string;
    status?: string;
    status_message?: string;
    storage_location?: string;
    run_id?: string;
    /** What the version was created from (`models:/<name>/<version>` for a promotion's copy). */
    source?: string;
}

/** `abfss://<container>@<account>.dfs.core.windows.net/<path>` */
export function parseStorageLocation(location: string): { account: string; container: string; path: string } {
    // The host ends at the first "/": `acct.dfs.core.windows.net.example.com` is another host.
    const match = /^abfss:\/\/([^@/]+)@([^./]+)\.dfs\.core\.windows\.net(?:\/(.*))?$/.exec(location);
    if (!match) throw new PromoteError(`the registry gave a storage location this command cannot copy to (${location}): only Azure Data Lake Storage (abfss://) locations are supported, not Databricks default storage`);
    return { container: match[1], account: match[2], path: (match[3] ?? "").replace(/\/+$/, "") };
}

function errorOf(answer: AxiosResponse): { code: string; message: string } | undefined {
    // A text or number has no error_code either; JSON null has nothing.
    const data = answer.data as { error_code?: unknown; message?: unknown } | null;
    return typeof data?.error_code === "string" ? { code: data.error_code, message: String(data.message ?? "") } : undefined;
}

/** Options for calls to a workspace's Unity Catalog model routes. */
export interface UnityCatalogOptions {
    host: string;
    credential: Credential;
    timeoutMs?: number;
    /** What a 403 means for this command: which privileges it needs. */
    permissionHint?: string;
    /** Attempts per call on 429, 5xx (not 501) and timeouts or resets (default 5), the first included. */
    maxAttempts?: number;
    /** Waits between attempts (tests make them instant). */
    sleep?: (ms: number) => Promise<void>;
}

/** A 429, a 5xx or no answer, after the attempts allowed: the registry or storage is unwell, not the request. */
export class TransientPromoteError extends PromoteError {}

export const DEFAULT_MAX_ATTEMPTS = 5;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const TRANSIENT_NETWORK_CODES: ReadonlySet<string | undefined> = new Set(["ECONNABORTED", "ETIMEDOUT", "ECONNRESET", "ECONNREFUSED", "EPIPE", "EAI_AGAIN"]);

/** 429 and 5xx other than 501 (Not Implemented never changes) are worth another attempt. */
export function isTransientStatus(status: number): boolean {
    return status === 429 || (status >= 500 && status !== 501);
}

/** Exponential backoff (1 s, 2 s, 4 s, ... up to 30 s), or the server's Retry-After in seconds within that bound. */
export function retryDelayMs(attempt: number, retryAfter?: unknown): number {
    const seconds = typeof retryAfter === "string" && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined;
    return Math.min(RETRY_MAX_MS, seconds !== undefined ? seconds * 1000 : RETRY_BASE_MS * 2 ** (attempt - 1));
}

function defaultSleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

const PROMOTE_PERMISSIONS = "Promoting needs USE_CATALOG, USE_SCHEMA and EXECUTE on the source, and ownership or MANAGE plus CREATE_MODEL on the prd schema: only deployers hold them";

export interface UnityCatalogCalls {
    /**
     * One call; `ok` decides which answers are not errors (default: 200). A 429, 5xx or timeout is
     * tried again up to the bound unless `retry` is false (a call that is not safe to repeat: the
     * caller decides), and then throws TransientPromoteError.
     */
    call(method: "GET" | "POST", route: string, body: Record<string, unknown>, what: string, ok?: (a: AxiosResponse) => boolean, retry?: boolean): Promise<AxiosResponse>;
    /** The `model_version` of an answer, or a clear error. */
    versionOf(answer: AxiosResponse, what: string): ModelVersionInfo;
}

/** Calls to the Unity Catalog model routes MLflow's client uses, with the errors said plainly (never the credential). */
export function unityCatalogCalls(options: UnityCatalogOptions): UnityCatalogCalls {
    // axios joins the base and a route with one "/" whatever slashes the host ends in (its combineURLs).
    const registry: AxiosInstance = axios.create({ baseURL: options.host, timeout: options.timeoutMs ?? 30_000, validateStatus: () => true });
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const sleep = options.sleep ?? defaultSleep;
    const call = async (method: "GET" | "POST", route: string, body: Record<string, unknown>, what: string, ok: (a: AxiosResponse) => boolean = (a) => a.status === 200, retry = true): Promise<AxiosResponse> => {
        let answer: AxiosResponse;
        for (let attempt = 1; ; attempt++) {
            const last = !retry || attempt >= maxAttempts;
            const gaveUp = retry ? ` (gave up after ${attempt} attempts)` : "";
            let authorization: string;
            try {
                authorization = await options.credential.authorization();
            } catch (err) {
                // Not the registry's silence: the credential's own reason (e.g. no Entra token: run az login).
                throw new PromoteError(`cannot ${what}: ${(err as Error).message}`);
            }
            try {
                answer = await registry.request({
                    method,
                    url: `${UC}/${route}`,
                    ...(method === "GET" ? { params: body } : { data: body }),
                    headers: { Authorization: authorization, "Content-Type": "application/json" },
                });
            } catch (err) {
                const code = axios.isAxiosError(err) ? err.code : undefined;
                const transient = TRANSIENT_NETWORK_CODES.has(code);
                const reason = code === "ECONNABORTED" || code === "ETIMEDOUT" ? `did not answer within ${registry.defaults.timeout} ms` : `did not answer (${code ?? "network error"})`;
                if (!transient) throw new PromoteError(`cannot ${what}: the registry at ${options.host} ${reason}`);
                if (last) throw new TransientPromoteError(`cannot ${what}: the registry at ${options.host} ${reason}${gaveUp}; try again later: a rerun picks up where this one stopped`);
                await sleep(retryDelayMs(attempt));
                continue;
            }
            if (!isTransientStatus(answer.status)) break;
            const error = errorOf(answer);
            if (last) {
                if (ok(answer)) return answer; // the caller takes any answer (rollback's alias read)
                throw new TransientPromoteError(
                    `cannot ${what}: the registry at ${options.host} answered HTTP ${answer.status}${error ? ` ${error.code}: ${error.message}` : ""}${gaveUp}; ` +
                        `${answer.status === 429 ? "it is throttling requests" : "it is failing"}: try again later: a rerun picks up where this one stopped`,
                );
            }
            await sleep(retryDelayMs(attempt, answer.headers["retry-after"]));
        }
        if (ok(answer)) return answer;
        const error = errorOf(answer);
        if (answer.status === 401) throw new PromoteError(`cannot ${what}: the registry refused the credential from ${options.credential.source} (HTTP 401): sign in again (az login) or check DATABRICKS_TOKEN`);
        if (answer.status === 403 || error?.code === "PERMISSION_DENIED") {
            throw new PromoteError(
                `cannot ${what}: permission denied (${error?.message || `HTTP ${answer.status}`}). ${options.permissionHint ?? PROMOTE_PERMISSIONS}`,
            );
        }
        if (!error) {
            throw new PromoteError(`cannot ${what}: ${options.host} answered HTTP ${answer.status} without an MLflow error (is it a Databricks workspace with Unity Catalog? the route ${UC}/${route} is missing)`);
        }
        throw new PromoteError(`cannot ${what}: ${error.code}: ${error.message}`);
    };
    const versionOf = (answer: AxiosResponse, what: string): ModelVersionInfo => {
        const mv = (answer.data as { model_version?: ModelVersionInfo } | undefined)?.model_version;
        // A text or number has no `version` either.
        if (!mv || mv.version === undefined) throw new PromoteError(`cannot ${what}: the registry's answer has no model_version: it is not a Unity Catalog registry answer`);
        return mv;
    };

    return { call, versionOf };
}

/** An Azure storage account's Data Lake endpoint. */
export function dataLakeEndpoint(account: string): string {
    return `https://${account}.dfs.core.windows.net`;
}

export async function promote(request: PromoteRequest, options: PromoteOptions): Promise<PromoteResult> {
    const log = options.log ?? (() => undefined);
    const sleep = options.sleep ?? defaultSleep;
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const storage: AxiosInstance = axios.create({ timeout: options.timeoutMs ?? 120_000, validateStatus: () => true, maxBodyLength: Infinity, maxContentLength: Infinity });
    const endpoint = options.storageEndpoint ?? dataLakeEndpoint;

    const { call, versionOf } = unityCatalogCalls({ ...options, sleep, maxAttempts });
    // 1. The candidate: it must exist and be READY.
    const sourceAnswer = await call("GET", "model-versions/get", { name: request.source, version: request.version }, `read version ${request.version} of ${request.source}`, (a) => a.status === 200 || errorOf(a)?.code === "RESOURCE_DOES_NOT_EXIST");
    if (sourceAnswer.status !== 200) throw new PromoteError(`${request.source} has no version ${request.version} (RESOURCE_DOES_NOT_EXIST): check the model name and version in the dev schema`);
    const source = versionOf(sourceAnswer, `read version ${request.version} of ${request.source}`);
    if (source.status !== "READY") throw new PromoteError(`version ${request.version} of ${request.source} is ${source.status ?? "in an unknown state"}${source.status_message ? ` (${source.status_message})` : ""}: only a READY version can be promoted`);
    if (!source.storage_location) throw new PromoteError(`version ${request.version} of ${request.source} has no storage location in the registry's answer: cannot copy its files`);
    const sourceLocation = source.storage_location;

    // 2. The prd model, created by this deployer if it is the first promotion.
    const created = await call("POST", "registered-models/create", { name: request.target }, `create ${request.target}`, (a) => a.status === 200 || errorOf(a)?.code === "RESOURCE_ALREADY_EXISTS");
    log(created.status === 200 ? `created registered model ${request.target}` : `registered model ${request.target} exists`);

    // 3. The new version, pointing at its source. A rerun after an interrupted promotion (or a
    // create whose answer was lost) finds the version that run created instead of adding another.
    const sourceUri = `models:/${request.source}/${request.version}`;
    const earlierCopy = async (): Promise<ModelVersionInfo | undefined> => {
        let newest: ModelVersionInfo | undefined;
        let pageToken: string | undefined;
        do {
            // MLflow's UC client: search takes a name filter and no order_by (UcModelRegistryStore.search_model_versions).
            const answer = await call("GET", "model-versions/search", { filter: `name='${request.target.replace(/'/g, "''")}'`, max_results: 100, ...(pageToken ? { page_token: pageToken } : {}) }, `list the versions of ${request.target}`);
            const page = (answer.data as { model_versions?: unknown; next_page_token?: unknown } | undefined) ?? {};
            for (const mv of Array.isArray(page.model_versions) ? (page.model_versions as ModelVersionInfo[]) : []) {
                if (mv?.source !== sourceUri || mv.status === "FAILED_REGISTRATION" || !/^\d+$/.test(String(mv.version))) continue;
                if (!newest || Number(mv.version) > Number(newest.version)) newest = mv;
            }
            // An empty token, like none, ends the listing (the loop's condition).
            pageToken = typeof page.next_page_token === "string" ? page.next_page_token : undefined;
        } while (pageToken);
        // Search results may leave fields out: read the version itself.
        if (!newest) return undefined;
        const readWhat = `read version ${newest.version} of ${request.target}`;
        return versionOf(await call("GET", "model-versions/get", { name: request.target, version: String(newest.version) }, readWhat), readWhat);
    };
    let target = await earlierCopy();
    if (target) {
        log(`version ${target.version} of ${request.target} already holds ${sourceUri} (${target.status}), from an earlier promotion: ${target.status === "READY" ? "not copied again" : "finishing it"}`);
    } else {
        const createWhat = `create a version of ${request.target}`;
        for (let attempt = 1; !target; attempt++) {
            try {
                // Not repeated blindly: a create that failed may still have made a version.
                target = versionOf(await call("POST", "model-versions/create", { name: request.target, source: sourceUri, ...(source.run_id ? { run_id: source.run_id } : {}) }, createWhat, undefined, false), createWhat);
            } catch (err) {
                if (!(err instanceof TransientPromoteError) || attempt >= maxAttempts) throw err;
                await sleep(retryDelayMs(attempt));
                target = await earlierCopy();
            }
        }
        log(`created version ${target.version} of ${request.target} from ${sourceUri} (PENDING_REGISTRATION until its files are copied)`);
    }
    if (!target.storage_location) throw new PromoteError(`the new version ${target.version} of ${request.target} has no storage location: cannot copy files to it`);
    const copied = target.status === "READY";

    // 4. The files, with short-lived credentials for each side.
    const copyFiles = async (target: ModelVersionInfo & { storage_location: string }): Promise<{ files: number; bytes: number }> => {
        const sas = async (name: string, version: string, operation: string) => {
            const answer = await call("POST", "model-versions/generate-temporary-credentials", { name, version, operation }, `get ${operation === "MODEL_VERSION_OPERATION_READ" ? "read" : "write"} credentials for ${name} version ${version}`);
            const token = (answer.data as { credentials?: { azure_user_delegation_sas?: { sas_token?: string }; storage_mode?: string } })?.credentials;
            if (token?.storage_mode === "DEFAULT_STORAGE") throw new PromoteError(`${name} is in Databricks default storage, which this command cannot copy: give the catalog an external location (this stack's catalog has one)`);
            const value = token?.azure_user_delegation_sas?.sas_token;
            if (!value) throw new PromoteError(`the registry gave no Azure SAS token for ${name} version ${version}: only Azure storage is supported`);
            return value.replace(/^\?/, "");
        };
        const readSas = await sas(request.source, request.version, "MODEL_VERSION_OPERATION_READ");
        const writeSas = await sas(request.target, String(target.version), "MODEL_VERSION_OPERATION_READ_WRITE");
        const from = parseStorageLocation(sourceLocation);
        const to = parseStorageLocation(target.storage_location);
        const headers = { "x-ms-version": STORAGE_API_VERSION };
        const storageCall = async (method: "GET" | "PUT" | "PATCH", url: string, what: string, data?: Buffer, stream = false): Promise<AxiosResponse> => {
            for (let attempt = 1; ; attempt++) {
                const last = attempt >= maxAttempts;
                let answer: AxiosResponse;
                try {
                    answer = await storage.request({ method, url, data, headers: data ? { ...headers, "Content-Type": "application/octet-stream" } : headers, responseType: stream ? "stream" : "arraybuffer" });
                } catch (err) {
                    const code = axios.isAxiosError(err) ? err.code : undefined;
                    // A PATCH whose answer was lost may have been applied: not repeated (a rerun copies the file again).
                    if (method !== "PATCH" && TRANSIENT_NETWORK_CODES.has(code) && !last) {
                        await sleep(retryDelayMs(attempt));
                        continue;
                    }
                    throw new (TRANSIENT_NETWORK_CODES.has(code) ? TransientPromoteError : PromoteError)(`cannot ${what}: the storage account did not answer (${code ?? "network error"})${method !== "PATCH" && TRANSIENT_NETWORK_CODES.has(code) ? ` (gave up after ${attempt} attempts)` : ""}`);
                }
                if (answer.status >= 200 && answer.status < 300) return answer;
                // An unread error body would hold its socket.
                if (stream) (answer.data as Readable).destroy();
                // Azure Storage's 503 ServerBusy / 500 OperationTimedOut ask for a retry with backoff.
                if (isTransientStatus(answer.status) && !last) {
                    await sleep(retryDelayMs(attempt, answer.headers["retry-after"]));
                    continue;
                }
                // Storage errors carry x-ms-error-code; the SAS token is never repeated.
                const message = `cannot ${what}: the storage account answered HTTP ${answer.status} (${String(answer.headers["x-ms-error-code"] ?? "no error code")})`;
                if (isTransientStatus(answer.status)) throw new TransientPromoteError(`${message} (gave up after ${attempt} attempts); try again later: a rerun picks up where this one stopped`);
                throw new PromoteError(message);
            }
        };
        const files: { name: string }[] = [];
        let continuation: string | undefined;
        do {
            const query = `resource=filesystem&recursive=true&directory=${encodeURIComponent(from.path)}${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ""}&${readSas}`;
            const answer = await storageCall("GET", `${endpoint(from.account)}/${from.container}?${query}`, `list the files of ${request.source} version ${request.version}`);
            const listing = JSON.parse(Buffer.from(answer.data).toString("utf8")) as { paths?: { name: string; isDirectory?: string | boolean }[] };
            for (const p of listing.paths ?? []) if (p.isDirectory !== true && p.isDirectory !== "true") files.push({ name: p.name });
            continuation = answer.headers["x-ms-continuation"] as string | undefined;
        } while (continuation);
        if (files.length === 0) throw new PromoteError(`version ${request.version} of ${request.source} has no files at ${sourceLocation}: nothing to promote`);
        const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
        let bytes = 0;
        for (const file of files) {
            const relative = file.name.slice(from.path.length).replace(/^\/+/, "");
            const encode = (p: string) => p.split("/").map(encodeURIComponent).join("/");
            const destination = `${endpoint(to.account)}/${to.container}/${encode(`${to.path}/${relative}`)}`;
            await storageCall("PUT", `${destination}?resource=file&${writeSas}`, `create ${relative} in ${request.target}`);
            // Streamed: at most one chunk of a file is in memory, whatever its size; each chunk is
            // appended at its offset and the file is flushed once at its full length (Data Lake API).
            const download = (await storageCall("GET", `${endpoint(from.account)}/${from.container}/${encode(file.name)}?${readSas}`, `read ${relative}`, undefined, true)).data as AsyncIterable<Buffer>;
            let position = 0;
            let pending: Buffer[] = [];
            let pendingBytes = 0;
            const appendPending = async () => {
                if (pendingBytes === 0) return;
                const chunk = Buffer.concat(pending, pendingBytes);
                pending = [];
                pendingBytes = 0;
                await storageCall("PATCH", `${destination}?action=append&position=${position}&${writeSas}`, `write ${relative}`, chunk);
                position += chunk.length;
            };
            for await (const piece of download) {
                pending.push(piece);
                pendingBytes += piece.length;
                if (pendingBytes >= chunkBytes) await appendPending();
            }
            await appendPending();
            await storageCall("PATCH", `${destination}?action=flush&position=${position}&${writeSas}`, `flush ${relative}`);
            bytes += position;
        }
        log(`copied ${files.length} file(s), ${bytes} bytes, to ${target.storage_location}`);
        return { files: files.length, bytes };
    };
    const copy = copied ? { files: 0, bytes: 0 } : await copyFiles({ ...target, storage_location: target.storage_location });

    // 5. Finalize, and wait until the registry reports the version READY.
    if (!copied) {
        const finalizeWhat = `finalize version ${target.version} of ${request.target}`;
        const readWhat = `read version ${target.version} of ${request.target}`;
        let final = versionOf(await call("POST", "model-versions/finalize", { name: request.target, version: String(target.version) }, finalizeWhat), finalizeWhat);
        for (let attempt = 0; final.status === "PENDING_REGISTRATION" && attempt < 30; attempt++) {
            await sleep(2000);
            final = versionOf(await call("GET", "model-versions/get", { name: request.target, version: String(target.version) }, readWhat), readWhat);
        }
        if (final.status !== "READY") throw new PromoteError(`version ${target.version} of ${request.target} is ${final.status ?? "in an unknown state"} after finalizing${final.status_message ? ` (${final.status_message})` : ""}; the alias was not moved`);
        log(`version ${target.version} of ${request.target} is READY`);
    }

    // 6. What prd serves: its alias, which only the prd model's owner or MANAGE can set.
    const beforeAlias = options.beforeAlias;
    await beforeAliasMoves(beforeAlias && (() => beforeAlias({ version: String(target.version) })), `prd is unchanged (version ${target.version} of ${request.target} is kept: a rerun reuses it)`);
    await call("POST", "registered-models/alias", { name: request.target, alias: request.alias, version: String(target.version) }, `set alias ${request.alias} of ${request.target}`);
    log(`alias ${request.alias} of ${request.target} now points at version ${target.version}: the next pulumi up on prd serves it`);
    return { source: request.source, sourceVersion: request.version, target: request.target, targetVersion: String(target.version), alias: request.alias, ...copy };
}
