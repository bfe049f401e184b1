// Which alerts watch each served model, as plain values: their queries over the request records in
// Log Analytics, or their Container Apps metric criteria, thresholds and severities. The component
// (components/observability) declares one Azure Monitor rule per entry.
import type { AlertThresholds, Environment } from "../config";

/**
 * The table the Container Apps environment's console output lands in. The environment sends its
 * logs through an Azure Monitor diagnostic setting (appLogsConfiguration destination azure-monitor)
 * into resource-specific tables; `ContainerAppConsoleLogs_CL` is the other destination's
 * (log-analytics, with a shared key), which this stack does not use. Columns used: ContainerAppName,
 * RevisionName, ContainerGroupName (the replica), Log (one line of stdout), TimeGenerated.
 * https://learn.microsoft.com/azure/azure-monitor/reference/tables/containerappconsolelogs
 */
export const CONSOLE_LOG_TABLE = "ContainerAppConsoleLogs";

/** The path of a scoring call; probes (/ping, /health) and /metrics are not what callers see. */
export const SCORING_PATH = "/invocations";

/**
 * Below this many scoring calls in a window the 5xx share and p95 are not judged: one failed call
 * out of three is not a 33% error rate worth waking someone for.
 */
export const MIN_REQUESTS_PER_WINDOW = 20;

/** Azure Monitor severities: 0 critical, 1 error, 2 warning, 3 informational, 4 verbose. */
export type Severity = 0 | 1 | 2 | 3 | 4;

export type AlertKind = "error-share" | "p95-latency" | "replica-restarts" | "no-ready-replica";

interface AlertBase {
    kind: AlertKind;
    /** The served model's name (models[].name). */
    model: string;
    /** Azure rule name: `<app>-<kind>`, a pure function of the model's app and the kind. */
    ruleName: string;
    title: string;
    description: string;
    severity: Severity;
    windowMinutes: number;
    /** How often Azure Monitor evaluates the rule. */
    evaluationMinutes: number;
    /** The condition in plain words, as the plan shows it. */
    condition: string;
}

/** A scheduled query rule over the request records. */
export interface LogAlert extends AlertBase {
    source: "log";
    query: string;
    /** The query's column compared with the threshold. */
    measureColumn: string;
    operator: "GreaterThan" | "LessThan";
    threshold: number;
    /** Columns the rule splits by: one alert per model version and revision. */
    dimensions: string[];
}

/** A metric alert on the model's container app (namespace Microsoft.App/containerApps). */
export interface MetricAlert extends AlertBase {
    source: "metric";
    metricName: "RestartCount" | "Replicas";
    aggregation: "Total" | "Maximum";
    operator: "GreaterThanOrEqual" | "LessThan" | "LessThanOrEqual";
    threshold: number;
}

export type AlertRule = MetricAlert | LogAlert;

export const CONTAINER_APP_METRIC_NAMESPACE = "Microsoft.App/containerApps";

/** A served model as the alerts see it: its name and its container app's name. */
export interface WatchedModel {
    name: string;
    appName: string;
}

