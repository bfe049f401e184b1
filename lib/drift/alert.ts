// What the drift alert watches, for the alerts work (lib/observability, components/observability)
// to declare as a scheduled query rule on the stack's Log Analytics workspace. The drift job prints
// one JSON line per run (serving/drift.py metric_line), which Container Apps sends to
// ContainerAppConsoleLogs (column Log; ContainerName is the job's container, `drift`).
import { DRIFT_CONTAINER_NAME } from "./job";

export interface DriftAlertRule {
    /** KQL over ContainerAppConsoleLogs: one row per drift run whose level is significant. */
    query: string;
    /** The rule fires when the query's row count is greater than this (any significant run). */
    threshold: number;
    operator: "GreaterThan";
    timeAggregation: "Count";
    /** ISO 8601: how often the rule runs, and the span of logs it looks at. */
    evaluationFrequency: string;
    windowSize: string;
    /** Azure Monitor severity: 2 (warning); drift is not an outage. */
    severity: number;
    description: string;
}

function kqlString(value: string): string {
    return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * The rule for one model's drift (or every model's, without `model`). Its window spans the job's
 * schedule period, so each run's line is seen once: 1 day for the default daily schedule
 * (PT1H…P1D are the sizes scheduled query rules accept with a frequency of PT1H).
 */
export function driftAlertRule(options: { model?: string; windowSize?: string } = {}): DriftAlertRule {
    const where = [`ContainerName == ${kqlString(DRIFT_CONTAINER_NAME)}`, `Log startswith ${kqlString('{"event":"drift"')}`];
    const lines = [
        "ContainerAppConsoleLogs",
        `| where ${where.join(" and ")}`,
        "| extend d = parse_json(Log)",
        ...(options.model ? [`| where tostring(d.model) == ${kqlString(options.model)}`] : []),
        '| where tostring(d.level) == "significant"',
        "| project TimeGenerated, model = tostring(d.model), version = tostring(d.version), window_end = tostring(d.window_end), max_psi = todouble(d.max_psi), max_js = todouble(d.max_js), drifted_features = toint(d.drifted_features), prediction_level = tostring(d.prediction_level)",
    ];
    return {
        query: lines.join("\n"),
        threshold: 0,
        operator: "GreaterThan",
        timeAggregation: "Count",
        evaluationFrequency: "PT1H",
        windowSize: options.windowSize ?? "P1D",
        severity: 2,
        description:
            `Significant drift${options.model ? ` of model ${options.model}` : ""}: a feature's PSI >= 0.25 or Jensen-Shannon distance >= 0.2, or the predictions' (serving/drift.py). ` +
            "The report is in the payloads container at <model>/<version>/drift/<window end>.json; `npm run drift` shows it locally",
    };
}
