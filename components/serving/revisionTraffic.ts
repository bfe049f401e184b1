// `RevisionTraffic`: a Pulumi dynamic resource that moves a container app's traffic to its target
// revisions only once they are ready, then deactivates the revisions that no longer get traffic.
// A thin adapter over lib/azure/containerApps.ts; the rules are in lib/serving/traffic.ts.
import * as pulumi from "@pulumi/pulumi";
import type { ContainerClient } from "@azure/storage-blob";
import { ARM_SCOPE, ContainerAppsClient, MonitorMetricsClient, type IpRule } from "../../lib/azure/containerApps";
import { hasFailed, isReady, needsWaking, revisionsToDeactivate, targetProblems, type RevisionState, type TrafficTarget } from "../../lib/serving/traffic";
import { azureSignIn } from "../../lib/azure/signIn";
import { LOG_ANALYTICS_SCOPE, LogAnalyticsClient, readRevisionLog, readStepWindow } from "../../lib/azure/logAnalytics";
import { lastLinesSentence } from "../../lib/serving/revisionLogs";
import { thresholdsOf, type RolloutConfig } from "../../lib/config/rollout";
import { PAYLOAD_CONTAINER } from "../../lib/drift/job";
import { driftWindow, hourPrefixes } from "../../lib/drift/window";
import { blobEndpointOf } from "../../lib/serving/payloadLog";
import { platformMetricsPath, withIngress } from "../../lib/serving/rolloutGuard";
import { canonicalJson } from "../../lib/serving/revision";
import { AUDIT_CONTAINER, rolloutRecord, type AuditContext, type AuditRollout } from "../../lib/audit/record";
import { writeAuditRecord } from "../../lib/audit/store";
import { auditContext } from "../../lib/audit/trail";
import { comparePredictions, loggedRequests, predictionsOf, replayBody, replayProblems, replaySummary } from "../../lib/serving/replay";
import {
    guardedMove,
    rejectedAgainMessage,
    revisionVersion,
    runGuardedRollout,
    RolloutStopped,
    withoutRejection,
    withRejection,
    type GuardedRolloutPlan,
    type RejectedRevision,
} from "../../lib/serving/guardedRollout";

/** A model's guarded rollout, as RevisionTraffic runs it. */
export interface TrafficGuard {
    /** The Log Analytics workspace's GUID (customerId) holding the request records. */
    workspaceId: string;
    /** The container app's name, as the records' ContainerAppName carries it. */
    appName: string;
    rollout: RolloutConfig;
    /** How messages name the model's config entry, e.g. models[fraud]. */
    modelKey: string;
    /** The registered model name (catalog.schema.model): the audit record's model. */
    modelName: string;
    /** Where the replay reads logged requests and how it signs in to the new revision; or why there is none. */
    replay: ReplaySource | { off: string };
    /** The model store whose audit container keeps each guarded rollout's outcome (prd); absent: not recorded. */
    auditAccountName?: string;
}

/** The payload log a replay reads, and the scoring API's token scope. */
export interface ReplaySource {
    /** The model store's account (its payloads container holds the log). */
    accountName: string;
    /** The log's folder of this model: its registered name, as SERVING_MODEL_NAME gives it. */
    folder: string;
    /** `api://<client id>/.default`: the deploying identity's token for the new revision. */
    scope: string;
}

export interface RevisionTrafficState {
    /** The container app's ARM id. */
    appId: string;
    target: TrafficTarget[];
    /** How long a new revision may take to become ready before `pulumi up` fails. */
    readyTimeoutSeconds: number;
    /**
     * The ingress IP rules to set with the traffic. A new app is created admitting nobody; this
     * resource runs after its Entra authentication config exists and opens the ingress.
     */
    ipSecurityRestrictions?: IpRule[];
    /**
     * True when this deployment's app PUT closed the ingress (the app is new, or its authentication
     * config did not exist when the run started): a change of it makes this resource run again, so
     * it reopens the ingress even when the target is unchanged.
     */
    ingressClosedByApp?: boolean;
    /** A guarded rollout: a new revision climbs canary steps, each judged on its request records. */
    guard?: TrafficGuard;
    /**
     * Where the app's console lines are (its environment's Log Analytics workspace GUID and the
     * app's name): a revision that never gets ready fails with its last lines. Not a change by itself.
     */
    logs?: { workspaceId: string; appName: string };
    /** Output only: revisions a guarded rollout rolled back, not tried again unless asked (rollout.retryRejected). */
    rejected?: RejectedRevision[];
}

