// Container Apps rollouts as a sequence of config edits, against a fake Resource Manager that
// applies traffic the way Azure does: each step's traffic names only revisions that exist, no
// request reaches a revision before it is ready, and promotion and rollback create no revision.
import * as assert from "assert";
import { RevisionTrafficProvider } from "../components/serving/revisionTraffic";
import { trafficSplit } from "../components/serving/containerApp";
import { ContainerAppsClient } from "../lib/azure/containerApps";
import { revisionSuffix, type RevisionSpec } from "../lib/serving/revision";
import { declaredTraffic, isReady, needsWaking, revisionsToDeactivate, targetProblems, type RevisionState } from "../lib/serving/traffic";
import { FakeContainerApps } from "./helpers/fakeContainerApps";

const APP = "prd-fraud";

function spec(version: string, cpu = 2): RevisionSpec {
    return { image: `models/fraud:main.risk.fraud-v${version}-0123456789ab`, env: [{ name: "MLFLOW_MODELS_WORKERS", value: "2" }], cpu, memoryGb: cpu * 2, workers: 2, probes: [], scale: { minReplicas: 2, maxReplicas: 10, concurrentRequests: 20 } };
}

/** One stack config, as far as a rollout is concerned. */
interface Step {
    stable: { version: string; cpu?: number };
    canary?: { version: string; weight: number };
}

describe("Container Apps rollouts, step by step", () => {
    const azure = new FakeContainerApps();
    let endpoint: string;
    const logs: string[] = [];
    before(async () => (endpoint = await azure.start()));
    after(() => azure.stop());

    const client = () => new ContainerAppsClient({ endpoint, token: async () => "fake-arm-token", sleep: async () => undefined });
    const provider = new RevisionTrafficProvider({ client, sleep: async () => undefined, pollMs: 1, log: (l) => logs.push(l) });

    /** What `pulumi up` does for one config: plan from the live app, PUT the app, then the traffic resource. */
    async function deploy(step: Step): Promise<{ created: string[]; target: ReturnType<typeof trafficSplit> }> {
        const stableSpec = spec(step.stable.version, step.stable.cpu);
        const stableSuffix = revisionSuffix(step.stable.version, stableSpec);
        const canarySpec = step.canary ? spec(step.canary.version, step.stable.cpu) : undefined;
        const canarySuffix = step.canary ? revisionSuffix(step.canary.version, canarySpec!) : undefined;
        const target = trafficSplit(APP, stableSuffix, step.canary ? { suffix: canarySuffix!, weight: step.canary.weight } : undefined);
        const current = await client().revisions(azure.appId);
        const declared = declaredTraffic(current && current.length ? current : undefined, target);
        const before = new Set(azure.revisions.keys());
        const templateSpec = canarySpec ?? stableSpec;
        azure.put(canarySuffix ?? stableSuffix, JSON.stringify(templateSpec), declared.table);
        await provider.update("id", { appId: azure.appId, target: [], readyTimeoutSeconds: 60 }, { appId: azure.appId, target, readyTimeoutSeconds: 60 });
        return { created: [...azure.revisions.keys()].filter((n) => !before.has(n)), target };
    }

    const activeNames = () => [...azure.revisions.values()].filter((r) => r.active).map((r) => r.name).sort();
    const served = () => azure.traffic.filter((t) => t.weight > 0).map((t) => `${t.weight}% ${t.revisionName}`);

    it("goes through version bump, resize, canary, promotion, rollback and canary off safely", async () => {
        const v7 = `${APP}--${revisionSuffix("7", spec("7"))}`;
        const v8 = `${APP}--${revisionSuffix("8", spec("8"))}`;
        const v8big = `${APP}--${revisionSuffix("8", spec("8", 4))}`;
        const v9big = `${APP}--${revisionSuffix("9", spec("9", 4))}`;

        // First deployment: a new app gets its first revision.
        let step = await deploy({ stable: { version: "7" } });
        assert.deepStrictEqual(step.created, [v7]);
        assert.deepStrictEqual(served(), [`100% ${v7}`]);

        // Version bump: v8 is created at 0%, gets 100% once ready; v7 is deactivated (kept inactive).
        step = await deploy({ stable: { version: "8" } });
        assert.deepStrictEqual(step.created, [v8]);
        assert.deepStrictEqual(served(), [`100% ${v8}`]);
        assert.deepStrictEqual(activeNames(), [v8]);

        // Resize: a new revision of the same version.
        step = await deploy({ stable: { version: "8", cpu: 4 } });
        assert.deepStrictEqual(step.created, [v8big]);
        assert.deepStrictEqual(served(), [`100% ${v8big}`]);

        // Canary on: v9 takes 10% once ready.
        step = await deploy({ stable: { version: "8", cpu: 4 }, canary: { version: "9", weight: 10 } });
        assert.deepStrictEqual(step.created, [v9big]);
        assert.deepStrictEqual(served(), [`90% ${v8big}`, `10% ${v9big}`]);

        // Promotion: the champion alias moves to 9 and the canary is removed: the canary's revision
        // becomes the stable one; nothing is created.
        step = await deploy({ stable: { version: "9", cpu: 4 } });
        assert.deepStrictEqual(step.created, []);
        assert.deepStrictEqual(served(), [`100% ${v9big}`]);
        assert.deepStrictEqual(activeNames(), [v9big]);

        // Rollback to 8: its revision is still there (inactive): activated, no revision created.
        step = await deploy({ stable: { version: "8", cpu: 4 } });
        assert.deepStrictEqual(step.created, []);
        assert.deepStrictEqual(served(), [`100% ${v8big}`]);
        assert.ok(logs.some((l) => l === `activating revision ${v8big}`));

        // Canary on and off again: the canary's revision exists (inactive) and is reused, then dropped.
        step = await deploy({ stable: { version: "8", cpu: 4 }, canary: { version: "9", weight: 25 } });
        assert.deepStrictEqual(step.created, []);
        assert.deepStrictEqual(served(), [`75% ${v8big}`, `25% ${v9big}`]);
        step = await deploy({ stable: { version: "8", cpu: 4 } });
        assert.deepStrictEqual(served(), [`100% ${v8big}`]);
        assert.deepStrictEqual(activeNames(), [v8big]);

        // Through all of it, no traffic table ever gave a share to a revision that was not ready,
        // except the very first one (a new app has nothing else to serve); no revision was
        // deactivated while it had traffic, and no change ran into one still in progress.
        assert.deepStrictEqual(azure.history.slice(1).filter((h) => h.notReadyWithTraffic.length > 0), []);
        assert.deepStrictEqual(azure.deactivatedWithTraffic, []);
        assert.deepStrictEqual(azure.history.filter((h) => h.inactiveWithTraffic.length > 0), [], "no share of the traffic ever went to an inactive revision");
        assert.deepStrictEqual(azure.lockConflicts, []);
        for (const h of azure.history) for (const t of h.table) assert.ok(azure.revisions.has(t.revisionName), t.revisionName);
    });

    it("a revision that never becomes ready fails `pulumi up` clearly and the previous one keeps 100%", async () => {
        const v10 = revisionSuffix("10", spec("10", 4));
        azure.neverReady.add(v10);
        await assert.rejects(
            (async () => {
                const target = trafficSplit(APP, v10);
                const current = await client().revisions(azure.appId);
                azure.put(v10, JSON.stringify(spec("10", 4)), declaredTraffic(current, target).table);
                let clock = 0;
                const slow = new RevisionTrafficProvider({ client, sleep: async () => void (clock += 10_000), now: () => clock, pollMs: 10_000, log: () => undefined });
                await slow.create({ appId: azure.appId, target, readyTimeoutSeconds: 60 });
            })(),
            (err: Error) => {
                assert.match(err.message, new RegExp(`revision ${APP}--${v10} \\(provisioning Provisioning, running Processing, health None, 2 replicas\\) not ready after 60 s, so it gets no traffic; the traffic stays as it was \\(100% ${APP}--v8-`));
                assert.match(err.message, /fix the model or the size, and run `pulumi up` again/);
                return true;
            },
        );
        assert.strictEqual(served().length, 1);
        assert.match(served()[0], /^100% prd-fraud--v8-/);
        // A re-run after a fix (a new spec, so a new revision) converges.
        azure.neverReady.clear();
        await deploy({ stable: { version: "11", cpu: 4 } });
        assert.deepStrictEqual(served(), [`100% ${APP}--${revisionSuffix("11", spec("11", 4))}`]);
    });
});

