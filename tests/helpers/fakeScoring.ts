// An in-process scoring server that answers as `mlflow models serve` of a scikit-learn model with a
// 14-column float64 signature was observed to answer on MLflow 3.17.2 (tests/differential.test.ts
// sends both the same requests; ../shared/mlflow-registry-contract.md records 2.11.3):
// - start-up: connections refused until it listens (`startLater`), then the first /ping is held
//   until the model is loaded (`loadMs`), then 200. Never a 503 while loading;
// - GET /ping, /health → 200 (JSON type, body "\n"); GET /version → the MLflow version (JSON
//   content type); a route it lacks, `//ping` included → 404 JSON {"detail": "Not Found"}; a known
//   route with the wrong method (GET /invocations) → 405 JSON {"detail": "Method Not Allowed"}
//   (MLflow 3's FastAPI server; 2.11's Flask server answered HTML, and `//ping` with 200);
// - POST /invocations, JSON or CSV: exactly one of dataframe_split, dataframe_records, instances,
//   inputs (records, or a dict of columns); `{"predictions": [...]}`; 400 BAD_REQUEST for invalid
//   JSON, a list, no or several input keys, values of the wrong type, nulls (with a stack_trace);
//   400 INVALID_PARAMETER_VALUE with MLflow's many-line "Model is missing inputs [...]" message,
//   then "Note that there were extra inputs: [...]" when there were, for missing columns or lists
//   of lists; every 400 also carries MLflow 3's `sqlstate` and `error_class`; 415 plain text for
//   other content types, 500 plain text with no Content-Type at all.
// A request it does not model gets the unknown-route 404 and is listed in `unmodeled`.
import * as http from "http";
import * as net from "net";

export interface ScoringFault {
    /** Only requests whose path matches; /invocations unless given. */
    path?: RegExp;
    status?: number;
    body?: string;
    contentType?: string;
    delayMs?: number;
    reset?: boolean;
}

/** The fraud model's signature, as in serving/sample-input.json. */
export const FRAUD_COLUMNS = [
    "age",
    "credit_card_balance",
    "bank_account_balance",
    "mortgage_balance",
    "sec_bank_account_balance",
    "savings_account_balance",
    "sec_savings_account_balance",
    "total_est_nworth",
    "primary_loan_balance",
    "secondary_loan_balance",
    "uni_loan_balance",
    "longitude",
    "latitude",
    "transaction_amount",
];

export const INPUT_KEYS = ["dataframe_split", "dataframe_records", "instances", "inputs"];
// Real MLflow prints a Python set here, in an order that changes with each server process.
const INPUT_FIELDS = "{'dataframe_split', 'dataframe_records', 'instances', 'inputs'}";
export const SCORING_MLFLOW_VERSION = "3.17.2";
const NOT_FOUND = JSON.stringify({ detail: "Not Found" });
const METHOD_NOT_ALLOWED = JSON.stringify({ detail: "Method Not Allowed" });
const PROTOCOL_NOTE =
    " IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this error, you are likely using an outdated scoring request format. To resolve the error, either update your request format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). If you are making a request using the MLflow client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 in order to use the new request format. For more information about the updated MLflow Model scoring protocol in MLflow 2.0, see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models.";
/** MLflow 3.17's error_class for each scoring error_code. */
const SCORING_ERROR_CLASSES: Record<string, string> = { BAD_REQUEST: "INVALID_PARAMETER_VALUE", INVALID_PARAMETER_VALUE: "SCHEMA_ENFORCEMENT_FAILED" };
const SCORING_SQLSTATES: Record<string, string> = { BAD_REQUEST: "KAM00", INVALID_PARAMETER_VALUE: "KAM01" };
const STACK_TRACE =
    'Traceback (most recent call last):\n  File "/opt/conda/lib/python3.10/site-packages/mlflow/pyfunc/scoring_server/__init__.py", line 339, in invocations\n    raw_predictions = model.predict(data, params=params)\nValueError: Input X contains NaN.\nLogisticRegression does not accept missing values encoded as NaN natively.';

type Frame = { columns: (string | number)[]; rows: unknown[][] };

class Refusal {
    constructor(
        readonly code: string,
        readonly message: string,
        readonly extra: Record<string, string> = {},
    ) {}
}

class Unmodeled extends Error {}

export class FakeScoringServer {
    /** Columns the model's signature requires (all float64). */
    columns: string[] = [...FRAUD_COLUMNS];
    /** Time the model takes to load after the server listens; /ping is held until then. */
    loadMs = 0;
    /** Added to every /invocations answer, to give a measurable latency. */
    latencyMs = 0;
    readonly faults: ScoringFault[] = [];
    readonly requests: { method: string; path: string; rawPath: string; contentType?: string; authorization?: string; body: string }[] = [];
    readonly unmodeled: string[] = [];
    /** Set to stand for an auth front (Container Apps with Entra): bearer token required. */
    requiredToken?: string;
    private readonly server = http.createServer((req, res) => void this.handle(req, res));
    private port = 0;
    private loaded: Promise<void> = Promise.resolve();