/**
 * Waited after each bake before its window is read: Container Apps' console logs reach Log
 * Analytics some time after they are written (typically 20 s to 3 min,
 * learn.microsoft.com/azure/azure-monitor/logs/data-ingestion-time).
 */
const INGESTION_DELAY_SECONDS = 120;
/** Reads of a window before a rollout holds and fails, and the wait between them. */
const WINDOW_READ_ATTEMPTS = 5;
const WINDOW_READ_RETRY_SECONDS = 60;

/** The steps' plan from a model's rollout config. */
export function rolloutPlan(guard: TrafficGuard, candidate: string, stable: string): GuardedRolloutPlan {
    const { rollout } = guard;
    return {
        candidate,
        stable,
        steps: rollout.steps,
        bakeSeconds: rollout.bakeSeconds,
        ingestionDelaySeconds: INGESTION_DELAY_SECONDS,
        thresholds: thresholdsOf(rollout),
        readAttempts: WINDOW_READ_ATTEMPTS,
        readRetrySeconds: WINDOW_READ_RETRY_SECONDS,
    };
}

/**
 * Fails an update while keeping `properties` as the resource's state (the engine's "partial
 * failure"): @pulumi/pulumi's dynamic provider host packs an error that has an `id` into
 * ErrorResourceInitFailed, which provider.proto defines for a Create or Update that failed after
 * the resource exists, with "any properties that were computed during updating" kept in state.
 */
function failedKeeping(message: string, id: string, properties: RevisionTrafficState): Error {
    return Object.assign(new Error(message), { id, properties, reasons: [message] });
}

/** The rejection a target asks for again without the operator asking to retry it. */
function rejectedTarget(olds: Partial<RevisionTrafficState> | undefined, news: RevisionTrafficState): RejectedRevision | undefined {
    if (!news.guard || news.guard.rollout.retryRejected) return undefined;
    const wanted = new Set(news.target.filter((t) => t.weight > 0).map((t) => t.revision));
    return (olds?.rejected ?? []).find((r) => wanted.has(r.revision));
}

export interface RevisionTrafficOptions {
    client?: () => ContainerAppsClient;
    sleep?: (ms: number) => Promise<void>;
    now?: () => number;
    pollMs?: number;
    /** Progress lines; the provider's stderr reaches `pulumi up`. */
    log?: (line: string) => void;
    /**
     * Sends one request to a revision's own address so a revision scaled to zero starts a replica;
     * resolves to what happened, for messages. Default: GET https://<fqdn>/ping.
     */
    wake?: (fqdn: string) => Promise<string>;
    /** The Log Analytics query client a guarded rollout reads its windows with. */
    logAnalytics?: () => LogAnalyticsClient;
    /** The Azure Monitor metrics client it reads the ingress's counts with. */
    metrics?: () => MonitorMetricsClient;
    /** The payloads container a replay reads (default: the model store's, signed in as the deployer). */
    payloadContainer?: (source: ReplaySource) => Promise<ContainerClient>;
    /** The audit container a guarded rollout's record goes to, and who the record says made it (default: the model store's, signed in). */
    audit?: (accountName: string) => Promise<{ container: ContainerClient; context: AuditContext }>;
    /** One scoring call to a revision's own address: its parsed answer (default: HTTPS with an Entra token for `scope`). */
    score?: (fqdn: string, body: string, scope: string) => Promise<unknown>;
}

/** The newest payload files under each prefix (newest first) until about `enough` lines are read. */
export async function payloadFilesFrom(container: ContainerClient, prefixes: string[], enough: number): Promise<string[]> {
    const texts: string[] = [];
    let lines = 0;
    for (const prefix of prefixes) {
        const names: { name: string; modified: number }[] = [];
        for await (const blob of container.listBlobsFlat({ prefix })) names.push({ name: blob.name, modified: blob.properties.lastModified?.getTime() ?? 0 });
        for (const { name } of names.sort((a, b) => b.modified - a.modified)) {
            const text = (await container.getBlobClient(name).downloadToBuffer()).toString("utf8");
            texts.push(text);
            lines += text.split("\n").filter(Boolean).length;
            if (lines >= enough) return texts;
        }
    }
    return texts;
}

