// lib/serving/rolloutGuard: the judgement of one guarded canary step (advance, roll back, bake once
// more, hold), the query over the request records and how a Log Analytics answer is read.
import * as assert from "assert";
import {
    errorRate,
    evidenceTable,
    ingressFromMetricsAnswer,
    judgeStep,
    MetricsUnreadable,
    platformMetricsPath,
    recordsMissing,
    stepWindowQuery,
    windowsFromQueryAnswer,
    withIngress,
    type GuardThresholds,
    type RevisionWindow,
} from "../lib/serving/rolloutGuard";

const THRESHOLDS: GuardThresholds = { maxErrorRate: 0.01, maxP95LatencyMs: 250, minRequests: 200, errorRateMargin: 0.005, latencyMargin: 0.2, allowLowTraffic: false };
const win = (revision: string, requests: number, errors: number, p95LatencyMs: number | null): RevisionWindow => ({ revision, requests, errors, p95LatencyMs });
const STABLE = win("prd-fraud--v6-aaaa", 2000, 4, 120);
const WINDOW = { start: "2026-12-02T10:00:00Z", end: "2026-12-02T10:10:00Z" };

describe("a guarded rollout step's verdict", () => {
    it("advances a candidate within its limits and close to stable", () => {
        assert.deepStrictEqual(judgeStep(THRESHOLDS, win("c", 300, 2, 130), STABLE, false), { kind: "advance", notes: [] });
    });

    it("advances at exactly the limits (they are maxima, not bounds to stay under)", () => {
        const exact = judgeStep({ ...THRESHOLDS, errorRateMargin: 1, latencyMargin: 10 }, win("c", 200, 2, 250), STABLE, false);
        assert.deepStrictEqual(exact, { kind: "advance", notes: [] });
    });

    it("rolls back an error share above maxErrorRate, with the numbers", () => {
        const verdict = judgeStep({ ...THRESHOLDS, errorRateMargin: 1 }, win("c", 400, 5, 100), STABLE, false);
        assert.deepStrictEqual(verdict, { kind: "rollback", reasons: ["error share 1.25% (5 of 400) is above maxErrorRate 1%"] });
    });

    it("rolls back a p95 above maxP95LatencyMs", () => {
        const verdict = judgeStep({ ...THRESHOLDS, latencyMargin: 10 }, win("c", 400, 0, 250.5), STABLE, false);
        assert.deepStrictEqual(verdict, { kind: "rollback", reasons: ["p95 latency 250.5 ms is above maxP95LatencyMs 250 ms"] });
    });

    it("rolls back a candidate within its limits but worse than stable by more than the margins", () => {
        const verdict = judgeStep(THRESHOLDS, win("c", 1000, 9, 145), win("s", 1000, 1, 120), false);
        assert.deepStrictEqual(verdict, {
            kind: "rollback",
            reasons: ["error share 0.9% is more than 0.5% above stable's 0.1%", "p95 latency 145 ms is more than 20% above stable's 120 ms"],
        });
        // Just inside both margins: 0.6% vs 0.1% + 0.5%, 144 ms vs 120 ms * 1.2.
        assert.strictEqual(judgeStep(THRESHOLDS, win("c", 1000, 6, 144), win("s", 1000, 1, 120), false).kind, "advance");
    });

    it("does not compare with a stable revision that had too few calls itself, or none", () => {
        assert.strictEqual(judgeStep(THRESHOLDS, win("c", 1000, 9, 200), win("s", 199, 0, 50), false).kind, "advance");
        assert.strictEqual(judgeStep(THRESHOLDS, win("c", 1000, 9, 200), undefined, false).kind, "advance");
        assert.strictEqual(judgeStep(THRESHOLDS, win("c", 1000, 0, 200), win("s", 200, 0, null), false).kind, "advance");
    });

    it("bakes once more on too little traffic, then holds: never a silent promotion", () => {
        const first = judgeStep(THRESHOLDS, win("prd-fraud--v7-bbbb", 12, 0, 90), STABLE, false);
        assert.deepStrictEqual(first, { kind: "extend", reason: "12 scoring calls reached prd-fraud--v7-bbbb in the window, fewer than minRequests 200: baking once more" });
        const second = judgeStep(THRESHOLDS, win("prd-fraud--v7-bbbb", 1, 0, 90), STABLE, true);
        assert.strictEqual(second.kind, "hold");
        assert.match((second as { reason: string }).reason, /^1 scoring call reached .* also after the extended bake: the traffic stays where it is/);
    });

    it("advances on too little traffic after the extended bake only with allowLowTraffic, and says so", () => {
        const verdict = judgeStep({ ...THRESHOLDS, allowLowTraffic: true }, win("c", 199, 0, 90), STABLE, true);
        assert.deepStrictEqual(verdict, { kind: "advance", notes: ["199 scoring calls reached c in the window, fewer than minRequests 200 after the extended bake: advancing because allowLowTraffic is on"] });
        assert.strictEqual(judgeStep({ ...THRESHOLDS, allowLowTraffic: true }, win("c", 199, 0, 90), STABLE, false).kind, "extend", "the extra bake comes first");
    });

    it("judges the edges: no calls is no error share, a window without p95 is not slow, stable with exactly minRequests is compared", () => {
        assert.strictEqual(errorRate(win("a", 0, 0, null)), 0);
        assert.strictEqual(errorRate(win("a", 8, 2, 10)), 0.25);
        assert.deepStrictEqual(judgeStep(THRESHOLDS, win("c", 300, 0, null), undefined, false), { kind: "advance", notes: [] });
        assert.deepStrictEqual(judgeStep(THRESHOLDS, win("c", 300, 0, null), win("s", 300, 0, 50), false), { kind: "advance", notes: [] }, "no latency margin without the candidate's p95");
        assert.deepStrictEqual(judgeStep(THRESHOLDS, win("c", 1000, 0, 200), win("s", 200, 0, 100), false), {
            kind: "rollback",
            reasons: ["p95 latency 200 ms is more than 20% above stable's 100 ms"],
        });
    });

    it("rolls back on little traffic when the errors alone exceed what a full window may have", () => {
        // 1% of 200 calls is 2 errors: 3 errors cannot be within the limit at minRequests.
        assert.deepStrictEqual(judgeStep(THRESHOLDS, win("c", 10, 3, 90), STABLE, false), { kind: "rollback", reasons: ["error share 30% (3 of 10) is above maxErrorRate 1%"] });
        assert.strictEqual(judgeStep(THRESHOLDS, win("c", 10, 2, 90), STABLE, false).kind, "extend");
    });
});

