// An in-process Databricks Jobs API (2.1) holding one job, answering the three routes
// `npm run register` uses as the Jobs API documents them:
// - POST /api/2.1/jobs/run-now {job_id, job_parameters} -> {run_id, number_in_job}; another job id
//   -> 400 {"error_code":"INVALID_PARAMETER_VALUE","message":"Job <id> does not exist."};
// - GET /api/2.1/jobs/runs/get?run_id= -> the run: run_id, job_id, number_in_job, run_page_url,
//   run_type, state {life_cycle_state, result_state (terminal only), state_message,
//   user_cancelled_or_timedout}, the newer status {state, termination_details {code, type, message}}
//   (when `withStatus`), job_parameters, tasks [{run_id, task_key, state, ...}];
// - GET /api/2.1/jobs/runs/get-output?run_id=<task run> -> {metadata, logs, logs_truncated, error?,
//   error_trace?}; with the job run's id (a run with tasks) -> 400 INVALID_PARAMETER_VALUE
//   "Retrieving the output of runs with multiple tasks is not supported. ...".
// - run-now's `idempotency_token`: a token seen before starts no run and answers the run it started.
// - Jobs API 2.2 deprecates `state` for `status`; with `legacyState = false` the run and its tasks
//   carry only `status` (set `withStatus` too).
// Each runs/get moves the run one step along `steps` (the last one repeats). Requests it does
// not model are answered 501 and listed in `unmodeled`. `faults` answer the next requests first:
// an error status with Databricks' JSON error body (429 REQUEST_LIMIT_EXCEEDED, 503
// TEMPORARILY_UNAVAILABLE, as MLflow's status mapping has them), or `delayMs`: the request is
// served as usual but its answer is held back that long (a client timeout that lost the answer).
import * as http from "http";
import type { AddressInfo } from "net";

export interface RunStep {
    lifeCycleState: string;
    resultState?: string;
    stateMessage?: string;
    /** The newer status.state (QUEUED, PENDING, RUNNING, TERMINATING, TERMINATED, ...). */
    status?: string;
    termination?: { code: string; type: string; message: string };
}

export interface RunOutputAnswer {
    logs?: string;
    error?: string;
    errorTrace?: string;
}

export interface SeenRequest {
    method: string;
    path: string;
    query: Record<string, string>;
    headers: http.IncomingHttpHeaders;
    body?: any;
}

const JOB_RUN_ID = 5550001;
const TASK_RUN_ID = 5550002;
const WORKSPACE_ID = "1234567890123456";

export class FakeJobsServer {
    jobId = 987;
    steps: RunStep[] = [{ lifeCycleState: "TERMINATED", resultState: "SUCCESS" }];
    output: RunOutputAnswer = {};
    withStatus = false;
    /** false: runs/get sends only the Jobs 2.2 `status`, no legacy `state`. */
    legacyState = true;
    faults: ({ status: number; errorCode: string; message: string; retryAfter?: string } | { delayMs: number })[] = [];
    /** Runs run-now actually started (a repeated idempotency token starts none). */
    runsStarted = 0;
    private readonly idempotency = new Map<string, number>();
    readonly requests: SeenRequest[] = [];
    readonly unmodeled: string[] = [];
    private server?: http.Server;
    private step = -1;
    private parameters: Record<string, string> = {};
    url = "";

    async start(): Promise<string> {
        this.server = http.createServer((req, res) => {
            let raw = "";
            req.on("data", (chunk) => (raw += chunk));
            req.on("end", () => this.answer(req, raw, res));
        });
        await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
        this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
        return this.url;
    }

    async stop(): Promise<void> {
        await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    }

    runPageUrl(): string {
        return `${this.url}/?o=${WORKSPACE_ID}#job/${this.jobId}/run/${JOB_RUN_ID}`;
    }

    private state(step: RunStep) {
        return {
            life_cycle_state: step.lifeCycleState,
            ...(step.resultState ? { result_state: step.resultState } : {}),
            state_message: step.stateMessage ?? "",
            user_cancelled_or_timedout: false,
        };
    }

