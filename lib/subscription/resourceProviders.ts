// The resource providers a subscription must have registered before this stack's resources can be
// created there. A new subscription registers none of them, and azure-native does not register
// them itself: the first `pulumi up` would fail with MissingSubscriptionRegistration. Routes
// (Resource Manager, API 2021-04-01): GET /subscriptions/{id}/providers/{namespace} answers
// { registrationState: NotRegistered | Registering | Registered | Unregistering | ... } and
// POST .../providers/{namespace}/register starts a registration (it needs
// Microsoft.<namespace>/register/action, which Contributor holds).
import { ArmClient, ArmError, type ArmClientOptions } from "../azure/containerApps";

export const RESOURCE_PROVIDERS_API_VERSION = "2021-04-01";

/** What the stack creates, by resource provider namespace. */
export const REQUIRED_PROVIDERS: Readonly<Record<string, string>> = {
    "Microsoft.Storage": "the storage account",
    "Microsoft.Databricks": "the Databricks workspace and access connector",
    "Microsoft.ContainerRegistry": "the container registry",
    "Microsoft.ManagedIdentity": "the serving identity",
    "Microsoft.App": "the Container Apps environment and apps",
    "Microsoft.OperationalInsights": "the Log Analytics workspace",
    "Microsoft.Insights": "diagnostics, metrics, Application Insights, alert rules and the action group",
    // Usually registered in every subscription already; registering it again changes nothing.
    "Microsoft.Portal": "the serving dashboard",
    "Microsoft.ContainerInstance": "container groups (serving.platform aci)",
};

/** The namespaces a stack needs: ACI only where a stack serves on it. */
export function requiredProviders(platform: "aci" | "containerapp"): string[] {
    return Object.keys(REQUIRED_PROVIDERS).filter((ns) => ns !== "Microsoft.ContainerInstance" || platform === "aci");
}

export class ResourceProvidersClient extends ArmClient {
    constructor(options: ArmClientOptions) {
        super(options, RESOURCE_PROVIDERS_API_VERSION);
    }

    async state(subscriptionId: string, namespace: string): Promise<string> {
        const what = `read the registration of ${namespace} in subscription ${subscriptionId}`;
        const answer = await this.call("GET", `/subscriptions/${subscriptionId}/providers/${namespace}`, undefined, what);
        this.expect(answer, 200, what);
        return String(answer.data?.registrationState ?? "Unknown");
    }

    async register(subscriptionId: string, namespace: string): Promise<void> {
        const what = `register the resource provider ${namespace} in subscription ${subscriptionId}`;
        const answer = await this.call("POST", `/subscriptions/${subscriptionId}/providers/${namespace}/register`, undefined, what);
        if (answer.status === 403) {
            throw new ArmError(
                `cannot ${what}: HTTP 403. Someone with Contributor (or ${namespace}/register/action) on the subscription runs: az provider register --namespace ${namespace}`,
                403,
            );
        }
        this.expect(answer, 200, what);
    }
}

export interface EnsureProvidersOptions {
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
    log?: (line: string) => void;
    /** How long a registration may take (default 10 minutes; most take one or two). */
    timeoutMs?: number;
    pollMs?: number;
}

/** Registers every namespace not yet registered and waits until all are; returns what it registered. */
export async function ensureProvidersRegistered(client: ResourceProvidersClient, subscriptionId: string, namespaces: readonly string[], options: EnsureProvidersOptions = {}): Promise<string[]> {
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const now = options.now ?? Date.now;
    const log = options.log ?? (() => undefined);
    const deadline = now() + (options.timeoutMs ?? 10 * 60_000);
    const registered: string[] = [];
    let pending = [...namespaces];
    for (;;) {
        const states = await Promise.all(pending.map(async (ns) => [ns, await client.state(subscriptionId, ns)] as const));
        for (const [ns, state] of states) {
            if (state === "NotRegistered" || state === "Unregistered") {
                log(`registering the resource provider ${ns} (${REQUIRED_PROVIDERS[ns] ?? "needed by this stack"})`);
                await client.register(subscriptionId, ns);
                registered.push(ns);
            }
        }
        pending = states.filter(([, state]) => state !== "Registered").map(([ns]) => ns);
        if (pending.length === 0) return registered;
        if (now() >= deadline) {
            throw new ArmError(
                `resource provider ${pending.join(", ")} not registered after ${Math.round((options.timeoutMs ?? 600_000) / 60_000)} minutes in subscription ${subscriptionId}: ` +
                    `check with az provider show --namespace ${pending[0]} --query registrationState, then run pulumi up again`,
            );
        }
        await sleep(options.pollMs ?? 10_000);
    }
}
