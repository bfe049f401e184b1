// `npm run audit -- --stack <stack> [--model <name>] [--version <n> | --revision <name>] [--json]`:
// the history of promotions and rollbacks (who, when, which version from which candidate, the
// approving run) from the stack's audit container, newest first; with a version or a request
// record's revision, who put that version in prd and when. `--write <file>` writes a record printed
// by a promote or rollback whose own write failed (create-only, like every audit write).
import * as fs from "fs";
import { parseArgs } from "util";
import type { ContainerClient } from "@azure/storage-blob";
import { wantsHelp } from "./flags";
import { UsageError } from "./registryFlags";
import { AuditError, checkAuditRecord, versionOfRevision, whoText, type AuditRecord } from "../lib/audit/record";
import { readAuditHistory, whoPutVersion, writeAuditRecord, type AuditAnswer, type AuditEntry, type AuditHistory } from "../lib/audit/store";
import { auditStoreLocation, signedInContainer } from "./auditStore";

const USAGE = `usage: npm run audit -- --stack <stack> [--model <name>] [--version <n> | --revision <name>] [--request-id <id>] [--at <time>] [--json] [--audit-store <blob endpoint>]
       npm run audit -- --stack <stack> --write <record.json> [--audit-store <blob endpoint>]
  --stack        the stack whose audit records to read (prd: promotions and rollbacks)
  --model        one model: its full name (mlplatform.prd.fraud) or its last part (fraud)
  --version      who put this version in prd, and when (the lookup)
  --revision     the same, for a request record's revision (fraud--v7-1a2b3c4d5e) or image tag
  --request-id   the request record's id, repeated in the answer
  --at           the request's time (ISO 8601): the change in force then, not the newest
  --json         the records as JSON instead of a table
  --write        write a record file a promote or rollback printed when its own write failed
  --audit-store  the stack's blob endpoint (default: AUDIT_STORE, else \`pulumi stack output blobEndpoint\`)
Signs in with your Entra login (az login); reading needs Storage Blob Data Reader or Contributor on the audit container.`;

export interface AuditFlags {
    stack: string;
    model?: string;
    version?: string;
    revision?: string;
    requestId?: string;
    at?: string;
    json: boolean;
    write?: string;
    auditStore?: string;
}

export function parseAuditFlags(argv: string[]): AuditFlags {
    let values: Record<string, string | boolean | undefined>;
    try {
        ({ values } = parseArgs({
            args: argv,
            strict: true,
            allowPositionals: false,
            options: {
                stack: { type: "string" },
                model: { type: "string" },
                version: { type: "string" },
                revision: { type: "string" },
                "request-id": { type: "string" },
                at: { type: "string" },
                json: { type: "boolean" },
                write: { type: "string" },
                "audit-store": { type: "string" },
            },
        }));
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
    const text = (key: string) => values[key] as string | undefined;
    const stack = text("stack");
    if (!stack) throw new UsageError("--stack is required: the stack whose audit records to read, such as prd");
    if (!/^[A-Za-z0-9][A-Za-z0-9_.\/-]{0,199}$/.test(stack)) throw new UsageError(`--stack ${JSON.stringify(stack)} is not a stack name`);
    const model = text("model");
    if (model !== undefined && !/^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+){0,2}$/.test(model)) throw new UsageError(`--model ${JSON.stringify(model)} is not a model name: catalog.schema.model, or its last part`);
    const version = text("version");
    if (version !== undefined && !/^[1-9]\d{0,15}$/.test(version)) throw new UsageError(`--version ${JSON.stringify(version)} is not a version number: use a whole number from 1`);
    const revision = text("revision");
    if (revision !== undefined && version !== undefined) throw new UsageError("give --version or --revision, not both");
    if (revision !== undefined && !versionOfRevision(revision)) throw new UsageError(`--revision ${JSON.stringify(revision)} names no model version: a revision is <app>--v<version>-<hash>, as in the request record's revision field`);
    const requestId = text("request-id");
    if (requestId !== undefined && version === undefined && revision === undefined) throw new UsageError("--request-id needs --revision (or --version): the request record's revision names the version that answered it");
    if (requestId !== undefined && !/^[\x21-\x7e]{1,200}$/.test(requestId)) throw new UsageError("--request-id must be the request record's request_id (printable, no spaces)");
    let at = text("at");
    if (at !== undefined) {
        if (version === undefined && revision === undefined) throw new UsageError("--at needs --version or --revision");
        const time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(at) ? new Date(at) : undefined;
        if (!time || Number.isNaN(time.getTime())) throw new UsageError(`--at ${JSON.stringify(at)} is not a time: ISO 8601 with a zone, such as the request record's time 2026-12-02T12:00:00.123Z`);
        at = time.toISOString();
    }
    const write = text("write");
    if (write !== undefined && (model || version || revision || at || values.json)) throw new UsageError("--write takes only --stack and --audit-store");
    const auditStore = text("audit-store");
    if (auditStore === "") throw new UsageError("--audit-store is empty: give the stack's blob endpoint");
    return { stack, json: values.json === true, ...Object.fromEntries(Object.entries({ model, version, revision, requestId, at, write, auditStore }).filter(([, v]) => v !== undefined)) };
}