/** The model store's audit container, and the deploying identity as its token names it. */
async function auditOf(accountName: string): Promise<{ container: ContainerClient; context: AuditContext }> {
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const credential = azureSignIn();
    const container = new BlobServiceClient(blobEndpointOf(accountName), credential).getContainerClient(AUDIT_CONTAINER);
    const context = await auditContext({
        env: process.env,
        credentialSource: "Microsoft Entra ID (the identity running pulumi up)",
        entraToken: async () => (await credential.getToken("https://storage.azure.com/.default"))?.token,
        tool: { name: "mlflow-platform RevisionTraffic", version: "1" },
    });
    return { container, context };
}

async function payloadContainerOf(source: ReplaySource): Promise<ContainerClient> {
    const { BlobServiceClient } = await import("@azure/storage-blob");
    return new BlobServiceClient(blobEndpointOf(source.accountName), azureSignIn()).getContainerClient(PAYLOAD_CONTAINER);
}

/** POST https://<fqdn>/invocations with the deploying identity's token for the scoring API. */
async function scoreWithToken(fqdn: string, body: string, scope: string): Promise<unknown> {
    const { score } = await import("../../lib/scoring/client");
    const token = await azureSignIn().getToken(scope);
    if (!token?.token) throw new Error(`no Microsoft Entra token for ${scope}: run \`az login\``);
    return score(`https://${fqdn}/invocations`, JSON.parse(body) as Record<string, unknown>, { bearerToken: token.token, timeoutMs: 60_000, maxAttempts: 3 });
}

/** How often a revision with no replica is woken again while waiting. */
const WAKE_EVERY_MS = 60_000;

/** GET https://<fqdn>/ping: any answer (401 from the app's authentication included) means a replica was asked to start. */
async function wakeByPing(fqdn: string): Promise<string> {
    const axios = require("axios") as typeof import("axios").default;
    try {
        const answer = await axios.get(`https://${fqdn}/ping`, { timeout: 30_000, validateStatus: () => true, maxRedirects: 0 });
        return `HTTP ${answer.status}`;
    } catch (err) {
        return `no answer (${(err as { code?: string }).code ?? "network error"})`;
    }
}

export class RevisionTrafficProvider implements pulumi.dynamic.ResourceProvider {
    constructor(private readonly options: RevisionTrafficOptions = {}) {}

    async check(_olds: RevisionTrafficState, news: RevisionTrafficState): Promise<pulumi.dynamic.CheckResult<RevisionTrafficState>> {
        const problems = Array.isArray(news.target) ? targetProblems(news.target) : ["target must be a list of revisions and weights"];
        return { inputs: news, failures: problems.map((reason) => ({ property: "target", reason })) };
    }

    async diff(_id: string, olds: RevisionTrafficState, news: RevisionTrafficState): Promise<pulumi.dynamic.DiffResult> {
        const replaces = olds.appId !== news.appId ? ["appId"] : [];
        const changed =
            JSON.stringify(olds.target) !== JSON.stringify(news.target) ||
            JSON.stringify(olds.ipSecurityRestrictions ?? null) !== JSON.stringify(news.ipSecurityRestrictions ?? null) ||
            Boolean(olds.ingressClosedByApp) !== Boolean(news.ingressClosedByApp) ||
            // Key order is not kept through the engine's state: compared as canonical JSON.
            canonicalJson(olds.guard ?? null) !== canonicalJson(news.guard ?? null) ||
            // A target that asks for a rejected revision is an update that fails, saying so, on every run.
            rejectedTarget(olds, news) !== undefined;
        return { changes: replaces.length > 0 || changed, replaces };
    }

    async create(inputs: RevisionTrafficState): Promise<pulumi.dynamic.CreateResult<RevisionTrafficState>> {
        const id = `${inputs.appId}/traffic`;
        return { id, outs: await this.apply(id, undefined, inputs) };
    }

