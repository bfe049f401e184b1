// The sequence of a guarded rollout (issue 22): which moves are guarded, each step's weights, its
// bake, the read of both revisions' numbers, the verdict (lib/serving/rolloutGuard.ts) and what
// follows from it, and the memory of rejected revisions. Azure is reached only through the ports,
// so the sequence is tested step by step; RevisionTraffic supplies ports over Container Apps and
// Log Analytics.
import { evidenceTable, judgeStep, MetricsUnreadable, recordsMissing, type GuardThresholds, type RevisionWindow, type Window } from "./rolloutGuard";
import type { RevisionState, TrafficTarget } from "./traffic";

/** What a traffic change is, for a model with a guarded rollout. */
export type GuardedMove =
    | { kind: "guarded"; candidate: string; stable: string; currentWeight: number }
    | { kind: "direct"; reason: string };

/** The model version a revision runs, from its name (`<app>--v<version>-<hash>`, lib/serving/revision.ts). */
export function revisionVersion(revision: string): number | undefined {
    const match = /--v(\d+)-[0-9a-z]+$/.exec(revision);
    return match ? Number(match[1]) : undefined;
}

/**
 * Whether moving the live app to `target` is a guarded rollout: the target sends everything to one
 * revision while another serves now. A canary table from config (two revisions) is the operator's
 * own split; a new app or a target that serves already has nothing to compare with; an older
 * version than the one serving is a rollback, which goes straight (a guard would hold traffic on
 * the revision being rolled back from).
 */
export function guardedMove(current: readonly RevisionState[], target: readonly TrafficTarget[]): GuardedMove {
    const full = target.filter((t) => t.weight > 0);
    if (full.length !== 1) return { kind: "direct", reason: "the traffic table from config splits between revisions (a canary): its weights are set as written" };
    const candidate = full[0].revision;
    const others = current.filter((r) => r.weight > 0 && r.name !== candidate).sort((a, b) => b.weight - a.weight);
    if (others.length === 0) return { kind: "direct", reason: `nothing but ${candidate} serves now: there is no stable revision to compare with` };
    const stable = others[0].name;
    const [from, to] = [revisionVersion(stable), revisionVersion(candidate)];
    if (from !== undefined && to !== undefined && to < from) {
        return { kind: "direct", reason: `${candidate} runs version ${to}, older than ${stable}'s ${from}: a rollback moves at once` };
    }
    return { kind: "guarded", candidate, stable, currentWeight: current.find((r) => r.name === candidate)?.weight ?? 0 };
}

/** A revision a guarded rollout rolled back: kept in RevisionTraffic's state. */
export interface RejectedRevision {
    revision: string;
    /** ISO 8601. */
    at: string;
    /** The verdict's reasons, one line. */
    reason: string;
}

/** How many rejections state keeps (the newest). */
export const REJECTIONS_KEPT = 20;

/** `rejected` with one more, the newest last, at most REJECTIONS_KEPT. */
export function withRejection(rejected: readonly RejectedRevision[] | undefined, entry: RejectedRevision): RejectedRevision[] {
    return [...(rejected ?? []).filter((r) => r.revision !== entry.revision), entry].slice(-REJECTIONS_KEPT);
}

/** `rejected` without `revision` (it was tried again and reached 100%). */
export function withoutRejection(rejected: readonly RejectedRevision[] | undefined, revision: string): RejectedRevision[] {
    return (rejected ?? []).filter((r) => r.revision !== revision);
}

/** The message `up` fails with when the target asks again for a revision a guarded rollout rejected. */
export function rejectedAgainMessage(entry: RejectedRevision, stable: string | undefined, modelKey: string): string {
    return (
        `revision ${entry.revision} was rolled back by its guarded rollout at ${entry.at} (${entry.reason}), so it is not tried again and gets no traffic` +
        `${stable ? `; ${stable} keeps serving` : ""}. To serve another version, move the model's selector; to change the revision, change its spec (a new revision is rolled out afresh); ` +
        `to try this one again, set ${modelKey}.rollout.retryRejected: true and run \`pulumi up\`.`
    );
}

