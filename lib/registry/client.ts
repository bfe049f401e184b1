// A client for MLflow-compatible model registries: self-hosted MLflow, the Azure Databricks
// workspace registry and Unity Catalog. Plain TypeScript over axios; no Pulumi in here, so the
// ModelVersion provider, the plan, serving and the smoke test all share it.
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import type { Credential } from "./credentials";
import { bodyExcerpt, redact, RegistryError, urlForMessage, type RegistryErrorKind } from "./errors";
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
    /** `https://adb-….azuredatabricks.net`, or the MLflow server's base URL (a path prefix allowed); the scheme is required. */
    url: string;
    /** Where `url` came from, for messages ("DATABRICKS_HOST"); "the registry URL" unless given. */
    urlSource?: string;
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
// Retried besides timeouts and refused connections (handled first): a dropped connection, a DNS hiccup.
const RETRYABLE_NETWORK_CODES: ReadonlySet<string | undefined> = new Set(["ECONNRESET", "EPIPE", "EAI_AGAIN"]);

interface Answer {
    status: number;
    body: unknown;
    /** The route asked, for messages. */
    path: string;
}

/** What the request was about, for messages: a model, and the selector when there is one. */
type Subject = Selector | { version: string } | undefined;

// The only answers that mean "does not exist" (MLflow maps both to 404). An HTML 404 is another
// server's or another route's answer, and ENDPOINT_NOT_FOUND is a route Databricks does not have.
const MISSING_CODES: ReadonlySet<string | undefined> = new Set(["RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"]);

/**
 * In Unity Catalog a model whose catalog, schema or metastore does not exist yet is not registered
 * yet, as on a stack's first run, before it creates them (Unity Catalog's error codes for a missing
 * parent; Databricks answers NOT_FOUND errors with 404).
 */
const UC_MISSING_PARENT_CODES: ReadonlySet<string | undefined> = new Set(["CATALOG_DOES_NOT_EXIST", "SCHEMA_DOES_NOT_EXIST", "METASTORE_DOES_NOT_EXIST"]);

function definitelyMissing(answer: Answer, kind?: RegistryKind): boolean {
    const code = errorCodeOf(answer.body);
    return answer.status === 404 && (MISSING_CODES.has(code) || (kind === "unity-catalog" && UC_MISSING_PARENT_CODES.has(code)));
}

const URL_EXAMPLES = "for example https://adb-1234567890123456.7.azuredatabricks.net or http://mlflow.internal:5000";

/**
 * Checks a registry URL and returns its base (`https://host[:port]`, plus a path prefix for a
 * self-hosted MLflow server). The scheme is never assumed: `adb-1.azuredatabricks.net` is refused
 * rather than guessed as https (a wrong guess costs five timed-out attempts). Credentials, a query
 * or a fragment are refused (`?o=...` or `#/models` copied from a browser is a mistake). A path is
 * kept for kind mlflow (`allowPath`): a self-hosted server may sit behind a reverse proxy or run
 * with `mlflow server --static-prefix /mlflow`, and then its API is at `<base>/api/2.0/mlflow`, as
 * MLflow's own client joins it. A Databricks workspace answers at its root, so there a path is
 * refused. `where` names the value's source in the message ("DATABRICKS_HOST").
 */
