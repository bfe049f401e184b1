// `npm run rollback -- --model <catalog.prd-schema.model> --version <n> [--alias <alias>] [--host <workspace URL>]`:
// points prd's alias back at a version the prd model already has: no copy, no new version, no
// rebuild. The next `pulumi up --stack prd` serves it. A deployer's action, like promotion.
import { parseStringFlags, wantsHelp } from "./flags";
import { prdDefaults, servingAlias, UsageError, workspaceHost } from "./registryFlags";
import { selectCredential } from "../lib/registry/credentials";
import { PromoteError } from "../lib/registry/promote";
import { rollback } from "../lib/registry/rollback";
import { checkModelName } from "../lib/registry/validation";
import { type Credential } from "../lib/registry/credentials";
import { AuditTrail, auditContext } from "../lib/audit/trail";
import { AUDIT_STORE_USAGE, auditSinkFor, toolVersion } from "./auditStore";

const USAGE = `usage: npm run rollback -- --model <catalog.schema.model> --version <n> [--alias <alias>] [--host <workspace URL>]
  --model    the prd model, e.g. mlplatform.prd.fraud (in the prd stack's registry.prdSchema)
  --version  the earlier prd version to serve again
  --alias    the alias prd serves (default: the prd stack's alias for that model, else champion)
  --host     the Databricks workspace URL (default: DATABRICKS_HOST)
${AUDIT_STORE_USAGE}
The audit record is written to the store's audit container: its intent before the alias moves (no
record, no change), the record after. Exit 3: the alias moved but the record after could not be
written (it is printed: write it by hand). In an emergency with the store down: --audit-store print.
Then: pulumi up --stack prd (it reuses that version's image and revision).
Credentials: DATABRICKS_TOKEN, else a Microsoft Entra token from az login or workload identity.`;

export interface RollbackFlags {
    model: string;
    version: string;
    alias: string;
    host: string;
    auditStore?: string;
}

export function parseRollbackFlags(argv: string[], env: NodeJS.ProcessEnv): RollbackFlags {
    let values: Record<string, string | undefined>;
    try {
        values = parseStringFlags(argv, ["model", "version", "alias", "host", "audit-store"]);
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
    if (!values.model) throw new UsageError("--model is required: the prd model's full name, catalog.schema.model");
    const problem = checkModelName("unity-catalog", values.model)[0];
    if (problem) throw new UsageError(`--model ${JSON.stringify(values.model)}: ${problem.reason}`);
    if (!values.version) throw new UsageError("--version is required: the prd version to serve again");
    if (!/^[1-9]\d{0,15}$/.test(values.version)) throw new UsageError(`--version ${JSON.stringify(values.version)} is not a version number: use a whole number from 1`);
    const [, schema, name] = values.model.split(".");
    const defaults = prdDefaults(name);
    if (schema !== defaults.prdSchema) {
        throw new UsageError(`--model ${values.model} is not in the prd schema (${defaults.prdSchema}, the prd stack's registry.prdSchema): a rollback moves the alias prd serves; a dev candidate reaches prd through npm run promote`);
    }
    const alias = servingAlias(values.alias ?? defaults.alias ?? "champion");
    if (values["audit-store"] === "") throw new UsageError('--audit-store is empty: give the prd stack\'s blob endpoint, or print');
    return { model: values.model, version: values.version, alias, host: workspaceHost(values.host, env), ...(values["audit-store"] !== undefined ? { auditStore: values["audit-store"] } : {}) };
}

/** The rollback with its audit trail: the intent just before the alias moves, the record after. Returns the exit code. */
export async function rollbackAudited(flags: RollbackFlags, credential: Credential, trail: AuditTrail, out: { log: (line: string) => void; error: (line: string) => void }): Promise<number> {
    try {
        const result = await rollback(
            { model: flags.model, version: flags.version, alias: flags.alias },
            {
                host: flags.host,
                credential,
                log: (line) => out.log(`  ${line}`),
                beforeAlias: ({ from }) => trail.begin({ action: "rollback", model: flags.model, version: flags.version, alias: flags.alias, from: { model: flags.model, ...(from ? { version: from } : {}) }, registry: flags.host }),
            },
        );
        out.log(`rolled back: ${result.alias} -> ${result.to}${result.from ? ` (was ${result.from})` : ""}. Next: pulumi up --stack prd`);
        return await trail.finish();
    } catch (err) {
        let message = err instanceof PromoteError ? err.message : `unexpected failure: ${(err as Error).message}`;
        for (const secret of credential.secrets?.() ?? []) message = message.split(secret).join("[redacted]");
        out.error(`rollback: ${message}`);
        const notice = trail.abandonedNotice();
        if (notice) out.error(notice);
        return 1;
    }
}

async function main(argv: string[]): Promise<number> {
    if (wantsHelp(argv)) {
        console.log(USAGE);
        return 0;
    }
    let flags: RollbackFlags;
    try {
        flags = parseRollbackFlags(argv, process.env);
    } catch (err) {
        console.error(`rollback: ${(err as Error).message}\n${USAGE}`);
        return 2;
    }
    const credential = selectCredential("unity-catalog", {}, process.env)!;
    let trail: AuditTrail;
    try {
        // Before anything changes: no audit store, no rollback (unless --audit-store print).
        const { sink, entraToken } = await auditSinkFor(flags.auditStore, process.env);
        trail = new AuditTrail(sink, await auditContext({ env: process.env, credentialSource: credential.source, entraToken, tool: toolVersion(process.env) }), { log: console.log, warn: console.error });
    } catch (err) {
        console.error(`rollback: ${(err as Error).message}; nothing was changed`);
        return 1;
    }
    console.log(`rollback: ${flags.model} alias ${flags.alias} -> version ${flags.version} at ${flags.host}, as ${credential.source}`);
    return rollbackAudited(flags, credential, trail, { log: console.log, error: console.error });
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
