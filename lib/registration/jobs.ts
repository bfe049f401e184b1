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
import axios, { type AxiosInstance } from "axios";
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
    runNow(jobId: number, parameters: JobParameters): Promise<number>;
    getRun(runId: number): Promise<JobRun>;
    getRunOutput(taskRunId: number): Promise<RunOutput>;
}

function text(value: unknown): string {
    return typeof value === "string" ? value : "";
}

function parseState(raw: any, what: string): { lifeCycleState: string; resultState?: string; stateMessage: string } {
    if (!raw || typeof raw.life_cycle_state !== "string") throw new JobsApiError(`the Jobs API answered ${what} without state.life_cycle_state`);
    return { lifeCycleState: raw.life_cycle_state, resultState: typeof raw.result_state === "string" ? raw.result_state : undefined, stateMessage: text(raw.state_message) };
}

export function parseRun(body: any): JobRun {
    if (!body || typeof body !== "object" || typeof body.run_id !== "number") throw new JobsApiError("the Jobs API answered runs/get without a run_id");
    const status = body.status && typeof body.status.state === "string"
        ? { state: body.status.state, terminationCode: body.status.termination_details?.code, terminationMessage: body.status.termination_details?.message }
        : undefined;
    return {
        runId: body.run_id,
        runPageUrl: text(body.run_page_url),
        ...parseState(body.state, "runs/get"),
        status,
        tasks: (Array.isArray(body.tasks) ? body.tasks : []).map((task: any) => ({
            runId: task.run_id,
            taskKey: text(task.task_key),
            ...parseState(task.state, "runs/get (a task)"),
        })),
    };
}

/** A Jobs API client over axios for `host` (https://adb-….azuredatabricks.net). */
export function jobsClient(host: string, credential: Credential, timeoutMs = 30_000): JobsClient {
    const http: AxiosInstance = axios.create({ baseURL: `${host.replace(/\/+$/, "")}/api/2.1/jobs/`, timeout: timeoutMs, validateStatus: () => true });

    async function call(method: "GET" | "POST", route: string, params: Record<string, unknown> | undefined, body: unknown): Promise<any> {
        let response;
        try {
            response = await http.request({
                method,
                url: route,
                params,
                data: body,
                headers: { Authorization: await credential.authorization(), ...(body ? { "Content-Type": "application/json" } : {}) },
            });
        } catch (err) {
            const e = err as { code?: string; message: string };
            throw new JobsApiError(redact(`${route}: the workspace ${host} did not answer (${e.code ?? e.message})`, credential.secrets()));
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
        async runNow(jobId, parameters) {
            const body = await call("POST", "run-now", undefined, { job_id: jobId, job_parameters: parameters });
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
    const result = run.resultState ?? (run.status?.state === "TERMINATED" ? run.status.terminationCode : undefined);
    return result ? `${state} ${result}` : state;
}

/** Starts the job, reports each state change with the elapsed time, and returns the new version. */
export async function runRegistration(client: JobsClient, options: RunOptions, io: RunIO): Promise<Registered> {
    const started = io.now();
    let runId: number;
    try {
        runId = await client.runNow(options.jobId, options.parameters);
    } catch (err) {
        const e = err as JobsApiError;
        if (e.errorCode === "RESOURCE_DOES_NOT_EXIST" || (e.errorCode === "INVALID_PARAMETER_VALUE" && /does not exist/i.test(e.message))) {
            throw new RegisterError(`the registration job ${options.jobId} of stack ${options.stack} does not exist in the workspace (deleted by hand?): run \`pulumi up --stack ${options.stack}\` to create it again`);
        }
        throw err;
    }
    let last = "";
    let run: JobRun;
    for (;;) {
        run = await client.getRun(runId);
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
    let output: RunOutput = {};
    if (task) {
        try {
            output = await client.getRunOutput(task.runId);
        } catch (err) {
            if (run.resultState === "SUCCESS") throw err;
        }
    }
    const result = scriptResult(output.logs);
    const succeeded = (run.resultState ?? run.status?.terminationCode) === "SUCCESS";
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
