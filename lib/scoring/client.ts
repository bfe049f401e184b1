// A client for MLflow scoring servers (`mlflow models serve` and the images built from it):
// POST JSON or CSV to /invocations, get the predictions back. Plain TypeScript over axios.
import axios, { type AxiosResponse } from "axios";
import { bodyExcerpt, redact } from "../registry/errors";

/** MLflow's JSON input formats: exactly one of these keys, plus optional `params`. */
export const JSON_INPUT_KEYS = ["dataframe_split", "dataframe_records", "instances", "inputs"] as const;

export type ScoringInput = Record<string, unknown> | string;

export interface ScoreOptions {
    /** Per-request timeout. */
    timeoutMs?: number;
    /** Attempts for what is safe to retry (connection errors, 502/503/504), the first included. */
    maxAttempts?: number;
    baseDelayMs?: number;
    /** A bearer token for endpoints that require one (e.g. Container Apps with Entra auth). */
    bearerToken?: string;
    sleep?: (ms: number) => Promise<void>;
}

export type ScoringErrorKind = "invalid-input" | "bad-request" | "unsupported-media-type" | "server-error" | "unavailable" | "timeout" | "connection" | "unauthorized" | "bad-response";

export class ScoringError extends Error {
    constructor(
        readonly kind: ScoringErrorKind,
        message: string,
        readonly status?: number,
    ) {
        super(message);
        this.message = message;
        this.name = "ScoringError";
    }
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);
const RETRYABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "EAI_AGAIN"]);

/**
 * A URL as it may be printed: user info (`user:token@`) and the query string (which may carry a
 * token, e.g. `?code=`) replaced by `***`. Every message that names an endpoint goes through this.
 */