export interface GuardedRolloutPlan {
    candidate: string;
    stable: string;
    /** The candidate's weight at each step, ascending, the last 100 (e.g. [10, 50, 100]). */
    steps: number[];
    bakeSeconds: number;
    /**
     * Waited after each bake before its window is read: request records reach Log Analytics some
     * time after they are written (typically 20 s to 3 min, learn.microsoft.com/azure/azure-monitor/logs/data-ingestion-time).
     */
    ingestionDelaySeconds: number;
    thresholds: GuardThresholds;
    /** Reads of a window that cannot be used (throttled, unreachable, partial) before the rollout stops. */
    readAttempts: number;
    readRetrySeconds: number;
}

export interface RolloutPorts {
    /** Gives the candidate `weight` percent and stable the rest; resolves once Azure has finished the change. */
    setWeights(weight: number): Promise<void>;
    /** Stable back to 100% at once, then the candidate deactivated. */
    rollBack(): Promise<void>;
    readWindow(window: Window): Promise<{ windows: Map<string, RevisionWindow>; query: string }>;
    sleep(ms: number): Promise<void>;
    now(): number;
    log(line: string): void;
    /**
     * Replays logged requests against the candidate while it has no traffic (lib/serving/replay.ts):
     * its one-line result, and why it stops the rollout (empty: go on); or why there was nothing to replay.
     */
    replay?(): Promise<{ summary: string; problems: string[] } | { skipped: string }>;
}

export type StopReason = "rolled-back" | "held" | "unreadable";

/** The rollout stopped: rolled back (traffic on stable), or held where it is; `message` is what `up` fails with. */
export class RolloutStopped extends Error {
    constructor(
        readonly reason: StopReason,
        message: string,
        /** The candidate's weight when it stopped (0 after a rollback). */
        readonly weight: number,
        /** Why, without the evidence: the verdict's reasons (a rollback) or the hold's reason. */
        readonly why: string = message.split("\n")[0],
    ) {
        super(message);
        this.name = "RolloutStopped";
    }
}

