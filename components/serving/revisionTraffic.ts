// `RevisionTraffic`: a Pulumi dynamic resource that moves a container app's traffic to its target
// revisions only once they are ready, then deactivates the revisions that no longer get traffic.
// A thin adapter over lib/azure/containerApps.ts; the rules are in lib/serving/traffic.ts.
import * as pulumi from "@pulumi/pulumi";
import { ARM_SCOPE, ContainerAppsClient, type IpRule } from "../../lib/azure/containerApps";
import { hasFailed, isReady, needsWaking, revisionsToDeactivate, targetProblems, type RevisionState, type TrafficTarget } from "../../lib/serving/traffic";
import { azureSignIn } from "../../lib/azure/signIn";

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
    /**
     * True when this deployment's app PUT closed the ingress (the app is new, or its authentication
     * config did not exist when the run started): a change of it makes this resource run again, so
     * it reopens the ingress even when the target is unchanged.
     */
    ingressClosedByApp?: boolean;
}

export interface RevisionTrafficOptions {
    client?: () => ContainerAppsClient;
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
    pollMs?: number;
    /** Progress lines; the provider's stderr reaches `pulumi up`. */
    log?: (line: string) => void;
    /**
     * Sends one request to a revision's own address so a revision scaled to zero starts a replica;
     * resolves to what happened, for messages. Default: GET https://<fqdn>/ping.
     */
    wake?: (fqdn: string) => Promise<string>;
}

/** How often a revision with no replica is woken again while waiting. */
const WAKE_EVERY_MS = 60_000;

/** GET https://<fqdn>/ping: any answer (401 from the app's authentication included) means a replica was asked to start. */
async function wakeByPing(fqdn: string): Promise<string> {
    const axios = require("axios") as typeof import("axios").default;
    try {
        const answer = await axios.get(`https://${fqdn}/ping`, { timeout: 30_000, validateStatus: () => true, maxRedirects: 0 });
        return `HTTP ${answer.status}`;
    } catch (err) {
        return `no answer (${(err as { code?: string }).code ?? "network error"})`;
    }
}

export class RevisionTrafficProvider implements pulumi.dynamic.ResourceProvider {
    constructor(private readonly options: RevisionTrafficOptions = {}) {}

    async check(_olds: RevisionTrafficState, news: RevisionTrafficState): Promise<pulumi.dynamic.CheckResult<RevisionTrafficState>> {
        const problems = Array.isArray(news.target) ? targetProblems(news.target) : ["target must be a list of revisions and weights"];
        return { inputs: news, failures: problems.map((reason) => ({ property: "target", reason })) };
    }

    async diff(_id: string, olds: RevisionTrafficState, news: RevisionTrafficState): Promise<pulumi.dynamic.DiffResult> {
        const replaces = olds.appId !== news.appId ? ["appId"] : [];
        const changed =
            JSON.stringify(olds.target) !== JSON.stringify(news.target) ||
            JSON.stringify(olds.ipSecurityRestrictions ?? null) !== JSON.stringify(news.ipSecurityRestrictions ?? null) ||
            Boolean(olds.ingressClosedByApp) !== Boolean(news.ingressClosedByApp);
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
        const credential = azureSignIn();
        return new ContainerAppsClient({
            log: this.options.log ?? ((line: string) => console.error(line)),
            token: async () => {
                const token = await credential.getToken(ARM_SCOPE);
                if (!token?.token) throw new Error("no Microsoft Entra token for Azure Resource Manager: run `az login`");
                return token.token;
            },
        });
    }

