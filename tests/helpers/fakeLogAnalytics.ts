// The Log Analytics query API (POST /v1/workspaces/{id}/query) over a fake Container Apps app:
// a query's answer counts, for each revision the query names, the calls the app's current traffic
// table sends it over the query's timespan, in the documented answer shape ({tables: [{name,
// columns: [{name, type}], rows}]}, learn.microsoft.com/azure/azure-monitor/logs/api/response-format).
// A revision with no call in the window has no row, as KQL's summarize makes none.
import * as http from "http";
import type { AddressInfo } from "net";
import type { FakeContainerApps } from "./fakeContainerApps";

export const FAKE_WORKSPACE = "63613592-b6f7-4c3d-a390-22ba13102111";

/** How a revision answers: calls per second at 100% of the traffic, its 5xx share and its p95. */
export interface Behaviour {
    callsPerSecond: number;
    errorRate: number;
    p95LatencyMs: number;
    /** Share of calls the ingress answered 5xx itself (a replica that crashed): in the platform metric, never in a record. */
    ingressErrorRate?: number;
    /** false: no request record reaches Log Analytics (not ingested yet, or an image that writes none); the ingress still counts the calls. */
    recorded?: boolean;
}

/**
 * The Log Analytics query API over the fake app: a query's answer counts, for each revision the
 * query names, the calls the current traffic table sends it over the query's timespan. `behaviour`
 * may change between reads (`reads` counts them); `faults` answer first, one per query.
 */
export class FakeLogAnalytics {
    reads = 0;
    readonly queries: { query: string; timespan: string }[] = [];
    faults: { status: number; body: unknown }[] = [];
    behaviour: (revision: string, read: number) => Behaviour = () => ({ callsPerSecond: 5, errorRate: 0, p95LatencyMs: 120 });
    /** The app's console lines (ContainerAppConsoleLogs rows), for a query that names one RevisionName. */
    consoleLines: { revision: string; at: string; log: string }[] = [];
    private readonly server = http.createServer((req, res) => {
        let text = "";
        req.on("data", (chunk) => (text += chunk));
        req.on("end", () => {
            const body = JSON.parse(text) as { query: string; timespan: string };
            this.queries.push(body);
            res.setHeader("content-type", "application/json; charset=utf-8");
            const fault = this.faults.shift();
            if (fault) {
                res.statusCode = fault.status;
                return res.end(JSON.stringify(fault.body));
            }
            if (req.url !== `/v1/workspaces/${FAKE_WORKSPACE}/query` || req.headers.authorization !== "Bearer la-token") {
                res.statusCode = 403;
                return res.end(JSON.stringify({ error: { code: "InsufficientAccessError", message: "no access" } }));
            }
            const oneRevision = /RevisionName == "([^"]+)"/.exec(body.query)?.[1];
            if (oneRevision !== undefined) return res.end(JSON.stringify(this.consoleAnswer(oneRevision, body)));
            this.reads += 1;
            const [start, end] = body.timespan.split("/").map(Date.parse);
            const seconds = (end - start) / 1000;
            const revisions = [...(/revision in \(([^)]*)\)/.exec(body.query)?.[1] ?? "").matchAll(/"([^"]+)"/g)].map((m) => m[1]);
            const rows = revisions.flatMap((revision) => {
                const weight = this.apps.traffic.find((t) => t.revisionName === revision)?.weight ?? 0;
                const b = this.behaviour(revision, this.reads);
                if (b.recorded === false) return [];
                const requests = Math.round(b.callsPerSecond * seconds * (weight / 100) * (1 - (b.ingressErrorRate ?? 0)));
                // A revision without calls in the window has no row (summarize makes none).
                return requests === 0 ? [] : [[revision, requests, Math.round(requests * b.errorRate), b.p95LatencyMs]];
            });
            return res.end(
                JSON.stringify({
                    tables: [
                        {
                            name: "PrimaryResult",
                            columns: [{ name: "revision", type: "string" }, { name: "requests", type: "long" }, { name: "errors", type: "long" }, { name: "p95LatencyMs", type: "real" }],
                            rows,
                        },
                    ],
                }),
            );
        });
    });
    constructor(private readonly apps: FakeContainerApps) {}

    /**
     * A revision's console lines as lib/serving/revisionLogs.ts's query asks: within the timespan,
     * not starting "{", the newest `top N` (taken from the query), as rows [TimeGenerated, Log].
     */
    private consoleAnswer(revision: string, body: { query: string; timespan: string }): unknown {
        const [start, end] = body.timespan.split("/").map(Date.parse);
        const top = Number(/\| top (\d+) by TimeGenerated desc/.exec(body.query)?.[1] ?? "Infinity");
        const rows = this.consoleLines
            .filter((l) => l.revision === revision && !l.log.startsWith("{") && Date.parse(l.at) >= start && Date.parse(l.at) <= end)
            .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))
            .slice(0, top)
            .map((l) => [l.at, l.log]);
        return { tables: [{ name: "PrimaryResult", columns: [{ name: "TimeGenerated", type: "datetime" }, { name: "Log", type: "string" }], rows }] };
    }

    /**
     * Azure Monitor's Metrics - List answer for the app's Requests metric over the query's timespan,
     * split by revisionName and statusCodeCategory (learn.microsoft.com/rest/api/monitor/metrics/list):
     * the same calls the records count, plus the ones the ingress answered 5xx itself.
     */
    metricsAnswer(query: URLSearchParams): { status: number; body: unknown } {
        this.metricQueries.push(Object.fromEntries(query));
        const fault = this.metricFaults.shift();
        if (fault) return fault;
        const [start, end] = (query.get("timespan") ?? "").split("/").map(Date.parse);
        const seconds = (end - start) / 1000;
        const timeseries = this.apps.traffic
            .filter((t) => t.weight > 0)
            .flatMap((t) => {
                const b = this.behaviour(t.revisionName, this.reads);
                const calls = Math.round(b.callsPerSecond * seconds * (t.weight / 100));
                const crashed = Math.round(calls * (b.ingressErrorRate ?? 0));
                const answered = calls - crashed;
                const appErrors = Math.round(answered * b.errorRate);
                const series = (category: string, total: number) => ({
                    metadatavalues: [{ name: { value: "revisionName", localizedValue: "revisionName" }, value: t.revisionName }, { name: { value: "statusCodeCategory", localizedValue: "statusCodeCategory" }, value: category }],
                    data: [{ timeStamp: new Date(start).toISOString(), ...(total > 0 ? { total } : {}) }],
                });
                return [series("2xx", answered - appErrors), series("5xx", appErrors + crashed)];
            });
        return {
            status: 200,
            body: {
                cost: 0,
                timespan: query.get("timespan"),
                interval: "FULL",
                value: [{ id: `${this.apps.appId}/providers/Microsoft.Insights/metrics/Requests`, type: "Microsoft.Insights/metrics", name: { value: "Requests", localizedValue: "Requests" }, unit: "Count", timeseries, errorCode: "Success" }],
                namespace: "microsoft.app/containerapps",
                resourceregion: "westeurope",
            },
        };
    }

    readonly metricQueries: Record<string, string>[] = [];
    metricFaults: { status: number; body: unknown }[] = [];
    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }
    stop(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }
}

