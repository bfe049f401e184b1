// models[].rollout, a guarded rollout (issue 22): the canary steps a new revision climbs, how long
// each bakes, and the limits its window must keep. Absent: a new revision gets its traffic in one
// step once ready, as before. lib/serving/guardedRollout.ts runs what this becomes.
import { z } from "zod";
import { boolean, numberFromString, wholeNumber, type Issue } from "./common";
import type { GuardThresholds } from "../serving/rolloutGuard";

/** Bakes are whole minutes or hours, 1m to 2h: shorter sees too few calls, longer holds a deployment too long. */
export const BAKE_LIMITS = { minMinutes: 1, maxMinutes: 120 } as const;
const BAKE_PATTERN = /^([1-9][0-9]*)(m|h)$/;

/** "10m" -> 10, "1h" -> 60; undefined when the text is not a bake. */
export function bakeMinutes(text: string): number | undefined {
    const match = BAKE_PATTERN.exec(text);
    if (!match) return undefined;
    return Number(match[1]) * (match[2] === "h" ? 60 : 1);
}

export const ROLLOUT_DEFAULTS = {
    steps: [10, 50, 100],
    bake: "10m",
    maxErrorRate: 0.01,
    maxP95LatencyMs: 1000,
    minRequests: 100,
    errorRateMargin: 0.005,
    latencyMargin: 0.25,
} as const;

const BAKE_RULE = `a whole number of minutes or hours from ${BAKE_LIMITS.minMinutes}m to ${BAKE_LIMITS.maxMinutes / 60}h, such as 10m or 1h`;

function share(what: string) {
    const allowed = `must be a number from 0 to 1 (${what})`;
    return z.preprocess(numberFromString, z.number({ error: allowed }).min(0, { error: allowed }).max(1, { error: allowed }));
}

export const REPLAY_DEFAULTS = { requests: 100, minAgreement: 0.99, hours: 24 } as const;

export const replayFields = z
    .object(
        {
            requests: wholeNumber(0, 1000).optional(),
            minAgreement: share("the smallest share of replayed predictions that must equal the stable revision's, such as 0.99").optional(),
            maxDifference: z.preprocess(numberFromString, z.number({ error: "must be a number, 0 or more (the largest difference a regressor's replayed prediction may show)" }).min(0, { error: "must be a number, 0 or more (the largest difference a regressor's replayed prediction may show)" })).optional(),
            hours: wholeNumber(1, 168).optional(),
        },
        { error: "must be a map with optionally requests (0 turns replay off), minAgreement, maxDifference, hours" },
    )
    .strict();

export const rolloutFields = z.object(
    {
        steps: z.array(wholeNumber(1, 100), { error: "must be a list of rising percentages ending at 100, such as [10, 50, 100]" }).optional(),
        bake: z
            .string({ error: `must be ${BAKE_RULE}` })
            .refine((text) => {
                const minutes = bakeMinutes(text);
                return minutes !== undefined && minutes >= BAKE_LIMITS.minMinutes && minutes <= BAKE_LIMITS.maxMinutes;
            }, { error: `must be ${BAKE_RULE}` })
            .optional(),
        maxErrorRate: share("the largest share of 5xx answers a step may show, such as 0.01").optional(),
        maxP95LatencyMs: z
            .preprocess(numberFromString, z.number({ error: "must be a number of milliseconds from 1 to 600000" }).min(1, { error: "must be a number of milliseconds from 1 to 600000: a p95 below 1 ms cannot be met" }).max(600_000, { error: "must be a number of milliseconds from 1 to 600000" }))
            .optional(),
        minRequests: wholeNumber(1, 1_000_000).optional(),
        errorRateMargin: share("how much higher than the stable revision's the new revision's 5xx share may be").optional(),
        latencyMargin: z
            .preprocess(numberFromString, z.number({ error: "must be a number from 0 to 10 (how much slower than stable's the p95 may be: 0.25 is 25%)" }).min(0, { error: "must be a number from 0 to 10 (how much slower than stable's the p95 may be: 0.25 is 25%)" }).max(10, { error: "must be a number from 0 to 10 (how much slower than stable's the p95 may be: 0.25 is 25%)" }))
            .optional(),
        allowLowTraffic: boolean().optional(),
        retryRejected: boolean().optional(),
        replay: replayFields.optional(),
    },
    { error: "must be a map with optionally steps, bake, maxErrorRate, maxP95LatencyMs, minRequests, errorRateMargin, latencyMargin, allowLowTraffic, retryRejected, replay (an empty map {} takes the defaults)" },
);
export const rolloutSchema = rolloutFields.strict();
export type RolloutEntry = z.infer<typeof rolloutFields>;

