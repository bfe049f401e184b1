// RevisionTraffic's decisions, one by one, against a scripted Container Apps client that records
// every call in order: when traffic moves, what is deactivated and only after the move, what is
// restarted, activated, woken, waited for, and when waiting ends.
import * as assert from "assert";
import * as http from "http";
import * as https from "https";
import type { AddressInfo } from "net";
import { RevisionTrafficProvider, type RevisionTrafficState } from "../components/serving/revisionTraffic";
import { ARM_SCOPE, type ContainerAppsClient, type IpRule } from "../lib/azure/containerApps";
import type { RevisionState, TrafficTarget } from "../lib/serving/traffic";

const APP_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/app";

const ready = (name: string, weight = 0, extra: Partial<RevisionState> = {}): RevisionState => ({
    name,
    active: true,
    weight,
    provisioningState: "Provisioned",
    runningState: "Running",
    healthState: "Healthy",
    replicas: 1,
    fqdn: `${name}.example.io`,
    ...extra,
});
const starting = (name: string, extra: Partial<RevisionState> = {}): RevisionState => ({
    name,
    active: true,
    weight: 0,
    provisioningState: "Provisioning",
    runningState: "Processing",
    healthState: "None",
    replicas: 0,
    fqdn: `${name}.example.io`,
    ...extra,
});
const asleep = (name: string, extra: Partial<RevisionState> = {}): RevisionState =>
    starting(name, { provisioningState: "Provisioned", runningState: "Stopped", ...extra });

/**
 * A Container Apps client whose revision list is scripted: `lists[i]` is the answer to the i-th
 * list (the last one repeats). Every call is recorded in order.
 */
class ScriptedApps {
    readonly calls: string[] = [];
    private listed = 0;
    constructor(private readonly lists: (RevisionState[] | undefined)[]) {}

    client(): ContainerAppsClient {
        return {
            revisions: async (appId: string) => {
                assert.strictEqual(appId, APP_ID);
                this.calls.push("list");
                const answer = this.lists[Math.min(this.listed++, this.lists.length - 1)];
                return answer?.map((r) => ({ ...r }));
            },
            setActive: async (appId: string, name: string, active: boolean) => {
                assert.strictEqual(appId, APP_ID);
                this.calls.push(`${active ? "activate" : "deactivate"} ${name}`);
            },
            // The app's Entra auth config exists (tests/servingIngress.test.ts covers the case where it does not).
            authConfigured: async (appId: string) => {
                assert.strictEqual(appId, APP_ID);
                return true;
            },
            restart: async (appId: string, name: string) => {
                assert.strictEqual(appId, APP_ID);
                this.calls.push(`restart ${name}`);
            },
            setTraffic: async (appId: string, target: readonly TrafficTarget[], ip?: readonly IpRule[]) => {
                assert.strictEqual(appId, APP_ID);
                this.calls.push(`traffic ${target.map((t) => `${t.weight}% ${t.revision}`).join(", ")}${ip ? ` ip=${ip.map((r) => r.ipAddressRange).join(",")}` : ""}`);
            },
        } as unknown as ContainerAppsClient;
    }
}

const OPEN: IpRule[] = [{ name: "everyone", ipAddressRange: "0.0.0.0/0", action: "Allow" }];

function setup(lists: (RevisionState[] | undefined)[], options: { pollMs?: number; wake?: (fqdn: string) => Promise<string> } = {}) {
    const apps = new ScriptedApps(lists);
    const clock = { now: 1_000_000 };
    const logs: string[] = [];
    const sleeps: number[] = [];
    const wakes: string[] = [];
    const provider = new RevisionTrafficProvider({
        client: () => apps.client(),
        sleep: async (ms) => {
            sleeps.push(ms);
            clock.now += ms;
        },
        now: () => clock.now,
        pollMs: options.pollMs,
        log: (line) => logs.push(line),
        wake:
            options.wake ??
            (async (fqdn) => {
                wakes.push(fqdn);
                return "HTTP 401";
            }),
    });
    return { apps, clock, logs, sleeps, wakes, provider };
}

