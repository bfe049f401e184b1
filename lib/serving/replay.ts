// Replay before a guarded rollout moves any traffic (issue 22, point 6): recent requests from the
// payload log (serving/payload_log.py's lines: {time, request_id, model, version, revision,
// status, inputs: [{column: value}], outputs: [prediction per row]}) are sent to the new revision
// through its own address, and its answers are compared with what the stable revision answered.
// Plain values here; RevisionTraffic reads the blobs and sends the requests.

/** A model's replay settings (models[].rollout.replay). */
export interface ReplayConfig {
    /** Logged requests to send, newest first. */
    requests: number;
    /** Classifiers: the smallest share of rows whose prediction equals stable's. */
    minAgreement: number;
    /** Regressors: the largest absolute difference from stable's prediction any row may show; absent: not judged. */
    maxDifference?: number;
    /** How far back the payload log is read. */
    hours: number;
}

export interface LoggedRequest {
    requestId: string;
    inputs: Record<string, unknown>[];
    outputs: unknown[];
}

/**
 * The usable lines of payload log files, newest first (by their `time`): answered 200, with as many
 * predictions as input rows. Lines that are not JSON or not in that shape are skipped and counted.
 */
export function loggedRequests(texts: readonly string[], limit: number): { requests: LoggedRequest[]; skipped: number } {
    const found: { time: string; request: LoggedRequest }[] = [];
    let skipped = 0;
    for (const text of texts) {
        for (const line of text.split("\n")) {
            if (!line.trim()) continue;
            let value: { time?: unknown; request_id?: unknown; status?: unknown; inputs?: unknown; outputs?: unknown };
            try {
                value = JSON.parse(line);
            } catch {
                skipped += 1;
                continue;
            }
            const { inputs, outputs } = value ?? {};
            const rows = Array.isArray(inputs) && inputs.length > 0 && inputs.every((row) => typeof row === "object" && row !== null && !Array.isArray(row));
            if (value?.status !== 200 || !rows || !Array.isArray(outputs) || outputs.length !== (inputs as unknown[]).length || typeof value.time !== "string") {
                skipped += 1;
                continue;
            }
            found.push({ time: value.time, request: { requestId: String(value.request_id ?? ""), inputs: inputs as Record<string, unknown>[], outputs } });
        }
    }
    found.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
    return { requests: found.slice(0, limit).map((f) => f.request), skipped };
}

/** The request that reproduces a logged one: its rows as MLflow's dataframe_records. */
export function replayBody(request: LoggedRequest): string {
    return JSON.stringify({ dataframe_records: request.inputs });
}

/** The predictions of a scoring answer, one per row; undefined when the answer holds none. */
export function predictionsOf(answer: unknown): unknown[] | undefined {
    const predictions = (answer as { predictions?: unknown } | null)?.predictions ?? answer;
    return Array.isArray(predictions) ? predictions : undefined;
}

export interface ReplayComparison {
    kind: "classifier" | "regressor";
    requests: number;
    rows: number;
    /** Share of rows whose prediction equals stable's (both kinds). */
    agreement: number;
    /** Regressors: the largest and the median absolute difference. */
    maxDifference?: number;
    medianDifference?: number;
    /** Requests the candidate did not answer with one prediction per row. */
    failed: number;
    latencyMs: { p50: number; p95: number };
}

const canonical = (value: unknown): string => JSON.stringify(value, (_k, v) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));

function percentile(values: number[], share: number): number {
    if (values.length === 0) return 0;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)];
}

/**
 * Stable's logged predictions against the candidate's. A regressor is a model whose logged
 * predictions are numbers, some not whole; anything else (labels, whole-number classes, objects)
 * is compared for equality.
 */
export function comparePredictions(pairs: readonly { expected: unknown[]; actual: unknown[] | undefined; latencyMs: number }[]): ReplayComparison {
    const answered = pairs.filter((p) => p.actual !== undefined && p.actual.length === p.expected.length);
    const expected = answered.flatMap((p) => p.expected);
    const actual = answered.flatMap((p) => p.actual!);
    const regressor = expected.length > 0 && expected.every((v) => typeof v === "number") && expected.some((v) => !Number.isInteger(v));
    const agree = expected.filter((v, i) => canonical(v) === canonical(actual[i])).length;
    const comparison: ReplayComparison = {
        kind: regressor ? "regressor" : "classifier",
        requests: pairs.length,
        rows: expected.length,
        agreement: expected.length === 0 ? 0 : agree / expected.length,
        failed: pairs.length - answered.length,
        latencyMs: { p50: percentile(pairs.map((p) => p.latencyMs), 0.5), p95: percentile(pairs.map((p) => p.latencyMs), 0.95) },
    };
    if (regressor) {
        const differences = expected.map((v, i) => (typeof actual[i] === "number" ? Math.abs((v as number) - (actual[i] as number)) : Infinity));
        comparison.maxDifference = Math.max(...differences);
        comparison.medianDifference = percentile(differences, 0.5);
    }
    return comparison;
}

const percent = (share: number) => `${+(share * 100).toFixed(2)}%`;
const number = (value: number) => (Number.isFinite(value) ? String(+value.toPrecision(4)) : "not a number");

/** One line for the `up` output. */
export function replaySummary(c: ReplayComparison, candidate: string, stable: string): string {
    const what =
        c.kind === "regressor"
            ? `largest difference from ${stable}'s predictions ${number(c.maxDifference!)}, typical (median) ${number(c.medianDifference!)}, ${percent(c.agreement)} identical`
            : `${percent(c.agreement)} of predictions agree with what ${stable} answered`;
    return `replay of ${c.requests} logged request${c.requests === 1 ? "" : "s"} (${c.rows} rows) against ${candidate}: ${what}${c.failed ? `; ${c.failed} not answered with a prediction per row` : ""}; latency p50 ${Math.round(c.latencyMs.p50)} ms, p95 ${Math.round(c.latencyMs.p95)} ms`;
}

/** Why the replay stops the rollout; empty when it may go on. */
export function replayProblems(c: ReplayComparison, config: ReplayConfig): string[] {
    const problems: string[] = [];
    if (c.failed > 0) problems.push(`${c.failed} of ${c.requests} replayed requests got no prediction per row`);
    if (c.kind === "classifier" && c.agreement < config.minAgreement) problems.push(`${percent(c.agreement)} of predictions agree, below replay.minAgreement ${percent(config.minAgreement)}`);
    if (c.kind === "regressor" && config.maxDifference !== undefined && !(c.maxDifference! <= config.maxDifference)) {
        problems.push(`the largest difference ${number(c.maxDifference!)} is above replay.maxDifference ${config.maxDifference}`);
    }
    return problems;
}
