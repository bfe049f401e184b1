// The audit record of a change to what prd serves: a promotion (a dev candidate copied into the prd
// schema, prd's alias moved to the copy) or a rollback (prd's alias moved back to an earlier prd
// version). One JSON document per change in the `audit` container of the prd stack's model store, at
// `<model>/<yyyy>/<mm>/<dd>/<HHMMSS.mmm>Z-<action>-<version>.json` (UTC), written once and never
// replaced. Its intent, written just before the alias moves, sits beside it as `….intent.json`:
// a change is never made without a record that it was about to be (see trail.ts).
//
// Plain data and pure functions: no Azure call here (store.ts reads and writes the blobs).

export const AUDIT_SCHEMA_VERSION = 1;
/** The container in the stack's model store (MODEL_STORE_CONTAINERS.audit). */
export const AUDIT_CONTAINER = "audit";
/** How long a record can be neither deleted nor replaced (the container's time-based retention policy). */
export const AUDIT_RETENTION_DAYS = 365;


/** promote and rollback move prd's alias (npm run promote/rollback); rollout is a guarded rollout's outcome (RevisionTraffic). */
export const AUDIT_ACTIONS = ["promote", "rollback", "rollout"] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
/** `intent`: written before the alias moves; `done`: after it moved. */
export type AuditStage = "intent" | "done";

/** Who made the change, as far as it is known without a secret. */
export interface AuditWho {
    /** The signed-in Entra principal's object id (`oid` of its token), when it signed in with Entra. */
    objectId?: string;
    /** Its user principal name, or a service principal's application (client) id. */
    name?: string;
    /** A display name, when the token carries one. */
    displayName?: string;
    tenantId?: string;
    /** Where the registry credential came from ("DATABRICKS_TOKEN", "Microsoft Entra ID ..."); never its value. */
    credential: string;
    /** GITHUB_ACTOR: the GitHub user whose action started the run (in GitHub Actions). */
    githubActor?: string;
    /** GITHUB_TRIGGERING_ACTOR: who started this attempt (a re-run's), when it differs. */
    githubTriggeringActor?: string;
}

/** One review of the run's protected environment (GitHub's "review history for a workflow run"). */
export interface AuditApproval {
    user: string;
    /** approved | rejected */
    state: string;
    environments: string[];
    comment?: string;
}

/** The GitHub Actions run that made the change, when there was one. */
export interface AuditRun {
    url: string;
    repository: string;
    runId: string;
    runAttempt?: string;
    workflow?: string;
    eventName?: string;
    ref?: string;
    sha?: string;
    /** The environment reviews GitHub gave for the run; absent when they could not be read. */
    approvals?: AuditApproval[];
    /** Why `approvals` is absent (no GITHUB_TOKEN, the API refused, ...). */
    approvalsNote?: string;
}

export interface AuditRecord {
    schema: typeof AUDIT_SCHEMA_VERSION;
    stage: AuditStage;
    action: AuditAction;
    /** The prd model, `catalog.prdSchema.model`. */
    model: string;
    /** The prd version the alias now points at (for an intent: is about to). */
    version: string;
    alias: string;
    /**
     * promote: the candidate it was copied from (`catalog.devSchema.model` and its version);
     * rollback: the prd model and the version the alias pointed at before (absent when the registry did not say).
     */
    from: { model: string; version?: string };
    who: AuditWho;
    /** When the intent was written (UTC, ISO 8601 with ms): names the blobs of both stages. */
    startedAt: string;
    /** When this record was written (UTC). */
    when: string;
    run?: AuditRun;
    /** The registry's workspace URL (a rollout: the container app's id). */
    registry: string;
    tool: { name: string; version: string; commit?: string };
    /** A rollout only: which revisions, how it ended, and its replay's and its verdict's words. */
    rollout?: AuditRollout;
}

/** How a guarded rollout ended, as its audit record keeps it. */
export interface AuditRollout {
    candidate: string;
    stable: string;
    outcome: "promoted" | "rolled-back";
    /** The replay's one line, or why there was none. */
    replay?: string;
    /** Why it rolled back. */
    reason?: string;
}

export class AuditError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "AuditError";
    }
}

/** `2026-12-02T16:41:02.123Z` → `2026/12/02/164102.123Z`. */
function datePath(iso: string): { day: string; time: string } {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$/.exec(iso);
    if (!m) throw new AuditError(`audit time ${JSON.stringify(iso)} is not UTC ISO 8601 with milliseconds (yyyy-mm-ddThh:mm:ss.mmmZ)`);
    return { day: `${m[1]}/${m[2]}/${m[3]}`, time: `${m[4]}${m[5]}${m[6]}.${m[7]}Z` };
}

