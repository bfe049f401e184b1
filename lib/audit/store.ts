// Audit records in the model store's `audit` container: written create-only, read back as a history.
//
// Create-only: the upload carries `If-None-Match: *`, so the service refuses (409 BlobAlreadyExists)
// to replace a blob that exists (Blob service "Specifying conditional headers for Blob service
// operations"); the container's time-based retention policy also refuses overwrites and deletes
// (components/storage/modelStore.ts). With a hierarchical namespace there is no blob versioning, so
// a replaced record could not be recovered: it is never replaced.
import type { ContainerClient } from "@azure/storage-blob";
import { AuditError, auditBlobName, checkAuditRecord, parseAuditBlobName, versionOfRevision, type AuditRecord } from "./record";

/** Why a storage call failed, in one line, from the SDK's RestError. */
export function storageReason(err: unknown, container: string): string {
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode === 403) return `the signed-in identity may not write or read there (403 ${e.code ?? ""}): it needs Storage Blob Data Contributor on the ${container} container (deployers and the deploying identity have it)`.replace(" )", ")");
    if (e.statusCode === 404 && e.code === "ContainerNotFound") return `the container ${container} does not exist: run \`pulumi up --stack prd\``;
    return `${e.statusCode ? `HTTP ${e.statusCode} ` : ""}${(e.code ?? e.message ?? String(err)).split("\n")[0]}`;
}

/** Writes the record at its blob name, only if no blob is there; returns the name. */
export async function writeAuditRecord(container: ContainerClient, record: AuditRecord): Promise<string> {
    const name = auditBlobName(record);
    const body = `${JSON.stringify(record, null, 2)}\n`;
    try {
        await container.getBlockBlobClient(name).upload(body, Buffer.byteLength(body), {
            blobHTTPHeaders: { blobContentType: "application/json" },
            conditions: { ifNoneMatch: "*" },
        });
    } catch (err) {
        const e = err as { statusCode?: number; code?: string };
        if (e.statusCode === 409 && e.code === "BlobAlreadyExists") throw new AuditError(`${container.containerName}/${name} already exists: an audit record is never replaced`);
        throw new AuditError(`writing ${container.containerName}/${name} failed: ${storageReason(err, container.containerName)}`);
    }
    return name;
}

/** One change in the history: its record after the alias moved, else its intent alone. */
export interface AuditEntry {
    /** The blob name of the done record (whether or not it exists). */
    key: string;
    /** done: the alias moved; unconfirmed: an intent without a done record (the alias may or may not have moved). */
    status: "done" | "unconfirmed";
    record: AuditRecord;
}

export interface AuditHistory {
    /** Newest first. */
    entries: AuditEntry[];
    /** Blobs that are not readable audit records, with the reason. */
    unreadable: { name: string; reason: string }[];
}

/** Whether `model` (a full `catalog.schema.model` name or its last part) names the record's model. */
export function modelMatches(recordModel: string, model: string | undefined): boolean {
    if (!model) return true;
    return recordModel === model || (!model.includes(".") && recordModel.split(".").pop() === model);
}

/** Reads every record (of one model's folder when `model` is a full name) and pairs intents with their done records. */
export async function readAuditHistory(container: ContainerClient, model?: string): Promise<AuditHistory> {
    const prefix = model && model.includes(".") ? `${model}/` : undefined;
    const byKey = new Map<string, { intent?: AuditRecord; done?: AuditRecord }>();
    const unreadable: AuditHistory["unreadable"] = [];
    try {
        for await (const item of container.listBlobsFlat(prefix ? { prefix } : {})) {
            const parsed = parseAuditBlobName(item.name);
            if (!parsed) {
                unreadable.push({ name: item.name, reason: "not an audit record's name" });
                continue;
            }
            if (!modelMatches(parsed.model, model)) continue;
            let checked: AuditRecord | string;
            try {
                checked = checkAuditRecord(JSON.parse((await container.getBlobClient(item.name).downloadToBuffer()).toString("utf8")));
            } catch (err) {
                checked = err instanceof SyntaxError ? "not JSON" : `cannot be read: ${storageReason(err, container.containerName)}`;
            }
            if (typeof checked === "string") {
                unreadable.push({ name: item.name, reason: checked });
                continue;
            }
            if (checked.stage !== parsed.stage || auditBlobName(checked) !== item.name) {
                unreadable.push({ name: item.name, reason: "its content does not match its name (edited or copied by hand?)" });
                continue;
            }
            const pair = byKey.get(parsed.key) ?? {};
            pair[parsed.stage] = checked;
            byKey.set(parsed.key, pair);
        }
    } catch (err) {
        throw new AuditError(`listing ${container.containerName} failed: ${storageReason(err, container.containerName)}`);
    }
    const entries: AuditEntry[] = [...byKey].map(([key, pair]) => ({ key, status: pair.done ? "done" : "unconfirmed", record: (pair.done ?? pair.intent)! }));
    entries.sort((a, b) => (a.record.startedAt === b.record.startedAt ? (a.key < b.key ? 1 : -1) : a.record.startedAt < b.record.startedAt ? 1 : -1));
    return { entries, unreadable };
}

/** What the lookup is asked: a version, or a revision (or image tag) whose name holds it. */
export interface AuditQuery {
    model?: string;
    version?: string;
    revision?: string;
    /** A request's time: the change in force then is the newest one before it. */
    at?: string;
}

export interface AuditAnswer {
    version: string;
    /** The change that put the version in prd (the newest, or the newest before `at`), if any. */
    putBy?: AuditEntry;
    /** Every change that pointed an alias at this version, newest first. */
    all: AuditEntry[];
}

/** Who put a version in prd, and when: the "one lookup" from a request record's version or revision. */
export function whoPutVersion(history: AuditHistory, query: AuditQuery): AuditAnswer {
    const version = query.version ?? (query.revision !== undefined ? versionOfRevision(query.revision) : undefined);
    if (!version) throw new AuditError(query.revision !== undefined ? `revision ${JSON.stringify(query.revision)} names no model version (expected <app>--v<version>-<hash>)` : "a version or a revision is needed");
    // A guarded rollout's record says how the traffic moved, not who pointed prd at the version.
    const all = history.entries.filter((e) => e.record.action !== "rollout" && e.record.version === version && modelMatches(e.record.model, query.model));
    const putBy = query.at ? all.find((e) => e.record.when <= query.at!) : all[0];
    return { version, putBy, all };
}