/** A KQL string literal (double quotes, backslash and quote escaped). */
export function kqlString(text: string): string {
    return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * The request records (serving/request_records.py: one JSON line per request on stdout) of one app's
 * scoring calls, with the fields the alerts and the dashboard read. Other stdout lines (the
 * scoring server's own) do not parse as a record and are left out.
 */
export function requestRecords(appName: string): string {
    return [
        CONSOLE_LOG_TABLE,
        `| where ContainerAppName == ${kqlString(appName)}`,
        `| where Log startswith "{"`,
        `| extend record = parse_json(Log)`,
        `| where isnotnull(record.status) and tostring(record.path) == ${kqlString(SCORING_PATH)}`,
        `| extend status = toint(record.status), latency_ms = todouble(record.latency_ms), version = tostring(record.version), revision = tostring(record.revision)`,
    ].join("\n");
}

function windowOf(thresholds: AlertThresholds): { windowMinutes: number; evaluationMinutes: number } {
    // Evaluated every 5 minutes (every minute for the shortest window), over the configured window.
    return { windowMinutes: thresholds.windowMinutes, evaluationMinutes: thresholds.windowMinutes === 5 ? 1 : 5 };
}

const percent = (share: number) => `${+(share * 100).toFixed(4)}%`;

export function errorShareAlert(model: WatchedModel, thresholds: AlertThresholds, environment: Environment): LogAlert {
    const window = windowOf(thresholds);
    return {
        source: "log",
        kind: "error-share",
        model: model.name,
        ruleName: `${model.appName}-error-share`,
        title: `${model.appName}: share of 5xx answers above ${percent(thresholds.errorShare)}`,
        description: `More than ${percent(thresholds.errorShare)} of the scoring calls of ${model.name} answered 5xx over ${window.windowMinutes} minutes (at least ${MIN_REQUESTS_PER_WINDOW} calls), per model version and revision. Look at the request records' error field.`,
        severity: environment === "prd" ? 1 : 3,
        ...window,
        condition: `5xx share > ${percent(thresholds.errorShare)} over ${window.windowMinutes} min (at least ${MIN_REQUESTS_PER_WINDOW} calls), per version and revision`,
        query: [
            requestRecords(model.appName),
            `| summarize calls = count(), errors = countif(status >= 500) by version, revision`,
            `| where calls >= ${MIN_REQUESTS_PER_WINDOW}`,
            `| extend errorShare = todouble(errors) / calls`,
        ].join("\n"),
        measureColumn: "errorShare",
        operator: "GreaterThan",
        threshold: thresholds.errorShare,
        dimensions: ["version", "revision"],
    };
}

export function latencyAlert(model: WatchedModel, thresholds: AlertThresholds, environment: Environment): LogAlert {
    const window = windowOf(thresholds);
    return {
        source: "log",
        kind: "p95-latency",
        model: model.name,
        ruleName: `${model.appName}-p95-latency`,
        title: `${model.appName}: p95 latency above ${thresholds.p95LatencyMs} ms`,
        description: `The 95th percentile of ${model.name}'s scoring latency (request records' latency_ms) was above ${thresholds.p95LatencyMs} ms over ${window.windowMinutes} minutes (at least ${MIN_REQUESTS_PER_WINDOW} calls), per model version and revision.`,
        severity: environment === "prd" ? 2 : 3,
        ...window,
        condition: `p95 latency > ${thresholds.p95LatencyMs} ms over ${window.windowMinutes} min (at least ${MIN_REQUESTS_PER_WINDOW} calls), per version and revision`,
        query: [
            requestRecords(model.appName),
            `| summarize calls = count(), p95LatencyMs = percentile(latency_ms, 95) by version, revision`,
            `| where calls >= ${MIN_REQUESTS_PER_WINDOW}`,
        ].join("\n"),
        measureColumn: "p95LatencyMs",
        operator: "GreaterThan",
        threshold: thresholds.p95LatencyMs,
        dimensions: ["version", "revision"],
    };
}

export function restartAlert(model: WatchedModel, thresholds: AlertThresholds, environment: Environment): MetricAlert {
    const window = windowOf(thresholds);
    return {
        source: "metric",
        kind: "replica-restarts",
        model: model.name,
        ruleName: `${model.appName}-replica-restarts`,
        title: `${model.appName}: ${thresholds.replicaRestarts} or more replica restarts`,
        description: `${model.name}'s replicas restarted ${thresholds.replicaRestarts} or more times in ${window.windowMinutes} minutes (Container Apps metric RestartCount): a crash or a failing liveness probe. Look at ContainerAppSystemLogs and the console logs of the revision.`,
        severity: environment === "prd" ? 1 : 3,
        ...window,
        condition: `RestartCount (total) >= ${thresholds.replicaRestarts} in ${window.windowMinutes} min`,
        metricName: "RestartCount",
        aggregation: "Total",
        operator: "GreaterThanOrEqual",
        threshold: thresholds.replicaRestarts,
    };
}

/** prd only: dev scales to zero when idle, so no replica there is normal. */
export function noReadyReplicaAlert(model: WatchedModel): MetricAlert {
    return {
        source: "metric",
        kind: "no-ready-replica",
        model: model.name,
        ruleName: `${model.appName}-no-ready-replica`,
        title: `${model.appName}: no replica running`,
        description: `${model.name} had no replica for 5 minutes (Container Apps metric Replicas, maximum below 1), although prd keeps at least one: nothing answers its scoring calls.`,
        severity: 0,
        windowMinutes: 5,
        evaluationMinutes: 1,
        condition: "Replicas (maximum) < 1 over 5 min",
        metricName: "Replicas",
        aggregation: "Maximum",
        operator: "LessThan",
        threshold: 1,
    };
}

/** Every alert rule of one served model on Container Apps, in the order the plan shows them. */
export function alertRules(environment: Environment, model: WatchedModel, thresholds: AlertThresholds): AlertRule[] {
    return [
        errorShareAlert(model, thresholds, environment),
        latencyAlert(model, thresholds, environment),
        restartAlert(model, thresholds, environment),
        ...(environment === "prd" ? [noReadyReplicaAlert(model)] : []),
    ];
}

/** ISO 8601 duration of whole minutes, as Azure Monitor takes windows and frequencies. */
export function isoMinutes(minutes: number): string {
    if (!Number.isInteger(minutes) || minutes <= 0) throw new Error(`an alert window must be whole minutes above 0, not ${minutes}`);
    return minutes % 60 === 0 ? `PT${minutes / 60}H` : `PT${minutes}M`;
}

/**
 * An action group's short name: at most 12 characters (Azure's limit; SMS and e-mail show it),
 * from the stack's environment.
 */
export function actionGroupShortName(project: string, environment: Environment): string {
    const letters = project.replace(/[^a-zA-Z0-9]/g, "").slice(0, 12 - environment.length - 1);
    return `${letters}-${environment}`;
}

/** Each receiver of the action group, in words: e-mail addresses shown, a webhook never. */
export function receiverSummary(group: { emails: readonly string[]; hasWebhook: boolean } | undefined): string {
    if (!group) return "none: the alerts fire in the Azure portal (Monitor > Alerts) and tell nobody; set mlflow-platform:observability.actionGroup";
    const parts = [...group.emails.map((e) => `e-mail ${e}`), ...(group.hasWebhook ? ["webhook (secret, not shown)"] : [])];
    return parts.join(", ");
}
