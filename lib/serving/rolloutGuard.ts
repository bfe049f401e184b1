// A guarded rollout's judgement of one canary step (issue 22), as plain values: the query that reads
// both revisions' scoring calls for the bake window from Log Analytics, how its answer is read, and
// whether the step may advance, must roll back, needs a longer bake or must hold. RevisionTraffic
// is meant to call these between its weight changes; nothing here talks to Azure.
import { kqlString, requestRecords } from "../observability/alerts";

/** What a step must show before the next one: the candidate's own limits and its margin over stable. */
export interface GuardThresholds {
    /** Largest share of 5xx answers the candidate may give in a window (0-1). */
    maxErrorRate: number;
    /** Largest p95 latency the candidate may have in a window. */
    maxP95LatencyMs: number;
    /** Fewest scoring calls the candidate must have answered for the window to be judged. */
    minRequests: number;
    /** How much higher than stable's the candidate's error share may be (absolute, 0-1). */
    errorRateMargin: number;
    /** How much slower than stable's the candidate's p95 may be, as a share of stable's (0.2: 20%). */
    latencyMargin: number;
    /** dev: promote after the extended bake even with too few calls (said in the output). */
    allowLowTraffic: boolean;
}

/** One revision's scoring calls in a window. */
export interface RevisionWindow {
    revision: string;
    requests: number;
    errors: number;
    /** null when the revision answered no call in the window. */
    p95LatencyMs: number | null;
    /** What Container Apps' ingress counted for the revision (Azure Monitor's Requests metric), when read. */
    ingress?: { requests: number; errors: number };
}

export type StepVerdict =
    | { kind: "advance"; notes: string[] }
    | { kind: "rollback"; reasons: string[] }
    | { kind: "extend"; reason: string }
    | { kind: "hold"; reason: string };

export function errorRate(window: RevisionWindow): number {
    return window.requests === 0 ? 0 : window.errors / window.requests;
}

const percent = (share: number) => `${+(share * 100).toFixed(3)}%`;

/**
 * The verdict on one bake window. Too few calls: bake once more (`extended` false), then hold, or
 * with allowLowTraffic advance with a note; never a silent promotion. Too few calls with more
 * errors than a full window (minRequests calls) may have rolls back at once: more calls cannot
 * make those errors acceptable at that size. Otherwise any tripped limit, the candidate's own or
 * its margin over a stable revision with enough calls, rolls back.
 */
export function judgeStep(thresholds: GuardThresholds, candidate: RevisionWindow, stable: RevisionWindow | undefined, extended: boolean): StepVerdict {
    const candidateRate = errorRate(candidate);
    const tooManyErrors = `error share ${percent(candidateRate)} (${candidate.errors} of ${candidate.requests}) is above maxErrorRate ${percent(thresholds.maxErrorRate)}`;
    if (candidate.requests < thresholds.minRequests) {
        if (candidate.errors > thresholds.maxErrorRate * thresholds.minRequests) return { kind: "rollback", reasons: [tooManyErrors] };
        const short = `${candidate.requests} scoring call${candidate.requests === 1 ? "" : "s"} reached ${candidate.revision} in the window, fewer than minRequests ${thresholds.minRequests}`;
        if (!extended) return { kind: "extend", reason: `${short}: baking once more` };
        if (thresholds.allowLowTraffic) return { kind: "advance", notes: [`${short} after the extended bake: advancing because allowLowTraffic is on`] };
        return { kind: "hold", reason: `${short}, also after the extended bake: the traffic stays where it is (send traffic, lower minRequests, or set allowLowTraffic)` };
    }
    const reasons: string[] = [];
    if (candidateRate > thresholds.maxErrorRate) reasons.push(tooManyErrors);
    if (candidate.p95LatencyMs !== null && candidate.p95LatencyMs > thresholds.maxP95LatencyMs) {
        reasons.push(`p95 latency ${candidate.p95LatencyMs} ms is above maxP95LatencyMs ${thresholds.maxP95LatencyMs} ms`);
    }
    const notes: string[] = [];
    if (stable && stable.requests >= thresholds.minRequests) {
        const stableRate = errorRate(stable);
        if (candidateRate > stableRate + thresholds.errorRateMargin) {
            reasons.push(`error share ${percent(candidateRate)} is more than ${percent(thresholds.errorRateMargin)} above stable's ${percent(stableRate)}`);
        }
        if (candidate.p95LatencyMs !== null && stable.p95LatencyMs !== null && candidate.p95LatencyMs > stable.p95LatencyMs * (1 + thresholds.latencyMargin)) {
            reasons.push(`p95 latency ${candidate.p95LatencyMs} ms is more than ${percent(thresholds.latencyMargin)} above stable's ${stable.p95LatencyMs} ms`);
        }
        // A stable revision from an image without request records (MLflow 2.x) has ingress counts only.
        if (stable.p95LatencyMs === null) notes.push(`${stable.revision} has no request records in the window, so the candidate's p95 was held to maxP95LatencyMs only`);
    }
    return reasons.length > 0 ? { kind: "rollback", reasons } : { kind: "advance", notes };
}