    async update(id: string, olds: RevisionTrafficState, news: RevisionTrafficState): Promise<pulumi.dynamic.UpdateResult<RevisionTrafficState>> {
        return { outs: await this.apply(id, olds, news) };
    }

    /** Removing the resource leaves the app's traffic as it is. */
    async delete(): Promise<void> {}

    /** A token source for `scope`, loaded in the provider process: the deployer's own sign-in, never a value in state. */
    private signedIn(scope: string, api: string): { log: (line: string) => void; token: () => Promise<string> } {
        const credential = azureSignIn();
        return {
            log: this.options.log ?? ((line: string) => console.error(line)),
            token: async () => {
                const token = await credential.getToken(scope);
                if (!token?.token) throw new Error(`no Microsoft Entra token for ${api}: run \`az login\``);
                return token.token;
            },
        };
    }

    private client(): ContainerAppsClient {
        return this.options.client ? this.options.client() : new ContainerAppsClient(this.signedIn(ARM_SCOPE, "Azure Resource Manager"));
    }

    private metrics(): MonitorMetricsClient {
        return this.options.metrics ? this.options.metrics() : new MonitorMetricsClient(this.signedIn(ARM_SCOPE, "Azure Resource Manager"));
    }

    private logAnalytics(): LogAnalyticsClient {
        return this.options.logAnalytics ? this.options.logAnalytics() : new LogAnalyticsClient(this.signedIn(LOG_ANALYTICS_SCOPE, "the Log Analytics query API"));
    }

    /**
     * The rollout's outcome in the model store's audit container, beside the promotions (npm run
     * audit lists it). Written after the fact and never failing the rollout: the traffic has moved
     * (or moved back) already, and `up`'s output holds the same words.
     */
    private async recordRollout(guard: TrafficGuard, appId: string, move: { candidate: string; stable: string }, startedAt: Date, now: () => number, outcome: Omit<AuditRollout, "candidate" | "stable">): Promise<void> {
        if (!guard.auditAccountName) return;
        const log = this.options.log ?? ((line: string) => console.error(line));
        const version = revisionVersion(move.candidate);
        if (version === undefined) return;
        try {
            const { container, context } = await (this.options.audit ?? auditOf)(guard.auditAccountName);
            const from = revisionVersion(move.stable);
            const record = rolloutRecord(
                { model: guard.modelName, version: String(version), ...(from !== undefined ? { fromVersion: String(from) } : {}), appId, rollout: { candidate: move.candidate, stable: move.stable, ...outcome } },
                context,
                startedAt,
                new Date(now()),
            );
            const name = await writeAuditRecord(container, record);
            log(`audit: rollout recorded at ${guard.auditAccountName}/${AUDIT_CONTAINER}/${name}`);
        } catch (err) {
            log(`audit: the rollout's record could not be written (${(err as Error).message}); the output above is its only account`);
        }
    }

    /**
     * A not-ready failure with each revision's last console lines, when the app's logs are known:
     * serve_model.py says there what stopped it (a refused setting names its config key). Reading
     * them never hides the failure itself.
     */
    private async withLastLines(err: Error, revisions: RevisionState[], inputs: RevisionTrafficState, now: () => number): Promise<Error> {
        const logs = inputs.logs;
        if (!logs) return err;
        const queries = this.logAnalytics();
        for (const revision of revisions) {
            let lines: string[] | { unreadable: string };
            try {
                lines = await readRevisionLog(queries, logs.workspaceId, logs.appName, revision.name, new Date(now()));
            } catch (cause) {
                lines = { unreadable: (cause as Error).message };
            }
            err.message += lastLinesSentence(revision.name, lines);
        }
        return err;
    }

