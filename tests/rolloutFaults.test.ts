// RevisionTraffic against what Azure does that a happy path never shows: a traffic change that
// finishes later (202 and an operation to poll, the app locked meanwhile), a revision scaled to zero
// that has never loaded its model, a revision that failed for a passing reason, and Resource
// Manager answering 429, 5xx, 409, too late or not at all; a rollout that would deactivate before
// moving traffic; a revision that runs replicas but is not healthy yet.
import * as assert from "assert";
import { RevisionTrafficProvider } from "../components/serving/revisionTraffic";
import { trafficSplit } from "../components/serving/containerApp";
import { ContainerAppsClient } from "../lib/azure/containerApps";
import { declaredTraffic, isReady } from "../lib/serving/traffic";
import { FakeContainerApps } from "./helpers/fakeContainerApps";

const APP = "prd-fraud";
const OPEN: { name: string; ipAddressRange: string; action: "Allow" }[] = [{ name: "everyone", ipAddressRange: "0.0.0.0/0", action: "Allow" }];

describe("rollouts against Azure's asynchronous and failing answers", () => {
    let azure: FakeContainerApps;
    let endpoint: string;
    let logs: string[];
    let sleeps: number[];

    beforeEach(async () => {
        azure = new FakeContainerApps();
        endpoint = await azure.start();
        logs = [];
        sleeps = [];
    });
    afterEach(() => azure.stop());

    const client = (options: { maxAttempts?: number; timeoutMs?: number } = {}) =>
        new ContainerAppsClient({ endpoint, token: async () => "fake-arm-token", sleep: async (ms) => void sleeps.push(ms), log: (l) => logs.push(l), ...options });

    function provider(options: { wake?: (fqdn: string) => Promise<string>; clock?: { now: number }; maxAttempts?: number; timeoutMs?: number } = {}): RevisionTrafficProvider {
        const clock = options.clock;
        return new RevisionTrafficProvider({
            client: () => client({ maxAttempts: options.maxAttempts, timeoutMs: options.timeoutMs }),
            sleep: async (ms) => {
                if (clock) clock.now += ms;
            },
            now: clock ? () => clock.now : undefined,
            pollMs: 10_000,
            log: (l) => logs.push(l),
            wake: options.wake ?? (async (fqdn) => azure.wake(fqdn)),
        });
    }

    /** The app's PUT for a suffix (as azure-native sends it), then RevisionTraffic. */
    async function deploy(suffix: string, traffic: RevisionTrafficProvider = provider(), ipSecurityRestrictions?: typeof OPEN): Promise<void> {
        const target = trafficSplit(APP, suffix);
        const current = await client().revisions(azure.appId);
        azure.put(suffix, `template-${suffix}`, declaredTraffic(current && current.length ? current : undefined, target).table);
        // azure-native then PUTs the auth config; RevisionTraffic depends on it.
        azure.putAuthConfig();
        await traffic.update("id", { appId: azure.appId, target: [], readyTimeoutSeconds: 120 }, { appId: azure.appId, target, readyTimeoutSeconds: 120, ipSecurityRestrictions });
    }

    const served = () => azure.traffic.filter((t) => t.weight > 0).map((t) => `${t.weight}% ${t.revisionName}`);

    it("waits for the traffic change to finish before deactivating what served until then", async () => {
        await deploy("v1-a");
        azure.operationPolls = 3;
        azure.calls.length = 0;
        await deploy("v2-b");
        assert.deepStrictEqual(served(), [`100% ${APP}--v2-b`]);
        const changes = azure.calls.filter((c) => !c.endsWith("/revisions"));
        assert.deepStrictEqual(changes, [
            `PATCH ${azure.appId}`,
            "GET /subscriptions/s/providers/Microsoft.App/locations/westeurope/containerappOperationStatuses/op-2",
            "GET /subscriptions/s/providers/Microsoft.App/locations/westeurope/containerappOperationStatuses/op-2",
            "GET /subscriptions/s/providers/Microsoft.App/locations/westeurope/containerappOperationStatuses/op-2",
            `POST ${azure.appId}/revisions/${APP}--v1-a/deactivate`,
        ]);
        assert.deepStrictEqual(azure.lockConflicts, [], "no change ran into the unfinished one");
        assert.deepStrictEqual(azure.deactivatedWithTraffic, [], "the old revision lost its traffic before it was deactivated");
        assert.ok(sleeps.includes(1000), "the operation's Retry-After (1 s) paces the polls");
    });

    it("a revision scaled to zero gets traffic only once a request has started a healthy replica", async () => {
        azure.scaleToZero = true;
        const wakes: string[] = [];
        const traffic = provider({ wake: async (fqdn) => (wakes.push(fqdn), azure.wake(fqdn)) });
        // A new app: its first revision already carries the traffic, so the ingress opens first
        // (its authentication exists by now) and the wake goes through it.
        await deploy("v1-a", traffic, OPEN);
        const firstDeployment = azure.history.length;
        assert.deepStrictEqual(wakes, [`${APP}--v1-a.calmsea-12345678.westeurope.azurecontainerapps.io`]);
        assert.deepStrictEqual(azure.ipSecurityRestrictions, OPEN);
        assert.deepStrictEqual(served(), [`100% ${APP}--v1-a`]);

        // A version bump: v2 sleeps at 0% until woken; v1 keeps 100% until v2 has a healthy replica.
        await deploy("v2-b", traffic, OPEN);
        assert.strictEqual(wakes.length, 2);
        assert.deepStrictEqual(served(), [`100% ${APP}--v2-b`]);
        assert.deepStrictEqual(azure.history.slice(firstDeployment).filter((h) => h.notReadyWithTraffic.length > 0), [], "no share ever reached a revision whose model had not loaded");
        assert.ok(logs.some((l) => l.startsWith(`waking revision ${APP}--v2-b (no replica yet): GET https://${APP}--v2-b.`)));
    });

    it("a revision that cannot be woken (the ingress refuses this machine) fails clearly and keeps the traffic", async () => {
        await deploy("v1-a");
        azure.scaleToZero = true;
        const clock = { now: 0 };
        await assert.rejects(deploy("v2-b", provider({ wake: async () => "HTTP 403", clock })), (err: Error) => {
            assert.match(err.message, new RegExp(`revision ${APP}--v2-b \\(provisioning Provisioned, running Stopped, health None, 0 replicas\\) not ready after 120 s, so it gets no traffic; the traffic stays as it was \\(100% ${APP}--v1-a\\)`));
            assert.match(err.message, new RegExp(`${APP}--v2-b had no replica; a request to https://${APP}--v2-b\\.calmsea-12345678\\.westeurope\\.azurecontainerapps\\.io/ping to start one got HTTP 403 \\(the ingress's IP rules must admit this machine\\)`));
            return true;
        });
        assert.deepStrictEqual(served(), [`100% ${APP}--v1-a`]);
        assert.ok(clock.now >= 120_000);
    });

    it("restarts a revision that failed, once, so a rerun converges under the same name", async () => {
        await deploy("v1-a");
        azure.failStarts.set("v2-b", 1);
        await deploy("v2-b");
        assert.deepStrictEqual(served(), [`100% ${APP}--v2-b`]);
        assert.ok(logs.includes(`restarting revision ${APP}--v2-b (it failed to provision)`));
        assert.strictEqual(azure.calls.filter((c) => c.endsWith("/restart")).length, 1);
    });

    it("a revision that fails again after its restart fails `pulumi up`, and the next run restarts it again", async () => {
        await deploy("v1-a");
        azure.failStarts.set("v2-b", 2);
        await assert.rejects(deploy("v2-b"), new RegExp(`revision ${APP}--v2-b \\(provisioning Failed, running Failed, health None, 0 replicas\\) failed again after a restart, so it gets no traffic; the traffic stays as it was \\(100% ${APP}--v1-a\\)`));
        assert.deepStrictEqual(served(), [`100% ${APP}--v1-a`]);
        // The rerun (same spec, same name) restarts it; this time it starts.
        await deploy("v2-b");
        assert.deepStrictEqual(served(), [`100% ${APP}--v2-b`]);
    });

    it("retries 429 (after its Retry-After), 5xx, a timeout, a reset connection and a 409 lock conflict, then converges", async () => {
        await deploy("v1-a");
        azure.faults.push(
            { method: "GET", path: /\/revisions$/, status: 429, code: "TooManyRequests", retryAfter: "7" },
            { method: "GET", path: /\/authConfigs\/current$/, delayMs: 2_000 },
            { method: "PATCH", status: 503, code: "ServiceUnavailable" },
            { method: "GET", path: /containerappOperationStatuses/, reset: true },
            { method: "POST", path: /\/deactivate$/, status: 409, code: "ContainerAppLockConflict" },
            { method: "POST", path: /\/deactivate$/, status: 500, code: "InternalServerError" },
        );
        sleeps.length = 0;
        await deploy("v2-b", provider({ timeoutMs: 300 }), OPEN);
        assert.deepStrictEqual(served(), [`100% ${APP}--v2-b`]);
        assert.deepStrictEqual(azure.faults, [], "every fault was met");
        assert.ok(sleeps.includes(7000), "Retry-After is honoured");
        for (const [reason, attempt] of [["HTTP 429 TooManyRequests", 1], ["ECONNABORTED", 1], ["HTTP 503 ServiceUnavailable", 1], ["ECONNRESET", 1], ["HTTP 409 ContainerAppLockConflict", 1], ["HTTP 500 InternalServerError", 2]] as const) {
            assert.ok(logs.some((l) => l.includes(`: ${reason}; retry ${attempt}/5 in `)), `${reason} in ${logs.join("\n")}`);
        }
        assert.ok(Math.max(...sleeps) <= 20_000, "each wait is bounded");
    });

    it("gives up within its bound, with a clear message, when Resource Manager keeps failing; the traffic stays", async () => {
        await deploy("v1-a");
        for (let i = 0; i < 6; i++) azure.faults.push({ method: "GET", path: /\/revisions$/, status: 503, code: "ServiceUnavailable" });
        await assert.rejects(
            provider().update("id", { appId: azure.appId, target: [], readyTimeoutSeconds: 60 }, { appId: azure.appId, target: trafficSplit(APP, "v1-a"), readyTimeoutSeconds: 60 }),
            /cannot list the revisions of \/subscriptions\/s\/.*: HTTP 503 \(ServiceUnavailable: fault injected by the test\)\. Resource Manager kept answering so after several retries: run `pulumi up` again later\./,
        );
        for (let i = 0; i < 6; i++) azure.faults.push({ method: "GET", path: /\/revisions$/, reset: true });
        await assert.rejects(client().revisions(azure.appId), /Azure Resource Manager did not answer when trying to list the revisions of .* \(ECONNRESET, 6 attempts\): check the network and run `pulumi up` again/);
        assert.deepStrictEqual(served(), [`100% ${APP}--v1-a`]);
        // Nothing is retried that is not worth retrying: a 409 other than the lock, a 400.
        azure.faults.push({ method: "POST", status: 409, code: "Conflict" });
        await assert.rejects(client().setActive(azure.appId, `${APP}--v1-a`, true), /cannot activate revision prd-fraud--v1-a: HTTP 409 \(Conflict: fault injected by the test\)/);
    });

    it("a rollout that gave up on every kind of fault converges on the rerun", async () => {
        await deploy("v1-a");
        // Each kind until the bound: a timeout, 429, 5xx, the lock conflict: each run fails clearly ...
        const kinds: { fault: (typeof azure.faults)[number]; message: RegExp }[] = [
            { fault: { method: "GET", path: /\/revisions$/, delayMs: 2_000 }, message: /Azure Resource Manager did not answer when trying to list the revisions of .* \(ECONNABORTED, 3 attempts\): check the network and run `pulumi up` again/ },
            { fault: { method: "GET", path: /\/revisions$/, status: 429, code: "TooManyRequests", retryAfter: "1" }, message: /cannot list the revisions of .*: HTTP 429 \(TooManyRequests: .*\)\. Resource Manager kept answering so after several retries/ },
            { fault: { method: "PATCH", status: 502, code: "BadGateway" }, message: /cannot set the traffic of .*: HTTP 502 \(BadGateway: .*\)\. Resource Manager kept answering so after several retries/ },
            { fault: { method: "PATCH", status: 409, code: "ContainerAppLockConflict" }, message: /cannot set the traffic of .*: HTTP 409 \(ContainerAppLockConflict: .*\)\. Resource Manager kept answering so after several retries/ },
        ];
        // The app's PUT of v2-b (0%), then RevisionTraffic, run after run.
        const target = trafficSplit(APP, "v2-b");
        azure.put("v2-b", "template-v2-b", declaredTraffic(await client().revisions(azure.appId), target).table);
        const run = (traffic: RevisionTrafficProvider) => traffic.update("id", { appId: azure.appId, target: [], readyTimeoutSeconds: 120 }, { appId: azure.appId, target, readyTimeoutSeconds: 120 });
        for (const { fault, message } of kinds) {
            for (let i = 0; i < 3; i++) azure.faults.push({ ...fault });
            await assert.rejects(run(provider({ maxAttempts: 3, timeoutMs: 300 })), message);
            assert.deepStrictEqual(azure.faults, [], "each attempt met a fault");
            // ... the old revision keeps serving ...
            assert.deepStrictEqual(served(), [`100% ${APP}--v1-a`]);
        }
        // ... and the rerun, with Resource Manager answering again, converges.
        await run(provider());
        assert.deepStrictEqual(served(), [`100% ${APP}--v2-b`]);
        assert.deepStrictEqual(azure.deactivatedWithTraffic, []);
    });

    it("never deactivates a revision while it has traffic; a rollout that deactivated first would be caught", async () => {
        await deploy("v1-a");
        await deploy("v2-b");
        const neverInactiveWithTraffic = () => {
            assert.deepStrictEqual(azure.deactivatedWithTraffic, [], "deactivated while it had traffic");
            assert.deepStrictEqual(azure.history.flatMap((h) => h.inactiveWithTraffic), [], "a share of the traffic went to an inactive revision");
        };
        neverInactiveWithTraffic();
        // The wrong order, by hand: deactivate what serves, then move the traffic. Azure accepts the
        // deactivation (microsoft/azure-container-apps#410, #1345) and the traffic entry stays.
        const c = client();
        azure.put("v3-c", "template-v3-c", [{ revisionName: `${APP}--v2-b`, weight: 100 }]);
        await c.setActive(azure.appId, `${APP}--v2-b`, false);
        assert.deepStrictEqual(azure.traffic, [{ revisionName: `${APP}--v2-b`, weight: 100 }], "the entry stays: Azure does not move it");
        assert.throws(neverInactiveWithTraffic, /deactivated while it had traffic/);
    });

    it("a revision that runs replicas but is not healthy yet gets no traffic until it is", async () => {
        await deploy("v1-a");
        azure.startsUnhealthy = true;
        azure.readyAfterPolls = 3;
        logs.length = 0;
        // (A new app's first revision gets its traffic in the PUT, closed to every caller: not counted.)
        azure.history.length = 0;
        await deploy("v2-b");
        assert.deepStrictEqual(served(), [`100% ${APP}--v2-b`]);
        assert.ok(logs.some((l) => l.includes(`waiting for revision ${APP}--v2-b (Provisioned, Running, Unhealthy, 2 replicas)`)), logs.join("\n"));
        assert.deepStrictEqual(azure.history.flatMap((h) => h.notReadyWithTraffic), [], "never traffic to a revision before it was healthy");
        assert.strictEqual(isReady({ name: "r", active: true, weight: 0, provisioningState: "Provisioned", runningState: "Running", healthState: "Unhealthy", replicas: 2 }), false);
        assert.strictEqual(isReady({ name: "r", active: true, weight: 0, provisioningState: "Provisioned", runningState: "Running", healthState: "None", replicas: 2 }), false);
    });

    it("reads every page of a revision list (nextLink), and only on Resource Manager's host", async () => {
        await deploy("v1-a");
        await deploy("v2-b");
        await deploy("v3-c");
        azure.pageSize = 1;
        const names = (await client().revisions(azure.appId))!.map((r) => r.name);
        assert.deepStrictEqual(names, [`${APP}--v1-a`, `${APP}--v2-b`, `${APP}--v3-c`]);
        assert.ok(azure.calls.filter((c) => c.endsWith("/revisions")).length >= 3);
    });

    it("never sends the deployer's token to an operation URL on another host", async () => {
        await deploy("v1-a");
        azure.operationOrigin = "http://operations.example.net:8443";
        await assert.rejects(client().setTraffic(azure.appId, trafficSplit(APP, "v1-a")), /cannot set the traffic of .*: Resource Manager named an operation on another host \(operations\.example\.net:8443\); not followed/);
        assert.ok(!azure.calls.some((c) => c.includes("containerappOperationStatuses/op-2")), "the foreign operation URL was never called");
    });
});