export function parseRegistryUrl(url: unknown, where: string, allowPath = false): string {
    if (typeof url !== "string" || url.trim() === "") {
        throw new RegistryError("invalid-url", `${where} is empty: give the registry's URL, ${URL_EXAMPLES}`);
    }
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
        throw new RegistryError(
            "invalid-url",
            `${where} ${JSON.stringify(urlForMessage(url))} has no http:// or https://: write the registry URL in full, ${URL_EXAMPLES}`,
        );
    }
    if (!/^https?:\/\//i.test(url)) {
        const scheme = url.slice(0, url.indexOf(":"));
        throw new RegistryError(
            "invalid-url",
            `${where} starts with "${scheme}:", not http:// or https://: the registry must be an MLflow or Databricks server's URL, ${URL_EXAMPLES}`,
        );
    }
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        throw new RegistryError("invalid-url", `${where} ${JSON.stringify(urlForMessage(url))} is not a valid URL: use ${URL_EXAMPLES}`);
    }
    if (parsed.username || parsed.password) {
        // Not echoed: the value holds a credential.
        throw new RegistryError(
            "invalid-url",
            `${where} has a user name or password in it: remove them, and give credentials through MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD, DATABRICKS_TOKEN or the secret config mlflow-platform:registryToken`,
        );
    }
    if (parsed.search || parsed.hash) {
        // The query and fragment are not echoed: a pasted URL may carry a token in them.
        throw new RegistryError(
            "invalid-url",
            `${where} has a ${parsed.search ? "query string (?...)" : "fragment (#...)"} in it: ` +
                `give only the server's address (${parsed.origin}${allowPath ? prefixOf(parsed.pathname) : ""}); the client adds /api/2.0/mlflow/... itself`,
        );
    }
    const prefix = prefixOf(parsed.pathname);
    if (prefix && !allowPath) {
        throw new RegistryError(
            "invalid-url",
            `${where} ${JSON.stringify(urlForMessage(url))} has a path after the host (not shown: a pasted address may carry a token): a Databricks workspace answers at its root, ` +
                `so give only the scheme, host and port (${parsed.origin}); the client adds /api/2.0/mlflow/... itself`,
        );
    }
    if (/\/api\/2\.[01]\//.test(`${prefix}/`)) {
        throw new RegistryError(
            "invalid-url",
            `${where} ${JSON.stringify(urlForMessage(url))} includes an API route (/api/2.x/…): give the server's base URL ` +
                `(${parsed.origin}${prefix.slice(0, prefix.search(/\/api\/2\.[01](\/|$)/))}); the client adds /api/2.0/mlflow/... itself`,
        );
    }
    return `${parsed.origin}${prefix}`;
}

