// The Container Apps calls a rollout needs, on the Azure Resource Manager REST API over axios:
// read an app's revisions and traffic, activate, deactivate or restart a revision, and set the
// traffic. API version 2024-03-01 (GA): revisions carry active, trafficWeight, provisioningState,
// runningState, healthState, replicas and fqdn; PATCH on an app is a JSON merge patch.
//
// Every call is retried within a bound on what says "not now": 429, 5xx, a timeout or a reset
// connection, and 409 ContainerAppLockConflict (changes to one app are serialized). An answer of
// 201/202 is a long-running operation: it is polled (Azure-AsyncOperation, else Location, as
// ARM's asynchronous API contract describes) until it succeeds, so the next call never races it.
import axios, { type AxiosInstance } from "axios";
import type { RevisionState, TrafficTarget } from "../serving/traffic";

/** A Container Apps ingress IP rule. */
export interface IpRule {
    name: string;
    ipAddressRange: string;
    action: "Allow" | "Deny";
}

export const ARM_SCOPE = "https://management.azure.com/.default";
export const CONTAINER_APPS_API_VERSION = "2024-03-01";

export class ArmError extends Error {
    constructor(
        message: string,
        readonly status?: number,
    ) {
        super(message);
        this.message = message;
        this.name = "ArmError";
    }
}

export interface ArmClientOptions {
    /** An Entra access token for Azure Resource Manager. */
    token: () => Promise<string>;
    /** `https://management.azure.com` unless a test points elsewhere. */
    endpoint?: string;
    timeoutMs?: number;
    /** Attempts for a call answered 429, 5xx, 409 lock conflict or not at all (default 6). */
    maxAttempts?: number;
    /** How long a long-running operation may take (default 10 minutes). */
    operationTimeoutMs?: number;
    sleep?: (ms: number) => Promise<void>;
    /** Progress lines (retries, operations still running). */
    log?: (line: string) => void;
}

/** Statuses that mean "try again later"; a 409 only with the code below. */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const LOCK_CONFLICT = "ContainerAppLockConflict";

/** Seconds of a Retry-After header, within [1, 60]; undefined when absent or unreadable. */
export function retryAfterMs(header: unknown): number | undefined {
    const seconds = Number(header);
    return Number.isFinite(seconds) && seconds > 0 ? Math.min(60, Math.max(1, seconds)) * 1000 : undefined;
}

/** `/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.App/containerApps/<name>` */
export function containerAppId(subscriptionId: string, resourceGroup: string, appName: string): string {
    return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.App/containerApps/${appName}`;
}

function errorCode(data: unknown): string | undefined {
    return (data as { error?: { code?: string } } | undefined)?.error?.code;
}

function errorText(data: unknown): string {
    const error = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    return error ? `${error.code ?? ""}: ${error.message ?? ""}`.replace(/^: /, "") : "";
}

export type ContainerAppsClientOptions = ArmClientOptions;

type Answer = { status: number; data: any; headers: Record<string, unknown> };

/**
 * Azure Resource Manager calls with the retries and long-running-operation polling described at
 * the top of this file, for one API version.
 */
export class ArmClient {
    private readonly http: AxiosInstance;
    /** For operation URLs: absolute, with their own api-version. */
    private readonly operations: AxiosInstance;
    private readonly endpoint: string;
    private readonly sleep: (ms: number) => Promise<void>;
    private readonly log: (line: string) => void;

    constructor(
        private readonly options: ArmClientOptions,
        apiVersion: string,
    ) {
        this.endpoint = options.endpoint ?? "https://management.azure.com";
        this.http = axios.create({
            baseURL: this.endpoint,
            timeout: options.timeoutMs ?? 30_000,
            validateStatus: () => true,
            params: { "api-version": apiVersion },
        });
        this.operations = axios.create({ timeout: options.timeoutMs ?? 30_000, validateStatus: () => true, maxRedirects: 0 });
        this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
        this.log = options.log ?? (() => undefined);
    }

    /** Waits for the long-running operation a 201/202 started; a 200/204 is already done. */
    protected async settle(answer: Answer, what: string): Promise<void> {
        if (answer.status !== 201 && answer.status !== 202) return;
        const asyncOperation = typeof answer.headers["azure-asyncoperation"] === "string" ? (answer.headers["azure-asyncoperation"] as string) : undefined;
        const location = typeof answer.headers.location === "string" ? (answer.headers.location as string) : undefined;
        const monitor = asyncOperation ?? location;
        if (!monitor) return; // nothing to poll: the operation is accepted and tracked by the resource itself
        // The deployer's token goes to Resource Manager only, never to another host a header names.
        if (new URL(monitor, this.endpoint).origin !== new URL(this.endpoint).origin) {
            throw new ArmError(`cannot ${what}: Resource Manager named an operation on another host (${new URL(monitor, this.endpoint).host}); not followed`);
        }
        const deadline = Date.now() + (this.options.operationTimeoutMs ?? 10 * 60_000);
        let wait = retryAfterMs(answer.headers["retry-after"]) ?? 2_000;
        for (;;) {
            await this.sleep(wait);
            const poll = await this.call("GET", monitor, undefined, `follow the operation to ${what}`, { absolute: true });
            if (asyncOperation) {
                this.expect(poll, 200, `follow the operation to ${what}`);
                const status = String(poll.data?.status ?? "");
                if (status === "Succeeded") return;
                if (status === "Failed" || status === "Canceled") {
                    throw new ArmError(`cannot ${what}: the operation ${status.toLowerCase()}${errorText(poll.data) ? ` (${errorText(poll.data)})` : ""}`);
                }
            } else {
                if (poll.status === 200 || poll.status === 204) return;
                if (poll.status !== 202) this.expect(poll, [200, 202, 204], `follow the operation to ${what}`);
            }
            if (Date.now() > deadline) throw new ArmError(`cannot ${what}: the operation was still running after ${Math.round((this.options.operationTimeoutMs ?? 600_000) / 60_000)} minutes`);
            this.log(`${what}: still running`);
            wait = retryAfterMs(poll.headers["retry-after"]) ?? Math.min(wait * 2, 15_000);
        }
    }

    protected async call(method: "GET" | "POST" | "PATCH", url: string, data: unknown, what: string, options: { absolute?: boolean } = {}): Promise<Answer> {
        const attempts = this.options.maxAttempts ?? 6;
        for (let attempt = 1; ; attempt++) {
            const token = await this.options.token();
            let answer: Answer | undefined;
            let reason: string;
            try {
                // An operation URL is absolute and carries its own api-version.
                const http = options.absolute ? this.operations : this.http;
                answer = (await http.request({ method, url: options.absolute ? new URL(url, this.endpoint).toString() : url, data, headers: { Authorization: `Bearer ${token}` } })) as Answer;
                const retryable = RETRYABLE_STATUS.has(answer.status) || (answer.status === 409 && errorCode(answer.data) === LOCK_CONFLICT);
                if (!retryable) return answer;
                reason = `HTTP ${answer.status}${errorCode(answer.data) ? ` ${errorCode(answer.data)}` : ""}`;
            } catch (err) {
                reason = (axios.isAxiosError(err) ? err.code : undefined) ?? "network error";
            }
            if (attempt >= attempts) {
                if (answer) return answer; // the caller's expect() names the status
                throw new ArmError(`Azure Resource Manager did not answer when trying to ${what} (${reason}, ${attempts} attempts): check the network and run \`pulumi up\` again`);
            }
            const delay = retryAfterMs(answer?.headers["retry-after"]) ?? Math.min(1_000 * 2 ** (attempt - 1), 20_000);
            this.log(`${what}: ${reason}; retry ${attempt}/${attempts - 1} in ${Math.round(delay / 1000)} s`);
            await this.sleep(delay);
        }
    }

    protected expect(answer: { status: number; data: unknown }, ok: number | number[], what: string): void {
        if ((Array.isArray(ok) ? ok : [ok]).includes(answer.status)) return;
        const detail = errorText(answer.data);
        const hint =
            answer.status === 401 || answer.status === 403
                ? " The deploying identity needs Contributor on the container app's resource group."
                : RETRYABLE_STATUS.has(answer.status) || answer.status === 409
                  ? " Resource Manager kept answering so after several retries: run `pulumi up` again later."
                  : "";
        throw new ArmError(`cannot ${what}: HTTP ${answer.status}${detail ? ` (${detail})` : ""}.${hint}`, answer.status);
    }
}