/** A model's guarded rollout, with its defaults: a step's thresholds (lib/serving/rolloutGuard.ts) and the rest. */
export interface RolloutConfig extends GuardThresholds {
    steps: number[];
    bake: string;
    bakeSeconds: number;
    /** Try a revision a guarded rollout rolled back once more (the operator asked for it). */
    retryRejected: boolean;
    /** Logged requests replayed against the new revision before it gets traffic (requests 0: off). */
    replay: { requests: number; minAgreement: number; maxDifference?: number; hours: number };
}

/** The rollout's rules beyond each value's own: the steps as a whole. */
export function rolloutIssues(entry: RolloutEntry, path: (string | number)[]): Issue[] {
    const steps = entry.steps;
    if (!steps) return [];
    const problems: string[] = [];
    // Each step's own range is the schema's (wholeNumber(1, 100)); these are the list's rules, as
    // lib/serving/guardedRollout.ts's stepProblems checks them again before it runs.
    if (steps.length === 0) problems.push("must name at least one step, the last 100");
    else {
        if (steps.some((s, i) => i > 0 && s <= steps[i - 1])) problems.push("must rise: each step more than the one before");
        if (steps[steps.length - 1] !== 100) problems.push("must end at 100: a rollout ends with the new revision serving everything");
    }
    return problems.map((message) => ({ path: [...path, "steps"], input: steps, message }));
}

export function rolloutConfig(entry: RolloutEntry): RolloutConfig {
    const bake = entry.bake ?? ROLLOUT_DEFAULTS.bake;
    return {
        steps: [...(entry.steps ?? ROLLOUT_DEFAULTS.steps)],
        bake,
        bakeSeconds: bakeMinutes(bake)! * 60,
        maxErrorRate: entry.maxErrorRate ?? ROLLOUT_DEFAULTS.maxErrorRate,
        maxP95LatencyMs: entry.maxP95LatencyMs ?? ROLLOUT_DEFAULTS.maxP95LatencyMs,
        minRequests: entry.minRequests ?? ROLLOUT_DEFAULTS.minRequests,
        errorRateMargin: entry.errorRateMargin ?? ROLLOUT_DEFAULTS.errorRateMargin,
        latencyMargin: entry.latencyMargin ?? ROLLOUT_DEFAULTS.latencyMargin,
        allowLowTraffic: entry.allowLowTraffic ?? false,
        retryRejected: entry.retryRejected ?? false,
        replay: {
            requests: entry.replay?.requests ?? REPLAY_DEFAULTS.requests,
            minAgreement: entry.replay?.minAgreement ?? REPLAY_DEFAULTS.minAgreement,
            ...(entry.replay?.maxDifference !== undefined ? { maxDifference: entry.replay.maxDifference } : {}),
            hours: entry.replay?.hours ?? REPLAY_DEFAULTS.hours,
        },
    };
}

/** Just the thresholds a step is judged by. */
export function thresholdsOf(rollout: RolloutConfig): GuardThresholds {
    const { maxErrorRate, maxP95LatencyMs, minRequests, errorRateMargin, latencyMargin, allowLowTraffic } = rollout;
    return { maxErrorRate, maxP95LatencyMs, minRequests, errorRateMargin, latencyMargin, allowLowTraffic };
}

/** One line for the plan: "10% -> 50% -> 100%, bake 10m each; a step passes with <= 1% 5xx, p95 <= 1000 ms, >= 100 calls". */
export function rolloutSummary(rollout: RolloutConfig): string {
    const percent = (share: number) => `${+(share * 100).toFixed(3)}%`;
    return (
        `${rollout.steps.map((s) => `${s}%`).join(" -> ")}, bake ${rollout.bake} each; a step passes with <= ${percent(rollout.maxErrorRate)} 5xx, ` +
        `p95 <= ${rollout.maxP95LatencyMs} ms, >= ${rollout.minRequests} calls, and at most ${percent(rollout.errorRateMargin)} more 5xx and ${percent(rollout.latencyMargin)} slower p95 than stable` +
        `${rollout.allowLowTraffic ? "; low traffic promotes after one extended bake" : ""}${rollout.retryRejected ? "; a rejected revision is tried again" : ""}; ` +
        (rollout.replay.requests === 0
            ? "no replay"
            : `first, up to ${rollout.replay.requests} requests logged in the last ${rollout.replay.hours} h replayed: >= ${percent(rollout.replay.minAgreement)} of predictions agree${rollout.replay.maxDifference !== undefined ? `, regressors within ${rollout.replay.maxDifference}` : ""}`)
    );
}