function fromText(r: AuditRecord): string {
    return `${r.from.model}${r.from.version ? `/${r.from.version}` : " (version unknown)"}`;
}

/** The history as a table, newest first. */
export function historyTable(entries: AuditEntry[]): string {
    const rows = [["WHEN (UTC)", "ACTION", "MODEL", "VERSION", "FROM", "WHO", "RUN"]];
    for (const { record: r, status } of entries) {
        rows.push([
            r.when.replace("T", " ").replace(/\.\d{3}Z$/, "Z"),
            status === "done" ? r.action : `${r.action} (unconfirmed)`,
            r.model,
            r.action === "rollout" ? `${r.version} (${r.rollout?.outcome ?? "?"})` : `${r.version} (${r.alias})`,
            fromText(r),
            whoText(r.who),
            r.run?.url ?? "-",
        ]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join("  ")).join("\n");
}

/** The lookup's answer in words. */
export function answerText(answer: AuditAnswer, flags: Pick<AuditFlags, "model" | "revision" | "requestId" | "at">): string {
    const subject = `${flags.requestId ? `request ${flags.requestId} was answered by ` : ""}${flags.revision ? `revision ${flags.revision}, ` : ""}version ${answer.version}${flags.model ? ` of ${flags.model}` : ""}`;
    if (!answer.putBy) {
        const when = flags.at ? ` before ${flags.at}` : "";
        return `${subject}: no audit record puts it in prd${when}${answer.all.length ? ` (${answer.all.length} later)` : ""}: it got there before audit records began, by hand, or not through npm run promote/rollback`;
    }
    const r = answer.putBy.record;
    const how = r.action === "promote" ? `promoted from ${fromText(r)}` : `rolled back to it (from version ${r.from.version ?? "unknown"})`;
    const approvals = r.run?.approvals?.length ? `; approved by ${r.run.approvals.filter((a) => a.state === "approved").map((a) => a.user).join(", ") || "nobody (reviews: " + r.run.approvals.map((a) => `${a.user} ${a.state}`).join(", ") + ")"}` : "";
    const lines = [
        `${subject} of ${r.model}: put in prd by ${whoText(r.who)} at ${r.when}, ${how}, alias ${r.alias}${answer.putBy.status === "unconfirmed" ? " (UNCONFIRMED: only the intent was recorded; check the alias in the registry)" : ""}`,
        `  run: ${r.run?.url ?? "none (run outside GitHub Actions)"}${approvals}`,
    ];
    if (answer.all.length > 1) lines.push(`  ${answer.all.length} changes pointed an alias at this version; newest first: ${answer.all.map((e) => `${e.record.action} ${e.record.when}`).join(", ")}`);
    return lines.join("\n");
}

/** The command's work once it has a container: returns the exit code. */
export async function runAudit(flags: AuditFlags, container: ContainerClient, out: { log: (line: string) => void; error: (line: string) => void }): Promise<number> {
    if (flags.write) {
        let parsed: unknown;
        try {
            parsed = JSON.parse(fs.readFileSync(flags.write, "utf8"));
        } catch (err) {
            out.error(`audit: --write ${flags.write}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "not a JSON file"}`);
            return 2;
        }
        const record = checkAuditRecord(parsed);
        if (typeof record === "string") {
            out.error(`audit: --write ${flags.write} is not an audit record: ${record}`);
            return 2;
        }
        const name = await writeAuditRecord(container, record);
        out.log(`audit: wrote ${container.containerName}/${name}`);
        return 0;
    }
    const history: AuditHistory = await readAuditHistory(container, flags.model);
    for (const bad of history.unreadable) out.error(`audit: skipped ${container.containerName}/${bad.name}: ${bad.reason}`);
    if (flags.version !== undefined || flags.revision !== undefined) {
        const answer = whoPutVersion(history, flags);
        out.log(flags.json ? JSON.stringify({ ...answer, request: flags.requestId ?? null, revision: flags.revision ?? null }, null, 2) : answerText(answer, flags));
        return answer.putBy ? 0 : 1;
    }
    if (flags.json) out.log(JSON.stringify(history.entries, null, 2));
    else out.log(history.entries.length ? historyTable(history.entries) : `no audit records${flags.model ? ` for ${flags.model}` : ""} in stack ${flags.stack}'s ${container.containerName} container`);
    return 0;
}

async function main(argv: string[]): Promise<number> {
    if (wantsHelp(argv)) {
        console.log(USAGE);
        return 0;
    }
    let flags: AuditFlags;
    try {
        flags = parseAuditFlags(argv);
    } catch (err) {
        console.error(`audit: ${(err as Error).message}\n${USAGE}`);
        return 2;
    }
    try {
        const explicit = flags.auditStore ?? (process.env.AUDIT_STORE || undefined);
        const location = await auditStoreLocation(flags.stack, explicit, flags.auditStore !== undefined ? "--audit-store" : "AUDIT_STORE");
        const { container } = await signedInContainer(location);
        return await runAudit(flags, container, { log: console.log, error: console.error });
    } catch (err) {
        console.error(`audit: ${err instanceof AuditError ? err.message : `unexpected failure: ${(err as Error).message.split("\n")[0]}`}`);
        return 1;
    }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