/** ISO 8601 instants, as KQL's datetime() reads them. */
export interface Window {
    start: string;
    end: string;
}

/** The KQL that reads both revisions' scoring calls in the window (the request records in Log Analytics). */
export function stepWindowQuery(appName: string, revisions: readonly string[], window: Window): string {
    return [
        requestRecords(appName),
        `| where TimeGenerated between (datetime(${window.start}) .. datetime(${window.end}))`,
        `| where revision in (${revisions.map(kqlString).join(", ")})`,
        `| summarize requests = count(), errors = countif(status >= 500), p95LatencyMs = percentile(latency_ms, 95) by revision`,
    ].join("\n");
}

/** The answer of the Log Analytics query API could not be used: the rollout holds and retries. */
export class MetricsUnreadable extends Error {}

const COLUMNS = ["revision", "requests", "errors", "p95LatencyMs"] as const;

/**
 * Each revision's window from a Log Analytics query answer ({tables: [{name, columns: [{name,
 * type}], rows: [[...]]}]}, learn.microsoft.com/azure/azure-monitor/logs/api/response-format). A
 * 200 that carries an `error` is a partial result there (a non-fatal error): not trusted. A
 * revision without a row answered no call.
 */
export function windowsFromQueryAnswer(body: unknown, revisions: readonly string[]): Map<string, RevisionWindow> {
    const answer = body as { tables?: unknown; error?: { code?: unknown; message?: unknown } } | null;
    if (typeof answer !== "object" || answer === null || !Array.isArray(answer.tables)) {
        throw new MetricsUnreadable("the Log Analytics answer has no tables (expected {tables: [{name, columns, rows}]})");
    }
    if (answer.error) {
        const code = typeof answer.error.code === "string" ? answer.error.code : "an unnamed error";
        throw new MetricsUnreadable(`the Log Analytics answer is partial (${code}): its numbers may be missing calls`);
    }
    const table = answer.tables[0] as { columns?: unknown; rows?: unknown } | undefined;
    if (!table || !Array.isArray(table.columns) || !Array.isArray(table.rows)) {
        throw new MetricsUnreadable("the Log Analytics answer's first table has no columns and rows");
    }
    const names = table.columns.map((column) => (column as { name?: unknown } | null)?.name);
    const index = Object.fromEntries(COLUMNS.map((name) => [name, names.indexOf(name)])) as Record<(typeof COLUMNS)[number], number>;
    const missing = COLUMNS.filter((name) => index[name] < 0);
    if (missing.length > 0) throw new MetricsUnreadable(`the Log Analytics answer lacks the column${missing.length === 1 ? "" : "s"} ${missing.join(", ")}`);
    const windows = new Map<string, RevisionWindow>(revisions.map((revision) => [revision, { revision, requests: 0, errors: 0, p95LatencyMs: null }]));
    for (const row of table.rows) {
        if (!Array.isArray(row)) throw new MetricsUnreadable("a row of the Log Analytics answer is not a list of values");
        const revision = row[index.revision];
        if (typeof revision !== "string" || !windows.has(revision)) continue;
        const requests = row[index.requests];
        const errors = row[index.errors];
        const p95 = row[index.p95LatencyMs];
        if (!Number.isInteger(requests) || !Number.isInteger(errors) || (requests as number) < 0 || (errors as number) < 0 || (errors as number) > (requests as number)) {
            throw new MetricsUnreadable(`revision ${revision}'s row has requests ${JSON.stringify(requests)} and errors ${JSON.stringify(errors)}: expected whole numbers, errors at most requests`);
        }
        if (p95 !== null && (typeof p95 !== "number" || !Number.isFinite(p95) || p95 < 0)) {
            throw new MetricsUnreadable(`revision ${revision}'s p95LatencyMs is ${JSON.stringify(p95)}: expected a number of milliseconds`);
        }
        windows.set(revision, { revision, requests: requests as number, errors: errors as number, p95LatencyMs: p95 === null ? null : Math.round(p95 * 10) / 10 });
    }
    return windows;
}

/** The Azure Monitor metrics call for the window: Container Apps' Requests, per revision and status class. */
export const PLATFORM_METRICS_API_VERSION = "2023-10-01";

export function platformMetricsPath(appId: string, window: Window): string {
    // interval FULL: one data point for the whole timespan (Metrics - List, learn.microsoft.com/rest/api/monitor/metrics/list).
    const query = {
        metricnames: "Requests",
        timespan: `${window.start}/${window.end}`,
        interval: "FULL",
        aggregation: "Total",
        $filter: "revisionName eq '*' and statusCodeCategory eq '*'",
    };
    // encodeURIComponent: spaces as %20 (not URLSearchParams' "+").
    return `${appId}/providers/Microsoft.Insights/metrics?${Object.entries(query).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&")}`;
}

