// The Log Analytics query API (POST https://api.loganalytics.io/v1/workspaces/{workspaceId}/query,
// learn.microsoft.com/rest/api/loganalytics/query/execute), as a guarded rollout reads it: a KQL
// query over a timespan, answered {tables: [...]} or, on failure, a OneAPI error object {error:
// {code, message}} (learn.microsoft.com/azure/azure-monitor/logs/api/errors). Throttling, 5xx and
// timeouts are retried within a bound; whatever cannot be read ends as MetricsUnreadable, which
// the rollout answers by holding the traffic where it is.
import axios, { type AxiosInstance } from "axios";
import { DEFAULT_RETRY, RetriesExhausted, withRetries, type RetryPolicy } from "../http/retry";
import { logLinesFromAnswer, revisionLogQuery } from "../serving/revisionLogs";
import { MetricsUnreadable, stepWindowQuery, windowsFromQueryAnswer, type RevisionWindow, type Window } from "../serving/rolloutGuard";

/** The audience of a token for the query API (its `.default` scope). */
export const LOG_ANALYTICS_SCOPE = "https://api.loganalytics.io/.default";
export const LOG_ANALYTICS_ENDPOINT = "https://api.loganalytics.io";

export interface LogAnalyticsClientOptions {
    /** A Microsoft Entra token for LOG_ANALYTICS_SCOPE; never logged. */
    token: () => Promise<string>;
    endpoint?: string;
    retry?: RetryPolicy;
    timeoutMs?: number;
    log?: (line: string) => void;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The error's code from a OneAPI error body, if it has one that reads as a code. */
function oneApiCode(body: unknown): string | undefined {
    const code = (body as { error?: { code?: unknown } } | null)?.error?.code;
    return typeof code === "string" && /^[A-Za-z][A-Za-z0-9_.]{0,63}$/.test(code) ? code : undefined;
}

export class LogAnalyticsClient {
    private readonly http: AxiosInstance;
    private readonly retry: RetryPolicy;
    private readonly timeoutMs: number;
    private readonly log: (line: string) => void;

    constructor(private readonly options: LogAnalyticsClientOptions) {
        this.timeoutMs = options.timeoutMs ?? 60_000;
        // responseType text: the body is parsed here, so a non-JSON answer is named, not thrown by axios.
        this.http = axios.create({ baseURL: options.endpoint ?? LOG_ANALYTICS_ENDPOINT, timeout: this.timeoutMs, validateStatus: () => true, responseType: "text", maxRedirects: 0 });
        this.retry = options.retry ?? DEFAULT_RETRY;
        this.log = options.log ?? (() => undefined);
    }

    /** The answer of one query over an ISO 8601 timespan (`start/end`); MetricsUnreadable when there is none to trust. */
    async query(workspaceId: string, query: string, timespan: string): Promise<unknown> {
        if (!GUID.test(workspaceId)) throw new MetricsUnreadable(`the Log Analytics workspace id ${JSON.stringify(workspaceId)} is not a GUID (the workspace's customerId)`);
        const what = `query Log Analytics workspace ${workspaceId}`;
        let answer;
        try {
            answer = await withRetries(
                async () => {
                    const token = await this.options.token();
                    return this.http.post(`/v1/workspaces/${workspaceId}/query`, { query, timespan }, { headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
                },
                this.retry,
                { timeoutMs: this.timeoutMs, onRetry: (failure, attempt, delay) => this.log(`${what}: ${failure.text}, attempt ${attempt} of ${this.retry.attempts}; again in ${Math.round(delay / 1000)} s`) },
            );
        } catch (err) {
            if (err instanceof RetriesExhausted) throw new MetricsUnreadable(`cannot ${what}: ${err.message}`);
            throw err;
        }
        let body: unknown;
        try {
            body = typeof answer.data === "string" && answer.data.trim() ? JSON.parse(answer.data) : null;
        } catch {
            body = null;
        }
        if (answer.status === 200) {
            if (body === null) throw new MetricsUnreadable(`cannot ${what}: HTTP 200 without a JSON body`);
            return body;
        }
        const code = oneApiCode(body);
        const hint =
            answer.status === 401 || answer.status === 403
                ? ": the deploying identity needs Log Analytics Reader (or Reader) on the workspace"
                : answer.status === 400
                  ? ": the query was refused (a bug in this project's query: report it)"
                  : answer.status === 404
                    ? ": no such workspace (check the stack's Log Analytics workspace)"
                    : "";
        throw new MetricsUnreadable(`cannot ${what}: HTTP ${answer.status}${code ? ` ${code}` : ""}${hint}`);
    }
}

/** Both revisions' scoring calls in a step's window, read from the request records. */
export async function readStepWindow(client: LogAnalyticsClient, workspaceId: string, appName: string, revisions: readonly string[], window: Window): Promise<{ windows: Map<string, RevisionWindow>; query: string }> {
    const query = stepWindowQuery(appName, revisions, window);
    const answer = await client.query(workspaceId, query, `${window.start}/${window.end}`);
    return { windows: windowsFromQueryAnswer(answer, revisions), query };
}

/** A revision's last console lines (not request records) over the last `hours`, oldest first. */
export async function readRevisionLog(client: LogAnalyticsClient, workspaceId: string, appName: string, revision: string, end: Date, hours = 2): Promise<string[]> {
    const start = new Date(end.getTime() - hours * 3_600_000);
    const answer = await client.query(workspaceId, revisionLogQuery(appName, revision), `${start.toISOString()}/${end.toISOString()}`);
    return logLinesFromAnswer(answer);
}
