// How traffic moves between Container Apps revisions without ever reaching one that is not ready.
//
// Apps stay in Multiple revision mode (switching an existing app from Multiple to Single has been
// reported to leave it not started). In Multiple mode a PUT applies its traffic weights at once and
// nothing holds them until a named revision is ready, so a deployment moves traffic in two steps:
// 1. the container app's PUT (which may create the new revision) keeps the weights that serve now,
//    the new revision at 0% (`declaredTraffic`);
// 2. the RevisionTraffic resource waits until every revision the target gives traffic to is ready
//    (activating one a rollback returns to), then sets the target weights and deactivates the
//    revisions that no longer get traffic (`revisionsToDeactivate`).

export interface TrafficTarget {
    /** `<app>--<suffix>` */
    revision: string;
    weight: number;
    label: "stable" | "canary";
}

/** What Azure says of one revision (GET .../containerApps/{app}/revisions). */
export interface RevisionState {
    name: string;
    active: boolean;
    /** The revision's share of the app's traffic now. */
    weight: number;
    provisioningState?: string;
    runningState?: string;
    healthState?: string;
    replicas?: number;
    /** The revision's own address (Multiple mode), which reaches it whatever its traffic weight. */
    fqdn?: string;
}

/** Running states in which a revision serves (Container Apps adds RunningAtMaxScale at its replica limit). */
const SERVING_STATES = new Set(["Running", "RunningAtMaxScale"]);

/**
 * Ready to take requests: provisioned, healthy, and with at least one running replica, so its model
 * has loaded and answered the readiness probe. A revision scaled to zero is not ready: nothing has
 * shown that its model loads (RevisionTraffic wakes it first, see `needsWaking`).
 */
export function isReady(revision: RevisionState): boolean {
    return (
        revision.active &&
        revision.provisioningState === "Provisioned" &&
        revision.healthState === "Healthy" &&
        SERVING_STATES.has(revision.runningState ?? "") &&
        (revision.replicas ?? 0) >= 1
    );
}

/** Provisioned but with no replica (scaled to zero): a request to its own address starts one. */
export function needsWaking(revision: RevisionState): boolean {
    return revision.active && revision.provisioningState === "Provisioned" && (revision.replicas ?? 0) === 0 && revision.runningState !== "Failed";
}

/** Failed, as far as this rollout is concerned: it will not become ready by waiting. */
export function hasFailed(revision: RevisionState): boolean {
    return revision.provisioningState === "Failed" || revision.runningState === "Failed";
}

export interface DeclaredTraffic {
    /** What the container app's own PUT carries. */
    table: { revisionName: string; weight: number; label?: string }[];
    /** True when the PUT already carries the target (nothing to wait for). */
    final: boolean;
}

/**
 * The traffic table for the container app's PUT. `current` is the app as Azure has it, or
 * undefined for a new app (nothing serves yet, so the target goes in directly).
 */
export function declaredTraffic(current: readonly RevisionState[] | undefined, target: readonly TrafficTarget[], options: { guarded?: boolean } = {}): DeclaredTraffic {
    const asTable = target.map((t) => ({ revisionName: t.revision, weight: t.weight, label: t.label }));
    if (!current || current.length === 0) return { table: asTable, final: true };
    const byName = new Map(current.map((r) => [r.name, r]));
    const allReady = target.filter((t) => t.weight > 0).every((t) => {
        const revision = byName.get(t.revision);
        return revision !== undefined && isReady(revision);
    });
    // A guarded rollout moves the weights itself, step by step: the PUT never jumps ahead of it,
    // even when the new revision is ready already (a rerun after a hold, a retried rejection).
    const servesTarget = current.filter((r) => r.weight > 0).every((r) => target.some((t) => t.revision === r.name && t.weight === r.weight));
    if (allReady && (!options.guarded || servesTarget)) return { table: asTable, final: true };
    // Keep what serves now; revisions of the target that are not ready yet get 0%.
    const serving = current.filter((r) => r.weight > 0).map((r) => ({ revisionName: r.name, weight: r.weight }));
    const waiting = target
        .filter((t) => !serving.some((s) => s.revisionName === t.revision) && byName.get(t.revision) !== undefined)
        .map((t) => ({ revisionName: t.revision, weight: 0 }));
    return { table: [...serving, ...waiting], final: false };
}

/**
 * Active revisions that no longer get traffic once the target is applied: deactivated, so their
 * replicas stop costing. Azure keeps up to `maxInactiveRevisions` of them for a fast rollback.
 * A target revision at 0% (a canary paused at weight 0) stays active.
 */
export function revisionsToDeactivate(current: readonly RevisionState[], target: readonly TrafficTarget[]): string[] {
    const keep = new Set(target.map((t) => t.revision));
    return current.filter((r) => r.active && !keep.has(r.name)).map((r) => r.name);
}

/** Checks a target before it is applied: it names distinct revisions and its weights add up to 100. */
export function targetProblems(target: readonly TrafficTarget[]): string[] {
    const problems: string[] = [];
    const total = target.reduce((sum, t) => sum + t.weight, 0);
    if (total !== 100) problems.push(`traffic weights add up to ${total}, not 100`);
    if (new Set(target.map((t) => t.revision)).size !== target.length) problems.push("the same revision appears twice in the traffic table");
    if (!target.some((t) => t.weight > 0)) problems.push("no revision gets any traffic");
    return problems;
}