/** A URL's path as a prefix to join routes under: "" for none, else "/a/b" (no trailing slash). */
function prefixOf(pathname: string): string {
    return pathname.replace(/\/+$/, "");
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

/** Retry-After in ms: delay-seconds or an HTTP date (RFC 9110 10.2.3). Node's HTTP parser trims header values. */
function parseRetryAfter(header: unknown, now: number): number | undefined {
    if (typeof header !== "string") return undefined;
    if (/^\d+$/.test(header)) return Number(header) * 1000;
    // Anything else is a date or unusable ("" and junk parse to NaN).
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

    /**
     * Throws RegistryError "invalid-url" for a URL without http(s)://, with credentials, a query
     * or a fragment, or with a path unless the kind is mlflow (whose routes are joined under it).
     */
    constructor(options: RegistryClientOptions) {
        this.kind = options.kind;
        this.url = parseRegistryUrl(options.url, options.urlSource ?? "the registry URL", options.kind === "mlflow");
        this.credential = options.credential;
        this.retry = { ...DEFAULT_RETRY, ...options.retry };
        this.pending = { ...DEFAULT_PENDING, ...options.pending };
        this.progress = options.onProgress ?? (() => undefined);
        this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
        this.random = options.random ?? Math.random;
        this.http = axios.create({
            // Routes are absolute ("/api/2.0/mlflow/..."): axios joins them under the base's path
            // (combineURLs), so "https://host/mlflow" asks "https://host/mlflow/api/2.0/mlflow/...".
            baseURL: this.url,
            timeout: options.timeoutMs ?? 15_000,
            // Every status is handled here, and bodies are parsed here, so non-JSON is reported clearly.
            validateStatus: () => true,
            // No transforms: axios's http adapter hands over the body as text (any responseType but
            // arraybuffer and stream), and the default transform would parse JSON behind our back.
            transformResponse: [],
            headers: { Accept: "application/json" },
            maxRedirects: 0,
        });
    }

    /**
     * Resolves a selector to one model version, waiting while it is still being registered.
     *
     * Contract relied on by serving's bootstrap check: this throws RegistryError kind
     * "unknown-model" only when the registry answered a JSON RESOURCE_DOES_NOT_EXIST (or
     * NOT_FOUND) for the registered model itself. An HTML 404 (wrong URL, another kind of server,
     * Unity Catalog routes on plain MLflow) is "not-a-registry"; an unreachable registry is
     * "connection", "timeout", "unavailable" or "rate-limited" (see isRegistryUnreachable).
     */
    async resolve(model: string, selector: Selector): Promise<ModelVersionInfo> {
        const found = await this.lookup(model, selector);
        return this.waitUntilReady(found, model, selector);
    }

    /**
     * Reads one version. `undefined` only when the registry definitely says it does not exist
     * (a JSON RESOURCE_DOES_NOT_EXIST / NOT_FOUND); every other failure throws.
     */
    async getVersion(model: string, version: string): Promise<ModelVersionInfo | undefined> {
        const subject = { version };
        const answer = await this.request(this.versionPath(model, version), model, subject);
        if (definitelyMissing(answer, this.kind)) return undefined;
        this.expectOk(answer, model, subject);
        return this.kind === "unity-catalog"
            ? this.fromUnityCatalog(answer.body, model, subject)
            : this.fromMlflow(this.field(answer.body, "model_version", model, subject), model, subject);
    }

    /**
     * Whether the registered model exists: `false` only on a definite JSON RESOURCE_DOES_NOT_EXIST
     * (or NOT_FOUND) for it; any other failure throws RegistryError.
     */
    async modelExists(model: string): Promise<boolean> {
        const answer = await this.request(this.modelPath(model), model, undefined);
        if (definitelyMissing(answer, this.kind)) return false;
        this.expectOk(answer, model, undefined);
        return true;
    }

    /**
     * Where a version's files are (`runs:/…`, `dbfs:/…`, `s3://…`, a path), from
     * `model-versions/get-download-uri`. MLflow and the workspace registry only: Unity Catalog hands
     * out short-lived storage credentials instead.
     */
    async getDownloadUri(model: string, version: string): Promise<string> {
        const subject = { version };
        if (this.kind === "unity-catalog") {
            throw this.error(
                "invalid-reference",
                "Unity Catalog has no get-download-uri: its versions are downloaded with short-lived storage credentials",
                model,
                subject,
                "Let MLflow download models:/<name>/<version> itself.",
            );
        }
        const answer = await this.request(`${MLFLOW}/model-versions/get-download-uri?${query({ name: model, version })}`, model, subject);
        if (definitelyMissing(answer, this.kind)) {
            throw this.error("unknown-version", `version ${version} does not exist`, model, subject, "Pick a registered version.", 404);
        }
        this.expectOk(answer, model, subject);
        const uri = (answer.body as Record<string, unknown>).artifact_uri;
        if (typeof uri !== "string" || uri === "") throw this.badResponse('a JSON object with "artifact_uri"', answer.body, model, subject);
        return uri;
    }

    private modelPath(model: string): string {
        return this.kind === "unity-catalog"
            ? `${UNITY_CATALOG}/${encodeURIComponent(model)}?include_aliases=true`
            : `${MLFLOW}/registered-models/get?${query({ name: model })}`;
    }

    private versionPath(model: string, version: string): string {
        // Unity Catalog leaves aliases out unless include_aliases=true (Databricks API reference,
        // "Get a Model Version").
        return this.kind === "unity-catalog"
            ? `${UNITY_CATALOG}/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}?include_aliases=true`
            : `${MLFLOW}/model-versions/get?${query({ name: model, version })}`;
    }

    private async lookup(model: string, selector: Selector): Promise<ModelVersionInfo> {
        if (this.kind === "unity-catalog") return this.lookupUnityCatalog(model, selector);
        if ("alias" in selector) {
            const answer = await this.request(`${MLFLOW}/registered-models/alias?${query({ name: model, alias: selector.alias })}`, model, selector);
            // Real MLflow 3.17 answers an unknown model with 404 RESOURCE_DOES_NOT_EXIST and an unknown
            // alias on a known model with 400 INVALID_PARAMETER_VALUE "Registered model alias A not
            // found."; 2.11 answered that 400 for both. Either way, ask the model to tell them apart.
            if (definitelyMissing(answer, this.kind)) return this.explainMissing(model, selector);
            if (answer.status === 400 && errorCodeOf(answer.body) === "INVALID_PARAMETER_VALUE" && /alias .* not found/i.test(messageOf(answer.body))) {
                return this.explainMissing(model, selector);
            }
            this.expectOk(answer, model, selector);
            return this.fromMlflow(this.field(answer.body, "model_version", model, selector), model, selector);
        }
        if ("version" in selector) {
            const version = await this.getVersion(model, selector.version);
            return version ?? this.explainMissing(model, selector);
        }
        // Stage and latest: registered-models/get carries the newest version per stage *and* the
        // model's aliases, so one request gives the version with its aliases. (get-latest-versions
        // and search carry no aliases at all.)
        const answer = await this.request(this.modelPath(model), model, selector);
        if (definitelyMissing(answer, this.kind)) throw this.unknownModel(model, selector);
        this.expectOk(answer, model, selector);
        const registered = this.field(answer.body, "registered_model", model, selector) as Record<string, unknown>;
        const latest = registered.latest_versions;
        if (latest !== undefined && !Array.isArray(latest)) throw this.badResponse('"latest_versions" as a list', registered, model, selector);
        // Absent when the model has no versions.
        const perStage = (latest ?? []).map((v) => this.fromMlflow(v, model, selector));
        const candidates = "stage" in selector ? perStage.filter((v) => v.currentStage?.toLowerCase() === selector.stage.toLowerCase()) : perStage;
        if (candidates.length === 0) {
            if (!("stage" in selector)) throw this.error("no-versions", "the model has no versions yet", model, selector, "Register a version first, then run `pulumi up` again.");
            const stage = selector.stage;
            throw this.error(
                "empty-stage",
                `no version of the model is in stage "${stage}"${perStage.length === 0 ? " (it has no versions yet)" : ""}`,
                model,
                selector,
                `Transition a version to ${stage} in the registry, or pin one with version: <n>.`,
            );
        }
        let newest = this.newest(candidates);
        // `latest` serves the newest READY version: one stuck or failed registration must not block
        // every deploy. The common case (the newest is READY) stays one request.
        if ("latest" in selector && newest.status !== "READY") newest = await this.newestReadyMlflow(model, selector);
        const aliases = this.aliasesOfModel(registered)
            .filter((a) => a.version === newest.version)
            .map((a) => a.alias);
        return { ...newest, aliases };
    }

    /** The newest READY version from search (version number order), saying which newer ones were passed over. */
    private async newestReadyMlflow(model: string, selector: Selector): Promise<ModelVersionInfo> {
        const passedOver: ModelVersionInfo[] = [];
        let pageToken: string | undefined;
        do {
            // MLflow's filter grammar quotes names with single quotes; one in a name is doubled.
            const filter = `name='${model.replace(/'/g, "''")}'`;
            const answer = await this.request(`${MLFLOW}/model-versions/search?${query({ filter, order_by: "version_number DESC", max_results: "100", page_token: pageToken })}`, model, selector);
            this.expectOk(answer, model, selector);
            const body = answer.body as Record<string, unknown>;
            // Absent (not an empty list) when nothing matches.
            if (body.model_versions !== undefined && !Array.isArray(body.model_versions)) throw this.badResponse('"model_versions" as a list', body, model, selector);
            for (const raw of (body.model_versions as unknown[] | undefined) ?? []) {
                const info = this.fromMlflow(raw, model, selector);
                if (info.status === "READY") {
                    if (passedOver.length) this.progress(passedOverMessage(this.url, model, passedOver, info.version));
                    return info;
                }
                passedOver.push(info);
            }
            // An empty token, like none, ends the listing.
            pageToken = typeof body.next_page_token === "string" ? body.next_page_token : undefined;
        } while (pageToken);
        // None READY yet, the newest still registering (a model's first version): wait for it.
        if (passedOver[0]?.status === "PENDING_REGISTRATION") return passedOver[0];
        throw this.error(
            "registration-failed",
            `no version of the model is READY (${passedOver.map((v) => `${v.version} ${v.status}`).join(", ") || "none found"})`,
            model,
            selector,
            "Fix the registration (its status message says why), register a new version, or pin one with version: <n>.",
        );
    }

    private async lookupUnityCatalog(model: string, selector: Selector): Promise<ModelVersionInfo> {
        const base = `${UNITY_CATALOG}/${encodeURIComponent(model)}`;
        if ("stage" in selector) {
            throw this.error("invalid-reference", "Unity Catalog has no stages", model, selector, "Select by alias, version or latest: true.");
        }
        if ("alias" in selector) {
            const answer = await this.request(`${base}/aliases/${encodeURIComponent(selector.alias)}?include_aliases=true`, model, selector);
            if (definitelyMissing(answer, this.kind)) return this.explainMissing(model, selector);
            this.expectOk(answer, model, selector);
            return this.fromUnityCatalog(answer.body, model, selector);
        }
        if ("version" in selector) {
            const version = await this.getVersion(model, selector.version);
            return version ?? this.explainMissing(model, selector);
        }
        // No ordering is guaranteed and a page may be empty yet carry a token: read every page.
        // `latest` is the newest READY version; newer ones that are not READY are passed over.
        let newest: string | undefined;
        const notReady: ModelVersionInfo[] = [];
        let pageToken: string | undefined;
        do {
            const answer = await this.request(`${base}/versions?${query({ max_results: String(UC_PAGE_SIZE), page_token: pageToken })}`, model, selector);
            if (definitelyMissing(answer, this.kind)) return this.explainMissing(model, selector);
            this.expectOk(answer, model, selector);
            const body = answer.body as Record<string, unknown>;
            if (body.model_versions !== undefined && !Array.isArray(body.model_versions)) {
                throw this.badResponse('"model_versions" as a list', body, model, selector);
            }
            for (const item of (body.model_versions as unknown[] | undefined) ?? []) {
                const info = this.fromUnityCatalog(item, model, selector);
                if (info.status !== "READY") {
                    notReady.push(info);
                    continue;
                }
                if (newest === undefined || Number(info.version) > Number(newest)) newest = info.version;
            }
            // An empty token, like none, ends the listing.
            pageToken = typeof body.next_page_token === "string" ? body.next_page_token : undefined;
        } while (pageToken);
        const newestPending = notReady.filter((v) => v.status === "PENDING_REGISTRATION").sort((a, b) => Number(b.version) - Number(a.version))[0];
        // None READY yet, the newest still registering (a model's first version): wait for it.
        if (newest === undefined && newestPending && !notReady.some((v) => Number(v.version) > Number(newestPending.version))) newest = newestPending.version;
        if (newest === undefined && notReady.length > 0) {
            throw this.error("registration-failed", `no version of the model is READY (${notReady.map((v) => `${v.version} ${v.status}`).join(", ")})`, model, selector, "Fix the registration (its status message says why), register a new version, or pin one with version: <n>.");
        }
        if (newest === undefined) return this.explainMissing(model, selector);
        const skipped = notReady.filter((v) => Number(v.version) > Number(newest)).sort((a, b) => Number(b.version) - Number(a.version));
        if (skipped.length) this.progress(passedOverMessage(this.url, model, skipped, newest));
        // Listed versions carry no aliases: read the newest one with them.
        const info = await this.getVersion(model, newest);
        if (!info) throw this.error("unknown-version", `version ${newest} disappeared while it was being read`, model, selector, "Run `pulumi up` again.");
        return info;
    }

    private unknownModel(model: string, selector: Subject): RegistryError {
        return this.error(
            "unknown-model",
            "the model is not registered",
            model,
            selector,
            "A new workspace has no models yet: deploy the platform first (no entries in mlflow-platform:models), " +
                "register a version (mlflow.register_model(...) from a Databricks notebook or job), " +
                "then list the model in mlflow-platform:models and run `pulumi up` again. " +
                "Otherwise check the model name and the registry host.",
            404,
        );
    }

    /**
     * Turns "not found" into the precise reason. Asks the registry (off the hot path) whether the
     * model exists, so an unknown model and an unknown alias or version get different advice.
     */
    private async explainMissing(model: string, selector: Selector): Promise<never> {
        const registered = await this.request(this.modelPath(model), model, selector);
        if (definitelyMissing(registered, this.kind)) throw this.unknownModel(model, selector);
        this.expectOk(registered, model, selector);
        const aliases = this.aliasesOfModel(registered.body).map((a) => `${a.alias} -> ${a.version}`);
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
            throw this.error("unknown-version", `version ${selector.version} does not exist`, model, selector, "Pick a registered version, or select by alias or latest: true.");
        }
        throw this.error("no-versions", "the model has no versions yet", model, selector, "Register a version first, then run `pulumi up` again.");
    }

    /** A registered model's aliases: MLflow `[{alias, version}]`, Unity Catalog `[{alias_name, version_num}]`. */
    private aliasesOfModel(body: unknown): { alias: string; version: string }[] {
        const model = isRecord(body) && isRecord(body.registered_model) ? body.registered_model : body;
        if (!isRecord(model) || !Array.isArray(model.aliases)) return [];
        return model.aliases.flatMap((a) => {
            if (!isRecord(a)) return [];
            const alias = a.alias ?? a.alias_name;
            const version = a.version ?? a.version_num;
            return typeof alias === "string" && (typeof version === "string" || typeof version === "number") ? [{ alias, version: String(version) }] : [];
        });
    }

    private async waitUntilReady(found: ModelVersionInfo, model: string, selector: Selector): Promise<ModelVersionInfo> {
        let info = found;
        let delay = this.pending.initialDelayMs;
        let waited = 0;
        while (info.status === "PENDING_REGISTRATION") {
            if (waited >= this.pending.timeoutMs) {
                throw this.error(
                    "registration-timeout",
                    `version ${info.version} was still PENDING_REGISTRATION after ${Math.round(waited / 1000)} s of waiting`,
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

    private field(body: unknown, key: string, model: string, selector: Subject): unknown {
        if (!isRecord(body) || !isRecord(body[key])) throw this.badResponse(`a JSON object with "${key}"`, body, model, selector);
        return body[key];
    }

    private fromMlflow(raw: unknown, model: string, selector: Subject): ModelVersionInfo {
        if (!isRecord(raw)) throw this.badResponse("a model version object", raw, model, selector);
        const version = typeof raw.version === "number" ? String(raw.version) : raw.version;
        if (typeof version !== "string" || !/^\d+$/.test(version)) throw this.badResponse('a model version with a numeric "version"', raw, model, selector);
        const source = typeof raw.source === "string" ? raw.source : "";
        // Fields not read here (MLflow 3's metrics, params, deployment_job_state, …) are ignored.
        return {
            name: typeof raw.name === "string" ? raw.name : model,
            version,
            status: this.status(raw.status, raw, model, selector),
            statusMessage: typeof raw.status_message === "string" && raw.status_message ? raw.status_message : undefined,
            source,
            runId: typeof raw.run_id === "string" && raw.run_id ? raw.run_id : undefined,
            modelId: modelIdOf(raw.model_id, source),
            // Omitted when empty; absent from search results and latest_versions (callers add them).
            aliases: Array.isArray(raw.aliases) ? raw.aliases.filter((a): a is string => typeof a === "string") : [],
            currentStage: typeof raw.current_stage === "string" ? raw.current_stage : undefined,
            creationTimestamp: typeof raw.creation_timestamp === "number" ? raw.creation_timestamp : 0,
        };
    }

    private fromUnityCatalog(raw: unknown, model: string, selector: Subject): ModelVersionInfo {
        if (!isRecord(raw)) throw this.badResponse("a model version info object", raw, model, selector);
        const version = typeof raw.version === "number" ? String(raw.version) : raw.version;
        if (typeof version !== "string" || !/^\d+$/.test(version)) throw this.badResponse('a model version info with a numeric "version"', raw, model, selector);
        const name =
            typeof raw.catalog_name === "string" && typeof raw.schema_name === "string" && typeof raw.model_name === "string"
                ? `${raw.catalog_name}.${raw.schema_name}.${raw.model_name}`
                : model;
        const source = typeof raw.source === "string" ? raw.source : "";
        return {
            name,
            version,
            status: this.status(raw.status, raw, model, selector),
            statusMessage: typeof raw.status_message === "string" && raw.status_message ? raw.status_message : undefined,
            // The files' own location; `source` may be a run or `models:/m-…` reference.
            source: typeof raw.storage_location === "string" && raw.storage_location ? raw.storage_location : source,
            runId: typeof raw.run_id === "string" && raw.run_id ? raw.run_id : undefined,
            modelId: modelIdOf(raw.model_id, source),
            aliases: Array.isArray(raw.aliases)
                ? raw.aliases.map((a) => (isRecord(a) ? a.alias_name : undefined)).filter((a): a is string => typeof a === "string")
                : [],
            creationTimestamp: typeof raw.created_at === "number" ? raw.created_at : 0,
        };
    }

    private status(value: unknown, raw: unknown, model: string, selector: Subject): RegistrationStatus {
        if (value === "READY" || value === "PENDING_REGISTRATION" || value === "FAILED_REGISTRATION") return value;
        throw this.badResponse('"status" READY, PENDING_REGISTRATION or FAILED_REGISTRATION', raw, model, selector);
    }

    /** One GET, retried on 429, 5xx and transient network errors with backoff and jitter. */
    private async request(path: string, model: string, selector: Subject): Promise<Answer> {
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
                const failure = networkFailure(err, this.http.defaults.timeout);
                if (failure.retryable && attempt < this.retry.maxAttempts) {
                    await this.backoff(attempt, undefined, failure.what);
                    continue;
                }
                throw this.error(failure.kind, failure.retryable ? `${failure.what} (gave up after ${attempt} attempts)` : failure.what, model, selector, failure.next);
            }
            const answer: Answer = { status: response.status, body: this.parseBody(response, model, selector), path };
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

    private parseBody(response: AxiosResponse<string>, model: string, selector: Subject): unknown {
        // Always text (see transformResponse above), "" for an empty body.
        const text = response.data;
        // An absent Content-Type reads "undefined": not JSON.
        const type = String(response.headers["content-type"]);
        if (type.includes("json")) {
            try {
                return text === "" ? {} : JSON.parse(text);
            } catch {
                throw this.badResponse("valid JSON", text, model, selector, response.status);
            }
        }
        return text;
    }

    /** Accepts a 2xx JSON object; turns anything else into the error that says what it means. */
    private expectOk(answer: Answer, model: string, selector: Subject): void {
        const { status, body } = answer;
        if (status >= 200 && status < 300) {
            if (!isRecord(body)) throw this.badResponse("a JSON object", body, model, selector, status);
            return;
        }
        const via = this.credential ? `the credential from ${this.credential.source}` : "no credential";
        // A refusal's own words: MLflow's and Databricks' JSON error (code and message), else the body's start
        // (an excerpt is trimmed, so a missing code leaves no space).
        const refusal = bodyExcerpt(isRecord(body) && typeof body.message === "string" ? `${errorCodeOf(body) ?? ""} ${body.message}` : body, 160, this.secrets());
        if (status === 401) {
            throw this.error(
                "unauthenticated",
                `the registry refused the request as unauthenticated (HTTP 401${refusal ? `: ${refusal}` : ""}); sent ${via}`,
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
                `the registry refused access (HTTP 403${refusal ? `: ${refusal}` : ""}); sent ${via}`,
                model,
                selector,
                "Grant this identity read access to the model (CAN_READ, or USE/EXECUTE in Unity Catalog).",
                status,
            );
        }
        // A page (a string) has no error code either.
        if (status === 404 && (errorCodeOf(body) === "ENDPOINT_NOT_FOUND" || errorCodeOf(body) === undefined)) {
            const what = typeof body === "string" ? `an HTML page ("${bodyExcerpt(body, 40, this.secrets()) || "(empty)"}")` : `${errorCodeOf(body) ?? "a JSON body without error_code"}`;
            throw this.error(
                "not-a-registry",
                `this is not an MLflow registry at ${this.url}: ${answer.path.split("?")[0]} answered HTTP 404 with ${what}, which means the route does not exist there, not that the model is missing`,
                model,
                selector,
                this.kind === "unity-catalog"
                    ? "The Unity Catalog routes (/api/2.1/unity-catalog/...) are missing: a self-hosted MLflow server has none (use registry kind mlflow), otherwise give the Databricks workspace URL (https://adb-….azuredatabricks.net)."
                    : this.kind === "mlflow"
                      ? "Give the MLflow server's base URL (with its path prefix only if it serves under one, as with mlflow server --static-prefix), not a scoring endpoint or another server."
                      : "Give the Databricks workspace URL with no path (https://adb-….azuredatabricks.net), not a scoring endpoint or another server.",
                status,
            );
        }
        if (typeof body === "string") {
            throw this.error(
                "bad-response",
                `the registry answered HTTP ${status} with a non-JSON body: ${bodyExcerpt(body, 80, this.secrets()) || "(empty)"}`,
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

    private badResponse(expected: string, got: unknown, model: string, selector: Subject, status?: number): RegistryError {
        return this.error(
            "bad-response",
            `the registry's answer is not what MLflow sends: expected ${expected}, got ${bodyExcerpt(got, 80, this.secrets()) || "(empty)"}`,
            model,
            selector,
            "Check that the registry URL and registry kind match the server.",
            status,
        );
    }

    /** What to redact from messages: the credential's values, if there is a credential. */
    private secrets(): string[] {
        return this.credential?.secrets() ?? [];
    }

    private error(kind: RegistryErrorKind, what: string, model: string, selector: Subject, next: string, status?: number): RegistryError {
        const about = selector ? `model: ${model}, selector: ${describeSelector(selector as Selector)}` : `model: ${model}`;
        const message = `${what}. Registry: ${this.url} (${this.kind}), ${about}.${next ? ` ${next}` : ""}`;
        return new RegistryError(kind, redact(message, this.secrets()), status);
    }
}

/** What a transport failure means, and whether another attempt may get through. */
function networkFailure(err: unknown, timeoutMs: number | undefined): { retryable: boolean; kind: RegistryErrorKind; what: string; next: string } {
    const code = axios.isAxiosError(err) ? (err.code ?? (err.cause as NodeJS.ErrnoException | undefined)?.code) : undefined;
    if (code === "ECONNABORTED" || code === "ETIMEDOUT") {
        return { retryable: true, kind: "timeout", what: `the registry did not answer within ${timeoutMs} ms`, next: "Check the registry host and network path, then try again." };
    }
    if (code === "ECONNREFUSED") {
        return { retryable: true, kind: "connection", what: "the connection to the registry was refused", next: "Check the registry URL and that the server is running." };
    }
    if (code === "ENOTFOUND") return { retryable: false, kind: "connection", what: "the registry host name does not resolve", next: "Check the registry URL." };
    const detail = code ?? (err instanceof Error ? err.message : String(err));
    return {
        retryable: RETRYABLE_NETWORK_CODES.has(code),
        kind: "connection",
        what: `the connection to the registry failed (${detail})`,
        next: "Check the registry URL and network, then try again.",
    };
}

/** MLflow 3 names a version's logged model in `model_id`, and its source is `models:/m-<id>`. */
function modelIdOf(field: unknown, source: string): string | undefined {
    if (typeof field === "string" && field !== "") return field;
    return /^models:\/(m-[^/]+)\/?$/.exec(source)?.[1];
}

function passedOverMessage(url: string, model: string, passedOver: readonly ModelVersionInfo[], chosen: string): string {
    return `registry ${url}: latest of ${model} is version ${chosen}, the newest READY one; passed over ${passedOver.map((v) => `version ${v.version} (${v.status}${v.statusMessage ? `: ${v.statusMessage}` : ""})`).join(", ")}`;
}

function query(params: Record<string, string | undefined>): string {
    return Object.entries(params)
        .filter((entry): entry is [string, string] => entry[1] !== undefined)
        .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
        .join("&");
}