/** A model name as one blob path segment: Unity Catalog names have no `/`, but a record is checked anyway. */
function modelSegment(model: string): string {
    if (!/^[A-Za-z0-9_.-]+$/.test(model) || model.startsWith(".")) throw new AuditError(`model name ${JSON.stringify(model)} cannot name an audit record: letters, digits, '_', '-' and '.' only`);
    return model;
}

/** The record's blob name in the audit container: `<model>/<yyyy>/<mm>/<dd>/<HHMMSS.mmm>Z-<action>-<version>[.intent].json`. */
export function auditBlobName(record: Pick<AuditRecord, "model" | "startedAt" | "action" | "version" | "stage">): string {
    const { day, time } = datePath(record.startedAt);
    if (!/^[1-9]\d*$/.test(record.version)) throw new AuditError(`version ${JSON.stringify(record.version)} cannot name an audit record: a whole number from 1`);
    return `${modelSegment(record.model)}/${day}/${time}-${record.action}-${record.version}${record.stage === "intent" ? ".intent" : ""}.json`;
}

/** What a blob name says, or undefined for a name that is not an audit record's. */
export function parseAuditBlobName(name: string): { model: string; key: string; action: AuditAction; version: string; stage: AuditStage } | undefined {
    const m = /^([^/]+)\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{6}\.\d{3}Z)-(promote|rollback|rollout)-([1-9]\d*)(\.intent)?\.json$/.exec(name);
    if (!m) return undefined;
    return { model: m[1], key: name.replace(/\.intent\.json$/, ".json"), action: m[6] as AuditAction, version: m[7], stage: m[8] ? "intent" : "done" };
}

/** The record of a guarded rollout's end (written once, no intent: the traffic moved under RevisionTraffic's watch). */
export function rolloutRecord(
    change: { model: string; version: string; fromVersion?: string; appId: string; rollout: AuditRollout },
    context: AuditContext,
    startedAt: Date,
    now: Date,
): AuditRecord {
    return {
        schema: AUDIT_SCHEMA_VERSION,
        stage: "done",
        action: "rollout",
        model: change.model,
        version: change.version,
        alias: "-",
        from: { model: change.model, ...(change.fromVersion ? { version: change.fromVersion } : {}) },
        who: context.who,
        startedAt: startedAt.toISOString(),
        when: now.toISOString(),
        ...(context.run ? { run: context.run } : {}),
        registry: change.appId,
        tool: context.tool,
        rollout: { ...change.rollout },
    };
}

/** The change a record describes, before who/when/run are added. */
export interface AuditChange {
    action: AuditAction;
    model: string;
    version: string;
    alias: string;
    from: { model: string; version?: string };
    registry: string;
}

export interface AuditContext {
    who: AuditWho;
    run?: AuditRun;
    tool: AuditRecord["tool"];
}

export function intentRecord(change: AuditChange, context: AuditContext, now: Date): AuditRecord {
    const at = now.toISOString();
    return { schema: AUDIT_SCHEMA_VERSION, stage: "intent", ...change, from: { ...change.from }, who: context.who, startedAt: at, when: at, ...(context.run ? { run: context.run } : {}), tool: context.tool };
}

export function doneRecord(intent: AuditRecord, now: Date): AuditRecord {
    return { ...intent, stage: "done", when: now.toISOString() };
}

const isText = (v: unknown): v is string => typeof v === "string" && v.length > 0;

/** A parsed document as an AuditRecord, or the reason it is not one. */
export function checkAuditRecord(value: unknown): AuditRecord | string {
    if (!value || typeof value !== "object" || Array.isArray(value)) return "not a JSON object";
    const r = value as Record<string, unknown>;
    if (r.schema !== AUDIT_SCHEMA_VERSION) return `schema ${JSON.stringify(r.schema)} is not ${AUDIT_SCHEMA_VERSION} (written by another version of this tool?)`;
    if (r.stage !== "intent" && r.stage !== "done") return "stage is not intent or done";
    if (!AUDIT_ACTIONS.includes(r.action as AuditAction)) return "action is not promote, rollback or rollout";
    if (r.action === "rollout") {
        const o = r.rollout as Record<string, unknown> | undefined;
        if (!o || typeof o !== "object" || !isText(o.candidate) || !isText(o.stable) || (o.outcome !== "promoted" && o.outcome !== "rolled-back")) return "rollout is not {candidate, stable, outcome}";
    }
    for (const key of ["model", "version", "alias", "startedAt", "when", "registry"] as const) if (!isText(r[key])) return `${key} is missing`;
    const from = r.from as Record<string, unknown> | undefined;
    if (!from || typeof from !== "object" || !isText(from.model) || (from.version !== undefined && !isText(from.version))) return "from is not {model, version}";
    const who = r.who as Record<string, unknown> | undefined;
    if (!who || typeof who !== "object" || !isText(who.credential)) return "who is missing";
    const tool = r.tool as Record<string, unknown> | undefined;
    if (!tool || typeof tool !== "object" || !isText(tool.name) || !isText(tool.version)) return "tool is missing";
    try {
        datePath(r.startedAt as string);
        datePath(r.when as string);
    } catch (err) {
        return (err as Error).message;
    }
    return value as AuditRecord;
}