describe("traffic rules", () => {
    const ready = (name: string, weight = 0): RevisionState => ({ name, active: true, weight, provisioningState: "Provisioned", runningState: "Running", healthState: "Healthy", replicas: 2 });
    const starting = (name: string): RevisionState => ({ name, active: true, weight: 0, provisioningState: "Provisioning", runningState: "Processing", healthState: "None" });

    it("the app's PUT keeps what serves now while a target revision is not ready", () => {
        const target = trafficSplit("a", "v2-x");
        assert.deepStrictEqual(declaredTraffic([ready("a--v1-x", 100), starting("a--v2-x")], target), { table: [{ revisionName: "a--v1-x", weight: 100 }, { revisionName: "a--v2-x", weight: 0 }], final: false });
        assert.deepStrictEqual(declaredTraffic([ready("a--v1-x", 100)], target).table, [{ revisionName: "a--v1-x", weight: 100 }], "a revision the PUT creates is not named yet");
        assert.deepStrictEqual(declaredTraffic([ready("a--v1-x", 100), ready("a--v2-x")], target), { table: [{ revisionName: "a--v2-x", weight: 100, label: "stable" }], final: true });
        assert.deepStrictEqual(declaredTraffic(undefined, target).final, true, "a new app");
    });

    it("readiness, deactivation and target checks", () => {
        assert.strictEqual(isReady(ready("r")), true);
        assert.strictEqual(isReady(starting("r")), false);
        assert.strictEqual(isReady({ ...ready("r"), active: false }), false);
        const asleep: RevisionState = { name: "r", active: true, weight: 0, provisioningState: "Provisioned", runningState: "Stopped", healthState: "None", replicas: 0 };
        assert.strictEqual(isReady(asleep), false, "scaled to zero: nothing has shown its model loads");
        assert.strictEqual(needsWaking(asleep), true);
        assert.strictEqual(isReady({ ...ready("r"), replicas: 0 }), false, "healthy but no replica");
        assert.strictEqual(isReady({ ...ready("r"), healthState: "Unhealthy" }), false, "a replica that is not healthy yet");
        assert.strictEqual(isReady({ ...ready("r"), runningState: "Degraded" }), false);
        assert.strictEqual(isReady({ ...ready("r"), runningState: "RunningAtMaxScale" }), true);
        assert.strictEqual(needsWaking(ready("r")), false);
        assert.strictEqual(needsWaking({ ...asleep, runningState: "Failed" }), false);
        assert.deepStrictEqual(revisionsToDeactivate([ready("a", 100), ready("b"), { ...ready("c"), active: false }], [{ revision: "a", weight: 100, label: "stable" }]), ["b"]);
        assert.deepStrictEqual(targetProblems([{ revision: "a", weight: 90, label: "stable" }]), ["traffic weights add up to 90, not 100"]);
        assert.deepStrictEqual(targetProblems([{ revision: "a", weight: 0, label: "stable" }, { revision: "b", weight: 100, label: "canary" }]), []);
    });

    it("a target naming a revision that does not exist fails before any traffic moves", async () => {
        const azure = new FakeContainerApps();
        const endpoint = await azure.start();
        try {
            azure.put("v1-x", "t1", [{ revisionName: `${APP}--v1-x`, weight: 100 }]);
            const provider = new RevisionTrafficProvider({ client: () => new ContainerAppsClient({ endpoint, token: async () => "fake-arm-token", sleep: async () => undefined }), sleep: async () => undefined, log: () => undefined });
            await assert.rejects(provider.create({ appId: azure.appId, target: [{ revision: `${APP}--v9-y`, weight: 100, label: "stable" }], readyTimeoutSeconds: 5 }), /revision prd-fraud--v9-y does not exist, so it cannot get traffic; the traffic stays as it is/);
            assert.deepStrictEqual(azure.traffic, [{ revisionName: `${APP}--v1-x`, weight: 100 }]);
            const checked = await provider.check({} as any, { appId: azure.appId, target: [{ revision: "x", weight: 50, label: "stable" }], readyTimeoutSeconds: 5 });
            assert.deepStrictEqual(checked.failures, [{ property: "target", reason: "traffic weights add up to 50, not 100" }]);
        } finally {
            await azure.stop();
        }
    });

    it("names the missing permission when Resource Manager refuses", async () => {
        const azure = new FakeContainerApps();
        const endpoint = await azure.start();
        try {
            const anonymous = new ContainerAppsClient({ endpoint, token: async () => "" });
            await assert.rejects(anonymous.revisions(azure.appId), /cannot list the revisions of .*: HTTP 401 \(AuthenticationFailed: no token\)\. The deploying identity needs Contributor/);
            assert.strictEqual(await new ContainerAppsClient({ endpoint, token: async () => "t" }).revisions("/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/absent"), undefined);
        } finally {
            await azure.stop();
        }
    });
});

