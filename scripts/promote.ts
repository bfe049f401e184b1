// `npm run promote -- --model <catalog.dev-schema.model> --version <n> [--to <catalog.prd-schema.model>] [--alias <alias>]`:
// copies an approved candidate from the dev schema into the deployers' prd schema and moves the
// alias prd serves. A deployer's action: data scientists hold no privilege on the prd schema.
import { parseStringFlags, wantsHelp } from "./flags";
import { promote, PromoteError, type PromoteOptions } from "../lib/registry/promote";
import { selectCredential } from "../lib/registry/credentials";
import { checkModelName } from "../lib/registry/validation";
import { prdDefaults, servingAlias, UsageError, workspaceHost } from "./registryFlags";
import { type Credential } from "../lib/registry/credentials";
import { AuditTrail, auditContext } from "../lib/audit/trail";
import { AUDIT_STORE_USAGE, auditSinkFor, toolVersion } from "./auditStore";

const USAGE = `usage: npm run promote -- --model <catalog.schema.model> --version <n> [--to <catalog.schema.model>] [--alias <alias>] [--host <workspace URL>]
  --model    the candidate in the dev schema, e.g. mlplatform.dev.fraud
  --version  its version number
  --to       the prd model (default: the same name in the prd stack's registry.prdSchema)
  --alias    the alias prd serves (default: the prd stack's alias for that model, else champion)
  --host     the Databricks workspace URL (default: DATABRICKS_HOST)
${AUDIT_STORE_USAGE}
Credentials: DATABRICKS_TOKEN, else a Microsoft Entra token from az login or workload identity.
The audit record (who, when, from which candidate, the workflow run) is written to the store's audit
container: its intent before the alias moves (no record, no change), the record after. Exit 3: the
alias moved but the record after could not be written (it is printed: write it by hand).`;


export interface Flags {
    source: string;
    version: string;
    target: string;
    alias: string;
    host: string;
    auditStore?: string;
}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv): Flags {
    let values: Record<string, string | undefined>;
    try {
        values = parseStringFlags(argv, ["model", "version", "to", "alias", "host", "audit-store"]);
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
    if (!values.model) throw new UsageError("--model is required: the candidate's full name, catalog.schema.model");
    const modelProblem = checkModelName("unity-catalog", values.model)[0];
    if (modelProblem) throw new UsageError(`--model ${JSON.stringify(values.model)}: ${modelProblem.reason}`);
    if (!values.version) throw new UsageError("--version is required: the candidate's version number");
    if (!/^[1-9]\d{0,15}$/.test(values.version)) throw new UsageError(`--version ${JSON.stringify(values.version)} is not a version number: use a whole number from 1`);
    const [catalog, schema, name] = values.model.split(".");
    const defaults = prdDefaults(name);
    const target = values.to ?? `${catalog}.${defaults.prdSchema}.${name}`;
    const targetProblem = checkModelName("unity-catalog", target)[0];
    if (targetProblem) throw new UsageError(`--to ${JSON.stringify(target)}: ${targetProblem.reason}`);
    if (target.split(".")[1] === schema) throw new UsageError(`--to ${target} is in the same schema as --model ${values.model}: promotion copies from the dev schema into the prd schema`);
    const alias = servingAlias(values.alias ?? defaults.alias ?? "champion");
    if (values["audit-store"] === "") throw new UsageError('--audit-store is empty: give the prd stack\'s blob endpoint, or print');
    return { source: values.model, version: values.version, target, alias, host: workspaceHost(values.host, env), ...(values["audit-store"] !== undefined ? { auditStore: values["audit-store"] } : {}) };
}

/** The promotion with its audit trail: the intent just before the alias moves, the record after. Returns the exit code. */
export async function promoteAudited(flags: Flags, credential: Credential, trail: AuditTrail, out: { log: (line: string) => void; error: (line: string) => void }, extra: Pick<PromoteOptions, "storageEndpoint" | "sleep"> = {}): Promise<number> {
    try {
        const result = await promote(
            { source: flags.source, version: flags.version, target: flags.target, alias: flags.alias },
            {
                ...extra,
                host: flags.host,
                credential,
                log: (line) => out.log(`  ${line}`),
                beforeAlias: ({ version }) => trail.begin({ action: "promote", model: flags.target, version, alias: flags.alias, from: { model: flags.source, version: flags.version }, registry: flags.host }),
            },
        );
        out.log(`promoted: ${result.source}/${result.sourceVersion} is ${result.target}/${result.targetVersion} (${result.files} files, ${result.bytes} bytes); ${result.alias} -> ${result.targetVersion}`);
        return await trail.finish();
    } catch (err) {
        const secrets = credential.secrets?.() ?? [];
        let message = err instanceof PromoteError ? err.message : `unexpected failure: ${(err as Error).message}`;
        for (const secret of secrets) message = message.split(secret).join("[redacted]");
        out.error(`promote: ${message}`);
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
    let flags: Flags;
    try {
        flags = parseFlags(argv, process.env);
    } catch (err) {
        console.error(`promote: ${(err as Error).message}\n${USAGE}`);
        return 2;
    }
    const credential = selectCredential("unity-catalog", {}, process.env)!;
    let trail: AuditTrail;
    try {
        // Before anything changes: no audit store, no promotion.
        const { sink, entraToken } = await auditSinkFor(flags.auditStore, process.env);
        trail = new AuditTrail(sink, await auditContext({ env: process.env, credentialSource: credential.source, entraToken, tool: toolVersion(process.env) }), { log: console.log, warn: console.error });
    } catch (err) {
        console.error(`promote: ${(err as Error).message}; nothing was changed`);
        return 1;
    }
    console.log(`promote: ${flags.source} version ${flags.version} -> ${flags.target} (alias ${flags.alias}) at ${flags.host}, as ${credential.source}`);
    return promoteAudited(flags, credential, trail, { log: console.log, error: console.error });
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
