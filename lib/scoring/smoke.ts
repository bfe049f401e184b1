// The smoke test behind `npm run smoke`: wait for each scoring endpoint to be ready, score a
// sample input, report latency, and optionally probe capacity under concurrency.
import axios from "axios";
import { displayUrl, endpointRoute, hostOf, parseScoringUri, score, ScoringError, type ScoringInput } from "./client";

export interface SmokeTarget {
    name: string;
    scoringUri: string;
}

export interface SmokeOptions {
    targets: SmokeTarget[];
    input: ScoringInput;
    /** Sequential requests for the latency figures. */
    requests: number;
    /** With a value, also a capacity probe: `requests` requests, this many in flight. */
    concurrency?: number;
    readyTimeoutMs: number;
    readyPollMs: number;
    requestTimeoutMs: number;
    bearerToken?: string;
}

export interface SmokeIO {
    log(line: string): void;
    now(): number;
    sleep(ms: number): Promise<void>;
}

export interface LatencySummary {
    count: number;
    p50: number;
    p95: number;
    p99: number;
    max: number;
}

export interface SmokeResult {
    name: string;
    predictions: unknown;
    latency: LatencySummary;
    capacity?: LatencySummary & { concurrency: number; throughputPerSecond: number; failures: number; wallMs: number };
}

