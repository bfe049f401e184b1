// lib/serving/guardedRollout: the sequence of a guarded rollout against fake ports (the weights
// Azure was asked for, a clock, scripted windows from Log Analytics): a healthy canary reaches 100%,
// an error spike or a latency regression rolls back, low traffic holds, unreadable metrics hold
// and fail, a rerun resumes from the current weight.
import * as assert from "assert";
import { RolloutStopped, runGuardedRollout, stepProblems, type GuardedRolloutPlan, type RolloutPorts } from "../lib/serving/guardedRollout";
import { MetricsUnreadable, type RevisionWindow, type Window } from "../lib/serving/rolloutGuard";

const CANDIDATE = "prd-fraud--v7-bbbb";
const STABLE = "prd-fraud--v6-aaaa";
const PLAN: GuardedRolloutPlan = {
    candidate: CANDIDATE,
    stable: STABLE,
    steps: [10, 50, 100],
    bakeSeconds: 600,
    ingestionDelaySeconds: 180,
    thresholds: { maxErrorRate: 0.01, maxP95LatencyMs: 250, minRequests: 200, errorRateMargin: 0.005, latencyMargin: 0.2, allowLowTraffic: false },
    readAttempts: 3,
    readRetrySeconds: 60,
};
const T0 = Date.parse("2026-12-02T10:00:00Z");

type Read = { candidate: [number, number, number | null]; stable?: [number, number, number | null] } | Error;

function fakePorts(reads: Read[]) {
    let clock = T0;
    const events: string[] = [];
    const windows: Window[] = [];
    const lines: string[] = [];
    const ports: RolloutPorts = {
        setWeights: async (weight) => void events.push(`weights ${weight}/${100 - weight}`),
        rollBack: async () => void events.push("roll back"),
        readWindow: async (window) => {
            windows.push(window);
            events.push("read");
            const next = reads.shift();
            if (!next) throw new Error("the test scripted no more reads");
            if (next instanceof Error) throw next;
            const w = (revision: string, [requests, errors, p95]: [number, number, number | null]): RevisionWindow => ({ revision, requests, errors, p95LatencyMs: p95 });
            const found = new Map([[CANDIDATE, w(CANDIDATE, next.candidate)]]);
            if (next.stable) found.set(STABLE, w(STABLE, next.stable));
            return { windows: found, query: "ContainerAppConsoleLogs | ..." };
        },
        sleep: async (ms) => {
            events.push(`sleep ${ms / 1000}`);
            clock += ms;
        },
        now: () => clock,
        log: (line) => lines.push(line),
    };
    return { ports, events, windows, lines, reads };
}

const HEALTHY: Read = { candidate: [300, 1, 120], stable: [2700, 5, 118] };

async function stopped(promise: Promise<void>): Promise<RolloutStopped> {
    try {
        await promise;
    } catch (err) {
        if (err instanceof RolloutStopped) return err;
        throw err;
    }
    throw new Error("expected the rollout to stop");
}