    async start(): Promise<string> {
        await this.listen(0);
        return this.scoringUri;
    }

    /**
     * Returns the scoring URI at once and starts listening only after `afterMs`: until then
     * connections are refused, as while a real server starts.
     */
    async startLater(afterMs: number): Promise<string> {
        this.port = await freePort();
        setTimeout(() => void this.listen(this.port), afterMs);
        return this.scoringUri;
    }

    get scoringUri(): string {
        return `http://127.0.0.1:${this.port}/invocations`;
    }

    async stop(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private async listen(port: number): Promise<void> {
        await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
        this.port = (this.server.address() as net.AddressInfo).port;
        this.loaded = new Promise((resolve) => setTimeout(resolve, this.loadMs));
    }

    private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const body = await new Promise<string>((resolve) => {
            let data = "";
            req.on("data", (chunk) => (data += chunk));
            req.on("end", () => resolve(data));
        });
        const rawPath = (req.url ?? "/").split("?")[0];
        // MLflow 3.17 routes `//ping` nowhere (404); 2.11 answered it as /ping.
        const path = rawPath;
        const method = req.method ?? "GET";
        this.requests.push({ method, path, rawPath, contentType: req.headers["content-type"], authorization: req.headers.authorization, body });

        if (this.requiredToken && req.headers.authorization !== `Bearer ${this.requiredToken}`) {
            res.writeHead(401, { "Content-Type": "text/plain", "WWW-Authenticate": "Bearer" }).end("Unauthorized");
            return;
        }
        const faultIndex = this.faults.findIndex((f) => (f.path ?? /^\/invocations$/).test(path));
        if (faultIndex >= 0) {
            const [fault] = this.faults.splice(faultIndex, 1);
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
        if (path === "/ping" || path === "/health" || path === "/version" || path === "/invocations") {
            const allowed = path === "/invocations" ? "POST" : "GET";
            if (method !== allowed) {
                res.writeHead(405, { "Content-Type": "application/json", Allow: allowed }).end(METHOD_NOT_ALLOWED);
                return;
            }
        }
        if (path === "/ping" || path === "/health") {
            // Held, never 503, until the model is loaded.
            await this.loaded;
            res.writeHead(200, { "Content-Type": "application/json" }).end("\n");
            return;
        }
        if (path === "/version") {
            res.writeHead(200, { "Content-Type": "application/json" }).end(SCORING_MLFLOW_VERSION);
            return;
        }
        if (path !== "/invocations") {
            res.writeHead(404, { "Content-Type": "application/json" }).end(NOT_FOUND);
            return;
        }
        await this.loaded;
        if (this.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
        try {
            const predictions = this.invocations(req.headers["content-type"], body, res);
            if (predictions) res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ predictions }));
        } catch (err) {
            if (err instanceof Refusal) {
                res.writeHead(400, { "Content-Type": "application/json" }).end(
                    JSON.stringify({ error_code: err.code, message: err.message, sqlstate: SCORING_SQLSTATES[err.code] ?? "KAM00", error_class: SCORING_ERROR_CLASSES[err.code] ?? err.code, ...err.extra }),
                );
                return;
            }
            this.unmodeled.push(`POST /invocations: ${(err as Error).message}`);
            res.writeHead(404, { "Content-Type": "application/json" }).end(NOT_FOUND);
        }
    }

    /** The predictions, or undefined when the answer was already sent (415). */
    private invocations(contentType: string | undefined, body: string, res: http.ServerResponse): number[] | undefined {
        const type = String(contentType ?? "").split(";")[0].trim().toLowerCase();
        if (type === "text/csv") return this.predict(parseCsv(body));
        if (contentType === undefined) {
            // MLflow 3.17 fails on a request without Content-Type.
            res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" }).end("Internal Server Error");
            return undefined;
        }
        if (type !== "application/json") {
            res.writeHead(415, { "Content-Type": "text/plain; charset=utf-8" }).end(
                `This predictor only supports the following content types: Types: ['text/csv', 'application/json', 'application/vnd.apache.parquet']. Got '${contentType}'.`,
            );
            return undefined;
        }
        let parsed: unknown;
        try {
            parsed = JSON.parse(body);
        } catch (err) {
            throw new Refusal(
                "BAD_REQUEST",
                `Invalid input. Ensure that input is a valid JSON formatted string. Error: 'JSONDecodeError('${body.trim() === "" || !/^\s*[[{"]/.test(body) ? "Expecting value: line 1 column 1 (char 0)" : (err as Error).message}')'\nInput: \nb'${body}'\n`,
            );
        }
        if (Array.isArray(parsed)) {
            throw new Refusal("BAD_REQUEST", `Invalid input. The input must be a JSON dictionary with exactly one of the input fields ${INPUT_FIELDS}. Received a list.`);
        }
        if (typeof parsed !== "object" || parsed === null) throw new Unmodeled(`a JSON ${typeof parsed}`);
        const present = Object.keys(parsed).filter((k) => INPUT_KEYS.includes(k));
        if (present.length !== 1) {
            throw new Refusal(
                "BAD_REQUEST",
                `The input must be a JSON dictionary with exactly one of the input fields ${INPUT_FIELDS}. Received dictionary with input fields: [${present.map((k) => `'${k}'`).join(", ")}].${PROTOCOL_NOTE}`,
            );
        }
        const value = (parsed as Record<string, unknown>)[present[0]];
        return this.predict(present[0] === "dataframe_split" ? splitFrame(value) : recordsFrame(value));
    }

    private predict(frame: Frame): number[] {
        const table = renderTable(frame);
        const missing = this.columns.filter((c) => !frame.columns.includes(c));
        const extra = frame.columns.filter((c) => !this.columns.includes(String(c)) || typeof c === "number");
        if (missing.length) {
            const schema = `[${this.columns.map((c) => `'${c}': double (required)`).join(", ")}]`;
            throw new Refusal(
                "INVALID_PARAMETER_VALUE",
                `Failed to predict data '${table}'. \nError: Failed to enforce schema of data '${table}' with schema '${schema}'. Error: Model is missing inputs [${missing.map((c) => `'${c}'`).join(", ")}].` +
                    (extra.length ? ` Note that there were extra inputs: [${extra.map((c) => (typeof c === "number" ? String(c) : `'${c}'`)).join(", ")}].` : ""),
            );
        }
        const index = this.columns.map((c) => frame.columns.indexOf(c));
        for (const row of frame.rows) {
            index.forEach((i, n) => {
                const v = row[i];
                if (v !== null && v !== undefined && typeof v !== "number") {
                    throw new Refusal(
                        "BAD_REQUEST",
                        `Invalid input. Data is not compatible with model signature. Failed to convert column ${this.columns[n]} to type 'float64'. Error: 'ValueError("could not convert string to float: '${String(v)}'")'`,
                    );
                }
            });
        }
        if (frame.rows.some((row) => index.some((i) => row[i] === null || row[i] === undefined))) {
            throw new Refusal(
                "BAD_REQUEST",
                "Encountered an unexpected error while evaluating the model. Verify that the serialized input Dataframe is compatible with the model for inference.",
                { stack_trace: STACK_TRACE },
            );
        }
        const amount = this.columns.indexOf("transaction_amount");
        return frame.rows.map((row) => (amount >= 0 && (row[index[amount]] as number) > 100 ? 1 : 0));
    }
}