/** Problems of a plan's steps, in words; empty when they can be run. */
export function stepProblems(steps: readonly number[]): string[] {
    if (steps.length === 0) return ["needs at least one step, the last 100"];
    const problems: string[] = [];
    if (steps.some((s) => !Number.isInteger(s) || s < 1 || s > 100)) problems.push("each step must be a whole percentage from 1 to 100");
    if (steps.some((s, i) => i > 0 && s <= steps[i - 1])) problems.push("steps must rise: each more than the one before");
    if (steps[steps.length - 1] !== 100) problems.push("the last step must be 100: a rollout ends with the candidate serving everything");
    return problems;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/**
 * Runs the steps from `currentWeight` (the candidate's weight now: 0 for a new rollout; a rerun
 * after a hold resumes at that step and bakes it again). Resolves when the candidate has 100%;
 * throws RolloutStopped otherwise, after rolling back when a threshold tripped.
 */
export async function runGuardedRollout(plan: GuardedRolloutPlan, ports: RolloutPorts, currentWeight = 0): Promise<void> {
    const problems = stepProblems(plan.steps);
    if (problems.length > 0) throw new Error(`rollout steps ${JSON.stringify(plan.steps)}: ${problems.join("; ")}`);
    const first = plan.steps.findIndex((s) => s >= currentWeight);
    // Before any traffic moves: a rerun that resumes a step has replayed already.
    if (currentWeight === 0 && ports.replay) {
        const replayed = await ports.replay();
        if ("skipped" in replayed) ports.log(`rollout ${plan.candidate}: no replay: ${replayed.skipped}`);
        else {
            ports.log(`rollout ${plan.candidate}: ${replayed.summary}`);
            if (replayed.problems.length > 0) {
                await ports.rollBack();
                const why = `replay: ${replayed.problems.join("; ")}`;
                throw new RolloutStopped(
                    "rolled-back",
                    `rollout ${plan.candidate} stopped before any traffic moved: ${replayed.problems.join("; ")}. ${plan.stable} keeps 100% and ${plan.candidate} is deactivated.\n${replayed.summary}`,
                    0,
                    why,
                );
            }
        }
    }
    for (let i = Math.max(0, first); i < plan.steps.length; i++) {
        const weight = plan.steps[i];
        const label = `rollout ${plan.candidate} step ${i + 1}/${plan.steps.length}`;
        await ports.setWeights(weight);
        if (weight === 100) {
            ports.log(`${label}: 100% ${plan.candidate}; ${plan.stable} serves nothing now`);
            return;
        }
        const start = ports.now();
        let extended = false;
        for (;;) {
            ports.log(`${label}: ${weight}% ${plan.candidate}, ${100 - weight}% ${plan.stable}; baking ${Math.round(plan.bakeSeconds / 60)} min${extended ? " more" : ""}, until ${iso(ports.now() + plan.bakeSeconds * 1000)}`);
            await ports.sleep(plan.bakeSeconds * 1000);
            const window = { start: iso(start), end: iso(ports.now()) };
            await ports.sleep(plan.ingestionDelaySeconds * 1000);
            const { windows, query } = await readWithRetries(plan, ports, window, label, weight);
            const candidate = windows.get(plan.candidate) ?? { revision: plan.candidate, requests: 0, errors: 0, p95LatencyMs: null };
            const stable = windows.get(plan.stable);
            const verdict = judgeStep(plan.thresholds, candidate, stable, extended);
            const evidence = evidenceTable(candidate, stable, window, query);
            if (verdict.kind === "advance") {
                ports.log(`${label}: within the thresholds (${candidate.requests} calls, ${candidate.errors} 5xx, p95 ${candidate.p95LatencyMs ?? "-"} ms)${verdict.notes.map((n) => `; ${n}`).join("")}`);
                break;
            }
            if (verdict.kind === "extend") {
                ports.log(`${label}: ${verdict.reason}`);
                extended = true;
                continue;
            }
            if (verdict.kind === "hold") {
                throw new RolloutStopped("held", `${label} held at ${weight}% ${plan.candidate}: ${verdict.reason}. Run \`pulumi up\` again to bake this step again.\n${evidence}`, weight);
            }
            await ports.rollBack();
            throw new RolloutStopped(
                "rolled-back",
                `${label} rolled back: ${verdict.reasons.join("; ")}. ${plan.stable} serves 100% again and ${plan.candidate} is deactivated.\n${evidence}`,
                0,
                verdict.reasons.join("; "),
            );
        }
    }
}

async function readWithRetries(plan: GuardedRolloutPlan, ports: RolloutPorts, window: Window, label: string, weight: number) {
    for (let attempt = 1; ; attempt++) {
        try {
            const read = await ports.readWindow(window);
            const candidate = read.windows.get(plan.candidate);
            const missing = candidate && recordsMissing(candidate, plan.thresholds);
            if (missing) throw new MetricsUnreadable(missing);
            return read;
        } catch (err) {
            if (!(err instanceof MetricsUnreadable)) throw err;
            if (attempt >= plan.readAttempts) {
                throw new RolloutStopped(
                    "unreadable",
                    `${label} held at ${weight}% ${plan.candidate}: the window ${window.start} .. ${window.end} could not be read after ${attempt} attempts (${err.message}). Nothing was promoted; run \`pulumi up\` again to resume from this step.`,
                    weight,
                );
            }
            ports.log(`${label}: ${err.message}; the traffic stays at ${weight}%, reading again in ${plan.readRetrySeconds} s (attempt ${attempt} of ${plan.readAttempts})`);
            await ports.sleep(plan.readRetrySeconds * 1000);
        }
    }
}
