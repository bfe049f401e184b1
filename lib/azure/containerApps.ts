// The Container Apps calls a rollout needs, on the Azure Resource Manager REST API over axios:
// read an app's revisions and traffic, activate or deactivate a revision, and set the traffic.
// API version 2024-03-01 (GA): revisions carry active, trafficWeight, provisioningState,
// runningState, healthState and replicas; PATCH on an app is a JSON merge patch.
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

export interface ContainerAppsClientOptions {
    /** An Entra access token for Azure Resource Manager. */
    token: () => Promise<string>;
    /** `https://management.azure.com` unless a test points elsewhere. */
    endpoint?: string;
    timeoutMs?: number;
}

/** `/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.App/containerApps/<name>` */
export function containerAppId(subscriptionId: string, resourceGroup: string, appName: string): string {
    return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.App/containerApps/${appName}`;
}

function errorText(data: unknown): string {
    const error = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
    return error ? `${error.code ?? ""}: ${error.message ?? ""}`.replace(/^: /, "") : "";
}

export class ContainerAppsClient {
    private readonly http: AxiosInstance;

    constructor(private readonly options: ContainerAppsClientOptions) {
        this.http = axios.create({
            baseURL: options.endpoint ?? "https://management.azure.com",
            timeout: options.timeoutMs ?? 30_000,
            validateStatus: () => true,
            params: { "api-version": CONTAINER_APPS_API_VERSION },
        });
    }

    /** The app's revisions with their state and traffic; undefined when the app does not exist yet. */
    async revisions(appId: string): Promise<RevisionState[] | undefined> {
        const answer = await this.call("GET", `${appId}/revisions`);
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
            };
        });
    }

    async setActive(appId: string, revision: string, active: boolean): Promise<void> {
        const answer = await this.call("POST", `${appId}/revisions/${revision}/${active ? "activate" : "deactivate"}`);
        this.expect(answer, [200, 202, 204], `${active ? "activate" : "deactivate"} revision ${revision}`);
    }

    /**
     * Sets the app's traffic table, and its IP rules when given (a merge patch: nothing else of the
     * app changes; a list replaces the list it patches).
     */
    async setTraffic(appId: string, target: readonly TrafficTarget[], ipSecurityRestrictions?: readonly IpRule[]): Promise<void> {
        const traffic = target.map((t) => ({ revisionName: t.revision, weight: t.weight, label: t.label }));
        const ingress = ipSecurityRestrictions ? { traffic, ipSecurityRestrictions } : { traffic };
        const answer = await this.call("PATCH", appId, { properties: { configuration: { ingress } } });
        this.expect(answer, [200, 201, 202], `set the traffic of ${appId}`);
    }

    private async call(method: "GET" | "POST" | "PATCH", path: string, data?: unknown) {
        const token = await this.options.token();
        try {
            return await this.http.request({ method, url: path, data, headers: { Authorization: `Bearer ${token}` } });
        } catch (err) {
            const code = axios.isAxiosError(err) ? err.code : undefined;
            throw new ArmError(`Azure Resource Manager did not answer ${method} ${path} (${code ?? "network error"})`);
        }
    }

    private expect(answer: { status: number; data: unknown }, ok: number | number[], what: string): void {
        if ((Array.isArray(ok) ? ok : [ok]).includes(answer.status)) return;
        const detail = errorText(answer.data);
        const hint = answer.status === 401 || answer.status === 403 ? " The deploying identity needs Contributor on the container app's resource group." : "";
        throw new ArmError(`cannot ${what}: HTTP ${answer.status}${detail ? ` (${detail})` : ""}.${hint}`, answer.status);
    }
}
