// models[].rollout (lib/config/rollout.ts): defaults, every bound, the steps as a whole, the
// platform it needs, and the plan's one-line summary.
import * as assert from "assert";
import { ConfigError, parsePlatformConfig, type PlatformConfig } from "../lib/config";
import { bakeMinutes, rolloutConfig, rolloutSummary, ROLLOUT_DEFAULTS } from "../lib/config/rollout";
import { validRawConfig as fixture } from "./helpers/fixtures";

const model = (fields: Record<string, unknown> = {}) => ({ name: "fraud", model: "main.risk.fraud", alias: "champion", cpu: 1, memoryGb: 2, ...fields });
const raw = (rollout: unknown, platform = "containerapp") =>
    fixture({ registry: { kind: "unity-catalog", catalog: "main" }, serving: { containerRegistrySku: "Basic", platform }, models: [model({ rollout })] });

function parsed(rollout: unknown): PlatformConfig {
    return parsePlatformConfig(raw(rollout), "dev");
}

function problems(rollout: unknown, platform?: string): readonly string[] {
    try {
        parsePlatformConfig(raw(rollout, platform), "dev");
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
        return err.problems;
    }
    return [];
}

describe("models[].rollout", () => {
    it("an empty map takes every default; without the key there is no rollout", () => {
        assert.deepStrictEqual(parsed({}).models[0].rollout, {
            steps: [10, 50, 100],
            bake: "10m",
            bakeSeconds: 600,
            maxErrorRate: ROLLOUT_DEFAULTS.maxErrorRate,
            maxP95LatencyMs: ROLLOUT_DEFAULTS.maxP95LatencyMs,
            minRequests: ROLLOUT_DEFAULTS.minRequests,
            errorRateMargin: ROLLOUT_DEFAULTS.errorRateMargin,
            latencyMargin: ROLLOUT_DEFAULTS.latencyMargin,
            allowLowTraffic: false,
            retryRejected: false,
            replay: { requests: 100, minAgreement: 0.99, hours: 24 },
        });
        assert.strictEqual(parsePlatformConfig(fixture({ registry: { kind: "unity-catalog", catalog: "main" }, serving: { containerRegistrySku: "Basic", platform: "containerapp" }, models: [model()] }), "dev").models[0].rollout, undefined);
    });

    it("reads every key, Pulumi's strings included", () => {
        const rollout = parsed({
            steps: [5, "25", 100], bake: "1h", maxErrorRate: "0.02", maxP95LatencyMs: "300", minRequests: "50", errorRateMargin: 0, latencyMargin: "0.5", allowLowTraffic: "true", retryRejected: true,
            replay: { requests: "20", minAgreement: 0.9, maxDifference: "0.5", hours: 6 },
        }).models[0].rollout;
        assert.deepStrictEqual(rollout, {
            steps: [5, 25, 100], bake: "1h", bakeSeconds: 3600, maxErrorRate: 0.02, maxP95LatencyMs: 300, minRequests: 50, errorRateMargin: 0, latencyMargin: 0.5, allowLowTraffic: true, retryRejected: true,
            replay: { requests: 20, minAgreement: 0.9, maxDifference: 0.5, hours: 6 },
        });
    });

    it("bakes are whole minutes or hours from 1m to 2h", () => {
        assert.deepStrictEqual([bakeMinutes("1m"), bakeMinutes("90m"), bakeMinutes("2h"), bakeMinutes("10"), bakeMinutes("0m"), bakeMinutes("1.5h"), bakeMinutes("10s")], [1, 90, 120, undefined, undefined, undefined, undefined]);
        assert.deepStrictEqual(problems({ bake: "120m" }), []);
        for (const bake of ["121m", "3h", "30s", "0m", "10 m", 10]) {
            assert.deepStrictEqual(problems({ bake }), [`mlflow-platform:models[0].rollout.bake = ${JSON.stringify(bake)} is not allowed: it must be a whole number of minutes or hours from 1m to 2h, such as 10m or 1h`], String(bake));
        }
    });

    it("thresholds that cannot be met, or are not shares, are refused naming the key", () => {
        assert.deepStrictEqual(problems({ maxP95LatencyMs: 0.5 }), ["mlflow-platform:models[0].rollout.maxP95LatencyMs = 0.5 is not allowed: it must be a number of milliseconds from 1 to 600000: a p95 below 1 ms cannot be met"]);
        assert.deepStrictEqual(problems({ maxErrorRate: 1.5 }), ["mlflow-platform:models[0].rollout.maxErrorRate = 1.5 is not allowed: it must be a number from 0 to 1 (the largest share of 5xx answers a step may show, such as 0.01)"]);
        assert.deepStrictEqual(problems({ minRequests: 0 }), ["mlflow-platform:models[0].rollout.minRequests = 0 is not allowed: it must be a whole number from 1 to 1000000"]);
        assert.deepStrictEqual(problems({ latencyMargin: 11 }), ["mlflow-platform:models[0].rollout.latencyMargin = 11 is not allowed: it must be a number from 0 to 10 (how much slower than stable's the p95 may be: 0.25 is 25%)"]);
        assert.deepStrictEqual(problems({ allowLowTraffic: "yes" }), ["mlflow-platform:models[0].rollout.allowLowTraffic = \"yes\" is not allowed: it must be true or false"]);
        assert.deepStrictEqual(problems({ maxErrorRate: 0, maxP95LatencyMs: 1, latencyMargin: 10, minRequests: 1_000_000 }), [], "the bounds themselves are allowed");
    });

    it("steps must rise, be whole percentages and end at 100", () => {
        assert.deepStrictEqual(problems({ steps: [10, 10, 100] }), ["mlflow-platform:models[0].rollout.steps = [10,10,100] is not allowed: it must rise: each step more than the one before"]);
        assert.deepStrictEqual(problems({ steps: [10, 50] }), ["mlflow-platform:models[0].rollout.steps = [10,50] is not allowed: it must end at 100: a rollout ends with the new revision serving everything"]);
        assert.deepStrictEqual(problems({ steps: [] }), ["mlflow-platform:models[0].rollout.steps = [] is not allowed: it must name at least one step, the last 100"]);
        assert.deepStrictEqual(problems({ steps: [0, 100] }), ["mlflow-platform:models[0].rollout.steps[0] = 0 is not allowed: it must be a whole number from 1 to 100"]);
        assert.deepStrictEqual(problems({ steps: "10,50,100" }), ['mlflow-platform:models[0].rollout.steps = "10,50,100" is not allowed: it must be a list of rising percentages ending at 100, such as [10, 50, 100]']);
        assert.deepStrictEqual(parsed({ steps: [100] }).models[0].rollout!.steps, [100], "one step: straight to 100%, still watched for readiness");
    });

    it("replay: requests 0-1000 (0 is off), shares, a difference of 0 or more, 1-168 hours; its unknown keys named", () => {
        assert.deepStrictEqual(problems({ replay: { requests: 1001 } }), ["mlflow-platform:models[0].rollout.replay.requests = 1001 is not allowed: it must be a whole number from 0 to 1000"]);
        assert.deepStrictEqual(problems({ replay: { minAgreement: 2 } }), ["mlflow-platform:models[0].rollout.replay.minAgreement = 2 is not allowed: it must be a number from 0 to 1 (the smallest share of replayed predictions that must equal the stable revision's, such as 0.99)"]);
        assert.deepStrictEqual(problems({ replay: { maxDifference: -1 } }), ["mlflow-platform:models[0].rollout.replay.maxDifference = -1 is not allowed: it must be a number, 0 or more (the largest difference a regressor's replayed prediction may show)"]);
        assert.deepStrictEqual(problems({ replay: { hours: 0 } }), ["mlflow-platform:models[0].rollout.replay.hours = 0 is not allowed: it must be a whole number from 1 to 168"]);
        assert.deepStrictEqual(problems({ replay: { sample: 10 } }), ["mlflow-platform:models[0].rollout.replay.sample is not a setting this program reads: a model's rollout.replay takes requests, minAgreement, maxDifference, hours"]);
    });

    it("an unknown key is named with the keys a rollout takes; a rollout on ACI is refused", () => {
        assert.deepStrictEqual(problems({ step: [10, 100] }), ["mlflow-platform:models[0].rollout.step is not a setting this program reads (probable typo): did you mean mlflow-platform:models[0].rollout.steps?"]);
        assert.deepStrictEqual(problems({ canaryWeights: [10] }), [
            "mlflow-platform:models[0].rollout.canaryWeights is not a setting this program reads: a model's rollout takes steps, bake, maxErrorRate, maxP95LatencyMs, minRequests, errorRateMargin, latencyMargin, allowLowTraffic, retryRejected, replay",
        ]);
        assert.ok(problems({}, "aci").some((p) => /^mlflow-platform:models\[0\]\.rollout = \{\} is not allowed: it only applies with serving\.platform containerapp/.test(p)), problems({}, "aci").join("\n"));
        assert.deepStrictEqual(problems("fast"), ['mlflow-platform:models[0].rollout = "fast" is not allowed: it must be a map with optionally steps, bake, maxErrorRate, maxP95LatencyMs, minRequests, errorRateMargin, latencyMargin, allowLowTraffic, retryRejected, replay (an empty map {} takes the defaults)']);
    });

    it("the plan's summary names the steps, the bake and every limit", () => {
        assert.strictEqual(
            rolloutSummary(rolloutConfig({ maxP95LatencyMs: 250, minRequests: 200 })),
            "10% -> 50% -> 100%, bake 10m each; a step passes with <= 1% 5xx, p95 <= 250 ms, >= 200 calls, and at most 0.5% more 5xx and 25% slower p95 than stable; " +
                "first, up to 100 requests logged in the last 24 h replayed: >= 99% of predictions agree",
        );
        assert.match(rolloutSummary(rolloutConfig({ allowLowTraffic: true, retryRejected: true, replay: { requests: 0 } })), /; low traffic promotes after one extended bake; a rejected revision is tried again; no replay$/);
        assert.match(rolloutSummary(rolloutConfig({ replay: { maxDifference: 0.1 } })), /replayed: >= 99% of predictions agree, regressors within 0\.1$/);
    });
});
