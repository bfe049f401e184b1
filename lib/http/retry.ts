// Bounded retries for one HTTP call over axios (validateStatus accepting every status): a 429, a
// 5xx that means "try again" (500, 502, 503, 504), a timeout or a reset connection is retried
// with backoff (Retry-After when the service sends one, capped); anything else is answered at once.
// A refused connection or an unknown host is a wrong address, not a transient failure: no retry.
import axios from "axios";

export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_ERRORS: ReadonlySet<string> = new Set(["ECONNABORTED", "ETIMEDOUT", "ECONNRESET", "EPIPE", "EAI_AGAIN"]);

export interface RetryPolicy {
    /** Attempts in all, the first included. */
    attempts: number;
    /** The first wait; doubled after each failure, up to maxDelayMs. */
    baseDelayMs: number;
    maxDelayMs: number;
    sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 1_000, maxDelayMs: 20_000, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };

/** What the last attempt met, worded without any library message: "HTTP 503", "a timeout after 30 s". */
export type Failure = { kind: "status"; status: number; text: string } | { kind: "transport"; code: string; text: string };

/** Thrown when every attempt failed transiently, or on a transport failure that is not retried. */
export class RetriesExhausted extends Error {
    constructor(
        readonly failure: Failure,
        readonly attempts: number,
    ) {
        super(`${failure.text} (${attempts} attempt${attempts === 1 ? "" : "s"})`);
        this.name = "RetriesExhausted";
    }
}

/** Milliseconds of a Retry-After header given in seconds, within [0, cap]; undefined when absent. */
export function retryAfterMs(header: unknown, capMs: number): number | undefined {
    const seconds = Number(Array.isArray(header) ? header[0] : header);
    if (typeof header === "undefined" || !Number.isFinite(seconds) || seconds < 0) return undefined;
    return Math.min(seconds * 1000, capMs);
}

function transportCode(err: unknown): string {
    return (axios.isAxiosError(err) ? err.code : (err as { code?: string })?.code) ?? "network error";
}

function transportText(code: string, timeoutMs: number | undefined): string {
    if (code === "ECONNABORTED" || code === "ETIMEDOUT") return `no answer within ${timeoutMs ? `${timeoutMs / 1000} s` : "the timeout"} (${code})`;
    return code;
}

/**
 * Sends `request` until it gets an answer that is not transient, and returns that answer (any
 * status, for the caller to read). Throws RetriesExhausted after `policy.attempts` transient
 * failures, or at once on a transport failure that is not transient.
 */
export async function withRetries<T extends { status: number; headers: Record<string, unknown> }>(
    request: () => Promise<T>,
    policy: RetryPolicy,
    options: { timeoutMs?: number; onRetry?: (failure: Failure, attempt: number, delayMs: number) => void } = {},
): Promise<T> {
    for (let attempt = 1; ; attempt++) {
        let failure: Failure;
        let delay = Math.min(policy.baseDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
        try {
            const answer = await request();
            if (!RETRYABLE_STATUS.has(answer.status)) return answer;
            failure = { kind: "status", status: answer.status, text: `HTTP ${answer.status}` };
            delay = retryAfterMs(answer.headers["retry-after"], policy.maxDelayMs) ?? delay;
        } catch (err) {
            const code = transportCode(err);
            failure = { kind: "transport", code, text: transportText(code, options.timeoutMs) };
            if (!RETRYABLE_ERRORS.has(code)) throw new RetriesExhausted(failure, attempt);
        }
        if (attempt >= policy.attempts) throw new RetriesExhausted(failure, attempt);
        options.onRetry?.(failure, attempt, delay);
        await policy.sleep(delay);
    }
}
