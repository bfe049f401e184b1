// A client for MLflow-compatible model registries: self-hosted MLflow, the Azure Databricks
// workspace registry and Unity Catalog. Plain TypeScript over axios; no Pulumi in here, so the
// ModelVersion provider, the plan, serving and the smoke test all share it.
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import type { Credential } from "./credentials";
import { bodyExcerpt, redact, RegistryError, type RegistryErrorKind } from "./errors";
import { describeSelector, type ModelVersionInfo, type RegistrationStatus, type RegistryKind, type Selector } from "./types";

export interface RetryPolicy {
    /** Attempts per request, the first included. */
    maxAttempts: number;
    /** Backoff before retry n is random in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))]. */
    baseDelayMs: number;
    maxDelayMs: number;
    /** A Retry-After longer than this is cut to it. */
    maxRetryAfterMs: number;
}

export interface PendingPolicy {
    /** Give up waiting for PENDING_REGISTRATION after this long. */
    timeoutMs: number;
    initialDelayMs: number;
    maxDelayMs: number;
}

export interface RegistryClientOptions {
    kind: RegistryKind;
    /** `https://adb-….azuredatabricks.net` or the MLflow server's base URL. */
    url: string;
    credential?: Credential;
    /** Per-request timeout. */
    timeoutMs?: number;
    retry?: Partial<RetryPolicy>;
    pending?: Partial<PendingPolicy>;
    /** Progress lines (retries, waiting for registration). */
    onProgress?: (message: string) => void;
    /** Injected in tests to avoid real waiting. */
    sleep?: (ms: number) => Promise<void>;
    random?: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 8_000, maxRetryAfterMs: 30_000 };
export const DEFAULT_PENDING: PendingPolicy = { timeoutMs: 10 * 60_000, initialDelayMs: 1_000, maxDelayMs: 15_000 };

const MLFLOW = "/api/2.0/mlflow";
const UNITY_CATALOG = "/api/2.1/unity-catalog/models";
const UC_PAGE_SIZE = 1000;
const RETRYABLE_NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ECONNABORTED", "EAI_AGAIN"]);

interface Answer {
    status: number;
    body: unknown;
}

