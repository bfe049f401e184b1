// A guarded rollout end to end through RevisionTraffic: the real Container Apps client against the
// fake Resource Manager (tests/helpers/fakeContainerApps.ts), and the real Log Analytics client
// against a fake query API that answers in the documented shape ({tables: [{name, columns, rows}]},
// learn.microsoft.com/azure/azure-monitor/logs/api/response-format) from what the traffic table
// sent to each revision during the queried timespan. A healthy canary reaches 100%; an error spike
// at the second step and a latency regression roll back; low traffic holds; unreadable metrics hold
// and fail; a rerun after a rollback changes nothing; no weight ever reaches a revision that is not ready.
import * as assert from "assert";
import type { RevisionTrafficState, TrafficGuard } from "../components/serving/revisionTraffic";
import { rolloutConfig, type RolloutEntry } from "../lib/config/rollout";
import type { FakeContainerApps } from "./helpers/fakeContainerApps";
import { FAKE_WORKSPACE as WORKSPACE, type FakeLogAnalytics } from "./helpers/fakeLogAnalytics";
import { failure, GuardedRolloutRig } from "./helpers/guardedRolloutRig";

const APP = "prd-fraud";
const V1 = `${APP}--v1-aaaa`;
const V2 = `${APP}--v2-bbbb`;

