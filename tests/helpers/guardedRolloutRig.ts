// One container app under a guarded rollout, for the sequence tests: the fake Resource Manager
// (its Metrics - List answered by the fake query API), the fake Log Analytics query API, a clock
// that moves when RevisionTraffic sleeps, and RevisionTraffic with the real clients pointed at them.
import { RevisionTrafficProvider, type RevisionTrafficOptions, type RevisionTrafficState, type TrafficGuard } from "../../components/serving/revisionTraffic";
import { trafficSplit } from "../../components/serving/containerApp";
import { ContainerAppsClient, MonitorMetricsClient } from "../../lib/azure/containerApps";
import { LogAnalyticsClient } from "../../lib/azure/logAnalytics";
import { declaredTraffic } from "../../lib/serving/traffic";
import { FakeContainerApps } from "./fakeContainerApps";
import { FakeLogAnalytics } from "./fakeLogAnalytics";

export const RIG_APP = "prd-fraud";

const noWait = async () => undefined;

export class GuardedRolloutRig {
    readonly logs: string[] = [];
    readonly clock = { now: Date.parse("2026-12-02T10:00:00Z") };
    private armEndpoint = "";
    private queryEndpoint = "";

    private constructor(
        readonly azure: FakeContainerApps,
        readonly queries: FakeLogAnalytics,
    ) {}

    static async start(): Promise<GuardedRolloutRig> {
        const azure = new FakeContainerApps();
        const queries = new FakeLogAnalytics(azure);
        const rig = new GuardedRolloutRig(azure, queries);
        rig.armEndpoint = await azure.start();
        rig.queryEndpoint = await queries.start();
        azure.metricsAnswer = (query) => queries.metricsAnswer(query);
        return rig;
    }

    async stop(): Promise<void> {
        await this.azure.stop();
        await this.queries.stop();
    }

    client(): ContainerAppsClient {
        return new ContainerAppsClient({ endpoint: this.armEndpoint, token: async () => "fake-arm-token", sleep: noWait, log: (l) => this.logs.push(l) });
    }

    provider(extra: Partial<RevisionTrafficOptions> = {}): RevisionTrafficProvider {
        return new RevisionTrafficProvider({
            client: () => this.client(),
            logAnalytics: () => new LogAnalyticsClient({ endpoint: this.queryEndpoint, token: async () => "la-token", retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10, sleep: noWait }, log: (l) => this.logs.push(l) }),
            metrics: () => new MonitorMetricsClient({ endpoint: this.armEndpoint, token: async () => "fake-arm-token", sleep: noWait, maxAttempts: 2 }),
            sleep: async (ms) => void (this.clock.now += ms),
            now: () => this.clock.now,
            pollMs: 10_000,
            log: (l) => this.logs.push(l),
            wake: async (fqdn) => this.azure.wake(fqdn),
            ...extra,
        });
    }

    state(suffix: string, guard?: TrafficGuard): RevisionTrafficState {
        return { appId: this.azure.appId, target: trafficSplit(RIG_APP, suffix), readyTimeoutSeconds: 600, ...(guard ? { guard } : {}) };
    }

    /** The app's PUT for a suffix (as azure-native sends it: what serves now, the new revision at 0%), then RevisionTraffic. */
    async deploy(suffix: string, olds: RevisionTrafficState, news: RevisionTrafficState, provider = this.provider()): Promise<RevisionTrafficState> {
        const current = await this.client().revisions(this.azure.appId);
        this.azure.put(suffix, `template-${suffix}`, declaredTraffic(current && current.length ? current : undefined, news.target, { guarded: news.guard !== undefined }).table);
        this.azure.putAuthConfig();
        return (await provider.update(`${this.azure.appId}/traffic`, olds, news)).outs as RevisionTrafficState;
    }

    /** Each traffic table the app had, shortest form: "10% v2-bbbb + 90% v1-aaaa". */
    tables(): string[] {
        return this.azure.history.map((h) => h.table.filter((t) => t.weight > 0).map((t) => `${t.weight}% ${t.revisionName.slice(RIG_APP.length + 2)}`).join(" + "));
    }

    /** v1 serving 100%, as a first deployment leaves it (nothing to compare with: one step); history and logs cleared. */
    async v1Serving(guard: TrafficGuard, provider?: RevisionTrafficProvider): Promise<RevisionTrafficState> {
        const first = await this.deploy("v1-aaaa", this.state("v1-aaaa"), this.state("v1-aaaa", guard), provider);
        this.azure.history.length = 0;
        this.logs.length = 0;
        return first;
    }
}

/** The error a promise failed with (with the partial-failure fields the engine reads), or a failed test. */
export async function failure(promise: Promise<unknown>): Promise<Error & { id?: string; properties?: RevisionTrafficState }> {
    try {
        await promise;
    } catch (err) {
        return err as Error & { id?: string; properties?: RevisionTrafficState };
    }
    throw new Error("expected the rollout to fail");
}
