// A small client for the three Databricks Jobs API routes `npm run register` uses, and the run
// loop: start the registration job, report each state change, wait, read the script's result.
//
// Relied on (Jobs API 2.1, docs.databricks.com/api/azure/workspace/jobs):
// - POST /api/2.1/jobs/run-now {job_id, job_parameters} -> {run_id, number_in_job}; an unknown job
//   is 400 INVALID_PARAMETER_VALUE "Job <id> does not exist." (a job the caller may not see can be 403).
// - GET /api/2.1/jobs/runs/get?run_id= -> {run_id, run_page_url, state: {life_cycle_state,
//   result_state (terminal states only), state_message}, status?: {state, termination_details?:
//   {code, type, message}}, tasks: [{run_id, task_key, state, ...}]}.
// - GET /api/2.1/jobs/runs/get-output?run_id=<task run> -> {logs (stdout of a Python script task,
//   the last 5 MB), logs_truncated, error, error_trace, metadata}; asking with the job run's id of
//   a multi-task run is 400 INVALID_PARAMETER_VALUE, so the task's run id is used.
// - Jobs API 2.2 deprecates `state` for `status` {state: BLOCKED|PENDING|QUEUED|RUNNING|
//   TERMINATING|TERMINATED|WAITING, termination_details: {code (SUCCESS, RUN_EXECUTION_ERROR, ...),
//   type (SUCCESS|INTERNAL_ERROR|CLIENT_ERROR|CLOUD_FAILURE), message}}: a run (or task) may carry
//   only `status`, and its outcome is then termination_details.code.
// - run-now's `idempotency_token` (at most 64 characters): a second request with the same token
//   starts no second run but answers the first one's run_id, so a run-now whose answer was lost (a
//   timeout) is retried safely.
import { randomUUID } from "crypto";
import axios, { type AxiosInstance } from "axios";
import { DEFAULT_RETRY, RetriesExhausted, withRetries, type RetryPolicy } from "../http/retry";
import type { Credential } from "../registry/credentials";
import { redact } from "../registry/errors";

/** The job's parameters, in the order the job declares them; run-now fills them per run. */
export const JOB_PARAMETERS = ["pickle", "model", "sample", "alias"] as const;
export type JobParameters = Record<(typeof JOB_PARAMETERS)[number], string>;

/** Life cycle states after which a run changes no more. */
const TERMINAL = new Set(["TERMINATED", "SKIPPED", "INTERNAL_ERROR"]);

export interface TaskRun {
    runId: number;
    taskKey: string;
    lifeCycleState: string;
    resultState?: string;
    stateMessage: string;
}

export interface JobRun {
    runId: number;
    runPageUrl: string;
    lifeCycleState: string;
    resultState?: string;
    stateMessage: string;
    /** The newer `status` object, when the workspace sends it. */
    status?: { state: string; terminationCode?: string; terminationMessage?: string };
    tasks: TaskRun[];
}

export interface RunOutput {
    logs?: string;
    error?: string;
}

/** An error answer of the Jobs API, or a transport failure, worded for the user. */
export class JobsApiError extends Error {
    constructor(
        message: string,
        readonly status?: number,
        readonly errorCode?: string,
        /** The request may have been carried out though no answer said so (a timeout, a 5xx after retries). */
        readonly mayHaveHappened = false,
    ) {
        super(message);
        this.name = "JobsApiError";
    }
}

/** A problem `npm run register` reports as it is (exit status 1). */
export class RegisterError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RegisterError";
    }
}

export interface JobsClient {
    /** `idempotencyToken`: the same for every attempt of one registration, so it starts one run. */
    runNow(jobId: number, parameters: JobParameters, idempotencyToken: string): Promise<number>;
    getRun(runId: number): Promise<JobRun>;
    getRunOutput(taskRunId: number): Promise<RunOutput>;
}

function text(value: unknown): string {
    return typeof value === "string" ? value : "";
}

function parseStatus(raw: any): JobRun["status"] {
    if (!raw || typeof raw.state !== "string") return undefined;
    const details = raw.termination_details;
    return {
        state: raw.state,
        terminationCode: typeof details?.code === "string" ? details.code : undefined,
        terminationMessage: typeof details?.message === "string" && details.message ? details.message : undefined,
    };
}

/** The legacy `state`, or (Jobs 2.2) the same facts read from `status` when only it is sent. */
function parseState(raw: any, status: JobRun["status"], what: string): { lifeCycleState: string; resultState?: string; stateMessage: string } {
    if (raw && typeof raw.life_cycle_state === "string") {
        return { lifeCycleState: raw.life_cycle_state, resultState: typeof raw.result_state === "string" ? raw.result_state : undefined, stateMessage: text(raw.state_message) };
    }
    if (status) return { lifeCycleState: status.state, stateMessage: status.terminationMessage ?? "" };
    throw new JobsApiError(`the Jobs API answered ${what} without state.life_cycle_state or status.state`);
}