/** The Container Apps calls a rollout makes (API version 2024-03-01). */
export class ContainerAppsClient extends ArmClient {
    constructor(options: ContainerAppsClientOptions) {
        super(options, CONTAINER_APPS_API_VERSION);
    }

    /** The app's revisions with their state and traffic; undefined when the app does not exist yet. */
    async revisions(appId: string): Promise<RevisionState[] | undefined> {
        const answer = await this.call("GET", `${appId}/revisions`, undefined, `list the revisions of ${appId}`);
        if (answer.status === 404) return undefined;
        this.expect(answer, 200, `list the revisions of ${appId}`);
        const items = Array.isArray(answer.data?.value) ? answer.data.value : [];
        return items.map((item: { name?: string; properties?: Record<string, unknown> }) => {
            const p = item.properties ?? {};
            return {
                name: String(item.name),
                active: p.active === true,
                weight: typeof p.trafficWeight === "number" ? p.trafficWeight : 0,
                provisioningState: typeof p.provisioningState === "string" ? p.provisioningState : undefined,
                runningState: typeof p.runningState === "string" ? p.runningState : undefined,
                healthState: typeof p.healthState === "string" ? p.healthState : undefined,
                replicas: typeof p.replicas === "number" ? p.replicas : undefined,
                fqdn: typeof p.fqdn === "string" && p.fqdn ? p.fqdn : undefined,
            };
        });
    }

    async setActive(appId: string, revision: string, active: boolean): Promise<void> {
        const what = `${active ? "activate" : "deactivate"} revision ${revision}`;
        const answer = await this.call("POST", `${appId}/revisions/${revision}/${active ? "activate" : "deactivate"}`, undefined, what);
        this.expect(answer, [200, 202, 204], what);
        await this.settle(answer, what);
    }

    /** Restarts a revision's replicas: a revision that failed for a passing reason gets another start under the same name. */
    async restart(appId: string, revision: string): Promise<void> {
        const what = `restart revision ${revision}`;
        const answer = await this.call("POST", `${appId}/revisions/${revision}/restart`, undefined, what);
        this.expect(answer, [200, 202, 204], what);
        await this.settle(answer, what);
    }

    /**
     * Sets the app's traffic table, and its IP rules when given (a merge patch: nothing else of the
     * app changes; a list replaces the list it patches).
     */
    async setTraffic(appId: string, target: readonly TrafficTarget[], ipSecurityRestrictions?: readonly IpRule[]): Promise<void> {
        const traffic = target.map((t) => ({ revisionName: t.revision, weight: t.weight, label: t.label }));
        const ingress = ipSecurityRestrictions ? { traffic, ipSecurityRestrictions } : { traffic };
        const what = `set the traffic of ${appId}`;
        const answer = await this.call("PATCH", appId, { properties: { configuration: { ingress } } }, what);
        this.expect(answer, [200, 201, 202], what);
        // Until the patch has finished, the old weights may still apply: nothing after it may run first.
        await this.settle(answer, what);
    }
}