describe("a guarded rollout step's query and its answer", () => {
    it("reads both revisions' scoring calls in the window from the request records", () => {
        const query = stepWindowQuery("prd-fraud", ["prd-fraud--v7-bbbb", "prd-fraud--v6-aaaa"], WINDOW);
        assert.match(query, /^ContainerAppConsoleLogs\n\| where ContainerAppName == "prd-fraud"\n/);
        assert.ok(query.includes('| where TimeGenerated between (datetime(2026-12-02T10:00:00Z) .. datetime(2026-12-02T10:10:00Z))'));
        assert.ok(query.includes('| where revision in ("prd-fraud--v7-bbbb", "prd-fraud--v6-aaaa")'));
        assert.ok(query.endsWith("| summarize requests = count(), errors = countif(status >= 500), p95LatencyMs = percentile(latency_ms, 95) by revision"));
        assert.deepStrictEqual(query.split("\n").slice(-3), [
            "| where TimeGenerated between (datetime(2026-12-02T10:00:00Z) .. datetime(2026-12-02T10:10:00Z))",
            '| where revision in ("prd-fraud--v7-bbbb", "prd-fraud--v6-aaaa")',
            "| summarize requests = count(), errors = countif(status >= 500), p95LatencyMs = percentile(latency_ms, 95) by revision",
        ]);
    });

    it("reads every row it can trust: all calls failed, a p95 of 0, rows of other revisions or without a name skipped", () => {
        const windows = windowsFromQueryAnswer(answer([["a", 7, 7, 0], [42, 1, 0, 1], [null, 1, 0, 1]]), ["a"]);
        assert.deepStrictEqual(windows.get("a"), win("a", 7, 7, 0));
        const named = { tables: [{ columns: [null, { name: "revision" }, { name: "requests" }, { name: "errors" }, { name: "p95LatencyMs" }], rows: [["x", "a", 3, 0, 9]] }] };
        assert.deepStrictEqual(windowsFromQueryAnswer(named, ["a"]).get("a"), win("a", 3, 0, 9), "a column without a name is skipped");
    });

    const answer = (rows: unknown[][], extra: Record<string, unknown> = {}) => ({
        tables: [{ name: "PrimaryResult", columns: [{ name: "revision", type: "string" }, { name: "requests", type: "long" }, { name: "errors", type: "long" }, { name: "p95LatencyMs", type: "real" }], rows }],
        ...extra,
    });

    it("reads the documented answer shape; a revision without a row answered no call", () => {
        const windows = windowsFromQueryAnswer(answer([["a", 250, 1, 101.26], ["other", 9, 9, 1]]), ["a", "b"]);
        assert.deepStrictEqual([...windows.values()], [win("a", 250, 1, 101.3), win("b", 0, 0, null)]);
    });

    it("finds the columns by name, in any order", () => {
        const body = { tables: [{ name: "PrimaryResult", columns: [{ name: "p95LatencyMs" }, { name: "errors" }, { name: "requests" }, { name: "revision" }], rows: [[80, 0, 30, "a"]] }] };
        assert.deepStrictEqual(windowsFromQueryAnswer(body, ["a"]).get("a"), win("a", 30, 0, 80));
    });

    it("refuses what it cannot trust, saying why", () => {
        const cases: [unknown, RegExp][] = [
            [null, /has no tables/],
            [{ value: [] }, /has no tables/],
            [answer([["a", 1, 0, 5]], { error: { code: "PartialError", message: "timeout" } }), /is partial \(PartialError\)/],
            [{ tables: [] }, /first table has no columns and rows/],
            [{ tables: [{ name: "PrimaryResult", columns: [{ name: "revision" }, { name: "requests" }], rows: [] }] }, /lacks the columns errors, p95LatencyMs$/],
            [answer([{ revision: "a" } as unknown as unknown[]]), /not a list of values/],
            [answer([["a", 10, 11, 5]]), /requests 10 and errors 11/],
            [answer([["a", "10", 0, 5]]), /requests "10" and errors 0/],
            [answer([["a", 10, 0, "fast"]]), /p95LatencyMs is "fast"/],
            [answer([["a", -1, 0, 5]]), /requests -1 and errors 0/],
            [answer([["a", 10, -1, 5]]), /requests 10 and errors -1/],
            [answer([["a", 1.5, 0, 5]]), /requests 1.5 and errors 0/],
            [answer([["a", 10, 0.5, 5]]), /requests 10 and errors 0.5/],
            [answer([["a", 10, 0, -3]]), /p95LatencyMs is -3/],
            [answer([["a", 1, 0, 5]], { error: { code: 7 } }), /is partial \(an unnamed error\)/],
            [{ tables: [{ name: "PrimaryResult", columns: [{ name: "revision" }, { name: "requests" }, { name: "errors" }], rows: [] }] }, /lacks the column p95LatencyMs$/],
        ];
        for (const [body, message] of cases) {
            assert.throws(() => windowsFromQueryAnswer(body, ["a"]), (err: Error) => err instanceof MetricsUnreadable && message.test(err.message), JSON.stringify(body));
        }
    });
});