/** Normalises a registry host: `adb-1.azuredatabricks.net/` becomes `https://adb-1.azuredatabricks.net`. */
export function normaliseRegistryUrl(url: string): string {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`;
    return withScheme.replace(/\/+$/, "");
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function errorCodeOf(body: unknown): string | undefined {
    return isRecord(body) && typeof body.error_code === "string" ? body.error_code : undefined;
}

function messageOf(body: unknown): string {
    return isRecord(body) && typeof body.message === "string" ? body.message : bodyExcerpt(body);
}

function parseRetryAfter(header: unknown, now: number): number | undefined {
    if (typeof header !== "string" || header.trim() === "") return undefined;
    if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
    const date = Date.parse(header);
    return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export class RegistryClient {
    readonly kind: RegistryKind;
    readonly url: string;
    private readonly http: AxiosInstance;
    private readonly retry: RetryPolicy;
    private readonly pending: PendingPolicy;
    private readonly credential?: Credential;
    private readonly progress: (message: string) => void;
    private readonly sleep: (ms: number) => Promise<void>;
    private readonly random: () => number;

    constructor(options: RegistryClientOptions) {
        this.kind = options.kind;
        this.url = normaliseRegistryUrl(options.url);
        this.credential = options.credential;
        this.retry = { ...DEFAULT_RETRY, ...options.retry };
        this.pending = { ...DEFAULT_PENDING, ...options.pending };
        this.progress = options.onProgress ?? (() => undefined);
        this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
        this.random = options.random ?? Math.random;
        this.http = axios.create({
            baseURL: this.url,
            timeout: options.timeoutMs ?? 15_000,
            // Every status is handled here, and bodies are parsed here, so non-JSON is reported clearly.
            validateStatus: () => true,
            responseType: "text",
            transformResponse: [(data) => data],
            headers: { Accept: "application/json" },
            maxRedirects: 0,
        });
    }

    /** Resolves a selector to one model version, waiting while it is still being registered. */
    async resolve(model: string, selector: Selector): Promise<ModelVersionInfo> {
        const found = await this.lookup(model, selector);
        return this.waitUntilReady(found, model, selector);
    }

    /** Reads one version; `undefined` when the model or the version no longer exists. */
    async getVersion(model: string, version: string): Promise<ModelVersionInfo | undefined> {
        const answer =
            this.kind === "unity-catalog"
                ? await this.request(`${UNITY_CATALOG}/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}`, model, { version })
                : await this.request(`${MLFLOW}/model-versions/get?${query({ name: model, version })}`, model, { version });
        if (answer.status === 404) return undefined;
        this.expectOk(answer, model, { version });
        return this.kind === "unity-catalog"
            ? this.fromUnityCatalog(answer.body, model, { version })
            : this.fromMlflow(this.field(answer.body, "model_version", model, { version }), model, { version });
    }

    /**
     * Whether the registered model exists: true or false only on a definite answer (a JSON
     * RESOURCE_DOES_NOT_EXIST or NOT_FOUND for the model); anything else throws a RegistryError.
     */
    async modelExists(model: string): Promise<boolean> {
        const selector = { latest: true as const };
        const path =
            this.kind === "unity-catalog" ? `${UNITY_CATALOG}/${encodeURIComponent(model)}` : `${MLFLOW}/registered-models/get?${query({ name: model })}`;
        const answer = await this.request(path, model, selector);
        const code = errorCodeOf(answer.body);
        if (answer.status === 404 && (code === "RESOURCE_DOES_NOT_EXIST" || code === "NOT_FOUND")) return false;
        this.expectOk(answer, model, selector);
        return true;
    }

    private async lookup(model: string, selector: Selector): Promise<ModelVersionInfo> {
        if (this.kind === "unity-catalog") return this.lookupUnityCatalog(model, selector);
        if ("alias" in selector) {
            const answer = await this.request(`${MLFLOW}/registered-models/alias?${query({ name: model, alias: selector.alias })}`, model, selector);
            // Real MLflow answers 400 INVALID_PARAMETER_VALUE for an unknown alias *or* model.
            if (answer.status === 400 || answer.status === 404) return this.explainMissing(model, selector, answer);
            this.expectOk(answer, model, selector);
            return this.fromMlflow(this.field(answer.body, "model_version", model, selector), model, selector);
        }
        if ("version" in selector) {
            const version = await this.getVersion(model, selector.version);
            return version ?? this.explainMissing(model, selector);
        }
        if ("stage" in selector) {
            const answer = await this.request(
                `${MLFLOW}/registered-models/get-latest-versions?${query({ name: model, stages: selector.stage })}`,
                model,
                selector,
            );
            if (answer.status === 404) return this.explainMissing(model, selector, answer);
            this.expectOk(answer, model, selector);
            const versions = this.versionList(answer.body, model, selector);
            if (versions.length === 0) {
                throw this.error(
                    "empty-stage",
                    `no version of the model is in stage "${selector.stage}"`,
                    model,
                    selector,
                    `Transition a version to ${selector.stage} in the registry, or pin one with version: <n>.`,
                );
            }
            return this.newest(versions);
        }
        if (this.kind === "databricks") {
            // The workspace registry's newest version per stage, over all stages, includes the newest overall.
            const answer = await this.request(`${MLFLOW}/registered-models/get-latest-versions?${query({ name: model })}`, model, selector);
            if (answer.status === 404) return this.explainMissing(model, selector, answer);
            this.expectOk(answer, model, selector);
            const versions = this.versionList(answer.body, model, selector);
            return versions.length ? this.newest(versions) : this.explainMissing(model, selector);
        }
        const answer = await this.request(
            `${MLFLOW}/model-versions/search?${query({ filter: `name='${model}'`, order_by: "version_number DESC", max_results: "1" })}`,
            model,
            selector,
        );
        this.expectOk(answer, model, selector);
        // No match is `{}`: the key is absent, not an empty list.
        const versions = this.versionList(answer.body, model, selector);
        return versions.length ? this.newest(versions) : this.explainMissing(model, selector);
    }

    private async lookupUnityCatalog(model: string, selector: Selector): Promise<ModelVersionInfo> {
        const base = `${UNITY_CATALOG}/${encodeURIComponent(model)}`;
        if ("alias" in selector || "version" in selector) {
            const path = "alias" in selector ? `${base}/aliases/${encodeURIComponent(selector.alias)}` : `${base}/versions/${selector.version}`;
            const answer = await this.request(path, model, selector);
            if (answer.status === 404 || (answer.status === 400 && "alias" in selector)) return this.explainMissing(model, selector, answer);
            this.expectOk(answer, model, selector);
            return this.fromUnityCatalog(answer.body, model, selector);
        }
        if ("stage" in selector) {
            throw this.error("invalid-reference", "Unity Catalog has no stages", model, selector, "Select by alias, version or latest: true.");
        }
        // No ordering is guaranteed and a page may be empty yet carry a token: read every page.
        let newest: ModelVersionInfo | undefined;
        let pageToken: string | undefined;
        do {
            const answer = await this.request(
                `${base}/versions?${query({ max_results: String(UC_PAGE_SIZE), page_token: pageToken })}`,
                model,
                selector,
            );
            if (answer.status === 404) return this.explainMissing(model, selector, answer);
            this.expectOk(answer, model, selector);
            const body = answer.body as Record<string, unknown>;
            const page = Array.isArray(body.model_versions) ? body.model_versions : [];
            for (const item of page) {
                const info = this.fromUnityCatalog(item, model, selector);
                if (!newest || Number(info.version) > Number(newest.version)) newest = info;
            }
            pageToken = typeof body.next_page_token === "string" && body.next_page_token !== "" ? body.next_page_token : undefined;
        } while (pageToken);
        return newest ?? this.explainMissing(model, selector);
    }

    /**
     * Turns "not found" into the precise reason. Asks the registry (off the hot path) whether the
     * model exists, so an unknown model and an unknown alias or version get different advice.
     */
    private async explainMissing(model: string, selector: Selector, answer?: Answer): Promise<never> {
        if (answer && answer.status === 400 && !/not found|does not exist/i.test(messageOf(answer.body))) {
            this.expectOk(answer, model, selector);
        }
        const path =
            this.kind === "unity-catalog"
                ? `${UNITY_CATALOG}/${encodeURIComponent(model)}`
                : `${MLFLOW}/registered-models/get?${query({ name: model })}`;
        const registered = await this.request(path, model, selector);
        if (registered.status === 404) {
            throw this.error(
                "unknown-model",
                "the model is not registered",
                model,
                selector,
                "A new workspace has no models yet: deploy the platform first (no entries in mlflow-platform:models), " +
                    "register a version (mlflow.register_model(...) from a Databricks notebook or job), " +
                    "then list the model in mlflow-platform:models and run `pulumi up` again. " +
                    "Otherwise check the model name and the registry host.",
            );
        }
        this.expectOk(registered, model, selector);
        const aliases = this.aliasesOfModel(registered.body);
        if ("alias" in selector) {
            const known = aliases.length ? `Aliases on this model: ${aliases.join(", ")}.` : "This model has no aliases yet.";
            throw this.error(
                "unknown-alias",
                `alias "${selector.alias}" is not set on the model`,
                model,
                selector,
                `${known} Set it with MlflowClient().set_registered_model_alias("${model}", "${selector.alias}", <version>), or pin version: <n>.`,
            );
        }
        if ("version" in selector) {
            throw this.error(
                "unknown-version",
                `version ${selector.version} does not exist`,
                model,
                selector,
                "Pick a registered version, or select by alias or latest: true.",
            );
        }
        throw this.error("no-versions", "the model has no versions yet", model, selector, "Register a version first, then run `pulumi up` again.");
    }

    private aliasesOfModel(body: unknown): string[] {
        const model = isRecord(body) && isRecord(body.registered_model) ? body.registered_model : body;
        const aliases = isRecord(model) && Array.isArray(model.aliases) ? model.aliases : [];
        return aliases
            .map((a) => (isRecord(a) ? `${a.alias ?? a.alias_name} -> ${a.version ?? a.version_num}` : undefined))
            .filter((a): a is string => a !== undefined);
    }

    private async waitUntilReady(found: ModelVersionInfo, model: string, selector: Selector): Promise<ModelVersionInfo> {
        let info = found;
        const started = Date.now();
        let delay = this.pending.initialDelayMs;
        let waited = 0;
        while (info.status === "PENDING_REGISTRATION") {
            if (waited >= this.pending.timeoutMs) {
                throw this.error(
                    "registration-timeout",
                    `version ${info.version} was still PENDING_REGISTRATION after ${Math.round((Date.now() - started) / 1000)} s`,
                    model,
                    selector,
                    "Check the registration job in the workspace, then run `pulumi up` again, or pin an older READY version.",
                );
            }
            this.progress(`model ${model} version ${info.version} is PENDING_REGISTRATION; checking again in ${Math.round(delay / 1000)} s`);
            await this.sleep(delay);
            waited += delay;
            delay = Math.min(delay * 2, this.pending.maxDelayMs);
            const again = await this.getVersion(model, info.version);
            if (!again) {
                throw this.error("unknown-version", `version ${info.version} disappeared while it was being registered`, model, selector, "Check the registry, then run `pulumi up` again.");
            }
            info = again;
        }
        if (info.status === "FAILED_REGISTRATION") {
            throw this.error(
                "registration-failed",
                `version ${info.version} failed to register${info.statusMessage ? `: ${info.statusMessage}` : ""}`,
                model,
                selector,
                "Register the model again, or select another version.",
            );
        }
        return info;
    }

    private newest(versions: ModelVersionInfo[]): ModelVersionInfo {
        return versions.reduce((a, b) => (Number(b.version) > Number(a.version) ? b : a));
    }

    private versionList(body: unknown, model: string, selector: Selector): ModelVersionInfo[] {
        if (!isRecord(body)) throw this.badResponse("a JSON object", body, model, selector);
        if (body.model_versions === undefined) return [];
        if (!Array.isArray(body.model_versions)) throw this.badResponse('"model_versions" as a list', body, model, selector);
        return body.model_versions.map((v) => this.fromMlflow(v, model, selector));
    }

    private field(body: unknown, key: string, model: string, selector: Selector | { version: string }): unknown {
        if (!isRecord(body) || !isRecord(body[key])) throw this.badResponse(`a JSON object with "${key}"`, body, model, selector);
        return body[key];
    }

    private fromMlflow(raw: unknown, model: string, selector: Selector | { version: string }): ModelVersionInfo {
        if (!isRecord(raw)) throw this.badResponse("a model version object", raw, model, selector);
        const version = typeof raw.version === "number" ? String(raw.version) : raw.version;
        if (typeof version !== "string" || !/^\d+$/.test(version)) throw this.badResponse('a model version with a numeric "version"', raw, model, selector);
        return {
            name: typeof raw.name === "string" ? raw.name : model,
            version,
            status: this.status(raw.status, raw, model, selector),
            statusMessage: typeof raw.status_message === "string" && raw.status_message ? raw.status_message : undefined,
            source: typeof raw.source === "string" ? raw.source : "",
            runId: typeof raw.run_id === "string" && raw.run_id ? raw.run_id : undefined,
            // Omitted when empty, and absent from search results and latest_versions.
            aliases: Array.isArray(raw.aliases) ? raw.aliases.filter((a): a is string => typeof a === "string") : [],
            currentStage: typeof raw.current_stage === "string" ? raw.current_stage : undefined,
            creationTimestamp: typeof raw.creation_timestamp === "number" ? raw.creation_timestamp : 0,
        };
    }

    private fromUnityCatalog(raw: unknown, model: string, selector: Selector | { version: string }): ModelVersionInfo {
        if (!isRecord(raw)) throw this.badResponse("a model version info object", raw, model, selector);
        const version = typeof raw.version === "number" ? String(raw.version) : raw.version;
        if (typeof version !== "string" || !/^\d+$/.test(version)) throw this.badResponse('a model version info with a numeric "version"', raw, model, selector);
        const name =
            typeof raw.catalog_name === "string" && typeof raw.schema_name === "string" && typeof raw.model_name === "string"
                ? `${raw.catalog_name}.${raw.schema_name}.${raw.model_name}`
                : model;
        return {
            name,
            version,
            status: this.status(raw.status, raw, model, selector),
            statusMessage: typeof raw.status_message === "string" && raw.status_message ? raw.status_message : undefined,
            source: typeof raw.storage_location === "string" ? raw.storage_location : typeof raw.source === "string" ? raw.source : "",
            runId: typeof raw.run_id === "string" && raw.run_id ? raw.run_id : undefined,
            aliases: Array.isArray(raw.aliases)
                ? raw.aliases.map((a) => (isRecord(a) ? a.alias_name : undefined)).filter((a): a is string => typeof a === "string")
                : [],
            creationTimestamp: typeof raw.created_at === "number" ? raw.created_at : 0,
        };
    }

    private status(value: unknown, raw: unknown, model: string, selector: Selector | { version: string }): RegistrationStatus {
        if (value === "READY" || value === "PENDING_REGISTRATION" || value === "FAILED_REGISTRATION") return value;
        throw this.badResponse('"status" READY, PENDING_REGISTRATION or FAILED_REGISTRATION', raw, model, selector);
    }

    /** One GET, retried on 429, 5xx and transient network errors with backoff and jitter. */
    private async request(path: string, model: string, selector: Selector | { version: string }): Promise<Answer> {
        for (let attempt = 1; ; attempt++) {
            const headers: Record<string, string> = {};
            if (this.credential) {
                try {
                    headers.Authorization = await this.credential.authorization();
                } catch (err) {
                    throw this.error("unauthenticated", (err as Error).message.replace(/\.+$/, ""), model, selector, "");
                }
            }
            let response: AxiosResponse<string>;
            try {
                response = await this.http.get<string>(path, { headers });
            } catch (err) {
                const failure = this.networkFailure(err, model, selector);
                if (failure.retryable && attempt < this.retry.maxAttempts) {
                    await this.backoff(attempt, undefined, failure.error.message);
                    continue;
                }
                if (failure.retryable) failure.error.message += ` (gave up after ${attempt} attempts)`;
                throw failure.error;
            }
            const answer: Answer = { status: response.status, body: this.parseBody(response, model, selector) };
            const retryable = response.status === 429 || (response.status >= 500 && response.status !== 501);
            if (retryable && attempt < this.retry.maxAttempts) {
                await this.backoff(attempt, parseRetryAfter(response.headers["retry-after"], Date.now()), `HTTP ${response.status}`);
                continue;
            }
            if (retryable) {
                const kind: RegistryErrorKind = response.status === 429 ? "rate-limited" : "unavailable";
                throw this.error(
                    kind,
                    `the registry answered HTTP ${response.status} ${errorCodeOf(answer.body) ?? ""} ${messageOf(answer.body)}`.replace(/\s+/g, " ").trim() +
                        ` (gave up after ${attempt} attempts)`,
                    model,
                    selector,
                    response.status === 429 ? "The registry is throttling requests: wait a minute and try again." : "The registry is failing: check its health, then try again.",
                    response.status,
                );
            }
            return answer;
        }
    }

    private async backoff(attempt: number, retryAfterMs: number | undefined, reason: string): Promise<void> {
        const exponential = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        const delay = retryAfterMs !== undefined ? Math.min(retryAfterMs, this.retry.maxRetryAfterMs) : Math.round(this.random() * exponential);
        this.progress(`registry ${this.url}: ${reason}; retry ${attempt}/${this.retry.maxAttempts - 1} in ${delay} ms`);
        await this.sleep(delay);
    }

    private parseBody(response: AxiosResponse<string>, model: string, selector: Selector | { version: string }): unknown {
        const text = typeof response.data === "string" ? response.data : "";
        const type = String(response.headers["content-type"] ?? "");
        if (type.includes("json")) {
            try {
                return text === "" ? {} : JSON.parse(text);
            } catch {
                throw this.badResponse("valid JSON", text, model, selector, response.status);
            }
        }
        return text;
    }

    private expectOk(answer: Answer, model: string, selector: Selector | { version: string }): void {
        const { status, body } = answer;
        if (status >= 200 && status < 300) {
            if (!isRecord(body)) throw this.badResponse("a JSON object", body, model, selector, status);
            return;
        }
        const via = this.credential ? `the credential from ${this.credential.source}` : "no credential";
        if (status === 401) {
            throw this.error(
                "unauthenticated",
                `the registry refused the request as unauthenticated (HTTP 401${bodyExcerpt(body) ? `: ${bodyExcerpt(body, 60)}` : ""}); sent ${via}`,
                model,
                selector,
                this.kind === "mlflow"
                    ? "Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN, or the secret config mlflow-platform:registryToken."
                    : "Set DATABRICKS_TOKEN, or the secret config mlflow-platform:registryToken, or sign in with `az login` for a Microsoft Entra token.",
                status,
            );
        }
        if (status === 403) {
            throw this.error(
                "forbidden",
                `the registry refused access (HTTP 403${bodyExcerpt(body) ? `: ${bodyExcerpt(body, 60)}` : ""}); sent ${via}`,
                model,
                selector,
                "Grant this identity read access to the model (CAN_READ, or USE/EXECUTE in Unity Catalog).",
                status,
            );
        }
        if (typeof body === "string") {
            throw this.error(
                "bad-response",
                `the registry answered HTTP ${status} with a non-JSON body: ${bodyExcerpt(body, 80) || "(empty)"}`,
                model,
                selector,
                "Check that the registry URL is the MLflow or Databricks workspace host.",
                status,
            );
        }
        throw this.error(
            "bad-request",
            `the registry answered HTTP ${status} ${errorCodeOf(body) ?? ""}: ${messageOf(body)}`.replace(/\s+/g, " "),
            model,
            selector,
            "Check the model name and selector.",
            status,
        );
    }

    private networkFailure(err: unknown, model: string, selector: Selector | { version: string }): { retryable: boolean; error: RegistryError } {
        const code = axios.isAxiosError(err) ? (err.code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code) : undefined;
        if (code === "ECONNABORTED" || code === "ETIMEDOUT") {
            return {
                retryable: true,
                error: this.error("timeout", `the registry did not answer within ${this.http.defaults.timeout} ms`, model, selector, "Check the registry host and network path, then try again."),
            };
        }
        if (code === "ECONNREFUSED") {
            return {
                retryable: true,
                error: this.error("connection", "the connection to the registry was refused", model, selector, "Check the registry URL and that the server is running."),
            };
        }
        if (code === "ENOTFOUND") {
            return {
                retryable: false,
                error: this.error("connection", "the registry host name does not resolve", model, selector, "Check the registry URL."),
            };
        }
        const detail = code ?? (err instanceof Error ? err.message : String(err));
        return {
            retryable: code !== undefined && RETRYABLE_NETWORK_CODES.has(code),
            error: this.error("connection", `the connection to the registry failed (${detail})`, model, selector, "Check the registry URL and network, then try again."),
        };
    }

    private badResponse(expected: string, got: unknown, model: string, selector: Selector | { version: string }, status?: number): RegistryError {
        return this.error(
            "bad-response",
            `the registry's answer is not what MLflow sends: expected ${expected}, got ${bodyExcerpt(got, 80) || "(empty)"}`,
            model,
            selector,
            "Check that the registry URL and registry kind match the server.",
            status,
        );
    }

    private error(
        kind: RegistryErrorKind,
        what: string,
        model: string,
        selector: Selector | { version: string },
        next: string,
        status?: number,
    ): RegistryError {
        const message = `${what}. Registry: ${this.url} (${this.kind}), model: ${model}, selector: ${describeSelector(selector as Selector)}.${next ? ` ${next}` : ""}`;
        return new RegistryError(kind, redact(message, this.credential?.secrets() ?? []), status);
    }
}

function query(params: Record<string, string | undefined>): string {
    return Object.entries(params)
        .filter((entry): entry is [string, string] => entry[1] !== undefined)
        .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
        .join("&");
}
