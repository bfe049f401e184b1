// The audit trail of one promotion or rollback: an intent record just before the alias moves and a
// done record right after.
//
// Why two records: once the alias moved, the change has happened and cannot be made to wait for the
// audit store. Writing the intent first means
// - a store that is unreachable, missing or closed to this identity (the likely failures: a wrong
//   endpoint, a missing role) stops the command BEFORE prd changes, so no change goes unrecorded;
// - if the done write then fails (rare: the same store answered a moment ago), the history still shows
//   the change, as "unconfirmed" (the alias may or may not have moved: the registry says which), and
//   the command exits non-zero with the done record printed so that it can be written by hand
//   (`npm run audit -- --write <file>`).
// The same choice leaves a way to change prd when the store is down (an emergency rollback):
// `--audit-store print` writes nothing and prints the record, loudly, to be written later.
import axios from "axios";
import type { ContainerClient } from "@azure/storage-blob";
import { doneRecord, githubActorsOf, githubRunOf, intentRecord, principalFromToken, type AuditApproval, type AuditChange, type AuditContext, type AuditRecord, type AuditRun } from "./record";
import { writeAuditRecord } from "./store";

/** Exit code when the change happened but its done record could not be written. */
export const EXIT_AUDIT_NOT_WRITTEN = 3;

/**
 * The environment reviews of a run, from GitHub's "Get the review history for a workflow run"
 * (GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals; anyone with read access; the job's
 * GITHUB_TOKEN with `actions: read`). Never throws: a failure is said in `approvalsNote`.
 */
export async function withApprovals(run: AuditRun, env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<AuditRun> {
    const token = env.GITHUB_TOKEN;
    if (!token) return { ...run, approvalsNote: "GITHUB_TOKEN not set: the run's environment reviews were not read" };
    const api = (env.GITHUB_API_URL || "https://api.github.com").replace(/\/+$/, "");
    try {
        const answer = await axios.get(`${api}/repos/${run.repository}/actions/runs/${encodeURIComponent(run.runId)}/approvals`, {
            headers: { Authorization: `Bearer ${token}`, Accept: "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28" },
            timeout: timeoutMs,
            validateStatus: () => true,
        });
        if (answer.status !== 200 || !Array.isArray(answer.data)) return { ...run, approvalsNote: `GitHub answered HTTP ${answer.status} to the review history: the run's environment reviews were not read` };
        const approvals: AuditApproval[] = (answer.data as { user?: { login?: unknown }; state?: unknown; environments?: { name?: unknown }[]; comment?: unknown }[]).map((review) => ({
            user: String(review.user?.login ?? "unknown"),
            state: String(review.state ?? "unknown"),
            environments: (Array.isArray(review.environments) ? review.environments : []).map((e) => String(e?.name ?? "")).filter(Boolean),
            ...(typeof review.comment === "string" && review.comment ? { comment: review.comment } : {}),
        }));
        return { ...run, approvals };
    } catch (err) {
        return { ...run, approvalsNote: `GitHub's review history did not answer (${(err as { code?: string }).code ?? "network error"}): the run's environment reviews were not read` };
    }
}

/** Who and where, from the environment and (when the store is reached with Entra) the store token's claims. */
export async function auditContext(options: { env: NodeJS.ProcessEnv; credentialSource: string; entraToken?: () => Promise<string | undefined>; tool: AuditContext["tool"] }): Promise<AuditContext> {
    let principal = {};
    if (options.entraToken) {
        try {
            const token = await options.entraToken();
            if (token) principal = principalFromToken(token);
        } catch {
            // The write signs in again and says what went wrong; who stays as far as known.
        }
    }
    const run = githubRunOf(options.env);
    return {
        who: { ...principal, credential: options.credentialSource, ...githubActorsOf(options.env) },
        ...(run ? { run: await withApprovals(run, options.env) } : {}),
        tool: options.tool,
    };
}

/** Where records go: the audit container, or nowhere (printed only, `--audit-store print`). */
export type AuditSink = { kind: "store"; container: ContainerClient; where: string } | { kind: "print" };

export class AuditTrail {
    private intent?: AuditRecord;
    constructor(
        private readonly sink: AuditSink,
        private readonly context: AuditContext,
        private readonly out: { log: (line: string) => void; warn: (line: string) => void },
        private readonly now: () => Date = () => new Date(),
    ) {}

    /** Whether the intent was recorded (so a failure after it leaves an unconfirmed change in the history). */
    get begun(): boolean {
        return this.intent !== undefined && this.sink.kind === "store" && this.written;
    }
    private written = false;

    /** What to tell the user when the command failed after its intent was written. */
    abandonedNotice(): string | undefined {
        return this.begun
            ? "audit: the intent record of this change stays in the history, shown as unconfirmed: the alias most likely did not move, but check it in the registry (an answer lost in transit can hide a move that happened)"
            : undefined;
    }

    /** Before the alias moves: a failure here stops the change (the caller throws it on). */
    async begin(change: AuditChange): Promise<void> {
        this.intent = intentRecord(change, this.context, this.now());
        if (this.sink.kind === "print") return;
        const name = await writeAuditRecord(this.sink.container, this.intent);
        this.written = true;
        this.out.log(`audit: intent recorded at ${this.sink.where}/${name}`);
    }

    /**
     * After the alias moved: the done record. Returns the exit code: 0 when it was written, else
     * EXIT_AUDIT_NOT_WRITTEN with the reason and the record on stderr.
     */
    async finish(): Promise<number> {
        if (!this.intent) return 0; // nothing changed: no record
        const done = doneRecord(this.intent, this.now());
        if (this.sink.kind === "print") {
            this.out.warn(
                "audit: --audit-store print: NO audit record was written. This change is in no audit history until this record is written, e.g. " +
                    "saved as record.json and `npm run audit -- --stack prd --write record.json`:",
            );
            this.out.warn(JSON.stringify(done, null, 2));
            return 0;
        }
        try {
            const name = await writeAuditRecord(this.sink.container, done);
            this.out.log(`audit: recorded at ${this.sink.where}/${name}`);
            return 0;
        } catch (err) {
            this.out.warn(
                `audit: THE CHANGE WAS MADE (alias ${done.alias} of ${done.model} -> version ${done.version}), BUT ITS AUDIT RECORD WAS NOT WRITTEN: ${(err as Error).message}. ` +
                    "Its intent record is there, so the history shows it as unconfirmed. Write this record by hand (saved as record.json: `npm run audit -- --stack prd --write record.json`):",
            );
            this.out.warn(JSON.stringify(done, null, 2));
            return EXIT_AUDIT_NOT_WRITTEN;
        }
    }
}