function splitFrame(value: unknown): Frame {
    if (typeof value !== "object" || value === null || !Array.isArray((value as { data?: unknown }).data)) throw new Unmodeled("dataframe_split without data");
    const { columns, data } = value as { columns?: unknown; data: unknown[] };
    const rows = data.map((row) => (Array.isArray(row) ? row : [row]));
    return { columns: Array.isArray(columns) ? columns.map(String) : (rows[0] ?? []).map((_, i) => i), rows };
}

/** Records, lists of lists (columns 0..n-1, as pandas names them), or a dict of columns. */
function recordsFrame(value: unknown): Frame {
    if (Array.isArray(value)) {
        if (value.every((r) => Array.isArray(r))) return { columns: (value[0] as unknown[] | undefined ?? []).map((_, i) => i), rows: value as unknown[][] };
        if (value.every((r) => typeof r === "object" && r !== null)) {
            const columns = [...new Set(value.flatMap((r) => Object.keys(r as object)))];
            return { columns, rows: value.map((r) => columns.map((c) => (r as Record<string, unknown>)[c] ?? null)) };
        }
        // A list of scalars is one column named 0.
        return { columns: [0], rows: value.map((v) => [v]) };
    }
    if (typeof value === "object" && value !== null) {
        const entries = Object.entries(value as Record<string, unknown>);
        const length = Array.isArray(entries[0]?.[1]) ? (entries[0][1] as unknown[]).length : 1;
        if (!entries.every(([, v]) => (Array.isArray(v) ? v.length === length : length === 1))) throw new Unmodeled("columns of different lengths");
        return {
            columns: entries.map(([k]) => k),
            rows: Array.from({ length }, (_, i) => entries.map(([, v]) => (Array.isArray(v) ? v[i] : v))),
        };
    }
    throw new Unmodeled(`input of type ${typeof value}`);
}

function parseCsv(body: string): Frame {
    const [header = "", ...lines] = body.trim().split(/\r?\n/);
    const columns = header.split(",").map((c) => c.trim());
    const rows = lines.map((line) =>
        line.split(",").map((cell) => {
            const text = cell.trim();
            if (text === "") return null;
            return Number.isNaN(Number(text)) ? text : Number(text);
        }),
    );
    return { columns, rows };
}

/** A pandas-style table: many lines, the way MLflow quotes the data in its schema errors. */
function renderTable(frame: Frame): string {
    const cells = [["", ...frame.columns.map(String)], ...frame.rows.map((row, i) => [String(i), ...row.map((v) => (v === null ? "NaN" : String(v)))])];
    const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => (row[c] ?? "").length)));
    return cells.map((row) => row.map((cell, c) => (cell ?? "").padStart(widths[c])).join("  ")).join("\n");
}

async function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const probe = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = probe.address() as net.AddressInfo;
            probe.close(() => resolve(port));
        });
    });
}
