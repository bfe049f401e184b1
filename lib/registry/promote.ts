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
}

/** `abfss://<container>@<account>.dfs.core.windows.net/<path>` */
export function parseStorageLocation(location: string): { account: string; container: string; path: string } {
    const match = /^abfss:\/\/([^@/]+)@([^./]+)\.dfs\.core\.windows\.net\/?(.*)$/.exec(location);
    if (!match) throw new PromoteError(`the registry gave a storage location this command cannot copy to (${location}): only Azure Data Lake Storage (abfss://) locations are supported, not Databricks default storage`);
    return { container: match[1], account: match[2], path: match[3].replace(/\/+$/, "") };
}

function errorOf(answer: AxiosResponse): { code: string; message: string } | undefined {
    const data = answer.data as { error_code?: unknown; message?: unknown } | undefined;
    return data && typeof data === "object" && typeof data.error_code === "string" ? { code: data.error_code, message: String(data.message ?? "") } : undefined;
}

/** Options for calls to a workspace's Unity Catalog model routes. */
export interface UnityCatalogOptions {
    host: string;
    credential: Credential;
    timeoutMs?: number;
    /** What a 403 means for this command: which privileges it needs. */
    permissionHint?: string;
}

const PROMOTE_PERMISSIONS = "Promoting needs USE_CATALOG, USE_SCHEMA and EXECUTE on the source, and ownership or MANAGE plus CREATE_MODEL on the prd schema: only deployers hold them";

export interface UnityCatalogCalls {
    /** One call; `ok` decides which answers are not errors (default: 200). */
    call(method: "GET" | "POST", route: string, body: Record<string, unknown>, what: string, ok?: (a: AxiosResponse) => boolean): Promise<AxiosResponse>;
    /** The `model_version` of an answer, or a clear error. */
    versionOf(answer: AxiosResponse, what: string): ModelVersionInfo;
}