/**
 * Each revision's ingress requests and 5xx from a Metrics - List answer ({value: [{name: {value},
 * errorCode?, timeseries: [{metadatavalues: [{name: {value}, value}], data: [{timeStamp, total?}]}]}]}).
 * A data point without `total` had no requests. The metric counts every route through the ingress,
 * and 5xx the ingress answered itself (a replica that crashed or timed out), which no request record shows.
 */
export function ingressFromMetricsAnswer(body: unknown, revisions: readonly string[]): Map<string, { requests: number; errors: number }> {
    const metric = (body as { value?: unknown } | null)?.value;
    if (!Array.isArray(metric)) throw new MetricsUnreadable("the Azure Monitor metrics answer has no value list (expected {value: [{name, timeseries}]})");
    const requests = metric.find((m) => (m as { name?: { value?: unknown } } | null)?.name?.value === "Requests") as { errorCode?: unknown; timeseries?: unknown } | undefined;
    if (!requests) throw new MetricsUnreadable("the Azure Monitor metrics answer has no Requests metric");
    if (typeof requests.errorCode === "string" && requests.errorCode !== "Success") throw new MetricsUnreadable(`Azure Monitor could not read the Requests metric (${requests.errorCode})`);
    if (!Array.isArray(requests.timeseries)) throw new MetricsUnreadable("the Requests metric has no timeseries list");
    const found = new Map(revisions.map((r) => [r, { requests: 0, errors: 0 }]));
    for (const series of requests.timeseries as { metadatavalues?: unknown; data?: unknown }[]) {
        const meta = new Map(
            (Array.isArray(series?.metadatavalues) ? series.metadatavalues : []).map((m: { name?: { value?: unknown }; value?: unknown }) => [String(m?.name?.value ?? "").toLowerCase(), m?.value]),
        );
        const revision = meta.get("revisionname");
        const entry = typeof revision === "string" ? found.get(revision) : undefined;
        if (!entry) continue;
        if (!Array.isArray(series.data)) throw new MetricsUnreadable(`the Requests series of ${revision} has no data list`);
        let total = 0;
        for (const point of series.data as { total?: unknown }[]) {
            if (point?.total === undefined || point.total === null) continue;
            if (typeof point.total !== "number" || !Number.isFinite(point.total) || point.total < 0) throw new MetricsUnreadable(`the Requests series of ${revision} has a total of ${JSON.stringify(point.total)}`);
            total += point.total;
        }
        entry.requests += total;
        if (String(meta.get("statuscodecategory") ?? "") === "5xx") entry.errors += total;
    }
    return found;
}

/**
 * The records' window with the ingress's counts beside it; the judged numbers are the larger of the
 * two, so 5xx the ingress answered for a revision whose replicas never wrote a record still count.
 */
export function withIngress(records: RevisionWindow, ingress: { requests: number; errors: number } | undefined): RevisionWindow {
    if (!ingress) return records;
    const requests = Math.max(records.requests, ingress.requests);
    return { ...records, requests, errors: Math.min(requests, Math.max(records.errors, ingress.errors)), ingress };
}

/**
 * Why a window cannot be judged yet, or undefined: enough calls to judge, all of them counted only
 * by the ingress (no request record, so no p95). The records are late (Log Analytics ingests in 20 s
 * to 3 min), or the image writes none (a model that pins MLflow 2.x): latency must not pass unread.
 * An error share over the limit is judged at once: replicas that crash write no records either.
 */
export function recordsMissing(window: RevisionWindow, thresholds: Pick<GuardThresholds, "minRequests" | "maxErrorRate">): string | undefined {
    if (window.p95LatencyMs !== null || !window.ingress || window.requests < thresholds.minRequests) return undefined;
    if (errorRate(window) > thresholds.maxErrorRate) return undefined;
    return (
        `the ingress counted ${window.ingress.requests} calls to ${window.revision} in the window but Log Analytics holds no request record of them, ` +
        `so its latency cannot be judged: records arrive 20 s to 3 min late, and an image whose model pins MLflow 2.x writes none`
    );
}

/** The evidence `up` fails with: both revisions' numbers for the window, and the query that produced them. */
export function evidenceTable(candidate: RevisionWindow, stable: RevisionWindow | undefined, window: Window, query: string): string {
    const both = [candidate, ...(stable ? [stable] : [])];
    const ingress = both.some((w) => w.ingress);
    const rows = both.map((w, i) => [
        `${w.revision} (${i === 0 ? "candidate" : "stable"})`,
        String(w.requests),
        String(w.errors),
        percent(errorRate(w)),
        w.p95LatencyMs === null ? "-" : `${w.p95LatencyMs} ms`,
        ...(ingress ? [w.ingress ? `${w.ingress.requests} / ${w.ingress.errors}` : "-"] : []),
    ]);
    const header = ["revision", "calls", "5xx", "error share", "p95", ...(ingress ? ["ingress calls / 5xx"] : [])];
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd();
    return [`window ${window.start} .. ${window.end}`, line(header), ...rows.map(line), `query (Log Analytics${ingress ? ", then Azure Monitor" : ""}):`, query].join("\n");
}
