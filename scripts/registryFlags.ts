// What `npm run promote` and `npm run rollback` read the same way: the prd stack's schema and alias
// for a model, the workspace URL, and the alias prd serves.
import * as path from "path";
import { parsePlatformConfig, rawConfigFrom } from "../lib/config";
import { urlForMessage } from "../lib/registry/errors";
import { readStackConfig } from "../lib/config/stackFiles";

const PROJECT_DIR = path.resolve(__dirname, "..");

export class UsageError extends Error {}

/** The prd stack's schema and the alias its entry for `modelName` serves, when the file says. */
export function prdDefaults(modelName: string): { prdSchema: string; alias?: string } {
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

/** An alias a deployer may set: not one the registry reserves. */
export function servingAlias(alias: string): string {
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(alias) || alias.toLowerCase() === "latest" || /^v\d+$/i.test(alias)) {
        throw new UsageError(`--alias ${JSON.stringify(alias)} is not allowed: letters, digits, '_' or '-', and not latest or v<number> (reserved by the registry)`);
    }
    return alias;
}

/** The workspace's origin from --host or DATABRICKS_HOST; a value with a credential is never shown. */
export function workspaceHost(flag: string | undefined, env: NodeJS.ProcessEnv): string {
    const host = flag ?? env.DATABRICKS_HOST;
    if (!host) throw new UsageError("no workspace: set DATABRICKS_HOST or --host (the registry's workspace URL, `pulumi stack output workspaceUrl --stack dev`)");
    let url: URL;
    try {
        url = new URL(host);
    } catch {
        throw new UsageError(`--host/DATABRICKS_HOST ${JSON.stringify(urlForMessage(host))} is not a URL: write it in full, https://adb-….azuredatabricks.net`);
    }
    if (url.username || url.password) throw new UsageError("--host/DATABRICKS_HOST holds a user name or password: remove them (the value is not shown); use DATABRICKS_TOKEN or az login");
    if (url.protocol !== "https:" && !["localhost", "127.0.0.1"].includes(url.hostname)) throw new UsageError(`--host/DATABRICKS_HOST must use https:// (got ${url.protocol})`);
    return url.origin;
}