describe("a guarded rollout through RevisionTraffic (fake Resource Manager, fake Log Analytics query API)", () => {
    let rig: GuardedRolloutRig;
    let azure: FakeContainerApps;
    let queries: FakeLogAnalytics;
    let logs: string[];

    beforeEach(async () => {
        rig = await GuardedRolloutRig.start();
        ({ azure, queries, logs } = rig);
    });
    afterEach(() => rig.stop());

    const provider = () => rig.provider();
    const guard = (entry: RolloutEntry = {}): TrafficGuard => ({
        workspaceId: WORKSPACE,
        appName: APP,
        rollout: rolloutConfig({ steps: [10, 50, 100], bake: "10m", maxErrorRate: 0.01, maxP95LatencyMs: 250, minRequests: 200, ...entry }),
        modelKey: "models[fraud]",
        modelName: "mlplatform.prd.fraud",
        replay: { off: "this test replays nothing" },
    });
    const state = (suffix: string, g?: TrafficGuard) => rig.state(suffix, g);
    const deploy = (suffix: string, olds: RevisionTrafficState, news: RevisionTrafficState) => rig.deploy(suffix, olds, news);
    const tables = () => rig.tables();
    const neverUnready = () => {
        assert.deepStrictEqual(azure.history.flatMap((h) => h.notReadyWithTraffic), [], "no weight ever reached a revision that was not ready");
        assert.deepStrictEqual(azure.history.flatMap((h) => h.inactiveWithTraffic), [], "no weight ever reached an inactive revision");
    };

    /** v1 serving 100%, as a first deployment leaves it (nothing to compare with: one step). */
    async function v1Serving(): Promise<RevisionTrafficState> {
        const first = await deploy("v1-aaaa", state("v1-aaaa"), state("v1-aaaa", guard()));
        assert.ok(logs.some((l) => l.includes("there is no stable revision to compare with")), logs.join("\n"));
        azure.history.length = 0;
        logs.length = 0;
        return first;
    }

    it("a healthy canary climbs every step, each baked and judged, to 100%; the old revision is deactivated after", async () => {
        const olds = await v1Serving();
        const outs = await deploy("v2-bbbb", olds, state("v2-bbbb", guard()));
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa", "50% v2-bbbb + 50% v1-aaaa", "100% v2-bbbb"]);
        neverUnready();
        assert.strictEqual(azure.revisions.get(V1)!.active, false, "v1 deactivated once v2 serves everything");
        assert.strictEqual(queries.queries.length, 2, "one window read per baked step (100% is the end, not a step to bake)");
        // Each window is the bake (10 min) of its own step, read after the ingestion delay.
        assert.deepStrictEqual(queries.queries.map((q) => q.timespan), ["2026-12-02T10:00:00Z/2026-12-02T10:10:00Z", "2026-12-02T10:12:00Z/2026-12-02T10:22:00Z"]);
        assert.match(queries.queries[0].query, /ContainerAppName == "prd-fraud"/);
        assert.match(queries.queries[0].query, /revision in \("prd-fraud--v2-bbbb", "prd-fraud--v1-aaaa"\)/);
        assert.ok(logs.some((l) => /step 1\/3: 10% prd-fraud--v2-bbbb, 90% prd-fraud--v1-aaaa; baking 10 min/.test(l)), logs.join("\n"));
        assert.ok(logs.some((l) => /step 1\/3: within the thresholds \(300 calls, 0 5xx, p95 120 ms\)/.test(l)), logs.join("\n"));
        assert.strictEqual(outs.rejected, undefined, "nothing rejected");
    });

    it("an error spike at the second step rolls back at once: stable 100%, the candidate deactivated, up fails with the evidence and remembers it", async () => {
        const olds = await v1Serving();
        queries.behaviour = (revision, read) => ({ callsPerSecond: 5, errorRate: revision === V2 && read >= 2 ? 0.08 : 0, p95LatencyMs: 120 });
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa", "50% v2-bbbb + 50% v1-aaaa", "100% v1-aaaa"]);
        neverUnready();
        assert.strictEqual(azure.revisions.get(V2)!.active, false, "the candidate is deactivated");
        assert.strictEqual(azure.revisions.get(V1)!.active, true);
        assert.match(err.message, /step 2\/3 rolled back: error share 8% \(120 of 1500\) is above maxErrorRate 1%/);
        assert.match(err.message, /prd-fraud--v1-aaaa serves 100% again and prd-fraud--v2-bbbb is deactivated/);
        // The evidence: both revisions' numbers for the window, and the query that produced them.
        assert.match(err.message, /window 2026-12-02T10:12:00Z \.\. 2026-12-02T10:22:00Z/);
        assert.match(err.message, /prd-fraud--v2-bbbb \(candidate\)\s+1500\s+120\s+8%/);
        assert.match(err.message, /prd-fraud--v1-aaaa \(stable\)\s+1500\s+0\s+0%/);
        assert.match(err.message, /query \(Log Analytics, then Azure Monitor\):\nContainerAppConsoleLogs/);
        assert.match(err.message, /\nGET \/subscriptions\/s\/resourceGroups\/rg\/providers\/Microsoft\.App\/containerApps\/prd-fraud\/providers\/Microsoft\.Insights\/metrics\?metricnames=Requests&timespan=2026-12-02T10%3A12%3A00Z%2F2026-12-02T10%3A22%3A00Z&interval=FULL&aggregation=Total&\$filter=revisionName%20eq%20'\*'%20and%20statusCodeCategory%20eq%20'\*'$/);
        // A partial failure: the engine keeps these properties as the resource's state.
        assert.strictEqual(err.id, `${azure.appId}/traffic`);
        assert.deepStrictEqual(err.properties!.rejected!.map((r) => r.revision), [V2]);
        assert.deepStrictEqual(err.properties!.target, olds.target, "state keeps the target that serves (v1)");
    });

    it("5xx the ingress answered for crashing replicas (never in a request record) roll back, from Azure Monitor's Requests metric", async () => {
        const olds = await v1Serving();
        queries.behaviour = (revision) => ({ callsPerSecond: 5, errorRate: 0, p95LatencyMs: 120, ingressErrorRate: revision === V2 ? 0.1 : 0 });
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        // Records: 270 calls, 0 5xx; ingress: 300 calls, 30 5xx. Judged: the larger of each.
        assert.match(err.message, /step 1\/3 rolled back: error share 10% \(30 of 300\) is above maxErrorRate 1%/);
        assert.match(err.message, /prd-fraud--v2-bbbb \(candidate\)\s+300\s+30\s+10%\s+120 ms\s+300 \/ 30/);
        assert.deepStrictEqual(queries.metricQueries[0], {
            "api-version": "2023-10-01",
            metricnames: "Requests",
            timespan: "2026-12-02T10:00:00Z/2026-12-02T10:10:00Z",
            interval: "FULL",
            aggregation: "Total",
            $filter: "revisionName eq '*' and statusCodeCategory eq '*'",
        });
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa", "100% v1-aaaa"]);
        neverUnready();
    });

    it("platform metrics that cannot be read hold the step like unreadable records", async () => {
        const olds = await v1Serving();
        queries.metricFaults = Array.from({ length: 20 }, () => ({ status: 403, body: { error: { code: "AuthorizationFailed", message: "no read" } } }));
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        assert.match(err.message, /held at 10% prd-fraud--v2-bbbb: the window .* could not be read after 5 attempts \(cannot read the Requests metric of .*: HTTP 403 \(AuthorizationFailed/);
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa"]);
    });

    it("calls the ingress counted but no request record shows hold the step until the records arrive; never promoted unread", async () => {
        const olds = await v1Serving();
        // The candidate's records reach Log Analytics from the third read on (the first two are late).
        queries.behaviour = (revision, read) => ({ callsPerSecond: 5, errorRate: 0, p95LatencyMs: 120, recorded: revision !== V2 || read >= 3 });
        await deploy("v2-bbbb", olds, state("v2-bbbb", guard()));
        assert.ok(logs.some((line) => /step 1\/3: the ingress counted 300 calls to prd-fraud--v2-bbbb in the window but Log Analytics holds no request record of them/.test(line)), logs.join("\n"));
        assert.deepStrictEqual(tables().at(-1), "100% v2-bbbb");
        neverUnready();
    });

    it("a candidate whose image writes no request records (MLflow 2.x) is held and fails clearly, its traffic where it was", async () => {
        const olds = await v1Serving();
        queries.behaviour = (revision) => ({ callsPerSecond: 5, errorRate: 0, p95LatencyMs: 120, recorded: revision !== V2 });
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        assert.match(err.message, /held at 10% prd-fraud--v2-bbbb: the window .* could not be read after 5 attempts \(the ingress counted 300 calls to prd-fraud--v2-bbbb .* an image whose model pins MLflow 2\.x writes none\)/);
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa"]);
        neverUnready();
    });

    it("a revision that never gets ready fails with its last console lines, so a refused setting is named in `up`'s output", async () => {
        const olds = await v1Serving();
        azure.neverReady.add("v2-bbbb");
        const refusal =
            "serve_model: PAYLOAD_LOG_EXCLUDE_COLUMNS (mlflow-platform:models[model mlplatform.prd.fraud].payloadLog.excludeColumns) names lattitude, " +
            "which is not an input column of this model version (its signature's inputs: age, latitude): correct mlflow-platform:models[model mlplatform.prd.fraud].payloadLog.excludeColumns; a misspelt name would log the column it meant";
        queries.consoleLines = [
            { revision: V2, at: "2026-12-02T10:00:05Z", log: "serve_model: downloading with token dapi0123456789abcdef0123456789abcdef from https://user:pw@adb-1.azuredatabricks.net/x?sig=abc" },
            { revision: V2, at: "2026-12-02T10:00:07Z", log: refusal },
            { revision: V2, at: "2026-12-02T10:00:06Z", log: '{"status":200,"path":"/invocations"}' },
            { revision: V1, at: "2026-12-02T10:00:08Z", log: "another revision's line" },
            { revision: V2, at: "2026-12-02T07:00:00Z", log: "a line from before the window" },
        ];
        const news = { ...state("v2-bbbb"), logs: { workspaceId: WORKSPACE, appName: APP } };
        const err = await failure(deploy("v2-bbbb", olds, news));
        const [headline, ...rest] = err.message.split("\n");
        assert.match(headline, /^revision prd-fraud--v2-bbbb \(.*\) not ready after 600 s, so it gets no traffic; the traffic stays as it was \(100% prd-fraud--v1-aaaa\)/);
        assert.deepStrictEqual(rest, [
            "prd-fraud--v2-bbbb's last console lines (Log Analytics):",
            "  serve_model: downloading with token *** from https://…@adb-1.azuredatabricks.net/…",
            `  ${refusal}`,
        ]);
        assert.deepStrictEqual(tables(), ["100% v1-aaaa"], "no weight moved");
    });

    it("a not-ready failure says so when the console lines cannot be read, and is the same failure", async () => {
        const olds = await v1Serving();
        azure.neverReady.add("v2-bbbb");
        queries.faults = Array.from({ length: 3 }, () => ({ status: 403, body: { error: { code: "InsufficientAccessError", message: "no" } } }));
        const err = await failure(deploy("v2-bbbb", olds, { ...state("v2-bbbb"), logs: { workspaceId: WORKSPACE, appName: APP } }));
        assert.match(err.message, /not ready after 600 s, so it gets no traffic;.* \(prd-fraud--v2-bbbb's console log could not be read from Log Analytics: cannot query Log Analytics workspace .*: HTTP 403 InsufficientAccessError: the deploying identity needs Log Analytics Reader \(or Reader\) on the workspace\.\)$/);
        queries.faults = [];
        const quiet = await failure(deploy("v2-bbbb", olds, { ...state("v2-bbbb"), logs: { workspaceId: WORKSPACE, appName: APP } }));
        assert.match(quiet.message, /\(Log Analytics holds no console line of prd-fraud--v2-bbbb yet: lines arrive 20 s to 3 min after they are written\.\)$/);
    });

    it("a latency regression rolls back, naming the p95 against the limit and against stable", async () => {
        const olds = await v1Serving();
        queries.behaviour = (revision) => ({ callsPerSecond: 5, errorRate: 0, p95LatencyMs: revision === V2 ? 400 : 120 });
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        assert.match(err.message, /step 1\/3 rolled back: p95 latency 400 ms is above maxP95LatencyMs 250 ms; p95 latency 400 ms is more than 25% above stable's 120 ms/);
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa", "100% v1-aaaa"]);
        neverUnready();
    });

    it("a rerun after a rollback changes nothing and fails saying why; retryRejected tries the revision again", async () => {
        const olds = await v1Serving();
        queries.behaviour = (revision) => ({ callsPerSecond: 5, errorRate: revision === V2 ? 0.5 : 0, p95LatencyMs: 120 });
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        const kept = err.properties!;
        const rerun = state("v2-bbbb", guard());
        const p = provider();
        assert.strictEqual((await p.diff(kept.appId, kept, rerun)).changes, true, "the rerun says it has something to do: fail, not succeed silently");
        azure.history.length = 0;
        azure.calls.length = 0;
        const again = await failure(p.update(`${azure.appId}/traffic`, kept, rerun));
        assert.match(again.message, /revision prd-fraud--v2-bbbb was rolled back by its guarded rollout at 2026-12-02T10:12:00Z \(error share 50% \(150 of 300\) is above maxErrorRate 1%; error share 50% is more than 0.5% above stable's 0%\), so it is not tried again/);
        assert.match(again.message, /100% prd-fraud--v1-aaaa keeps serving/);
        assert.match(again.message, /set models\[fraud\]\.rollout\.retryRejected: true/);
        assert.strictEqual(again.id, undefined, "a plain failure: state stays as it was");
        assert.deepStrictEqual(azure.history, [], "no traffic change");
        assert.deepStrictEqual(azure.calls.filter((c) => !c.startsWith("GET")), [], "nothing but reads");
        // The operator asks for it: the revision climbs the steps again, and this time it is healthy.
        queries.behaviour = () => ({ callsPerSecond: 5, errorRate: 0, p95LatencyMs: 120 });
        const retried = state("v2-bbbb", guard({ retryRejected: true }));
        const outs = (await p.update(`${azure.appId}/traffic`, kept, retried)).outs as RevisionTrafficState;
        assert.deepStrictEqual(tables(), ["10% v2-bbbb + 90% v1-aaaa", "50% v2-bbbb + 50% v1-aaaa", "100% v2-bbbb"]);
        neverUnready();
        assert.strictEqual(outs.rejected, undefined, "a rollout that reached 100% clears its rejection");
    });

    it("after a rollback, a changed spec (a new revision of the same version) is rolled out afresh; the rejection stays on record", async () => {
        const olds = await v1Serving();
        queries.behaviour = (revision) => ({ callsPerSecond: 5, errorRate: revision === V2 ? 0.5 : 0, p95LatencyMs: 120 });
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        const kept = err.properties!;
        assert.deepStrictEqual(kept.rejected!.map((r) => r.revision), [V2]);
        // The operator fixes the cause (say, more memory): the same version, a new spec, a new suffix.
        queries.behaviour = () => ({ callsPerSecond: 5, errorRate: 0, p95LatencyMs: 120 });
        azure.history.length = 0;
        const outs = await deploy("v2-cccc", kept, state("v2-cccc", guard()));
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-cccc + 90% v1-aaaa", "50% v2-cccc + 50% v1-aaaa", "100% v2-cccc"], "climbs every step again, judged on its own numbers");
        neverUnready();
        assert.ok(!logs.some((l) => /not tried again/.test(l)), "the rejection of v2-bbbb does not stop v2-cccc");
        assert.deepStrictEqual(outs.rejected?.map((r) => r.revision), [V2], "v2-bbbb stays rejected: going back to its spec fails as before");
    });

    it("too little traffic bakes once more, then holds the weights and fails; a rerun resumes at that step", async () => {
        const olds = await v1Serving();
        // 10% of 1/s: 60 calls in the 10 min bake; the extended window (from the step's start, 22 min) 132.
        queries.behaviour = () => ({ callsPerSecond: 1, errorRate: 0, p95LatencyMs: 120 });
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        assert.match(err.message, /step 1\/3 held at 10% prd-fraud--v2-bbbb: 132 scoring calls reached prd-fraud--v2-bbbb in the window, fewer than minRequests 200, also after the extended bake/);
        assert.strictEqual(err.id, undefined, "state stays as it was, so a rerun runs again");
        assert.strictEqual(queries.reads, 2, "the bake was extended once");
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa"], "the traffic holds where it was: never promoted");
        assert.strictEqual(azure.revisions.get(V2)!.active, true, "held, not rolled back");
        // More traffic arrives; the rerun's app PUT keeps the live 10% (v2 is ready, but the steps move
        // the weights), then RevisionTraffic bakes 10% again and completes.
        queries.behaviour = () => ({ callsPerSecond: 5, errorRate: 0, p95LatencyMs: 120 });
        azure.history.length = 0;
        await deploy("v2-bbbb", olds, state("v2-bbbb", guard()));
        assert.deepStrictEqual(tables(), ["90% v1-aaaa + 10% v2-bbbb", "10% v2-bbbb + 90% v1-aaaa", "50% v2-bbbb + 50% v1-aaaa", "100% v2-bbbb"]);
        neverUnready();
    });

    it("allowLowTraffic promotes after the extended bake, and the log says so", async () => {
        const olds = await v1Serving();
        queries.behaviour = () => ({ callsPerSecond: 1, errorRate: 0, p95LatencyMs: 120 });
        await deploy("v2-bbbb", olds, state("v2-bbbb", guard({ allowLowTraffic: true })));
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa", "50% v2-bbbb + 50% v1-aaaa", "100% v2-bbbb"]);
        assert.ok(logs.some((l) => /advancing because allowLowTraffic is on/.test(l)), logs.join("\n"));
    });

    it("metrics that cannot be read hold the traffic, retry within a bound, then fail clearly", async () => {
        const olds = await v1Serving();
        queries.faults = Array.from({ length: 20 }, () => ({ status: 503, body: { error: { code: "ServiceUnavailable", message: "try later" } } }));
        const err = await failure(deploy("v2-bbbb", olds, state("v2-bbbb", guard())));
        assert.match(err.message, /step 1\/3 held at 10% prd-fraud--v2-bbbb: the window 2026-12-02T10:00:00Z \.\. 2026-12-02T10:10:00Z could not be read after 5 attempts/);
        assert.match(err.message, /Nothing was promoted; run `pulumi up` again to resume from this step/);
        assert.strictEqual(queries.queries.length, 10, "5 window reads of 2 HTTP attempts each: bounded");
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa"]);
        assert.ok(!err.message.includes("la-token"), "the token is never in a message");
    });

    it("a rollback to an older version moves at once, without steps", async () => {
        const olds = await v1Serving();
        await deploy("v2-bbbb", olds, state("v2-bbbb", guard()));
        azure.history.length = 0;
        queries.queries.length = 0;
        await deploy("v1-aaaa", state("v2-bbbb", guard()), state("v1-aaaa", guard()));
        // The app's PUT keeps v2 serving (v1 is inactive, not ready); v1 is activated, then gets everything.
        assert.deepStrictEqual(tables(), ["100% v2-bbbb", "100% v1-aaaa"]);
        assert.ok(logs.includes(`activating revision ${V1}`), logs.join("\n"));
        assert.strictEqual(queries.queries.length, 0, "no window read");
        assert.ok(logs.some((l) => /runs version 1, older than prd-fraud--v2-bbbb's 2: a rollback moves at once/.test(l)), logs.join("\n"));
        neverUnready();
    });

    it("an audit store that cannot be written fails no rollout: the output says the record is missing", async () => {
        const olds = await v1Serving();
        const provider = rig.provider({ audit: async () => Promise.reject(new Error("AuthorizationPermissionMismatch")) });
        await rig.deploy("v2-bbbb", olds, state("v2-bbbb", { ...guard(), auditAccountName: "mlplatprdmodels" }), provider);
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "10% v2-bbbb + 90% v1-aaaa", "50% v2-bbbb + 50% v1-aaaa", "100% v2-bbbb"]);
        assert.ok(logs.includes("audit: the rollout's record could not be written (AuthorizationPermissionMismatch); the output above is its only account"), logs.join("\n"));
    });

    it("a guard read back from state in another key order is no change; a changed threshold is one", async () => {
        const g = guard();
        const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(g).reverse()))) as TrafficGuard;
        const p = provider();
        assert.strictEqual((await p.diff("id", state("v1-aaaa", g), state("v1-aaaa", reordered))).changes, false);
        assert.strictEqual((await p.diff("id", state("v1-aaaa", g), state("v1-aaaa", guard({ maxErrorRate: 0.02 })))).changes, true);
        assert.strictEqual((await p.diff("id", state("v1-aaaa"), state("v1-aaaa", g))).changes, true, "a rollout added to config");
    });

    it("without a rollout in config, traffic moves in one step as before", async () => {
        const olds = await deploy("v1-aaaa", state("v1-aaaa"), state("v1-aaaa"));
        azure.history.length = 0;
        await deploy("v2-bbbb", olds, state("v2-bbbb"));
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "100% v2-bbbb"]);
        assert.strictEqual(queries.queries.length, 0);
    });
});