export function displayUrl(uri: string): string {
    let url: URL;
    try {
        url = new URL(uri);
    } catch {
        // Not a URL: hide whatever could be user info or a query all the same.
        return uri.replace(/\/\/[^/?#]*@/, "//***@").replace(/\?[^#]*/, "?***");
    }
    const hadUserInfo = url.username !== "" || url.password !== "";
    const hadQuery = url.search !== "";
    // Nothing to hide: the text as given.
    if (!hadUserInfo && !hadQuery && url.hash === "") return uri;
    url.username = "";
    url.password = "";
    url.search = "";
    url.hash = "";
    let text = url.toString();
    if (hadUserInfo) text = text.replace("://", "://***@");
    if (hadQuery) text += "?***";
    return text;
}

/** The secret parts of a URL (user name, password, query values), raw and decoded, for redact(). */
export function urlSecrets(uri: string | undefined): string[] {
    let url: URL;
    try {
        // No URI, or not a URL: nothing to take apart (new URL(undefined) throws too).
        url = new URL(uri as string);
    } catch {
        return [];
    }
    const parts = [url.username, url.password, ...[...url.searchParams.values()], url.search.slice(1)];
    const decoded = parts.map((p) => {
        try {
            return decodeURIComponent(p);
        } catch {
            return p;
        }
    });
    return [...new Set([...parts, ...decoded])].filter((p) => p.length > 0);
}

/** Checks an input before it is sent, so a malformed one fails with a clear message and no request. */
export function checkScoringInput(input: ScoringInput): string | undefined {
    if (typeof input === "string") return input.trim() === "" ? "the CSV input is empty" : undefined;
    if (typeof input !== "object" || input === null || Array.isArray(input)) {
        return `the input must be a JSON object with exactly one of ${JSON_INPUT_KEYS.join(", ")} (or CSV text)`;
    }
    const present = JSON_INPUT_KEYS.filter((key) => key in input);
    const unknown = Object.keys(input).filter((key) => !(JSON_INPUT_KEYS as readonly string[]).includes(key) && key !== "params");
    if (present.length !== 1 || unknown.length > 0) {
        return (
            `the input must have exactly one of ${JSON_INPUT_KEYS.join(", ")}, plus optional params; ` +
            `it has ${[...present, ...unknown].map((k) => `"${k}"`).join(", ") || "none of them"}`
        );
    }
    return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * An MLflow error message made readable: whitespace folded (the messages quote many-line pandas
 * tables) and bounded, keeping the start *and* the end, because MLflow puts the cause last
 * ("... Error: Model is missing inputs [...]").
 */
export function foldMessage(message: string, max = 500): string {
    const folded = message.replace(/\s+/g, " ").trim();
    if (folded.length <= max) return folded;
    const head = Math.min(120, Math.floor(max / 4));
    return `${folded.slice(0, head).trimEnd()} … ${folded.slice(folded.length - (max - head - 3)).trimStart()}`;
}

/** The items of a Python list repr (`['a', "b's", 0]`), in order: quoted names, or bare ones (numbers). */
function pythonNames(list: string): string[] {
    return [...list.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([^,\s'"]+)/g)].map((m) => (m[1] ?? m[2] ?? m[3]).replace(/\\(.)/g, "$1"));
}

/** Up to `max` names, then how many more. */
function listNames(names: string[], max = 20): string {
    return names.length <= max ? names.join(", ") : `${names.slice(0, max).join(", ")} and ${names.length - max} more`;
}

/**
 * The columns a schema error names. MLflow 3.17 ends its many-line message with
 * "Error: Model is missing inputs ['a', ...]." and, when the input had others,
 * " Note that there were extra inputs: ['A', ...]." (the extra ones in no fixed order).
 */
export function schemaColumns(message: string): { missing: string[]; extra: string[] } | undefined {
    const missing = /Model is missing inputs \[([^\]]*)\]/.exec(message);
    if (!missing) return undefined;
    const extra = /there were extra inputs: \[([^\]]*)\]/.exec(message.slice(missing.index));
    return { missing: pythonNames(missing[1]), extra: extra ? pythonNames(extra[1]) : [] };
}

/**
 * The part of an MLflow message worth showing: for a schema error, its last "Error: ..." (the
 * cause), without the pandas tables quoted before it; otherwise the whole message.
 */
export function causeOf(message: string): string {
    const at = message.lastIndexOf("Error: Model is missing inputs");
    return at >= 0 ? message.slice(at + "Error: ".length) : message;
}

/**
 * What to do about a 400, read from the message itself: MLflow's BAD_REQUEST covers invalid JSON,
 * wrong input keys, values of the wrong type and errors inside the model alike.
 */
export function scoringHint(message: string): string {
    const columns = schemaColumns(message);
    if (columns) {
        const { missing, extra } = columns;
        const byLower = new Map(extra.map((name) => [name.toLowerCase(), name]));
        const misspelt = missing.filter((name) => byLower.has(name.toLowerCase())).map((name) => `${byLower.get(name.toLowerCase())} -> ${name}`);
        const unexpected = extra.filter((name) => !missing.some((m) => m.toLowerCase() === name.toLowerCase()));
        return (
            `The input lacks ${missing.length === 1 ? "a column" : `${missing.length} columns`} the model's signature requires: ${listNames(missing)}` +
            (extra.length ? `. It has ${extra.length === 1 ? "a column" : `${extra.length} columns`} the model does not know: ${listNames(extra)}` : "") +
            (misspelt.length ? `. Column names are case-sensitive: rename ${listNames(misspelt, 8)}` : "") +
            (unexpected.length && misspelt.length ? ` (and check ${listNames(unexpected, 8)})` : "") +
            ". Send named columns (dataframe_split with columns, dataframe_records, or inputs as records or a dict of columns), not lists of lists."
        );
    }
    const convert = /Failed to convert column (\S+) to type '([^']+)'/.exec(message);
    if (convert) return `Column ${convert[1]} must hold values of type ${convert[2]}: send numbers, not strings or booleans.`;
    if (/valid JSON formatted string|JSONDecodeError/.test(message)) return "The body is not valid JSON.";
    if (/exactly one of the input fields/.test(message)) return `Send exactly one of ${JSON_INPUT_KEYS.join(", ")}, plus optional params.`;
    if (/unexpected error while evaluating the model/i.test(message)) {
        return "The model failed on this input: look for null or missing values, which the model cannot take, or values it cannot handle.";
    }
    return "Check the input against the model's signature.";
}

/**
 * Scores `input` at `scoringUri` (`http(s)://…/invocations`) and returns the predictions.
 * JSON inputs go as application/json, strings as text/csv.
 */
export async function score(scoringUri: string, input: ScoringInput, options: ScoreOptions = {}): Promise<unknown> {
    const invalid = checkScoringInput(input);
    if (invalid) throw new ScoringError("invalid-input", `${invalid}. Endpoint: ${displayUrl(scoringUri)}`);
    const maxAttempts = options.maxAttempts ?? 3;
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const secrets = [...(options.bearerToken ? [options.bearerToken] : []), ...urlSecrets(scoringUri)];
    const fail = (kind: ScoringErrorKind, what: string, next: string, status?: number) =>
        new ScoringError(kind, redact(`${what}. Endpoint: ${displayUrl(scoringUri)}. ${next}`, secrets), status);
    const csv = typeof input === "string";
    const headers: Record<string, string> = { "Content-Type": csv ? "text/csv" : "application/json", Accept: "application/json" };
    if (options.bearerToken) headers.Authorization = `Bearer ${options.bearerToken}`;

    for (let attempt = 1; ; attempt++) {
        let response: AxiosResponse<string>;
        try {
            response = await axios.post<string>(scoringUri, csv ? input : JSON.stringify(input), {
                headers,
                timeout: options.timeoutMs ?? 60_000,
                validateStatus: () => true,
                // The body as text, never parsed by axios: with a responseType set, axios's default
                // transformResponse leaves it alone (axios lib/defaults: forced JSON parsing only without one).
                responseType: "text",
                maxRedirects: 0,
            });
        } catch (err) {
            const code = axios.isAxiosError(err) ? err.code : undefined;
            if (code === "ECONNABORTED" || code === "ETIMEDOUT") {
                // Not retried: a timed-out prediction may still be running on the server.
                throw fail("timeout", `no answer within ${options.timeoutMs ?? 60_000} ms`, "The model may be overloaded: try a larger size, or a smaller input.");
            }
            if (code && RETRYABLE_CODES.has(code) && attempt < maxAttempts) {
                await sleep((options.baseDelayMs ?? 500) * 2 ** (attempt - 1));
                continue;
            }
            if (code === "ENOTFOUND") {
                // Permanent: the name does not exist (EAI_AGAIN, a resolver that did not answer, is retried above).
                throw fail("connection", `the host name ${hostOf(scoringUri)} does not resolve (ENOTFOUND)`, "Check the URL: a typo, or an endpoint that was removed.");
            }
            throw fail(
                "connection",
                `cannot connect (${code ?? (err as Error).message})${attempt > 1 ? ` after ${attempt} attempts` : ""}`,
                "Check the URL and that the endpoint is running (npm run smoke waits for readiness).",
            );
        }
        const { status } = response;
        const text = response.data;
        if (RETRYABLE_STATUS.has(status) && attempt < maxAttempts) {
            await sleep((options.baseDelayMs ?? 500) * 2 ** (attempt - 1));
            continue;
        }
        let body: unknown = text;
        // String(undefined) is "undefined": no content type is not JSON.
        if (String(response.headers["content-type"]).includes("json") && text.trim() !== "") {
            try {
                body = JSON.parse(text);
            } catch {
                // An error status with a broken body is still reported by its status below.
                if (status === 200) {
                    throw fail("bad-response", `HTTP 200 with a body that is not valid JSON: ${bodyExcerpt(text, 80)}`, "Check that the URL is an MLflow scoring endpoint.", status);
                }
            }
        }
        if (status === 200) {
            // MLflow 2 answers {"predictions": [...]}; MLflow 1 answered the bare list.
            if (isRecord(body) && "predictions" in body) return body.predictions;
            if (Array.isArray(body)) return body;
            throw fail("bad-response", `HTTP 200 without predictions: ${bodyExcerpt(body, 80) || "(empty)"}`, "Check that the URL is an MLflow scoring endpoint (…/invocations).", status);
        }
        const code = isRecord(body) && typeof body.error_code === "string" ? body.error_code : undefined;
        // Only `message`: MLflow's `stack_trace` field (server file paths) is never shown.
        const rawMessage = isRecord(body) && typeof body.message === "string" ? body.message : undefined;
        const message = rawMessage !== undefined ? foldMessage(causeOf(rawMessage)) : bodyExcerpt(body, 160);
        if (status === 400) {
            throw fail("bad-request", `the model refused the input (HTTP 400 ${code ?? ""}: ${message})`.replace(" :", ":"), scoringHint(rawMessage ?? ""), status);
        }
        if (status === 415) {
            throw fail("unsupported-media-type", `the server does not accept ${headers["Content-Type"]} (HTTP 415: ${bodyExcerpt(body, 80)})`, "Send JSON or CSV.", status);
        }
        if (status === 401 || status === 403) {
            throw fail("unauthorized", `the endpoint refused the request (HTTP ${status}: ${bodyExcerpt(body, 80)})`, options.bearerToken ? "The token is not accepted for this endpoint." : "This endpoint needs a bearer token: set SCORING_TOKEN, or use --entra-scope with npm run smoke.", status);
        }
        if (status >= 500) {
            throw fail(
                RETRYABLE_STATUS.has(status) ? "unavailable" : "server-error",
                `the server failed (HTTP ${status}${code ? ` ${code}` : ""}: ${message || "(empty)"})${RETRYABLE_STATUS.has(status) ? ` after ${attempt} attempts` : ""}`,
                RETRYABLE_STATUS.has(status) ? "The endpoint is starting or overloaded: wait, or give it more CPU and memory." : "See the container logs for the model's error.",
                status,
            );
        }
        throw fail("bad-response", `unexpected HTTP ${status}: ${bodyExcerpt(body, 80)}`, "Check the URL.", status);
    }
}

/**
 * Checks a scoring URI. MLflow scoring servers take predictions at `<base>/invocations`: a URI
 * with no path is completed (`completed: true`, so the caller can say so); any other path is
 * refused, since joining `/ping` to it naively would ask another route (`//ping` even answers 200).
 */
export function parseScoringUri(uri: string, where = "the scoring URI"): { uri: string; completed: boolean } {
    let url: URL;
    try {
        url = new URL(uri);
    } catch {
        throw new ScoringError("invalid-input", `${where} ${JSON.stringify(displayUrl(uri))} is not a URL: use http(s)://<host>[:port]/invocations`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new ScoringError("invalid-input", `${where} ${JSON.stringify(displayUrl(uri))} is not an http(s) URL: use http(s)://<host>[:port]/invocations`);
    }
    // An http(s) URL's path is never empty: without one, new URL() gives "/".
    if (url.pathname === "/") {
        url.pathname = "/invocations";
        return { uri: url.toString(), completed: true };
    }
    if (!/\/invocations\/?$/.test(url.pathname)) {
        throw new ScoringError(
            "invalid-input",
            `${where} ${displayUrl(uri)} does not end in /invocations: MLflow scoring servers take predictions at <base>/invocations, for example ${url.origin}${url.pathname.replace(/\/+$/, "")}/invocations`,
        );
    }
    // The check above allows one trailing slash.
    url.pathname = url.pathname.replace(/\/$/, "");
    return { uri: url.toString(), completed: false };
}

/** The host name of a URL, without user info or port; the (redacted) text itself when it is not a URL. */
export function hostOf(uri: string): string {
    try {
        return new URL(uri).hostname;
    } catch {
        return displayUrl(uri);
    }
}

/** `…/invocations` → `…/ping` and friends; refuses a URI that does not end in /invocations. */
export function endpointRoute(scoringUri: string, route: "ping" | "health" | "version"): string {
    const url = new URL(parseScoringUri(scoringUri).uri);
    url.pathname = url.pathname.replace(/\/invocations$/, `/${route}`);
    return url.toString();
}