    /** Logged requests of the stable revision's version, sent to the candidate's own address, compared. */
    private async replay(guard: TrafficGuard, candidate: string, stable: string, revisions: RevisionState[], now: () => number): Promise<{ summary: string; problems: string[] } | { skipped: string }> {
        const { replay: config } = guard.rollout;
        if (config.requests === 0) return { skipped: "rollout.replay.requests is 0" };
        if ("off" in guard.replay) return { skipped: guard.replay.off };
        const version = revisionVersion(stable);
        const fqdn = revisions.find((r) => r.name === candidate)?.fqdn;
        if (version === undefined || !fqdn) return { skipped: `${version === undefined ? `${stable}'s version` : `${candidate}'s own address`} is not known` };
        const source = guard.replay;
        const window = driftWindow(config.hours, new Date(Math.ceil(now() / 3_600_000) * 3_600_000));
        const prefixes = hourPrefixes(source.folder, String(version), window).reverse();
        let texts: string[];
        try {
            texts = await payloadFilesFrom(await (this.options.payloadContainer ?? payloadContainerOf)(source), prefixes, config.requests);
        } catch (err) {
            return { skipped: `the payload log could not be read (${(err as { code?: string }).code ?? (err as Error).name}): the deploying identity needs Storage Blob Data Reader on the payloads container` };
        }
        const { requests } = loggedRequests(texts, config.requests);
        if (requests.length === 0) return { skipped: `no request of version ${version} was logged in the last ${config.hours} h` };
        const score = this.options.score ?? scoreWithToken;
        const pairs = [];
        for (const request of requests) {
            const started = performance.now();
            let actual: unknown[] | undefined;
            try {
                actual = predictionsOf(await score(fqdn, replayBody(request), source.scope));
            } catch {
                actual = undefined; // counted as not answered
            }
            pairs.push({ expected: request.outputs, actual, latencyMs: performance.now() - started });
        }
        const comparison = comparePredictions(pairs);
        return { summary: replaySummary(comparison, candidate, stable), problems: replayProblems(comparison, config) };
    }