const inputs = (target: TrafficTarget[], extra: Partial<RevisionTrafficState> = {}): RevisionTrafficState => ({ appId: APP_ID, target, readyTimeoutSeconds: 60, ...extra });
const stable = (revision: string, weight = 100): TrafficTarget => ({ revision, weight, label: "stable" });
const canary = (revision: string, weight: number): TrafficTarget => ({ revision, weight, label: "canary" });

describe("RevisionTraffic, call by call", () => {
    describe("moving traffic, then deactivating", () => {
        it("sets the target first and only then deactivates every active revision it leaves out", async () => {
            const { apps, logs, sleeps, provider } = setup([[ready("a--v1", 100), ready("a--v2"), ready("a--v0", 0, { active: false }), ready("a--v3")]]);
            const created = await provider.create(inputs([stable("a--v2")]));
            assert.deepStrictEqual(created, { id: `${APP_ID}/traffic`, outs: inputs([stable("a--v2")]) });
            assert.deepStrictEqual(apps.calls, ["list", "traffic 100% a--v2", "deactivate a--v1", "deactivate a--v3"]);
            assert.deepStrictEqual(logs, ["traffic: 100% a--v2", "deactivating revision a--v1 (no traffic)", "deactivating revision a--v3 (no traffic)"]);
            assert.deepStrictEqual(sleeps, [], "nothing to wait for");
        });

        it("keeps a canary paused at 0% active, and names every share in the log", async () => {
            const { apps, logs, provider } = setup([[ready("a--v1", 100), starting("a--v2")]]);
            const target = [stable("a--v1", 100), canary("a--v2", 0)];
            const updated = await provider.update("id", inputs([]), inputs(target));
            assert.deepStrictEqual(updated, { outs: inputs(target) });
            assert.deepStrictEqual(apps.calls, ["list", "traffic 100% a--v1, 0% a--v2"], "a revision at 0% is not waited for, and not deactivated");
            assert.deepStrictEqual(logs, ["traffic: 100% a--v1, 0% a--v2"]);
        });

        it("waits for a new revision, then moves traffic, then deactivates the old one: in that order", async () => {
            const { apps, logs, sleeps, provider } = setup(
                [
                    [ready("a--v1", 100), starting("a--v2")],
                    [ready("a--v1", 100), starting("a--v2", { provisioningState: "Provisioned", runningState: "Running", healthState: "Unhealthy", replicas: 1 })],
                    [ready("a--v1", 100), ready("a--v2")],
                ],
                { pollMs: 5000 },
            );
            await provider.update("id", inputs([]), inputs([stable("a--v2")], { ipSecurityRestrictions: OPEN }));
            assert.deepStrictEqual(apps.calls, ["list", "list", "list", "traffic 100% a--v2 ip=0.0.0.0/0", "deactivate a--v1"]);
            assert.deepStrictEqual(sleeps, [5000, 5000]);
            assert.deepStrictEqual(logs, [
                "waiting for revision a--v2 (Provisioning, Processing, None, 0 replicas)",
                "waiting for revision a--v2 (Provisioned, Running, Unhealthy, 1 replicas)",
                "traffic: 100% a--v2",
                "deactivating revision a--v1 (no traffic)",
            ]);
        });

        it("waits 10 s between polls unless told otherwise, and shows unknown states as ?", async () => {
            const { sleeps, logs, provider } = setup([[ready("a--v1", 100), { name: "a--v2", active: true, weight: 0 }], [ready("a--v1", 100), ready("a--v2")]]);
            await provider.create(inputs([stable("a--v2")]));
            assert.deepStrictEqual(sleeps, [10_000]);
            assert.strictEqual(logs[0], "waiting for revision a--v2 (?, ?, ?, 0 replicas)");
        });

        it("waits for every revision that gets a share, listing all that are not ready", async () => {
            const { apps, logs, provider } = setup([
                [ready("a--v1", 100), starting("a--v2"), starting("a--v3")],
                [ready("a--v1", 100), ready("a--v2"), starting("a--v3")],
                [ready("a--v1", 100), ready("a--v2"), ready("a--v3")],
            ]);
            await provider.create(inputs([stable("a--v2", 90), canary("a--v3", 10)]));
            assert.deepStrictEqual(apps.calls, ["list", "list", "list", "traffic 90% a--v2, 10% a--v3", "deactivate a--v1"]);
            assert.match(logs[0], /^waiting for revision a--v2 \(.*\), a--v3 \(/);
            assert.match(logs[1], /^waiting for revision a--v3 \(/);
        });

        it("removing the resource makes no call", async () => {
            const { apps, provider } = setup([[ready("a--v1", 100)]]);
            await provider.delete();
            assert.deepStrictEqual(apps.calls, []);
        });
    });

    describe("what is refused before any traffic moves", () => {
        it("an app that does not exist", async () => {
            const { apps, provider } = setup([undefined]);
            await assert.rejects(provider.create(inputs([stable("a--v1")])), { message: `container app ${APP_ID} does not exist` });
            assert.deepStrictEqual(apps.calls, ["list"]);
        });

        it("target revisions that do not exist, all named; one only at 0% is not needed", async () => {
            const { apps, provider } = setup([[ready("a--v1", 100)]]);
            await assert.rejects(
                provider.create(inputs([stable("a--v8", 60), canary("a--v9", 40)])),
                {
                    message:
                        "revision a--v8, a--v9 does not exist, so it cannot get traffic; the traffic stays as it is. " +
                        "A revision exists once a deployment created it: check the container app's revisions, or set the traffic back in config.",
                },
            );
            assert.deepStrictEqual(apps.calls, ["list"]);
            const zero = setup([[ready("a--v1", 100)]]);
            await zero.provider.create(inputs([stable("a--v1", 100), canary("a--v9", 0)]));
            assert.deepStrictEqual(zero.apps.calls, ["list", "traffic 100% a--v1, 0% a--v9"]);
        });
    });

    describe("failed revisions", () => {
        it("restarts a revision that failed to provision, once, and lists again at once", async () => {
            const { apps, logs, sleeps, provider } = setup([[ready("a--v1", 100), starting("a--v2", { provisioningState: "Failed" })], [ready("a--v1", 100), ready("a--v2")]]);
            await provider.create(inputs([stable("a--v2")]));
            assert.deepStrictEqual(apps.calls, ["list", "restart a--v2", "list", "traffic 100% a--v2", "deactivate a--v1"]);
            assert.deepStrictEqual(sleeps, [], "a restart is followed by a new look, not a wait");
            assert.strictEqual(logs[0], "restarting revision a--v2 (it failed to provision)");
        });

        it("says a revision failed to run when it provisioned", async () => {
            const { logs, provider } = setup([[ready("a--v1", 100), ready("a--v2", 0, { runningState: "Failed" })], [ready("a--v1", 100), ready("a--v2")]]);
            await provider.create(inputs([stable("a--v2")]));
            assert.strictEqual(logs[0], "restarting revision a--v2 (it failed to run)");
        });

        it("a revision that fails again after its restart fails the run; the traffic stays", async () => {
            const failed = starting("a--v2", { provisioningState: "Failed", runningState: "Failed" });
            const { apps, provider } = setup([[ready("a--v1", 100), failed]]);
            await assert.rejects(provider.create(inputs([stable("a--v2")])), (err: Error) => {
                assert.strictEqual(
                    err.message,
                    "revision a--v2 (provisioning Failed, running Failed, health None, 0 replicas) failed again after a restart, so it gets no traffic; " +
                        "the traffic stays as it was (100% a--v1). Look at the revision's logs (az containerapp logs show --revision ...), fix the model or the size, and run `pulumi up` again.",
                );
                return true;
            });
            assert.deepStrictEqual(apps.calls, ["list", "restart a--v2", "list"]);
        });

        it("only the failed one of two targets is restarted", async () => {
            const { apps, provider } = setup([[ready("a--v1", 100), ready("a--v2", 0, { runningState: "Failed" }), starting("a--v3")], [ready("a--v1", 100), ready("a--v2"), ready("a--v3")]]);
            await provider.create(inputs([stable("a--v2", 50), canary("a--v3", 50)]));
            assert.deepStrictEqual(apps.calls.filter((c) => c.startsWith("restart")), ["restart a--v2"]);
        });
    });

    describe("a rollback to an inactive revision", () => {
        it("activates it, waits for it, then moves the traffic", async () => {
            const { apps, logs, provider } = setup([[ready("a--v2", 100), ready("a--v1", 0, { active: false, replicas: 0, runningState: "Stopped" })], [ready("a--v2", 100), ready("a--v1")]]);
            await provider.create(inputs([stable("a--v1")]));
            assert.deepStrictEqual(apps.calls, ["list", "activate a--v1", "list", "traffic 100% a--v1", "deactivate a--v2"]);
            assert.strictEqual(logs[0], "activating revision a--v1");
        });
    });

    describe("waiting ends at the deadline", () => {
        it("polls until readyTimeoutSeconds have passed, then fails naming the state and what serves", async () => {
            const { apps, sleeps, clock, provider } = setup([[ready("a--v1", 60), ready("a--v0", 40), starting("a--v2", { replicas: 2 })]], { pollMs: 10_000 });
            const start = clock.now;
            await assert.rejects(provider.create(inputs([stable("a--v2")], { readyTimeoutSeconds: 30 })), (err: Error) => {
                assert.strictEqual(
                    err.message,
                    "revision a--v2 (provisioning Provisioning, running Processing, health None, 2 replicas) not ready after 30 s, so it gets no traffic; " +
                        "the traffic stays as it was (60% a--v1, 40% a--v0). Look at the revision's logs (az containerapp logs show --revision ...), fix the model or the size, and run `pulumi up` again.",
                );
                return true;
            });
            // Looks at 0, 10, 20 and 30 s: the last look, at the deadline itself, is the last.
            assert.deepStrictEqual(apps.calls, ["list", "list", "list", "list"]);
            assert.deepStrictEqual(sleeps, [10_000, 10_000, 10_000]);
            assert.strictEqual(clock.now - start, 30_000);
        });

        it("a revision that becomes ready at the last look before the deadline gets the traffic", async () => {
            const { apps, provider } = setup([[ready("a--v1", 100), starting("a--v2")], [ready("a--v1", 100), starting("a--v2")], [ready("a--v1", 100), ready("a--v2")]], { pollMs: 10_000 });
            await provider.create(inputs([stable("a--v2")], { readyTimeoutSeconds: 20 }));
            assert.deepStrictEqual(apps.calls, ["list", "list", "list", "traffic 100% a--v2", "deactivate a--v1"]);
        });

        it("says none when nothing serves yet, and shows missing states as ?", async () => {
            const { provider } = setup([[{ name: "a--v1", active: true, weight: 0 }]]);
            await assert.rejects(provider.create(inputs([stable("a--v1")], { readyTimeoutSeconds: 0 })), (err: Error) => {
                assert.ok(err.message.startsWith("revision a--v1 (provisioning ?, running ?, health ?, 0 replicas) not ready after 0 s, so it gets no traffic; the traffic stays as it was (none). Look at"), err.message);
                return true;
            });
        });
    });

    describe("opening the ingress of a new app", () => {
        it("sets the traffic and IP rules once while waiting, when what serves is the target itself", async () => {
            const { apps, provider } = setup([[asleep("a--v1", { weight: 100 })], [asleep("a--v1", { weight: 100 })], [ready("a--v1", 100)]], { pollMs: 1000 });
            await provider.create(inputs([stable("a--v1")], { ipSecurityRestrictions: OPEN }));
            assert.deepStrictEqual(apps.calls, ["list", "traffic 100% a--v1 ip=0.0.0.0/0", "list", "list", "traffic 100% a--v1 ip=0.0.0.0/0"]);
        });

        it("does not open it early while another revision serves, nor without IP rules, nor with nothing serving", async () => {
            const other = setup([[ready("a--v1", 100), starting("a--v2")], [ready("a--v1", 100), ready("a--v2")]]);
            await other.provider.create(inputs([stable("a--v2")], { ipSecurityRestrictions: OPEN }));
            assert.deepStrictEqual(other.apps.calls, ["list", "list", "traffic 100% a--v2 ip=0.0.0.0/0", "deactivate a--v1"]);

            const mixed = setup([[ready("a--v1", 50), starting("a--v2", { weight: 50 })], [ready("a--v1", 50), ready("a--v2", 50)]]);
            await mixed.provider.create(inputs([stable("a--v2")], { ipSecurityRestrictions: OPEN }));
            assert.deepStrictEqual(mixed.apps.calls, ["list", "list", "traffic 100% a--v2 ip=0.0.0.0/0", "deactivate a--v1"], "a--v1 still serves half");

            const noRules = setup([[starting("a--v1", { weight: 100 })], [ready("a--v1", 100)]]);
            await noRules.provider.create(inputs([stable("a--v1")]));
            assert.deepStrictEqual(noRules.apps.calls, ["list", "list", "traffic 100% a--v1"]);

            const nothing = setup([[starting("a--v1")], [ready("a--v1")]]);
            await nothing.provider.create(inputs([stable("a--v1")], { ipSecurityRestrictions: OPEN }));
            assert.deepStrictEqual(nothing.apps.calls, ["list", "list", "traffic 100% a--v1 ip=0.0.0.0/0"]);
        });
    });

    describe("waking a revision scaled to zero", () => {
        it("wakes it through its own address at once, then again once a full minute has passed", async () => {
            // Looks at 0, 30, 60, 90 and 120 s: wakes at 0, 60 and 120 s.
            const lists = [...Array(5)].map(() => [ready("a--v1", 100), asleep("a--v2")]);
            const { wakes, logs, provider } = setup([...lists, [ready("a--v1", 100), ready("a--v2")]], { pollMs: 30_000 });
            await provider.create(inputs([stable("a--v2")], { readyTimeoutSeconds: 600 }));
            assert.deepStrictEqual(wakes, ["a--v2.example.io", "a--v2.example.io", "a--v2.example.io"]);
            assert.strictEqual(logs.filter((l) => l === "waking revision a--v2 (no replica yet): GET https://a--v2.example.io/ping: HTTP 401").length, 3);
        });

        it("wakes again after a minute and a bit, not before", async () => {
            const lists = [...Array(4)].map(() => [ready("a--v1", 100), asleep("a--v2")]);
            const { wakes, provider } = setup([...lists, [ready("a--v1", 100), ready("a--v2")]], { pollMs: 59_999 });
            // Looks at 0, 59.999, 119.998, 179.997 s: wakes at 0 and 119.998 (59.999 s is under a minute).
            await provider.create(inputs([stable("a--v2")], { readyTimeoutSeconds: 600 }));
            assert.strictEqual(wakes.length, 2);
        });

        it("does not wake a revision that is starting, or has no address", async () => {
            const { wakes, provider } = setup([[ready("a--v1", 100), starting("a--v2"), asleep("a--v3", { fqdn: undefined })], [ready("a--v1", 100), ready("a--v2"), ready("a--v3")]]);
            await provider.create(inputs([stable("a--v2", 50), canary("a--v3", 50)]));
            assert.deepStrictEqual(wakes, []);
        });

        it("a revision that stays asleep fails naming what the wake got; one never woken is not mentioned", async () => {
            const { provider } = setup([[ready("a--v1", 100), asleep("a--v2"), starting("a--v3")]], { wake: async () => "no answer (ETIMEDOUT)" });
            await assert.rejects(provider.create(inputs([stable("a--v2", 50), canary("a--v3", 50)], { readyTimeoutSeconds: 0 })), (err: Error) => {
                assert.ok(
                    err.message.includes(
                        "the traffic stays as it was (100% a--v1). a--v2 had no replica; a request to https://a--v2.example.io/ping to start one got no answer (ETIMEDOUT) (the ingress's IP rules must admit this machine). Look at the revision's logs",
                    ),
                    err.message,
                );
                assert.ok(!err.message.includes("a--v3 had no replica"), err.message);
                return true;
            });
        });
    });

    describe("check and diff", () => {
        it("check refuses a target that is not a list, or whose weights are wrong, and passes the inputs on", async () => {
            const { provider } = setup([]);
            const bad = { appId: APP_ID, target: "a--v1" as unknown as TrafficTarget[], readyTimeoutSeconds: 60 };
            assert.deepStrictEqual(await provider.check(inputs([]), bad), { inputs: bad, failures: [{ property: "target", reason: "target must be a list of revisions and weights" }] });
            const good = inputs([stable("a--v1")]);
            assert.deepStrictEqual(await provider.check(inputs([]), good), { inputs: good, failures: [] });
            assert.deepStrictEqual((await provider.check(inputs([]), inputs([stable("a--v1", 40)]))).failures, [{ property: "target", reason: "traffic weights add up to 40, not 100" }]);
        });

        it("diff: a new app replaces, a new target or new IP rules update, nothing else changes", async () => {
            const { provider } = setup([]);
            const base = inputs([stable("a--v1")]);
            assert.deepStrictEqual(await provider.diff("id", base, inputs([stable("a--v1")])), { changes: false, replaces: [] });
            assert.deepStrictEqual(await provider.diff("id", base, { ...base, appId: `${APP_ID}2` }), { changes: true, replaces: ["appId"] });
            assert.deepStrictEqual(await provider.diff("id", base, inputs([stable("a--v2")])), { changes: true, replaces: [] });
            assert.deepStrictEqual(await provider.diff("id", base, { ...base, ipSecurityRestrictions: OPEN }), { changes: true, replaces: [] });
            assert.deepStrictEqual(await provider.diff("id", { ...base, ipSecurityRestrictions: OPEN }, base), { changes: true, replaces: [] });
            assert.deepStrictEqual(await provider.diff("id", { ...base, ipSecurityRestrictions: OPEN }, { ...base, ipSecurityRestrictions: [...OPEN] }), { changes: false, replaces: [] });
            assert.deepStrictEqual(await provider.diff("id", base, { ...base, readyTimeoutSeconds: 999 }), { changes: false, replaces: [] }, "a timeout is no reason to move traffic again");
        });
    });
});

describe("RevisionTraffic's defaults", () => {
    it("without a client, signs in as the deployer for Resource Manager, and refuses a sign-in that gives no token", async () => {
        const identity = require("@azure/identity");
        const original = Object.getOwnPropertyDescriptor(identity, "DefaultAzureCredential")!;
        const scopes: string[] = [];
        for (const answer of [{ token: "" }, null]) {
            Object.defineProperty(identity, "DefaultAzureCredential", {
                configurable: true,
                get: () =>
                    class {
                        async getToken(scope: string) {
                            scopes.push(scope);
                            return answer;
                        }
                    },
            });
            try {
                await assert.rejects(new RevisionTrafficProvider({ log: () => undefined }).create(inputs([stable("a--v1")])), { message: "no Microsoft Entra token for Azure Resource Manager: run `az login`" });
            } finally {
                Object.defineProperty(identity, "DefaultAzureCredential", original);
            }
        }
        assert.deepStrictEqual(scopes, [ARM_SCOPE, ARM_SCOPE]);
    });

    it("really waits pollMs between looks, and logs to stderr, unless told otherwise", async () => {
        const apps = new ScriptedApps([[ready("a--v1", 100), { ...ready("a--v2"), replicas: 0 }], [ready("a--v1", 100), ready("a--v2")]]);
        const lines: string[] = [];
        const original = console.error;
        console.error = (line: string) => void lines.push(line);
        const started = Date.now();
        try {
            await new RevisionTrafficProvider({ client: () => apps.client(), pollMs: 40, wake: async () => "HTTP 401" }).create(inputs([stable("a--v2")]));
        } finally {
            console.error = original;
        }
        assert.ok(Date.now() - started >= 35, `waited ${Date.now() - started} ms`);
        assert.deepStrictEqual(lines.slice(-2), ["traffic: 100% a--v2", "deactivating revision a--v1 (no traffic)"]);
    });
});

describe("RevisionTraffic's default wake (GET https://<fqdn>/ping)", () => {
    // A self-signed certificate for 127.0.0.1, made for this test only (openssl req -x509 -newkey ec).
    const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpfGW0ywkhojjt3hu
jGxO30YoavxSTnUzTVvQTik1ud+hRANCAASSXczPetilRnk7AkjcH0RaH914Sian
MIVy1a2jDvoZjLk+s+jkd5OFozJtm/xUruJA/GLVQZJjqzd+YFojSjUn
-----END PRIVATE KEY-----`;
    const CERT = `-----BEGIN CERTIFICATE-----
MIIBkTCCATagAwIBAgIUST6Vfsb7RNGvKsMozJ7xHRlnicowCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwMjA0MDQ1MloYDzIxMjYxMTA4
MDQwNDUyWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASSXczPetilRnk7AkjcH0RaH914SianMIVy1a2jDvoZjLk+s+jkd5OF
ozJtm/xUruJA/GLVQZJjqzd+YFojSjUno2QwYjAdBgNVHQ4EFgQUeVihd6YyZ7uS
0TeuNB0i/FRIJuEwHwYDVR0jBBgwFoAUeVihd6YyZ7uS0TeuNB0i/FRIJuEwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0kAMEYC
IQDJV9L7gSWM6blzuttUpDi1qrI8QJOKm9god7QBi0pCagIhANIYq/hBjPsrdg4x
GTmT7yOCcZMkuQKEKmdCiFg+cTER
-----END CERTIFICATE-----`;
    let server: https.Server;
    let host: string;
    const requests: string[] = [];
    let answer: (res: http.ServerResponse) => void = (res) => res.writeHead(401).end();
    before(async () => {
        server = https.createServer({ key: KEY, cert: CERT }, (req, res) => {
            requests.push(`${req.method} ${req.url}`);
            answer(res);
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
    });

    async function wakeOnce(fqdn: string, trust: boolean): Promise<string[]> {
        const apps = new ScriptedApps([[ready("a--v1", 100), asleep("a--v2", { fqdn })], [ready("a--v1", 100), ready("a--v2")]]);
        const logs: string[] = [];
        const provider = new RevisionTrafficProvider({ client: () => apps.client(), sleep: async () => undefined, log: (l) => logs.push(l) });
        const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
        const warn = process.emitWarning;
        if (trust) {
            process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0"; // the test's own certificate; Node reads this at each connection
            process.emitWarning = () => undefined;
        }
        try {
            await provider.create(inputs([stable("a--v2")]));
        } finally {
            if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
            else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
            process.emitWarning = warn;
        }
        return logs.filter((l) => l.startsWith("waking"));
    }

    it("reports the status of any answer, 401 from the app's authentication included, and follows no redirect", async () => {
        requests.length = 0;
        answer = (res) => res.writeHead(401).end();
        assert.deepStrictEqual(await wakeOnce(host, true), [`waking revision a--v2 (no replica yet): GET https://${host}/ping: HTTP 401`]);
        answer = (res) => res.writeHead(302, { Location: "/elsewhere" }).end();
        assert.deepStrictEqual(await wakeOnce(host, true), [`waking revision a--v2 (no replica yet): GET https://${host}/ping: HTTP 302`]);
        assert.deepStrictEqual(requests, ["GET /ping", "GET /ping"]);
    });

    it("reports a connection that fails by its code", async () => {
        const closed = http.createServer();
        await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
        const nobody = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
        await new Promise<void>((resolve) => closed.close(() => resolve()));
        assert.deepStrictEqual(await wakeOnce(nobody, false), [`waking revision a--v2 (no replica yet): GET https://${nobody}/ping: no answer (ECONNREFUSED)`]);
    });
});
