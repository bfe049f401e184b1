// An in-process scoring server that answers as `mlflow models serve` does, per
// ../shared/mlflow-registry-contract.md: /ping and /health 200 once the model is loaded,
// /invocations with exactly one of dataframe_split, dataframe_records, instances or inputs
// (JSON) or CSV, {"predictions": [...]}, 400 BAD_REQUEST / INVALID_PARAMETER_VALUE, 415 in text.
import * as http from "http";
import type { AddressInfo } from "net";

export interface ScoringFault {
    status?: number;
    body?: string;
    contentType?: string;
    delayMs?: number;
    reset?: boolean;
}

const INPUT_KEYS = ["dataframe_split", "dataframe_records", "instances", "inputs"];

export class FakeScoringServer {
    /** Requests to /ping answered 503 before the model counts as loaded. */
    pingsUntilReady = 0;
    /** Columns the model's signature requires. */
    columns: string[] = [];
    /** Added to every /invocations answer, to give a measurable latency. */
    latencyMs = 0;
    readonly faults: ScoringFault[] = [];
    readonly requests: { method: string; path: string; contentType?: string; authorization?: string; body: string }[] = [];
    requiredToken?: string;
    private readonly server = http.createServer((req, res) => void this.handle(req, res));

    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return this.scoringUri;
    }

    get scoringUri(): string {
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/invocations`;
    }

    async stop(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const body = await new Promise<string>((resolve) => {
            let data = "";
            req.on("data", (chunk) => (data += chunk));
            req.on("end", () => resolve(data));
        });
        const path = new URL(req.url ?? "/", "http://fake").pathname;
        this.requests.push({ method: req.method ?? "GET", path, contentType: req.headers["content-type"], authorization: req.headers.authorization, body });

        if (this.requiredToken && req.headers.authorization !== `Bearer ${this.requiredToken}`) {
            res.writeHead(401, { "Content-Type": "text/plain", "WWW-Authenticate": "Bearer" }).end("Unauthorized");
            return;
        }
        if (path === "/ping" || path === "/health") {
            if (this.pingsUntilReady > 0) {
                this.pingsUntilReady--;
                res.writeHead(503, { "Content-Type": "text/plain" }).end("Service Unavailable");
                return;
            }
            res.writeHead(200, { "Content-Type": "application/json" }).end("\n");
            return;
        }
        if (path === "/version") {
            res.writeHead(200, { "Content-Type": "text/plain" }).end("2.11.3");
            return;
        }
        if (path !== "/invocations" || req.method !== "POST") {
            res.writeHead(404, { "Content-Type": "text/html" }).end("<!doctype html><title>404 Not Found</title>");
            return;
        }
        const fault = this.faults.shift();
        if (fault) {
            if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
            if (fault.reset) {
                req.socket.destroy();
                return;
            }
            if (fault.status !== undefined) {
                res.writeHead(fault.status, { "Content-Type": fault.contentType ?? "application/json" }).end(fault.body ?? "");
                return;
            }
        }
        if (this.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
        const type = String(req.headers["content-type"] ?? "").split(";")[0].trim();
        if (type === "text/csv") {
            const [header, ...rows] = body.trim().split("\n");
            return this.predict(res, header.split(",").map((c) => c.trim()), rows.map((r) => r.split(",").map(Number)));
        }
        if (type !== "application/json") {
            res.writeHead(415, { "Content-Type": "text/plain" }).end(
                `This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '${type}'.`,
            );
            return;
        }
        let parsed: Record<string, any>;
        try {
            parsed = JSON.parse(body);
        } catch {
            return this.error(res, "BAD_REQUEST", "Invalid input. Ensure the input is a valid JSON-formatted string.");
        }
        const present = Object.keys(parsed).filter((k) => k !== "params");
        if (present.length !== 1 || !INPUT_KEYS.includes(present[0])) {
            return this.error(
                res,
                "BAD_REQUEST",
                "The input must be a JSON dictionary with exactly one of the input fields {'dataframe_split', 'dataframe_records', 'instances', 'inputs'}. " +
                    `Received dictionary with input fields: ${JSON.stringify(present)}. IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0.`,
            );
        }
        if (present[0] === "dataframe_split") return this.predict(res, parsed.dataframe_split.columns, parsed.dataframe_split.data);
        if (present[0] === "dataframe_records") {
            const records = parsed.dataframe_records as Record<string, number>[];
            const columns = Object.keys(records[0] ?? {});
            return this.predict(res, columns, records.map((r) => columns.map((c) => r[c])));
        }
        const rows = parsed[present[0]] as unknown[];
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ predictions: rows.map((_, i) => i % 2) }));
    }

    private predict(res: http.ServerResponse, columns: string[], rows: number[][]): void {
        const missing = this.columns.filter((c) => !columns.includes(c));
        if (missing.length) {
            return this.error(
                res,
                "INVALID_PARAMETER_VALUE",
                `Failed to predict data '${JSON.stringify(columns)}'. \nError: Failed to enforce schema of data with schema. Error: Model is missing inputs ${JSON.stringify(missing)}.`,
            );
        }
        const amount = columns.indexOf("transaction_amount");
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ predictions: rows.map((row) => (amount >= 0 && row[amount] > 100 ? 1 : 0)) }));
    }

    private error(res: http.ServerResponse, code: string, message: string): void {
        res.writeHead(400, { "Content-Type": "application/json" }).end(JSON.stringify({ error_code: code, message }));
    }
}
