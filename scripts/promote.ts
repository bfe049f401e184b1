// `npm run promote -- --model <catalog.dev-schema.model> --version <n> [--to <catalog.prd-schema.model>] [--alias <alias>]`:
// copies an approved candidate from the dev schema into the deployers' prd schema and moves the
// alias prd serves. A deployer's action: data scientists hold no privilege on the prd schema.
import * as path from "path";
import { parseStringFlags, wantsHelp } from "./flags";
import { parsePlatformConfig, rawConfigFrom } from "../lib/config";
import { promote, PromoteError } from "../lib/registry/promote";
import { selectCredential } from "../lib/registry/credentials";
import { checkModelName } from "../lib/registry/validation";
import { readStackConfig } from "../lib/stackFiles";

const PROJECT_DIR = path.resolve(__dirname, "..");
const USAGE = `usage: npm run promote -- --model <catalog.schema.model> --version <n> [--to <catalog.schema.model>] [--alias <alias>] [--host <workspace URL>]
  --model    the candidate in the dev schema, e.g. mlplatform.dev.fraud
  --version  its version number
  --to       the prd model (default: the same name in the prd stack's registry.prdSchema)
  --alias    the alias prd serves (default: the prd stack's alias for that model, else champion)
  --host     the Databricks workspace URL (default: DATABRICKS_HOST)
Credentials: DATABRICKS_TOKEN, else a Microsoft Entra token from az login or workload identity.`;

class UsageError extends Error {}

interface Flags {
    source: string;
    version: string;
    target: string;
    alias: string;
    host: string;
}

/** The prd stack's schema and the alias its entry for `modelName` serves, when the file says. */
function prdDefaults(modelName: string): { prdSchema: string; alias?: string } {
    try {
        const stack = readStackConfig(PROJECT_DIR, "prd");
        const config = parsePlatformConfig(rawConfigFrom(stack.config, stack.project), "prd", stack.project, (k) => stack.secretKeys.includes(k));
        const entry = config.models.find((m) => m.model.split(".")[2] === modelName);
        const alias = entry && "alias" in entry.selector ? (entry.selector as { alias: string }).alias : undefined;
        return { prdSchema: config.registry.prdSchema, alias };
    } catch {
        return { prdSchema: "prd" };
    }
}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv): Flags {
    let values: Record<string, string | undefined>;
    try {
        values = parseStringFlags(argv, ["model", "version", "to", "alias", "host"]);
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
    const alias = values.alias ?? defaults.alias ?? "champion";
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(alias) || alias.toLowerCase() === "latest" || /^v\d+$/i.test(alias)) {
        throw new UsageError(`--alias ${JSON.stringify(alias)} is not allowed: letters, digits, '_' or '-', and not latest or v<number> (reserved by the registry)`);
    }
    const host = values.host ?? env.DATABRICKS_HOST;
    if (!host) throw new UsageError("no workspace: set DATABRICKS_HOST or --host (the registry's workspace URL, `pulumi stack output workspaceUrl --stack dev`)");
    let url: URL;
    try {
        url = new URL(host);
    } catch {
        throw new UsageError(`--host/DATABRICKS_HOST ${JSON.stringify(host)} is not a URL: write it in full, https://adb-….azuredatabricks.net`);
    }
    if (url.username || url.password) throw new UsageError("--host/DATABRICKS_HOST holds a user name or password: remove them (the value is not shown); use DATABRICKS_TOKEN or az login");
    if (url.protocol !== "https:" && !["localhost", "127.0.0.1"].includes(url.hostname)) throw new UsageError(`--host/DATABRICKS_HOST must use https:// (got ${url.protocol})`);
    return { source: values.model, version: values.version, target, alias, host: url.origin };
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
    console.log(`promote: ${flags.source} version ${flags.version} -> ${flags.target} (alias ${flags.alias}) at ${flags.host}, as ${credential.source}`);
    try {
        const result = await promote(
            { source: flags.source, version: flags.version, target: flags.target, alias: flags.alias },
            { host: flags.host, credential, log: (line) => console.log(`  ${line}`) },
        );
        console.log(`promoted: ${result.source}/${result.sourceVersion} is ${result.target}/${result.targetVersion} (${result.files} files, ${result.bytes} bytes); ${result.alias} -> ${result.targetVersion}`);
        return 0;
    } catch (err) {
        const secrets = credential.secrets?.() ?? [];
        let message = err instanceof PromoteError ? err.message : `unexpected failure: ${(err as Error).message}`;
        for (const secret of secrets) message = message.split(secret).join("[redacted]");
        console.error(`promote: ${message}`);
        return 1;
    }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