describe("a guarded step's ingress counts (Azure Monitor's Requests metric)", () => {
    const series = (revision: string, category: string, totals: (number | undefined)[]) => ({
        metadatavalues: [{ name: { value: "revisionName" }, value: revision }, { name: { value: "statusCodeCategory" }, value: category }],
        data: totals.map((total, i) => ({ timeStamp: `2026-12-02T10:0${i}:00Z`, ...(total === undefined ? {} : { total }) })),
    });
    const answer = (timeseries: unknown[], extra: Record<string, unknown> = {}) => ({ value: [{ name: { value: "Requests" }, unit: "Count", timeseries, ...extra }] });

    it("adds up each revision's data points, 5xx apart; a point without total had no requests; other revisions are ignored", () => {
        const found = ingressFromMetricsAnswer(answer([series("a", "2xx", [10, undefined, 5]), series("a", "5xx", [2]), series("a", "4xx", [1]), series("zzz", "5xx", [99])]), ["a", "b"]);
        assert.deepStrictEqual(Object.fromEntries(found), { a: { requests: 18, errors: 2 }, b: { requests: 0, errors: 0 } });
    });

    it("refuses what it cannot trust, saying why", () => {
        const cases: [unknown, RegExp][] = [
            [{ tables: [] }, /has no value list/],
            [{ value: [{ name: { value: "Replicas" }, timeseries: [] }] }, /has no Requests metric/],
            [answer([], { errorCode: "Throttled" }), /could not read the Requests metric \(Throttled\)/],
            [answer([{ metadatavalues: [{ name: { value: "revisionName" }, value: "a" }] }]), /series of a has no data list/],
            [answer([series("a", "2xx", [-1])]), /a total of -1/],
            [answer([series("a", "2xx", ["5" as unknown as number])]), /a total of "5"/],
            [null, /has no value list/],
            [answer("none" as unknown as unknown[]), /the Requests metric has no timeseries list/],
        ];
        for (const [body, message] of cases) assert.throws(() => ingressFromMetricsAnswer(body, ["a"]), (err: Error) => err instanceof MetricsUnreadable && message.test(err.message), JSON.stringify(body));
        assert.doesNotThrow(() => ingressFromMetricsAnswer(answer([], { errorCode: "Success" }), ["a"]), "errorCode Success is an answer");
    });

    it("skips what names no revision of the window; a total of 0 or null is no call; a series without a status class is not 5xx", () => {
        const odd = [
            { data: [{ total: 50 }] },
            { metadatavalues: [null, { name: { value: "revisionName" }, value: 7 }], data: [{ total: 60 }] },
            { metadatavalues: [{ name: { value: "RevisionName" }, value: "a" }], data: [{ total: 4 }, { total: null }, { total: 0 }, null] },
            series("a", "5xx", [1]),
        ];
        assert.deepStrictEqual(Object.fromEntries(ingressFromMetricsAnswer(answer(odd), ["a"])), { a: { requests: 5, errors: 1 } });
    });

    it("asks Azure Monitor for the window's Requests in one point per revision and status class", () => {
        assert.strictEqual(
            platformMetricsPath("/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/prd-fraud", WINDOW),
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/prd-fraud/providers/Microsoft.Insights/metrics?metricnames=Requests&timespan=2026-12-02T10%3A00%3A00Z%2F2026-12-02T10%3A10%3A00Z&interval=FULL&aggregation=Total&$filter=revisionName%20eq%20'*'%20and%20statusCodeCategory%20eq%20'*'",
        );
    });

    it("judges the larger of the records' and the ingress's counts, and keeps both for the evidence", () => {
        const records = win("a", 270, 0, 120);
        assert.deepStrictEqual(withIngress(records, { requests: 300, errors: 30 }), { revision: "a", requests: 300, errors: 30, p95LatencyMs: 120, ingress: { requests: 300, errors: 30 } });
        assert.deepStrictEqual(withIngress(win("a", 300, 5, 120), { requests: 280, errors: 1 }), { revision: "a", requests: 300, errors: 5, p95LatencyMs: 120, ingress: { requests: 280, errors: 1 } });
        assert.strictEqual(withIngress(records, undefined), records);
    });

    it("does not judge latency it has not read: ingress calls without a single request record", () => {
        const unrecorded = withIngress(win("prd-fraud--v7-bbbb", 0, 0, null), { requests: 240, errors: 1 });
        assert.strictEqual(
            recordsMissing(unrecorded, THRESHOLDS),
            "the ingress counted 240 calls to prd-fraud--v7-bbbb in the window but Log Analytics holds no request record of them, so its latency cannot be judged: records arrive 20 s to 3 min late, and an image whose model pins MLflow 2.x writes none",
        );
        // Judged as it is: records with a p95, too few calls for a verdict, no ingress read, or an error share that rolls back alone.
        assert.strictEqual(recordsMissing(withIngress(win("c", 3, 0, 80), { requests: 240, errors: 1 }), THRESHOLDS), undefined);
        assert.strictEqual(recordsMissing(withIngress(win("c", 0, 0, null), { requests: 199, errors: 0 }), THRESHOLDS), undefined);
        assert.strictEqual(recordsMissing(withIngress(win("c", 0, 0, null), { requests: 200, errors: 2 }), THRESHOLDS)?.startsWith("the ingress counted 200 calls"), true);
        assert.strictEqual(recordsMissing(win("c", 500, 0, null), THRESHOLDS), undefined);
        assert.strictEqual(recordsMissing(withIngress(win("c", 0, 0, null), { requests: 240, errors: 3 }), THRESHOLDS), undefined);
        assert.strictEqual(judgeStep(THRESHOLDS, withIngress(win("c", 0, 0, null), { requests: 240, errors: 3 }), STABLE, false).kind, "rollback");
    });

    it("says when stable's latency could not be compared (a stable image without request records)", () => {
        const stableUnrecorded = withIngress(win("prd-fraud--v6-aaaa", 0, 0, null), { requests: 2000, errors: 0 });
        assert.deepStrictEqual(judgeStep(THRESHOLDS, win("c", 300, 0, 240), stableUnrecorded, false), {
            kind: "advance",
            notes: ["prd-fraud--v6-aaaa has no request records in the window, so the candidate's p95 was held to maxP95LatencyMs only"],
        });
    });
});