    /**
     * Waits for every revision that gets traffic to be ready, then applies the weights, waits for
     * that change to finish, and only then deactivates the revisions that no longer get traffic.
     */
    private async apply(inputs: RevisionTrafficState): Promise<void> {
        const client = this.client();
        const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
        const now = this.options.now ?? Date.now;
        const log = this.options.log ?? ((line: string) => console.error(line));
        const wake = this.options.wake ?? wakeByPing;
        const deadline = now() + inputs.readyTimeoutSeconds * 1000;
        const needed = inputs.target.filter((t) => t.weight > 0).map((t) => t.revision);
        const restarted = new Set<string>();
        const woken = new Map<string, { at: number; result: string }>();
        let ingressOpened = false;
        // The ingress opens only once the app refuses anonymous requests: a first run whose auth
        // config failed left an app without one, and opening it then would serve anyone.
        let authChecked = false;
        const openIngress = async () => {
            if (authChecked || !inputs.ipSecurityRestrictions) return;
            if (!(await client.authConfigured(inputs.appId))) {
                throw new Error(
                    `container app ${inputs.appId} has no Entra authentication config (authConfigs/current requiring a token), so its ingress stays closed ` +
                        "and the traffic stays as it is. Run `pulumi up` again: the authentication config is created before the ingress opens.",
                );
            }
            authChecked = true;
        };
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
            const targets = needed.map((name) => byName.get(name)!);
            // A revision that failed keeps its name (the name follows from its spec), so a rerun
            // restarts it once instead of failing until something else in the spec changes.
            const failed = targets.filter(hasFailed);
            const again = failed.filter((r) => restarted.has(r.name));
            if (again.length > 0) throw notReady(again, "failed again after a restart", revisions, woken);
            for (const revision of failed) {
                log(`restarting revision ${revision.name} (it ${revision.provisioningState === "Failed" ? "failed to provision" : "failed to run"})`);
                await client.restart(inputs.appId, revision.name);
                restarted.add(revision.name);
            }
            if (failed.length > 0) continue;
            // A rollback returns to a revision Azure keeps inactive: activate it (re-using its
            // suffix in the app's PUT does nothing).
            for (const revision of targets.filter((r) => !r.active)) {
                log(`activating revision ${revision.name}`);
                await client.setActive(inputs.appId, revision.name, true);
            }
            const waiting = targets.filter((r) => !isReady(r));
            if (waiting.length === 0) break;
            // When what serves now is already the target (a new app), the ingress may open now: its
            // authentication config exists, and a revision scaled to zero can only be woken through it.
            const serving = revisions.filter((r) => r.weight > 0).map((r) => r.name);
            if (!ingressOpened && inputs.ipSecurityRestrictions && serving.length > 0 && serving.every((name) => needed.includes(name))) {
                await openIngress();
                await client.setTraffic(inputs.appId, inputs.target, inputs.ipSecurityRestrictions);
                ingressOpened = true;
            }
            for (const revision of waiting.filter(needsWaking)) {
                const last = woken.get(revision.name);
                if (!revision.fqdn || (last && now() - last.at < WAKE_EVERY_MS)) continue;
                const result = await wake(revision.fqdn);
                woken.set(revision.name, { at: now(), result });
                log(`waking revision ${revision.name} (no replica yet): GET https://${revision.fqdn}/ping: ${result}`);
            }
            if (now() >= deadline) throw notReady(waiting, `not ready after ${inputs.readyTimeoutSeconds} s`, revisions, woken);
            log(`waiting for revision ${waiting.map((r) => `${r.name} (${r.provisioningState ?? "?"}, ${r.runningState ?? "?"}, ${r.healthState ?? "?"}, ${r.replicas ?? 0} replicas)`).join(", ")}`);
            await sleep(this.options.pollMs ?? 10_000);
        }
        // setTraffic returns once Azure has finished the change (its operation is polled): only
        // then may the revisions that served until now go away.
        await openIngress();
        await client.setTraffic(inputs.appId, inputs.target, inputs.ipSecurityRestrictions);
        log(`traffic: ${inputs.target.map((t) => `${t.weight}% ${t.revision}`).join(", ")}`);
        for (const name of revisionsToDeactivate(revisions, inputs.target)) {
            log(`deactivating revision ${name} (no traffic)`);
            await client.setActive(inputs.appId, name, false);
        }
    }
}

function notReady(revisions: RevisionState[], what: string, all: RevisionState[], woken: Map<string, { result: string }>): Error {
    const serving = all.filter((r) => r.weight > 0).map((r) => `${r.weight}% ${r.name}`);
    const wakes = revisions
        .filter((r) => woken.has(r.name))
        .map((r) => `${r.name} had no replica; a request to https://${r.fqdn}/ping to start one got ${woken.get(r.name)!.result} (the ingress's IP rules must admit this machine). `);
    return new Error(
        `revision ${revisions.map((r) => `${r.name} (provisioning ${r.provisioningState ?? "?"}, running ${r.runningState ?? "?"}, health ${r.healthState ?? "?"}, ${r.replicas ?? 0} replicas)`).join(", ")} ${what}, ` +
            `so it gets no traffic; the traffic stays as it was (${serving.join(", ") || "none"}). ` +
            `${wakes.join("")}Look at the revision's logs (az containerapp logs show --revision ...), fix the model or the size, and run \`pulumi up\` again.`,
    );
}

const defaultProvider = new RevisionTrafficProvider();

/** Traffic for a container app, moved to revisions only when they are ready. */
export class RevisionTraffic extends pulumi.dynamic.Resource {
    declare readonly appId: pulumi.Output<string>;
    declare readonly target: pulumi.Output<TrafficTarget[]>;

    constructor(
        name: string,
        args: { appId: pulumi.Input<string>; target: TrafficTarget[]; readyTimeoutSeconds: number; ipSecurityRestrictions?: IpRule[]; ingressClosedByApp?: boolean },
        opts?: pulumi.CustomResourceOptions,
        provider: RevisionTrafficProvider = defaultProvider,
    ) {
        super(provider, name, args, opts, "serving", "RevisionTraffic");
    }
}