    /**
     * Waits for every revision that gets traffic to be ready, then applies the weights (in watched
     * steps when the model has a guarded rollout), waits for that change to finish, and only then
     * deactivates the revisions that no longer get traffic. Resolves to the resource's new state.
     */
    private async apply(id: string, olds: Partial<RevisionTrafficState> | undefined, inputs: RevisionTrafficState): Promise<RevisionTrafficState> {
        const client = this.client();
        const rejected = olds?.rejected ?? [];
        const again = rejectedTarget(olds, inputs);
        if (again) {
            const live = await client.revisions(inputs.appId);
            const serving = live?.filter((r) => r.weight > 0).map((r) => `${r.weight}% ${r.name}`).join(", ");
            throw new Error(rejectedAgainMessage(again, serving || undefined, inputs.guard!.modelKey));
        }
        const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
        const now = this.options.now ?? Date.now;
        const log = this.options.log ?? ((line: string) => console.error(line));
        const wake = this.options.wake ?? wakeByPing;
        const deadline = now() + inputs.readyTimeoutSeconds * 1000;
        const needed = inputs.target.filter((t) => t.weight > 0).map((t) => t.revision);
        const restarted = new Set<string>();
        const woken = new Map<string, { at: number; result: string }>();
        let ingressOpened = false;
        // The ingress opens only once the app refuses anonymous requests: a first run whose auth
        // config failed left an app without one, and opening it then would serve anyone.
        let authChecked = false;
        const openIngress = async () => {
            if (authChecked || !inputs.ipSecurityRestrictions) return;
            if (!(await client.authConfigured(inputs.appId))) {
                throw new Error(
                    `container app ${inputs.appId} has no Entra authentication config (authConfigs/current requiring a token), so its ingress stays closed ` +
                        "and the traffic stays as it is. Run `pulumi up` again: the authentication config is created before the ingress opens.",
                );
            }
            authChecked = true;
        };
        let revisions: RevisionState[];
        for (;;) {
            const found = await client.revisions(inputs.appId);
            if (!found) throw new Error(`container app ${inputs.appId} does not exist`);
            revisions = found;
            const byName = new Map(revisions.map((r) => [r.name, r]));
            const missing = needed.filter((name) => !byName.has(name));
            if (missing.length > 0) {
                throw new Error(
                    `revision ${missing.join(", ")} does not exist, so it cannot get traffic; the traffic stays as it is. ` +
                        "A revision exists once a deployment created it: check the container app's revisions, or set the traffic back in config.",
                );
            }
            const targets = needed.map((name) => byName.get(name)!);
            // A revision that failed keeps its name (the name follows from its spec), so a rerun
            // restarts it once instead of failing until something else in the spec changes.
            const failed = targets.filter(hasFailed);
            const again = failed.filter((r) => restarted.has(r.name));
            if (again.length > 0) throw await this.withLastLines(notReady(again, "failed again after a restart", revisions, woken), again, inputs, now);
            for (const revision of failed) {
                log(`restarting revision ${revision.name} (it ${revision.provisioningState === "Failed" ? "failed to provision" : "failed to run"})`);
                await client.restart(inputs.appId, revision.name);
                restarted.add(revision.name);
            }
            if (failed.length > 0) continue;
            // A rollback returns to a revision Azure keeps inactive: activate it (re-using its
            // suffix in the app's PUT does nothing).
            for (const revision of targets.filter((r) => !r.active)) {
                log(`activating revision ${revision.name}`);
                await client.setActive(inputs.appId, revision.name, true);
            }
            const waiting = targets.filter((r) => !isReady(r));
            if (waiting.length === 0) break;
            // When what serves now is already the target (a new app), the ingress may open now: its
            // authentication config exists, and a revision scaled to zero can only be woken through it.
            const serving = revisions.filter((r) => r.weight > 0).map((r) => r.name);
            if (!ingressOpened && inputs.ipSecurityRestrictions && serving.length > 0 && serving.every((name) => needed.includes(name))) {
                await openIngress();
                await client.setTraffic(inputs.appId, inputs.target, inputs.ipSecurityRestrictions);
                ingressOpened = true;
            }
            for (const revision of waiting.filter(needsWaking)) {
                const last = woken.get(revision.name);
                if (!revision.fqdn || (last && now() - last.at < WAKE_EVERY_MS)) continue;
                const result = await wake(revision.fqdn);
                woken.set(revision.name, { at: now(), result });
                log(`waking revision ${revision.name} (no replica yet): GET https://${revision.fqdn}/ping: ${result}`);
            }
            if (now() >= deadline) throw await this.withLastLines(notReady(waiting, `not ready after ${inputs.readyTimeoutSeconds} s`, revisions, woken), waiting, inputs, now);
            log(`waiting for revision ${waiting.map((r) => `${r.name} (${r.provisioningState ?? "?"}, ${r.runningState ?? "?"}, ${r.healthState ?? "?"}, ${r.replicas ?? 0} replicas)`).join(", ")}`);
            await sleep(this.options.pollMs ?? 10_000);
        }
        // setTraffic returns once Azure has finished the change (its operation is polled): only
        // then may the revisions that served until now go away.
        await openIngress();
        const move = inputs.guard ? guardedMove(revisions, inputs.target) : undefined;
        // The rejections stay in state (only a rollout that reaches 100% clears its candidate's).
        const keep = (list: RejectedRevision[]): RevisionTrafficState => (list.length > 0 ? { ...inputs, rejected: list } : { ...inputs });
        let state = keep(rejected);
        if (move?.kind === "guarded") {
            const guard = inputs.guard!;
            const plan = rolloutPlan(guard, move.candidate, move.stable);
            const startedAt = new Date(now());
            let replayed: string | undefined;
            const queries = this.logAnalytics();
            const metrics = this.metrics();
            try {
                await runGuardedRollout(
                    plan,
                    {
                        setWeights: async (weight) => {
                            const table: TrafficTarget[] =
                                weight === 100
                                    ? inputs.target
                                    : [
                                          { revision: move.candidate, weight, label: "canary" },
                                          { revision: move.stable, weight: 100 - weight, label: "stable" },
                                      ];
                            await client.setTraffic(inputs.appId, table, inputs.ipSecurityRestrictions);
                        },
                        rollBack: async () => {
                            await client.setTraffic(inputs.appId, [{ revision: move.stable, weight: 100, label: "stable" }], inputs.ipSecurityRestrictions);
                            log(`traffic: 100% ${move.stable}; deactivating revision ${move.candidate} (rolled back)`);
                            await client.setActive(inputs.appId, move.candidate, false);
                        },
                        // The request records (latency, 5xx the app answered) and the ingress's own counts
                        // (5xx of replicas that never answered), read together; either failing holds the step.
                        readWindow: async (window) => {
                            const pair = [move.candidate, move.stable];
                            const [records, ingress] = await Promise.all([readStepWindow(queries, guard.workspaceId, guard.appName, pair, window), metrics.ingressRequests(inputs.appId, pair, window)]);
                            const windows = new Map([...records.windows].map(([name, w]) => [name, withIngress(w, ingress.get(name))]));
                            return { windows, query: `${records.query}\nGET ${platformMetricsPath(inputs.appId, window)}` };
                        },
                        sleep,
                        now,
                        log,
                        replay: async () => {
                            const result = await this.replay(guard, move.candidate, move.stable, revisions, now);
                            replayed = "skipped" in result ? `no replay: ${result.skipped}` : result.summary;
                            return result;
                        },
                    },
                    move.currentWeight,
                );
            } catch (err) {
                if (err instanceof RolloutStopped && err.reason === "rolled-back") {
                    await this.recordRollout(guard, inputs.appId, move, startedAt, now, { outcome: "rolled-back", reason: err.why, ...(replayed ? { replay: replayed } : {}) });
                    // Remembered in state, so the next run does not try the same revision again.
                    const entry = { revision: move.candidate, at: new Date(now()).toISOString().replace(/\.\d{3}Z$/, "Z"), reason: err.why };
                    throw failedKeeping(err.message, id, { ...(olds as RevisionTrafficState | undefined ?? inputs), rejected: withRejection(rejected, entry) });
                }
                throw err;
            }
            state = keep(withoutRejection(rejected, move.candidate));
            await this.recordRollout(guard, inputs.appId, move, startedAt, now, { outcome: "promoted", ...(replayed ? { replay: replayed } : {}) });
        } else {
            if (move) log(`rollout: ${move.reason}`);
            await client.setTraffic(inputs.appId, inputs.target, inputs.ipSecurityRestrictions);
        }
        log(`traffic: ${inputs.target.map((t) => `${t.weight}% ${t.revision}`).join(", ")}`);
        for (const name of revisionsToDeactivate(revisions, inputs.target)) {
            log(`deactivating revision ${name} (no traffic)`);
            await client.setActive(inputs.appId, name, false);
        }
        return state;
    }
}