/** Calls to the Unity Catalog model routes MLflow's client uses, with the errors said plainly (never the credential). */
export function unityCatalogCalls(options: UnityCatalogOptions): UnityCatalogCalls {
    const registry: AxiosInstance = axios.create({ baseURL: options.host.replace(/\/+$/, ""), timeout: options.timeoutMs ?? 30_000, validateStatus: () => true });
    const call = async (method: "GET" | "POST", route: string, body: Record<string, unknown>, what: string, ok: (a: AxiosResponse) => boolean = (a) => a.status === 200): Promise<AxiosResponse> => {
        let answer: AxiosResponse;
        try {
            answer = await registry.request({
                method,
                url: `${UC}/${route}`,
                ...(method === "GET" ? { params: body } : { data: body }),
                headers: { Authorization: await options.credential.authorization(), "Content-Type": "application/json" },
            });
        } catch (err) {
            const code = axios.isAxiosError(err) ? err.code : undefined;
            throw new PromoteError(`cannot ${what}: the registry at ${options.host} did not answer (${code ?? "network error"})`);
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
        if (!mv || typeof mv !== "object" || mv.version === undefined) throw new PromoteError(`cannot ${what}: the registry's answer has no model_version: it is not a Unity Catalog registry answer`);
        return mv;
    };

    return { call, versionOf };
}

export async function promote(request: PromoteRequest, options: PromoteOptions): Promise<PromoteResult> {
    const log = options.log ?? (() => undefined);
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const storage: AxiosInstance = axios.create({ timeout: options.timeoutMs ?? 120_000, validateStatus: () => true, maxBodyLength: Infinity, maxContentLength: Infinity });
    const endpoint = options.storageEndpoint ?? ((account: string) => `https://${account}.dfs.core.windows.net`);

    const { call, versionOf } = unityCatalogCalls(options);
    // 1. The candidate: it must exist and be READY.
    const sourceAnswer = await call("GET", "model-versions/get", { name: request.source, version: request.version }, `read version ${request.version} of ${request.source}`, (a) => a.status === 200 || errorOf(a)?.code === "RESOURCE_DOES_NOT_EXIST");
    if (sourceAnswer.status !== 200) throw new PromoteError(`${request.source} has no version ${request.version} (RESOURCE_DOES_NOT_EXIST): check the model name and version in the dev schema`);
    const source = versionOf(sourceAnswer, `read version ${request.version} of ${request.source}`);
    if (source.status !== "READY") throw new PromoteError(`version ${request.version} of ${request.source} is ${source.status ?? "in an unknown state"}${source.status_message ? ` (${source.status_message})` : ""}: only a READY version can be promoted`);
    if (!source.storage_location) throw new PromoteError(`version ${request.version} of ${request.source} has no storage location in the registry's answer: cannot copy its files`);

    // 2. The prd model, created by this deployer if it is the first promotion.
    const created = await call("POST", "registered-models/create", { name: request.target }, `create ${request.target}`, (a) => a.status === 200 || errorOf(a)?.code === "RESOURCE_ALREADY_EXISTS");
    log(created.status === 200 ? `created registered model ${request.target}` : `registered model ${request.target} exists`);

    // 3. The new version, pointing at its source.
    const target = versionOf(
        await call("POST", "model-versions/create", { name: request.target, source: `models:/${request.source}/${request.version}`, ...(source.run_id ? { run_id: source.run_id } : {}) }, `create a version of ${request.target}`),
        `create a version of ${request.target}`,
    );
    if (!target.storage_location) throw new PromoteError(`the new version ${target.version} of ${request.target} has no storage location: cannot copy files to it`);
    log(`created version ${target.version} of ${request.target} from models:/${request.source}/${request.version} (PENDING_REGISTRATION until its files are copied)`);

    // 4. The files, with short-lived credentials for each side.
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
    const from = parseStorageLocation(source.storage_location);
    const to = parseStorageLocation(target.storage_location);
    const headers = { "x-ms-version": STORAGE_API_VERSION };
    const storageCall = async (method: "GET" | "PUT" | "PATCH", url: string, what: string, data?: Buffer, stream = false): Promise<AxiosResponse> => {
        let answer: AxiosResponse;
        try {
            answer = await storage.request({ method, url, data, headers: data ? { ...headers, "Content-Type": "application/octet-stream" } : headers, responseType: stream ? "stream" : "arraybuffer" });
        } catch (err) {
            throw new PromoteError(`cannot ${what}: the storage account did not answer (${axios.isAxiosError(err) ? err.code : "network error"})`);
        }
        if (answer.status >= 200 && answer.status < 300) return answer;
        if (stream) (answer.data as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        // Storage errors carry x-ms-error-code; the SAS token is never repeated.
        throw new PromoteError(`cannot ${what}: the storage account answered HTTP ${answer.status} (${String(answer.headers["x-ms-error-code"] ?? "no error code")})`);
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
    if (files.length === 0) throw new PromoteError(`version ${request.version} of ${request.source} has no files at ${source.storage_location}: nothing to promote`);
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

    // 5. Finalize, and wait until the registry reports the version READY.
    let final = versionOf(await call("POST", "model-versions/finalize", { name: request.target, version: String(target.version) }, `finalize version ${target.version} of ${request.target}`), "finalize");
    for (let attempt = 0; final.status === "PENDING_REGISTRATION" && attempt < 30; attempt++) {
        await sleep(2000);
        final = versionOf(await call("GET", "model-versions/get", { name: request.target, version: String(target.version) }, `read version ${target.version} of ${request.target}`), "read");
    }
    if (final.status !== "READY") throw new PromoteError(`version ${target.version} of ${request.target} is ${final.status ?? "in an unknown state"} after finalizing${final.status_message ? ` (${final.status_message})` : ""}; the alias was not moved`);
    log(`version ${target.version} of ${request.target} is READY`);

    // 6. What prd serves: its alias, which only the prd model's owner or MANAGE can set.
    await call("POST", "registered-models/alias", { name: request.target, alias: request.alias, version: String(target.version) }, `set alias ${request.alias} of ${request.target}`);
    log(`alias ${request.alias} of ${request.target} now points at version ${target.version}: the next pulumi up on prd serves it`);
    return { source: request.source, sourceVersion: request.version, target: request.target, targetVersion: String(target.version), alias: request.alias, files: files.length, bytes };
}