describe("rollout providers as Pulumi stores them", () => {
    it("RevisionTraffic and Delay serialize, and the serialized code runs", async () => {
        const { recordProgram } = await import("../lib/plan");
        const { RevisionTraffic } = await import("../components/serving/revisionTraffic");
        const { Delay } = await import("../components/serving/delay");
        const { loadSerializedProvider } = await import("./helpers/serializedProvider");
        const { PROJECT_DIR, byType } = await import("./helpers/fixtures");
        const plan = await recordProgram(
            () => {
                new RevisionTraffic("t", { appId: "/subscriptions/s/x", target: [{ revision: "a--v1-x", weight: 100, label: "stable" }], readyTimeoutSeconds: 60 });
                new Delay("d", { seconds: 0, reason: "test" });
                return {};
            },
            { project: "mlflow-platform", stack: "test" },
        );
        const traffic = loadSerializedProvider(String(byType(plan, "pulumi-nodejs:dynamic/serving:RevisionTraffic")[0].inputs.__provider), PROJECT_DIR);
        const checked = await traffic.check!({}, { appId: "/subscriptions/s/x", target: [{ revision: "a", weight: 60, label: "stable" }], readyTimeoutSeconds: 60 });
        assert.deepStrictEqual(checked.failures, [{ property: "target", reason: "traffic weights add up to 60, not 100" }]);
        const delay = loadSerializedProvider(String(byType(plan, "pulumi-nodejs:dynamic/serving:Delay")[0].inputs.__provider), PROJECT_DIR);
        const created = await delay.create({ seconds: 0, reason: "test" });
        assert.strictEqual(created.id, "delay-0s");
        assert.deepStrictEqual(await delay.diff!("delay-0s", { seconds: 0 }, { seconds: 5 }), { changes: false }, "a later deployment never waits again");
    });
});
