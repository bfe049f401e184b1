// What the stack's dashboard shows, as plain values: one tile per question an operator asks about
// the served models, each a Log Analytics query over the stack's workspace, charted by model
// version and revision. components/observability turns them into portal dashboard parts.
import { CONSOLE_LOG_TABLE, kqlString, requestRecords, type WatchedModel } from "./alerts";

export interface DashboardTile {
    title: string;
    /** KQL over the Log Analytics workspace the Container Apps environment (and Application Insights) write to. */
    query: string;
    chart: "Line" | "StackedColumn";
}

/** Where the tiles read: every app of the stack at once, split by app (model), version and revision. */
function appFilter(models: readonly WatchedModel[]): string {
    return `ContainerAppName in (${models.map((m) => kqlString(m.appName)).join(", ")})`;
}

/** The scoring calls of every model, with app, version and revision. */
function allRecords(models: readonly WatchedModel[]): string {
    // requestRecords filters one app; the dashboard reads them all, so its first filter is widened.
    const one = requestRecords(models[0].appName).split("\n");
    one[1] = `| where ${appFilter(models)}`;
    return one.join("\n");
}

/**
 * The dashboard's tiles for the served models: requests, errors and latency by model version and
 * revision, replicas, cold starts and payload-log drops. Empty when no model is served.
 */
export function dashboardTiles(models: readonly WatchedModel[], bin = "5m"): DashboardTile[] {
    if (models.length === 0) return [];
    const records = allRecords(models);
    return [
        {
            title: "Scoring calls by model version and revision",
            query: `${records}\n| summarize calls = count() by bin(TimeGenerated, ${bin}), series = strcat(ContainerAppName, " v", version, " ", revision)`,
            chart: "StackedColumn",
        },
        {
            title: "Answers by status class (2xx, 4xx, 5xx)",
            query: `${records}\n| extend class = strcat(tostring(status / 100), "xx")\n| summarize calls = count() by bin(TimeGenerated, ${bin}), series = strcat(ContainerAppName, " ", class)`,
            chart: "StackedColumn",
        },
        {
            title: "Share of 5xx answers by model version and revision",
            query: `${records}\n| summarize errorShare = todouble(countif(status >= 500)) / count() by bin(TimeGenerated, ${bin}), series = strcat(ContainerAppName, " v", version, " ", revision)`,
            chart: "Line",
        },
        {
            title: "p95 latency (ms) by model version and revision",
            query: `${records}\n| summarize p95LatencyMs = percentile(latency_ms, 95) by bin(TimeGenerated, ${bin}), series = strcat(ContainerAppName, " v", version, " ", revision)`,
            chart: "Line",
        },
        {
            // A replica writes console lines only while it runs: distinct replicas per bin.
            title: "Replicas writing logs, by revision",
            query: `${CONSOLE_LOG_TABLE}\n| where ${appFilter(models)}\n| summarize replicas = dcount(ContainerGroupName) by bin(TimeGenerated, ${bin}), series = RevisionName`,
            chart: "Line",
        },
        {
            // A cold start is a replica's first console line: a new replica of a revision (scale out or from zero).
            title: "Cold starts (new replicas), by revision",
            query: `${CONSOLE_LOG_TABLE}\n| where ${appFilter(models)}\n| summarize started = min(TimeGenerated) by ContainerGroupName, RevisionName\n| summarize coldStarts = count() by bin(started, ${bin}), series = RevisionName`,
            chart: "StackedColumn",
        },
        {
            // Exported by the serving containers' OpenTelemetry metrics into the workspace's AppMetrics table
            // (workspace-based Application Insights); empty until the containers export (see the README).
            title: "Payload-log entries dropped",
            query: `AppMetrics\n| where Name == "payload_log_dropped"\n| summarize dropped = sum(Sum) by bin(TimeGenerated, ${bin}), series = strcat(tostring(Properties.model), " v", tostring(Properties.version), " ", tostring(Properties.revision))`,
            chart: "StackedColumn",
        },
    ];
}

/** Where each tile sits: two columns of 6 x 4 cells, in order. */
export function tilePosition(index: number): { x: number; y: number; colSpan: number; rowSpan: number } {
    return { x: (index % 2) * 6, y: Math.floor(index / 2) * 4, colSpan: 6, rowSpan: 4 };
}
