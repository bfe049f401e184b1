// `RevisionTraffic`: a Pulumi dynamic resource that moves a container app's traffic to its target
// revisions only once they are ready, then deactivates the revisions that no longer get traffic.
// A thin adapter over lib/azure/containerApps.ts; the rules are in lib/serving/traffic.ts.
import * as pulumi from "@pulumi/pulumi";
import { ARM_SCOPE, ContainerAppsClient, type IpRule } from "../../lib/azure/containerApps";
import { isReady, revisionsToDeactivate, targetProblems, type RevisionState, type TrafficTarget } from "../../lib/serving/traffic";

export interface RevisionTrafficState {
    /** The container app's ARM id. */
    appId: string;
    target: TrafficTarget[];
    /** How long a new revision may take to become ready before `pulumi up` fails. */
    readyTimeoutSeconds: number;
    /**
     * The ingress IP rules to set with the traffic. A new app is created admitting nobody; this
     * resource runs after its Entra authentication config exists and opens the ingress.
     */
    ipSecurityRestrictions?: IpRule[];
}

export interface RevisionTrafficOptions {
    client?: () => ContainerAppsClient;
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
    pollMs?: number;
    /** Progress lines; the provider's stderr reaches `pulumi up`. */
    log?: (line: string) => void;
}

export class RevisionTrafficProvider implements pulumi.dynamic.ResourceProvider {
    constructor(private readonly options: RevisionTrafficOptions = {}) {}

    async check(_olds: RevisionTrafficState, news: RevisionTrafficState): Promise<pulumi.dynamic.CheckResult<RevisionTrafficState>> {
        const problems = Array.isArray(news.target) ? targetProblems(news.target) : ["target must be a list of revisions and weights"];
        return { inputs: news, failures: problems.map((reason) => ({ property: "target", reason })) };
    }

    async diff(_id: string, olds: RevisionTrafficState, news: RevisionTrafficState): Promise<pulumi.dynamic.DiffResult> {
        const replaces = olds.appId !== news.appId ? ["appId"] : [];
        const changed = JSON.stringify(olds.target) !== JSON.stringify(news.target) || JSON.stringify(olds.ipSecurityRestrictions ?? null) !== JSON.stringify(news.ipSecurityRestrictions ?? null);
        return { changes: replaces.length > 0 || changed, replaces };
    }

    async create(inputs: RevisionTrafficState): Promise<pulumi.dynamic.CreateResult<RevisionTrafficState>> {
        await this.apply(inputs);
        return { id: `${inputs.appId}/traffic`, outs: inputs };
    }

    async update(_id: string, _olds: RevisionTrafficState, news: RevisionTrafficState): Promise<pulumi.dynamic.UpdateResult<RevisionTrafficState>> {
        await this.apply(news);
        return { outs: news };
    }

    /** Removing the resource leaves the app's traffic as it is. */
    async delete(): Promise<void> {}

    private client(): ContainerAppsClient {
        if (this.options.client) return this.options.client();
        // Loaded in the provider process: the deployer's own sign-in, never a value in state.
        const credential = new (require("@azure/identity").DefaultAzureCredential)();
        return new ContainerAppsClient({
            token: async () => {
                const token = await credential.getToken(ARM_SCOPE);
                if (!token?.token) throw new Error("no Microsoft Entra token for Azure Resource Manager: run `az login`");
                return token.token;
            },
        });
    }

    /** Waits for every revision that gets traffic to be ready, then applies the weights. */
    private async apply(inputs: RevisionTrafficState): Promise<void> {
        const client = this.client();
        const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
        const now = this.options.now ?? Date.now;
        const log = this.options.log ?? ((line: string) => console.error(line));
        const deadline = now() + inputs.readyTimeoutSeconds * 1000;
        const needed = inputs.target.filter((t) => t.weight > 0).map((t) => t.revision);
        let revisions: RevisionState[];
        for (;;) {
            const found = await client.revisions(inputs.appId);
            if (!found) throw new Error(`container app ${inputs.appId} does not exist`);
            revisions = found;
            const byName = new Map(revisions.map((r) => [r.name, r]));
            const missing = needed.filter((name) => !byName.has(name));
            if (missing.length > 0) {
                throw new Error(
                    `revision ${missing.join(", ")} does not exist, so it cannot get traffic; the traffic stays as it is. ` +
                        "A revision exists once a deployment created it: check the container app's revisions, or set the traffic back in config.",
                );
            }
            const failed = needed.map((name) => byName.get(name)!).filter((r) => r.provisioningState === "Failed" || r.runningState === "Failed");
            if (failed.length > 0) throw notReady(failed, "failed", revisions);
            // A rollback returns to a revision Azure keeps inactive: activate it (re-using its
            // suffix in the app's PUT does nothing).
            for (const revision of needed.map((name) => byName.get(name)!).filter((r) => !r.active)) {
                log(`activating revision ${revision.name}`);
                await client.setActive(inputs.appId, revision.name, true);
            }
            const waiting = needed.map((name) => byName.get(name)!).filter((r) => !isReady(r));
            if (waiting.length === 0) break;
            if (now() >= deadline) throw notReady(waiting, `not ready after ${inputs.readyTimeoutSeconds} s`, revisions);
            log(`waiting for revision ${waiting.map((r) => `${r.name} (${r.provisioningState ?? "?"}, ${r.runningState ?? "?"}, ${r.healthState ?? "?"})`).join(", ")}`);
            await sleep(this.options.pollMs ?? 10_000);
        }
        await client.setTraffic(inputs.appId, inputs.target, inputs.ipSecurityRestrictions);
        log(`traffic: ${inputs.target.map((t) => `${t.weight}% ${t.revision}`).join(", ")}`);
        for (const name of revisionsToDeactivate(revisions, inputs.target)) {
            log(`deactivating revision ${name} (no traffic)`);
            await client.setActive(inputs.appId, name, false);
        }
    }
}

function notReady(revisions: RevisionState[], what: string, all: RevisionState[]): Error {
    const serving = all.filter((r) => r.weight > 0).map((r) => `${r.weight}% ${r.name}`);
    return new Error(
        `revision ${revisions.map((r) => `${r.name} (provisioning ${r.provisioningState ?? "?"}, running ${r.runningState ?? "?"}, health ${r.healthState ?? "?"})`).join(", ")} ${what}, ` +
            `so it gets no traffic; the traffic stays as it was (${serving.join(", ") || "none"}). ` +
            "Look at the revision's logs (az containerapp logs show --revision ...), fix the model or the size, and run `pulumi up` again.",
    );
}

const defaultProvider = new RevisionTrafficProvider();

/** Traffic for a container app, moved to revisions only when they are ready. */
export class RevisionTraffic extends pulumi.dynamic.Resource {
    declare readonly appId: pulumi.Output<string>;
    declare readonly target: pulumi.Output<TrafficTarget[]>;

    constructor(name: string, args: { appId: pulumi.Input<string>; target: TrafficTarget[]; readyTimeoutSeconds: number; ipSecurityRestrictions?: IpRule[] }, opts?: pulumi.CustomResourceOptions, provider: RevisionTrafficProvider = defaultProvider) {
        super(provider, name, args, opts, "serving", "RevisionTraffic");
    }
}