    private run() {
        const step = this.steps[Math.min(this.step, this.steps.length - 1)];
        const status = this.withStatus && step.status ? { status: { state: step.status, ...(step.termination ? { termination_details: step.termination } : {}) } } : {};
        return {
            job_id: this.jobId,
            run_id: JOB_RUN_ID,
            number_in_job: JOB_RUN_ID,
            creator_user_name: "data.scientist@example.com",
            run_name: "dev-register-model",
            run_page_url: this.runPageUrl(),
            run_type: "JOB_RUN",
            trigger: "ONE_TIME",
            start_time: 1_795_235_520_953,
            ...(this.legacyState ? { state: this.state(step) } : {}),
            ...status,
            job_parameters: Object.entries(this.parameters).map(([name, value]) => ({ name, default: "", value })),
            tasks: [
                {
                    run_id: TASK_RUN_ID,
                    task_key: "register",
                    environment_key: "register",
                    run_page_url: `${this.url}/?o=${WORKSPACE_ID}#job/${this.jobId}/run/${TASK_RUN_ID}`,
                    ...(this.legacyState ? { state: this.state(step) } : {}),
                    ...status,
                    attempt_number: 0,
                },
            ],
        };
    }

    private answer(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
        const url = new URL(req.url ?? "/", this.url);
        const seen: SeenRequest = { method: req.method ?? "", path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers };
        const fault = this.faults.shift();
        const delayMs = fault && "delayMs" in fault ? fault.delayMs : 0;
        const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
            const write = () => {
                if (res.destroyed) return;
                res.writeHead(status, { "Content-Type": "application/json", ...headers });
                res.end(JSON.stringify(body));
            };
            if (delayMs) setTimeout(write, delayMs).unref();
            else write();
        };
        try {
            seen.body = raw ? JSON.parse(raw) : undefined;
        } catch {
            seen.body = raw;
        }
        this.requests.push(seen);
        if (fault && "status" in fault) return json(fault.status, { error_code: fault.errorCode, message: fault.message }, fault.retryAfter ? { "Retry-After": fault.retryAfter } : {});
        const route = `${seen.method} ${seen.path}`;
        if (route === "POST /api/2.1/jobs/run-now") {
            if (seen.body?.job_id !== this.jobId) return json(400, { error_code: "INVALID_PARAMETER_VALUE", message: `Job ${seen.body?.job_id} does not exist.` });
            const token = seen.body.idempotency_token;
            if (token !== undefined && (typeof token !== "string" || token.length > 64)) return json(400, { error_code: "INVALID_PARAMETER_VALUE", message: "idempotency_token must be a string of at most 64 characters." });
            if (token !== undefined && this.idempotency.has(token)) return json(200, { run_id: this.idempotency.get(token), number_in_job: JOB_RUN_ID });
            if (token !== undefined) this.idempotency.set(token, JOB_RUN_ID);
            this.runsStarted += 1;
            this.parameters = seen.body.job_parameters ?? {};
            this.step = -1;
            return json(200, { run_id: JOB_RUN_ID, number_in_job: JOB_RUN_ID });
        }
        if (route === "GET /api/2.1/jobs/runs/get" && Number(seen.query.run_id) === JOB_RUN_ID) {
            this.step += 1;
            return json(200, this.run());
        }
        if (route === "GET /api/2.1/jobs/runs/get-output") {
            if (Number(seen.query.run_id) === JOB_RUN_ID) {
                return json(400, {
                    error_code: "INVALID_PARAMETER_VALUE",
                    message: "Retrieving the output of runs with multiple tasks is not supported. Please retrieve the output of each individual task run instead.",
                });
            }
            if (Number(seen.query.run_id) === TASK_RUN_ID) {
                const task = this.run().tasks[0];
                return json(200, {
                    metadata: { ...task, job_id: this.jobId },
                    ...(this.output.logs !== undefined ? { logs: this.output.logs, logs_truncated: false } : {}),
                    ...(this.output.error ? { error: this.output.error } : {}),
                    ...(this.output.errorTrace ? { error_trace: this.output.errorTrace } : {}),
                });
            }
        }
        this.unmodeled.push(route);
        res.writeHead(501, { "Content-Type": "text/plain" });
        res.end("not modelled by the fake");
    }
}