/**
 * The claims of an Entra access token that say who it belongs to. The token is the caller's own, read
 * (not verified: Entra signed it for the storage account, which checks it) and never kept.
 */
export function principalFromToken(token: string): Omit<AuditWho, "credential"> {
    const part = token.split(".")[1];
    if (!part) return {};
    let claims: Record<string, unknown>;
    try {
        claims = JSON.parse(Buffer.from(part.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8")) as Record<string, unknown>;
    } catch {
        return {};
    }
    const text = (key: string) => (typeof claims[key] === "string" && claims[key] ? (claims[key] as string) : undefined);
    // Users: upn (v1 tokens) or preferred_username (v2); applications and managed identities: appid / azp.
    const name = text("upn") ?? text("preferred_username") ?? text("unique_name") ?? text("appid") ?? text("azp");
    const who: Omit<AuditWho, "credential"> = {};
    if (text("oid")) who.objectId = text("oid");
    if (name) who.name = name;
    if (text("name")) who.displayName = text("name");
    if (text("tid")) who.tenantId = text("tid");
    return who;
}

/**
 * The GitHub Actions run, from the variables the runner sets in every job (GitHub's "Store information
 * in variables": GITHUB_SERVER_URL, GITHUB_REPOSITORY, GITHUB_RUN_ID, ...); undefined outside Actions.
 */
export function githubRunOf(env: NodeJS.ProcessEnv): AuditRun | undefined {
    if (env.GITHUB_ACTIONS !== "true" || !env.GITHUB_RUN_ID || !env.GITHUB_REPOSITORY) return undefined;
    const server = (env.GITHUB_SERVER_URL || "https://github.com").replace(/\/+$/, "");
    const run: AuditRun = { url: `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`, repository: env.GITHUB_REPOSITORY, runId: env.GITHUB_RUN_ID };
    const optional = { runAttempt: env.GITHUB_RUN_ATTEMPT, workflow: env.GITHUB_WORKFLOW, eventName: env.GITHUB_EVENT_NAME, ref: env.GITHUB_REF, sha: env.GITHUB_SHA };
    for (const [key, value] of Object.entries(optional)) if (value) (run as unknown as Record<string, string>)[key] = value;
    return run;
}

/** GITHUB_ACTOR and GITHUB_TRIGGERING_ACTOR, in Actions. */
export function githubActorsOf(env: NodeJS.ProcessEnv): Pick<AuditWho, "githubActor" | "githubTriggeringActor"> {
    if (env.GITHUB_ACTIONS !== "true") return {};
    const who: Pick<AuditWho, "githubActor" | "githubTriggeringActor"> = {};
    if (env.GITHUB_ACTOR) who.githubActor = env.GITHUB_ACTOR;
    if (env.GITHUB_TRIGGERING_ACTOR && env.GITHUB_TRIGGERING_ACTOR !== env.GITHUB_ACTOR) who.githubTriggeringActor = env.GITHUB_TRIGGERING_ACTOR;
    return who;
}

/**
 * The model version in a serving revision's name: Container Apps `<app>--v<version>-<hash>`, an ACI
 * DNS label `<prefix>-<service>-v<version>-<hash>` (lib/serving/revision.ts), or an image tag
 * `<model>-v<version>-<recipe>` (lib/serving/image.ts). Undefined when the name has none.
 */
export function versionOfRevision(revision: string): string | undefined {
    return /(?:^|-)v([1-9]\d{0,15})(?:-[0-9a-f]{8,12})?$/.exec(revision.trim())?.[1];
}

/** One line of who, for tables and messages. */
export function whoText(who: AuditWho): string {
    const entra = who.name ?? who.objectId;
    const parts = [entra ? `${entra}${who.objectId && who.name ? ` (${who.objectId})` : ""}` : `unknown principal (${who.credential})`];
    if (who.githubActor) parts.push(`github:${who.githubActor}${who.githubTriggeringActor ? `/${who.githubTriggeringActor}` : ""}`);
    return parts.join(", ");
}
