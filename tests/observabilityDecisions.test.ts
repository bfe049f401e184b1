// lib/observability: which alerts each served model gets per environment, their queries and
// criteria, and the dashboard's tiles.
import * as assert from "assert";
import {
    actionGroupShortName,
    alertRules,
    CONSOLE_LOG_TABLE,
    dashboardTiles,
    isoMinutes,
    kqlString,
    MIN_REQUESTS_PER_WINDOW,
    receiverSummary,
    requestRecords,
    tilePosition,
    type LogAlert,
    type MetricAlert,
} from "../lib/observability";
import type { AlertThresholds } from "../lib/config";

const thresholds: AlertThresholds = { errorShare: 0.05, p95LatencyMs: 750, replicaRestarts: 2, windowMinutes: 15 };
const fraud = { name: "fraud", appName: "prd-fraud" };

describe("observability decisions (lib/observability)", () => {
    it("every model gets 5xx share, p95 latency and restarts; prd also no ready replica", () => {
        assert.deepStrictEqual(alertRules("dev", { name: "fraud", appName: "dev-fraud" }, thresholds).map((r) => r.ruleName), ["dev-fraud-error-share", "dev-fraud-p95-latency", "dev-fraud-replica-restarts"]);
        const prd = alertRules("prd", fraud, thresholds);
        assert.deepStrictEqual(prd.map((r) => [r.kind, r.source, r.severity]), [
            ["error-share", "log", 1],
            ["p95-latency", "log", 2],
            ["replica-restarts", "metric", 1],
            ["no-ready-replica", "metric", 0],
        ]);
        assert.ok(alertRules("dev", fraud, thresholds).every((r) => r.severity === 3), "dev alerts are informational");
        assert.ok(prd.every((r) => r.model === "fraud"));
    });

    it("the 5xx share: scoring calls of the app only, at least the minimum calls, split by version and revision", () => {
        const rule = alertRules("prd", fraud, thresholds)[0] as LogAlert;
        assert.strictEqual(rule.threshold, 0.05);
        assert.strictEqual(rule.operator, "GreaterThan");
        assert.strictEqual(rule.measureColumn, "errorShare");
        assert.deepStrictEqual(rule.dimensions, ["version", "revision"]);
        assert.ok(rule.query.startsWith(`${CONSOLE_LOG_TABLE}\n| where ContainerAppName == "prd-fraud"`), rule.query);
        assert.match(rule.query, /tostring\(record\.path\) == "\/invocations"/);
        assert.match(rule.query, /countif\(status >= 500\) by version, revision/);
        assert.match(rule.query, new RegExp(`where calls >= ${MIN_REQUESTS_PER_WINDOW}\\n`));
        assert.match(rule.query, /extend errorShare = todouble\(errors\) \/ calls$/);
        for (const column of rule.dimensions) assert.match(rule.query, new RegExp(`by ${rule.dimensions.join(", ")}`), column);
        assert.strictEqual(rule.condition, `5xx share > 5% over 15 min (at least ${MIN_REQUESTS_PER_WINDOW} calls), per version and revision`);
    });

    it("the p95 latency measures the request records' latency_ms against the threshold", () => {
        const rule = alertRules("dev", fraud, { ...thresholds, windowMinutes: 5 })[1] as LogAlert;
        assert.deepStrictEqual([rule.measureColumn, rule.threshold, rule.windowMinutes, rule.evaluationMinutes], ["p95LatencyMs", 750, 5, 1]);
        assert.match(rule.query, /p95LatencyMs = percentile\(latency_ms, 95\) by version, revision/);
        assert.match(rule.query, /latency_ms = todouble\(record\.latency_ms\)/);
    });

    it("restarts and replicas are Container Apps metrics with Azure's names", () => {
        const [, , restarts, replicas] = alertRules("prd", fraud, thresholds) as MetricAlert[];
        assert.deepStrictEqual([restarts.metricName, restarts.aggregation, restarts.operator, restarts.threshold, restarts.windowMinutes], ["RestartCount", "Total", "GreaterThanOrEqual", 2, 15]);
        assert.deepStrictEqual([replicas.metricName, replicas.aggregation, replicas.operator, replicas.threshold], ["Replicas", "Maximum", "LessThan", 1]);
    });

    it("quotes KQL strings so an app name cannot end the literal", () => {
        assert.strictEqual(kqlString('a"b\\c'), '"a\\"b\\\\c"');
        assert.ok(requestRecords('x" or true or "').includes('ContainerAppName == "x\\" or true or \\""'));
    });

    it("windows as ISO 8601 durations; nothing else", () => {
        assert.deepStrictEqual([5, 15, 30, 60, 120].map(isoMinutes), ["PT5M", "PT15M", "PT30M", "PT1H", "PT2H"]);
        for (const bad of [0, -5, 1.5]) assert.throws(() => isoMinutes(bad), /whole minutes/);
    });

    it("the action group's short name fits Azure's 12 characters", () => {
        assert.strictEqual(actionGroupShortName("mlflow-platform", "prd"), "mlflowpl-prd");
        assert.strictEqual(actionGroupShortName("mlflow-platform", "dev").length, 12);
        assert.strictEqual(actionGroupShortName("ab", "dev"), "ab-dev");
    });

    it("receivers in words: e-mails shown, the webhook never", () => {
        assert.strictEqual(receiverSummary({ emails: ["a@example.com"], hasWebhook: true }), "e-mail a@example.com, webhook (secret, not shown)");
        assert.strictEqual(receiverSummary({ emails: [], hasWebhook: true }), "webhook (secret, not shown)");
        assert.match(receiverSummary(undefined), /^none: .*tell nobody/);
    });

    it("the dashboard: requests, errors, latency by version and revision, replicas, cold starts, payload-log drops", () => {
        assert.deepStrictEqual(dashboardTiles([]), []);
        const tiles = dashboardTiles([{ name: "fraud", appName: "dev-fraud" }, { name: "churn", appName: "dev-churn" }]);
        assert.deepStrictEqual(tiles.map((t) => t.title), [
            "Scoring calls by model version and revision",
            "Answers by status class (2xx, 4xx, 5xx)",
            "Share of 5xx answers by model version and revision",
            "p95 latency (ms) by model version and revision",
            "Replicas writing logs, by revision",
            "Cold starts (new replicas), by revision",
            "Payload-log entries dropped",
        ]);
        for (const tile of tiles.slice(0, 6)) assert.ok(tile.query.includes('ContainerAppName in ("dev-fraud", "dev-churn")'), tile.title);
        for (const tile of tiles.slice(0, 4)) assert.match(tile.query, /tostring\(record\.path\) == "\/invocations"/, tile.title);
        assert.match(tiles[0].query, /strcat\(ContainerAppName, " v", version, " ", revision\)/);
        assert.match(tiles[6].query, /Name == "payload_log_dropped"/);
        assert.deepStrictEqual([0, 1, 2].map(tilePosition), [{ x: 0, y: 0, colSpan: 6, rowSpan: 4 }, { x: 6, y: 0, colSpan: 6, rowSpan: 4 }, { x: 0, y: 4, colSpan: 6, rowSpan: 4 }]);
    });
});