describe("a rolled-back step's evidence", () => {
    it("shows both revisions' numbers for the window and the query that produced them", () => {
        const query = stepWindowQuery("prd-fraud", ["c", "s"], WINDOW);
        const text = evidenceTable(win("prd-fraud--v7-bbbb", 400, 12, 310), win("prd-fraud--v6-aaaa", 2000, 4, null), WINDOW, query);
        assert.strictEqual(
            text,
            [
                "window 2026-12-02T10:00:00Z .. 2026-12-02T10:10:00Z",
                "revision                        calls  5xx  error share  p95",
                "prd-fraud--v7-bbbb (candidate)  400    12   3%           310 ms",
                "prd-fraud--v6-aaaa (stable)     2000   4    0.2%         -",
                "query (Log Analytics):",
                query,
            ].join("\n"),
        );
    });

    it("adds the ingress's counts when any revision has them, '-' for one that has none", () => {
        const text = evidenceTable(withIngress(win("c", 400, 12, 310), { requests: 420, errors: 30 }), win("s", 2000, 4, 90), WINDOW, "Q");
        assert.strictEqual(
            text,
            [
                "window 2026-12-02T10:00:00Z .. 2026-12-02T10:10:00Z",
                "revision       calls  5xx  error share  p95     ingress calls / 5xx",
                "c (candidate)  420    30   7.143%       310 ms  420 / 30",
                "s (stable)     2000   4    0.2%         90 ms   -",
                "query (Log Analytics, then Azure Monitor):",
                "Q",
            ].join("\n"),
        );
        assert.strictEqual(evidenceTable(win("c", 1, 0, 5), undefined, WINDOW, "Q").split("\n")[2], "c (candidate)  1      0    0%           5 ms");
    });
});