describe("a guarded rollout's sequence", () => {
    it("takes a healthy canary to 100% step by step, baking and reading each step before the next", async () => {
        const fake = fakePorts([HEALTHY, HEALTHY]);
        await runGuardedRollout(PLAN, fake.ports);
        assert.deepStrictEqual(fake.events, ["weights 10/90", "sleep 600", "sleep 180", "read", "weights 50/50", "sleep 600", "sleep 180", "read", "weights 100/0"]);
        // Each window is its own step's bake, read after the ingestion delay.
        assert.deepStrictEqual(fake.windows, [
            { start: "2026-12-02T10:00:00Z", end: "2026-12-02T10:10:00Z" },
            { start: "2026-12-02T10:13:00Z", end: "2026-12-02T10:23:00Z" },
        ]);
        assert.strictEqual(fake.lines[0], `rollout ${CANDIDATE} step 1/3: 10% ${CANDIDATE}, 90% ${STABLE}; baking 10 min, until 2026-12-02T10:10:00Z`);
        assert.strictEqual(fake.lines[1], `rollout ${CANDIDATE} step 1/3: within the thresholds (300 calls, 1 5xx, p95 120 ms)`);
        assert.strictEqual(fake.lines.at(-1), `rollout ${CANDIDATE} step 3/3: 100% ${CANDIDATE}; ${STABLE} serves nothing now`);
    });

    it("rolls back on an error spike at the second step, at once, with the evidence", async () => {
        const fake = fakePorts([HEALTHY, { candidate: [1400, 40, 130], stable: [1400, 2, 120] }]);
        const stop = await stopped(runGuardedRollout(PLAN, fake.ports));
        assert.deepStrictEqual(fake.events.slice(-3), ["sleep 180", "read", "roll back"], "nothing after the rollback");
        assert.ok(!fake.events.includes("weights 100/0"));
        assert.strictEqual(stop.reason, "rolled-back");
        assert.strictEqual(stop.weight, 0);
        const [headline, ...evidence] = stop.message.split("\n");
        assert.strictEqual(
            headline,
            `rollout ${CANDIDATE} step 2/3 rolled back: error share 2.857% (40 of 1400) is above maxErrorRate 1%; error share 2.857% is more than 0.5% above stable's 0.143%. ${STABLE} serves 100% again and ${CANDIDATE} is deactivated.`,
        );
        assert.deepStrictEqual(evidence.slice(0, 4), [
            "window 2026-12-02T10:13:00Z .. 2026-12-02T10:23:00Z",
            "revision                        calls  5xx  error share  p95",
            `${CANDIDATE} (candidate)  1400   40   2.857%       130 ms`,
            `${STABLE} (stable)     1400   2    0.143%       120 ms`,
        ]);
    });

    it("rolls back a latency regression against stable", async () => {
        const fake = fakePorts([{ candidate: [400, 0, 200], stable: [3600, 3, 120] }]);
        const stop = await stopped(runGuardedRollout(PLAN, fake.ports));
        assert.strictEqual(stop.reason, "rolled-back");
        assert.match(stop.message, /step 1\/3 rolled back: p95 latency 200 ms is more than 20% above stable's 120 ms\./);
        assert.deepStrictEqual(fake.events, ["weights 10/90", "sleep 600", "sleep 180", "read", "roll back"]);
    });

    it("on low traffic bakes once more over a longer window, then holds where it is", async () => {
        const fake = fakePorts([{ candidate: [40, 0, 90], stable: [360, 0, 100] }, { candidate: [90, 0, 90], stable: [810, 0, 100] }]);
        const stop = await stopped(runGuardedRollout(PLAN, fake.ports));
        assert.strictEqual(stop.reason, "held");
        assert.strictEqual(stop.weight, 10);
        assert.ok(!fake.events.includes("roll back"), "low traffic is not a failure of the model");
        assert.deepStrictEqual(fake.events, ["weights 10/90", "sleep 600", "sleep 180", "read", "sleep 600", "sleep 180", "read"]);
        assert.deepStrictEqual(fake.windows.map((w) => w.start), ["2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z"], "the extended window starts with the step");
        assert.match(stop.message, /^rollout prd-fraud--v7-bbbb step 1\/3 held at 10% prd-fraud--v7-bbbb: 90 scoring calls reached .* also after the extended bake/);
        assert.strictEqual(fake.lines[1], `rollout ${CANDIDATE} step 1/3: 40 scoring calls reached ${CANDIDATE} in the window, fewer than minRequests 200: baking once more`);
    });

    it("advances on low traffic after the extended bake when allowLowTraffic is on (dev)", async () => {
        const low: Read = { candidate: [5, 0, 90] };
        const fake = fakePorts([low, low, low, low]);
        await runGuardedRollout({ ...PLAN, thresholds: { ...PLAN.thresholds, allowLowTraffic: true } }, fake.ports);
        assert.strictEqual(fake.events.filter((e) => e === "read").length, 4);
        assert.strictEqual(fake.events.at(-1), "weights 100/0");
    });

    it("holds the traffic while metrics cannot be read, retries within the bound, then fails clearly", async () => {
        const throttled = new MetricsUnreadable("cannot query Log Analytics workspace w: HTTP 429 (5 attempts)");
        const fake = fakePorts([throttled, throttled, throttled]);
        const stop = await stopped(runGuardedRollout(PLAN, fake.ports));
        assert.strictEqual(stop.reason, "unreadable");
        assert.strictEqual(stop.weight, 10);
        assert.deepStrictEqual(fake.events, ["weights 10/90", "sleep 600", "sleep 180", "read", "sleep 60", "read", "sleep 60", "read"]);
        assert.strictEqual(
            stop.message,
            `rollout ${CANDIDATE} step 1/3 held at 10% ${CANDIDATE}: the window 2026-12-02T10:00:00Z .. 2026-12-02T10:10:00Z could not be read after 3 attempts (cannot query Log Analytics workspace w: HTTP 429 (5 attempts)). Nothing was promoted; run \`pulumi up\` again to resume from this step.`,
        );
    });

    it("holds, as for an unreadable window, while the ingress counts calls that no request record shows", async () => {
        const fake = fakePorts([]);
        const late = { windows: new Map([[CANDIDATE, { revision: CANDIDATE, requests: 300, errors: 0, p95LatencyMs: null, ingress: { requests: 300, errors: 0 } }]]), query: "q" };
        const arrived = { windows: new Map([[CANDIDATE, { revision: CANDIDATE, requests: 300, errors: 0, p95LatencyMs: 400, ingress: { requests: 300, errors: 0 } }]]), query: "q" };
        const answers = [late, arrived];
        fake.ports.readWindow = async () => (fake.events.push("read"), answers.shift()!);
        const stop = await stopped(runGuardedRollout(PLAN, fake.ports));
        assert.deepStrictEqual(fake.events, ["weights 10/90", "sleep 600", "sleep 180", "read", "sleep 60", "read", "roll back"], "the late records' p95 of 400 ms is judged once they arrive");
        assert.strictEqual(stop.reason, "rolled-back");
        assert.ok(fake.lines[1].startsWith(`rollout ${CANDIDATE} step 1/3: the ingress counted 300 calls to ${CANDIDATE} in the window but Log Analytics holds no request record of them`), fake.lines[1]);

        const never = fakePorts([]);
        never.ports.readWindow = async () => (never.events.push("read"), late);
        const held = await stopped(runGuardedRollout(PLAN, never.ports));
        assert.strictEqual(held.reason, "unreadable");
        assert.strictEqual(held.weight, 10);
        assert.strictEqual(never.events.filter((e) => e === "read").length, 3);
        assert.match(held.message, /could not be read after 3 attempts \(the ingress counted 300 calls .* an image whose model pins MLflow 2\.x writes none\)\. Nothing was promoted/);
    });

    it("goes on once a retried read succeeds", async () => {
        const fake = fakePorts([new MetricsUnreadable("not yet"), HEALTHY, HEALTHY]);
        await runGuardedRollout(PLAN, fake.ports);
        assert.strictEqual(fake.events.at(-1), "weights 100/0");
        assert.ok(fake.lines.includes(`rollout ${CANDIDATE} step 1/3: not yet; the traffic stays at 10%, reading again in 60 s (attempt 1 of 3)`));
    });

    it("lets any other failure through instead of taking it for unreadable metrics", async () => {
        const fake = fakePorts([new TypeError("a bug")]);
        await assert.rejects(runGuardedRollout(PLAN, fake.ports), TypeError);
    });

    it("resumes a rerun from the current weight, baking that step again", async () => {
        const fake = fakePorts([HEALTHY]);
        await runGuardedRollout(PLAN, fake.ports, 50);
        assert.deepStrictEqual(fake.events, ["weights 50/50", "sleep 600", "sleep 180", "read", "weights 100/0"]);
        const between = fakePorts([HEALTHY]);
        await runGuardedRollout(PLAN, between.ports, 30);
        assert.strictEqual(between.events[0], "weights 50/50", "a weight between steps resumes at the next step");
    });

    it("refuses steps it cannot run", async () => {
        assert.deepStrictEqual(stepProblems([10, 50, 100]), []);
        assert.deepStrictEqual(stepProblems([100]), []);
        assert.deepStrictEqual(stepProblems([]), ["needs at least one step, the last 100"]);
        assert.deepStrictEqual(stepProblems([50, 10, 100]), ["steps must rise: each more than the one before"]);
        assert.deepStrictEqual(stepProblems([10, 50]), ["the last step must be 100: a rollout ends with the candidate serving everything"]);
        assert.deepStrictEqual(stepProblems([0, 10.5, 100]), ["each step must be a whole percentage from 1 to 100"]);
        await assert.rejects(runGuardedRollout({ ...PLAN, steps: [10, 50] }, fakePorts([]).ports), /rollout steps \[10,50\]: the last step must be 100/);
    });
});