function notReady(revisions: RevisionState[], what: string, all: RevisionState[], woken: Map<string, { result: string }>): Error {
    const serving = all.filter((r) => r.weight > 0).map((r) => `${r.weight}% ${r.name}`);
    const wakes = revisions
        .filter((r) => woken.has(r.name))
        .map((r) => `${r.name} had no replica; a request to https://${r.fqdn}/ping to start one got ${woken.get(r.name)!.result} (the ingress's IP rules must admit this machine). `);
    return new Error(
        `revision ${revisions.map((r) => `${r.name} (provisioning ${r.provisioningState ?? "?"}, running ${r.runningState ?? "?"}, health ${r.healthState ?? "?"}, ${r.replicas ?? 0} replicas)`).join(", ")} ${what}, ` +
            `so it gets no traffic; the traffic stays as it was (${serving.join(", ") || "none"}). ` +
            `${wakes.join("")}Look at the revision's logs (az containerapp logs show --revision ...), fix the model or the size, and run \`pulumi up\` again.`,
    );
}

const defaultProvider = new RevisionTrafficProvider();

/** Traffic for a container app, moved to revisions only when they are ready. */
export class RevisionTraffic extends pulumi.dynamic.Resource {
    declare readonly appId: pulumi.Output<string>;
    declare readonly target: pulumi.Output<TrafficTarget[]>;
    declare readonly rejected: pulumi.Output<RejectedRevision[] | undefined>;

    constructor(
        name: string,
        args: {
            appId: pulumi.Input<string>;
            target: TrafficTarget[];
            readyTimeoutSeconds: number;
            ipSecurityRestrictions?: IpRule[];
            ingressClosedByApp?: boolean;
            guard?: pulumi.Input<TrafficGuard>;
            logs?: pulumi.Input<{ workspaceId: string; appName: string }>;
        },
        opts?: pulumi.CustomResourceOptions,
        provider: RevisionTrafficProvider = defaultProvider,
    ) {
        super(provider, name, args, opts, "serving", "RevisionTraffic");
    }
}