export class SmokeError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "SmokeError";
    }
}

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number {
    if (sorted.length === 0) return NaN;
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarize(samples: readonly number[]): LatencySummary {
    const sorted = [...samples].sort((a, b) => a - b);
    return { count: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * Polls `/ping` until it answers 200, with a progress line per attempt. A starting MLflow server
 * refuses connections, then holds the first /ping until the model is loaded; it never answers 503,
 * and never 404/405 on /ping. So a 404 or 405 means this is not an MLflow scoring endpoint, and
 * fails at once; refused connections and a proxy's 502/503/504 are "not ready yet". The wait ends
 * at `readyTimeoutMs`: each attempt and each pause is cut to the time left.
 */
export async function waitUntilReady(target: SmokeTarget, options: Pick<SmokeOptions, "readyTimeoutMs" | "readyPollMs" | "bearerToken">, io: SmokeIO): Promise<void> {
    const ping = endpointRoute(target.scoringUri, "ping");
    // What is printed: never the URL's user info or query (either may carry a token).
    const shownPing = displayUrl(ping);
    const started = io.now();
    const deadline = started + options.readyTimeoutMs;
    // The last answer, set by every attempt before anything reads it.
    let last: string;
    for (;;) {
        try {
            const response = await axios.get(ping, {
                // The first /ping is held while the model loads: let it run to the deadline.
                timeout: Math.max(1, Math.round(deadline - io.now())),
                validateStatus: () => true,
                headers: options.bearerToken ? { Authorization: `Bearer ${options.bearerToken}` } : {},
                maxRedirects: 0,
            });
            if (response.status === 200) {
                io.log(`${target.name}: ready after ${Math.round((io.now() - started) / 1000)} s`);
                return;
            }
            if (response.status === 401 || response.status === 403) {
                throw new SmokeError(`${target.name}: ${shownPing} answered HTTP ${response.status}: the endpoint needs a valid bearer token (SCORING_TOKEN)`);
            }
            if (response.status === 404 || response.status === 405) {
                throw new SmokeError(
                    `${target.name}: ${shownPing} answered HTTP ${response.status}: ${displayUrl(target.scoringUri)} is not an MLflow scoring endpoint ` +
                        "(an MLflow scoring server's /ping answers 200 once its model is loaded, never 404 or 405). " +
                        "Check the URL: it must be the scoring server's http(s)://<host>[:port]/invocations.",
                );
            }
            last = `HTTP ${response.status}`;
        } catch (err) {
            // Only a request's failure is an answer; anything else is a bug to surface.
            if (err instanceof SmokeError || !axios.isAxiosError(err)) throw err;
            const code = err.code;
            if (code === "ENOTFOUND") {
                // Permanent: the name does not exist, and waiting does not create it. EAI_AGAIN (the
                // resolver did not answer) is transient and waited through like a refused connection.
                throw new SmokeError(`${target.name}: the host name ${hostOf(ping)} does not resolve (ENOTFOUND): check the URL (a typo, or an endpoint that was removed)`);
            }
            last = code ?? "network error";
        }
        const notReady = () =>
            new SmokeError(
                `${target.name}: not ready after ${Math.round((io.now() - started) / 1000)} s (last answer from ${shownPing}: ${last}). Check the container's logs: the model may have failed to load.`,
            );
        const now = io.now();
        if (now >= deadline) throw notReady();
        io.log(`${target.name}: waiting for ${shownPing} (${last}, ${Math.round((now - started) / 1000)} s of ${Math.round(options.readyTimeoutMs / 1000)} s)`);
        await io.sleep(Math.min(options.readyPollMs, deadline - now));
        if (io.now() >= deadline) throw notReady();
    }
}

/** Checks each target's scoring URI, completing one without a path to `/invocations` (and saying so). */
function checkedTargets(targets: SmokeTarget[], io: SmokeIO): SmokeTarget[] {
    return targets.map((target) => {
        let parsed;
        try {
            parsed = parseScoringUri(target.scoringUri, `${target.name}: the scoring URI`);
        } catch (err) {
            throw new SmokeError((err as Error).message);
        }
        if (parsed.completed) io.log(`${target.name}: ${displayUrl(target.scoringUri)} has no path; scoring at ${displayUrl(parsed.uri)} (MLflow's /invocations)`);
        return { ...target, scoringUri: parsed.uri };
    });
}

export async function runSmoke(options: SmokeOptions, io: SmokeIO): Promise<SmokeResult[]> {
    const results: SmokeResult[] = [];
    const scoreOptions = { timeoutMs: options.requestTimeoutMs, bearerToken: options.bearerToken, sleep: io.sleep };
    for (const target of checkedTargets(options.targets, io)) {
        await waitUntilReady(target, options, io);
        let predictions: unknown;
        const samples: number[] = [];
        try {
            for (let i = 0; i < options.requests; i++) {
                const started = io.now();
                predictions = await score(target.scoringUri, options.input, scoreOptions);
                samples.push(io.now() - started);
            }
        } catch (err) {
            throw new SmokeError(`${target.name}: ${err instanceof ScoringError ? err.message : String(err)}`);
        }
        const latency = summarize(samples);
        io.log(`${target.name}: predictions ${JSON.stringify(predictions)}`);
        io.log(`${target.name}: latency over ${latency.count} sequential requests: p50 ${round(latency.p50)} ms, p95 ${round(latency.p95)} ms`);
        const result: SmokeResult = { name: target.name, predictions, latency };
        if (options.concurrency) result.capacity = await probeCapacity(target, options, io);
        results.push(result);
    }
    return results;
}

/** Sends `requests` requests with `concurrency` in flight; reports throughput and latency. */
async function probeCapacity(target: SmokeTarget, options: SmokeOptions, io: SmokeIO): Promise<NonNullable<SmokeResult["capacity"]>> {
    const concurrency = options.concurrency ?? 1;
    const samples: number[] = [];
    let failures = 0;
    let firstFailure = "";
    let next = 0;
    const started = io.now();
    const worker = async () => {
        while (next < options.requests) {
            next++;
            const t = io.now();
            try {
                // One attempt each: a retry would hide the overload being measured.
                await score(target.scoringUri, options.input, { timeoutMs: options.requestTimeoutMs, bearerToken: options.bearerToken, maxAttempts: 1 });
                samples.push(io.now() - t);
            } catch (err) {
                failures++;
                firstFailure ||= (err as Error).message;
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, options.requests) }, worker));
    const wallMs = io.now() - started;
    const summary = summarize(samples);
    const throughputPerSecond = wallMs > 0 ? (samples.length / wallMs) * 1000 : NaN;
    io.log(
        `${target.name}: capacity at concurrency ${concurrency}: ${samples.length}/${options.requests} succeeded in ${Math.round(wallMs)} ms, ` +
            `${round(throughputPerSecond)} req/s, p50 ${round(summary.p50)} ms, p95 ${round(summary.p95)} ms, p99 ${round(summary.p99)} ms`,
    );
    if (failures > 0) io.log(`${target.name}: ${failures} request(s) failed under load; first: ${firstFailure}`);
    return { ...summary, concurrency, throughputPerSecond, failures, wallMs };
}

/** What a stack serves, from `pulumi stack output --json`. */
export interface StackTargets {
    targets: SmokeTarget[];
    /** Configured models the stack skipped because they are not registered yet (`skippedModels`). */
    skipped: { name: string; model: string }[];
}

/**
 * Scoring URIs from `pulumi stack output --json`: the `models` output, `{ name: { scoringUri } }`,
 * and the `skippedModels` output. An empty `models` is not an error: a stack's first deployment
 * serves nothing until its model is registered (the documented bootstrap), see `emptyStackNotice`.
 */
export function targetsFromStackOutputs(outputs: unknown, stack: string): StackTargets {
    // A property of a string or number is undefined, as of {} (what null and undefined become).
    const record = (outputs ?? {}) as Record<string, unknown>;
    const models = record.models;
    if (typeof models !== "object" || models === null || Array.isArray(models)) {
        throw new SmokeError(`stack ${stack} has no "models" output: deploy it with \`pulumi up\` first, or pass --url`);
    }
    const targets = Object.entries(models as Record<string, unknown>).map(([name, value]) => {
        const uri = (value as Record<string, unknown> | null | undefined)?.scoringUri;
        if (typeof uri !== "string" || !/^https?:\/\//.test(uri)) throw new SmokeError(`stack ${stack}: model ${name} has no scoringUri output`);
        return { name, scoringUri: uri };
    });
    const skipped = Array.isArray(record.skippedModels)
        ? (record.skippedModels as ({ name?: unknown; model?: unknown } | null | undefined)[])
              .filter((s): s is { name: string; model: unknown } => typeof s?.name === "string")
              .map((s) => ({ name: s.name, model: typeof s.model === "string" ? s.model : s.name }))
        : [];
    return { targets, skipped };
}

/** The notice for a stack that serves nothing yet (exit 0: nothing is broken). */
export function emptyStackNotice(stack: string, skipped: readonly { name: string; model: string }[]): string {
    const waiting = skipped.length ? ` ${skipped.map((s) => `${s.name} (${s.model})`).join(", ")} ${skipped.length === 1 ? "is" : "are"} not registered yet.` : " mlflow-platform:models is empty.";
    return `smoke: notice: stack ${stack} serves no models yet, so there is nothing to check.${waiting} Register a version, run \`pulumi up\` again, and the smoke test checks it.`;
}