export function parseRun(body: any): JobRun {
    if (!body || typeof body !== "object" || typeof body.run_id !== "number") throw new JobsApiError("the Jobs API answered runs/get without a run_id");
    const status = parseStatus(body.status);
    return {
        runId: body.run_id,
        runPageUrl: text(body.run_page_url),
        ...parseState(body.state, status, "runs/get"),
        status,
        tasks: (Array.isArray(body.tasks) ? body.tasks : []).map((task: any) => {
            const taskStatus = parseStatus(task.status);
            return {
                runId: task.run_id,
                taskKey: text(task.task_key),
                ...parseState(task.state, taskStatus, "runs/get (a task)"),
            };
        }),
    };
}

/** The run's outcome: the legacy result_state, else (Jobs 2.2) status.termination_details.code once TERMINATED. */
export function runOutcome(run: Pick<JobRun, "resultState" | "status">): string | undefined {
    return run.resultState ?? (run.status?.state === "TERMINATED" ? run.status.terminationCode : undefined);
}

export interface JobsClientOptions {
    timeoutMs?: number;
    /** Retries of each call on 429, 5xx and timeouts (defaults: DEFAULT_RETRY). */
    retry?: Partial<RetryPolicy>;
}

/** A Jobs API client over axios for `host` (https://adb-….azuredatabricks.net). */
export function jobsClient(host: string, credential: Credential, options: JobsClientOptions = {}): JobsClient {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
    const http: AxiosInstance = axios.create({ baseURL: `${host.replace(/\/+$/, "")}/api/2.1/jobs/`, timeout: timeoutMs, validateStatus: () => true });

    async function call(method: "GET" | "POST", route: string, params: Record<string, unknown> | undefined, body: unknown): Promise<any> {
        let response;
        try {
            // Each attempt asks the credential again: an Entra token is renewed when it nears expiry.
            response = await withRetries(
                async () =>
                    http.request({
                        method,
                        url: route,
                        params,
                        data: body,
                        headers: { Authorization: await credential.authorization(), ...(body ? { "Content-Type": "application/json" } : {}) },
                    }),
                retry,
                { timeoutMs },
            );
        } catch (err) {
            if (!(err instanceof RetriesExhausted)) throw err;
            const what = err.failure.kind === "status" ? `kept answering ${err.message}: it is busy or unavailable` : `did not answer (${err.failure.text}, ${err.attempts} attempt${err.attempts === 1 ? "" : "s"})`;
            const reached = err.failure.kind === "status" ? err.failure.status >= 500 : !["ECONNREFUSED", "ENOTFOUND"].includes(err.failure.code);
            throw new JobsApiError(redact(`${route}: the workspace ${host} ${what}`, credential.secrets()), err.failure.kind === "status" ? err.failure.status : undefined, undefined, reached);
        }
        const data = response.data;
        const json = data && typeof data === "object" ? data : undefined;
        if (response.status >= 200 && response.status < 300 && json) return json;
        const code = typeof json?.error_code === "string" ? json.error_code : undefined;
        const message = typeof json?.message === "string" ? json.message : undefined;
        let reason: string;
        if (response.status === 401) reason = `the workspace refused the credential from ${credential.source} (401): sign in again (az login) or renew DATABRICKS_TOKEN`;
        else if (response.status === 403) reason = `${credential.source} may not do this (403${code ? ` ${code}` : ""}${message ? `: ${message}` : ""})`;
        else if (!json) reason = `the answer (HTTP ${response.status}) is not the Jobs API's JSON: is ${host} an Azure Databricks workspace URL?`;
        else reason = `${code ?? `HTTP ${response.status}`}${message ? `: ${message}` : ""}`;
        throw new JobsApiError(redact(`${route}: ${reason}`, credential.secrets()), response.status, code);
    }

    return {
        async runNow(jobId, parameters, idempotencyToken) {
            const body = await call("POST", "run-now", undefined, { job_id: jobId, job_parameters: parameters, idempotency_token: idempotencyToken });
            if (typeof body.run_id !== "number") throw new JobsApiError("the Jobs API answered run-now without a run_id");
            return body.run_id;
        },
        async getRun(runId) {
            return parseRun(await call("GET", "runs/get", { run_id: runId }, undefined));
        },
        async getRunOutput(taskRunId) {
            const body = await call("GET", "runs/get-output", { run_id: taskRunId }, undefined);
            return { logs: typeof body.logs === "string" ? body.logs : undefined, error: typeof body.error === "string" ? body.error : undefined };
        },
    };
}

/** What the registration script printed as its last JSON line. */
export type ScriptResult = { name: string; version: string; model_uri: string; flavour?: string; alias?: string } | { error: string };

export function scriptResult(logs: string | undefined): ScriptResult | undefined {
    for (const line of (logs ?? "").split("\n").reverse()) {
        const trimmed = line.trim();
        if (!trimmed.startsWith("{")) continue;
        try {
            const parsed = JSON.parse(trimmed);
            if (typeof parsed.error === "string") return { error: parsed.error };
            if (typeof parsed.name === "string" && typeof parsed.version === "string" && typeof parsed.model_uri === "string") return parsed;
        } catch {
            // a log line that merely starts with "{"
        }
    }
    return undefined;
}

export interface RunIO {
    log(line: string): void;
    now(): number;
    sleep(ms: number): Promise<void>;
}

export interface RunOptions {
    jobId: number;
    parameters: JobParameters;
    timeoutMs: number;
    pollMs: number;
    /** The stack the job belongs to, for the `pulumi up` hint. */
    stack: string;
    /** run-now's idempotency token; a new one per registration by default. */
    idempotencyToken?: string;
}

export interface Registered {
    name: string;
    version: string;
    modelUri: string;
    flavour?: string;
    alias?: string;
    runPageUrl: string;
}

function elapsed(ms: number): string {
    const seconds = Math.floor(ms / 1000);
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function stateOf(run: JobRun): string {
    const state = run.status?.state ?? run.lifeCycleState;
    const result = runOutcome(run);
    return result ? `${state} ${result}` : state;
}

/** Starts the job, reports each state change with the elapsed time, and returns the new version. */
export async function runRegistration(client: JobsClient, options: RunOptions, io: RunIO): Promise<Registered> {
    const started = io.now();
    let runId: number;
    // One token for this registration: retries of a run-now whose answer was lost start no second run.
    const idempotencyToken = options.idempotencyToken ?? `register-${randomUUID()}`;
    try {
        runId = await client.runNow(options.jobId, options.parameters, idempotencyToken);
    } catch (err) {
        const e = err as JobsApiError;
        if (e.errorCode === "RESOURCE_DOES_NOT_EXIST" || (e.errorCode === "INVALID_PARAMETER_VALUE" && /does not exist/i.test(e.message))) {
            throw new RegisterError(`the registration job ${options.jobId} of stack ${options.stack} does not exist in the workspace (deleted by hand?): run \`pulumi up --stack ${options.stack}\` to create it again`);
        }
        if (e instanceof JobsApiError && e.mayHaveHappened) {
            throw new RegisterError(`could not start the registration job ${options.jobId}: ${e.message}. A run may have started all the same: look at the job's runs in the workspace before running \`npm run register\` again`);
        }
        throw err;
    }
    let last = "";
    let run: JobRun;
    for (;;) {
        try {
            run = await client.getRun(runId);
        } catch (err) {
            if (!(err instanceof JobsApiError)) throw err;
            throw new RegisterError(`lost track of the registration run ${runId}: ${err.message}. The run goes on in Databricks: find it among the job's runs, and the new version in the registry when it ends`);
        }
        const state = stateOf(run);
        if (state !== last) {
            io.log(`[${elapsed(io.now() - started)}] ${state}${run.stateMessage ? `: ${run.stateMessage}` : ""}`);
            last = state;
        }
        if (TERMINAL.has(run.lifeCycleState) || run.status?.state === "TERMINATED") break;
        if (io.now() - started >= options.timeoutMs) {
            throw new RegisterError(
                `the run did not finish within ${elapsed(options.timeoutMs)} (it is ${state}); it goes on in Databricks: follow it at ${run.runPageUrl}, and find the new version in the registry when it ends (or cancel it there)`,
            );
        }
        await io.sleep(options.pollMs);
    }

    const task = run.tasks.find((t) => t.taskKey === "register") ?? run.tasks[0];
    const succeeded = runOutcome(run) === "SUCCESS";
    let output: RunOutput = {};
    if (task) {
        try {
            output = await client.getRunOutput(task.runId);
        } catch (err) {
            if (succeeded) throw err;
        }
    }
    const result = scriptResult(output.logs);
    if (succeeded && result && !("error" in result)) {
        return { name: result.name, version: result.version, modelUri: result.model_uri, flavour: result.flavour, alias: result.alias, runPageUrl: run.runPageUrl };
    }
    const reason =
        (result && "error" in result ? result.error : undefined) ??
        output.error?.split("\n")[0] ??
        run.status?.terminationMessage ??
        (task?.stateMessage || run.stateMessage || undefined) ??
        (succeeded ? "the script printed no result line" : `the run ended ${stateOf(run)}`);
    throw new RegisterError(`the registration run failed: ${reason}\n  run: ${run.runPageUrl}`);
}
