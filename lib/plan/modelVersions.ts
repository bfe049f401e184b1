// Resolves the plan's ModelVersion resources against the real registry when the environment has
// a registry host and credentials, as a preview would; otherwise notes that deploy resolves them.
import { UNKNOWN_DISPLAY, type Plan } from "./index";
import { skipWarning } from "../serving/bootstrap";
import { RegistryClient, type RegistryClientOptions } from "../registry/client";
import { selectCredential } from "../registry/credentials";
import { modelUri, type RegistryKind } from "../registry/types";
import { parseSelector, type SelectorFields } from "../registry/validation";

export const MODEL_VERSION_TYPE = "pulumi-nodejs:dynamic/registry:ModelVersion";

export interface ModelVersionNote {
    resource: string;
    /** skipped: the registered model does not exist yet, so the deployment skips it (as `pulumi up` does, with the same warning). */
    outcome: "resolved" | "deferred" | "skipped" | "failed";
    text: string;
    /** The resolved version, when outcome is "resolved". */
    version?: string;
    modelUri?: string;
}

/**
 * Where the plan finds the registry when the stack's own host is not known yet: a self-hosted
 * MLflow server from MLFLOW_TRACKING_URI; Databricks from DATABRICKS_HOST (MLFLOW_TRACKING_URI is
 * then usually the word "databricks", and is used only when it is an http(s) URL).
 */
function hostFromEnvironment(kind: RegistryKind, env: NodeJS.ProcessEnv): { url: string; source: string } | undefined {
    if (kind === "mlflow") return env.MLFLOW_TRACKING_URI ? { url: env.MLFLOW_TRACKING_URI, source: "MLFLOW_TRACKING_URI" } : undefined;
    if (env.DATABRICKS_HOST) return { url: env.DATABRICKS_HOST, source: "DATABRICKS_HOST" };
    if (env.MLFLOW_TRACKING_URI && /^https?:\/\//i.test(env.MLFLOW_TRACKING_URI)) return { url: env.MLFLOW_TRACKING_URI, source: "MLFLOW_TRACKING_URI" };
    return undefined;
}

function credentialInEnvironment(kind: RegistryKind, env: NodeJS.ProcessEnv): boolean {
    // A self-hosted MLflow server may need no credentials at all: it is simply called without.
    // Databricks needs explicit ones: the plan never waits on an interactive or managed-identity sign-in.
    return kind === "mlflow" || Boolean(env.DATABRICKS_TOKEN || env.MLFLOW_TRACKING_TOKEN);
}

export async function resolvePlannedModelVersions(
    plan: Plan,
    env: NodeJS.ProcessEnv = process.env,
    clientOptions: Partial<RegistryClientOptions> = {},
): Promise<ModelVersionNote[]> {
    const notes: ModelVersionNote[] = [];
    for (const resource of plan.resources.filter((r) => r.type === MODEL_VERSION_TYPE)) {
        const kind = resource.inputs.registryKind as RegistryKind;
        const model = String(resource.inputs.model);
        const declaredHost = resource.inputs.registryUrl;
        const host =
            typeof declaredHost === "string" && declaredHost !== UNKNOWN_DISPLAY ? { url: declaredHost, source: "registryUrl" } : hostFromEnvironment(kind, env);
        const selector = parseSelector(kind, (resource.inputs.selector ?? {}) as SelectorFields).selector;
        if (!host || !selector || !credentialInEnvironment(kind, env)) {
            notes.push({
                resource: resource.name,
                outcome: "deferred",
                text:
                    kind === "mlflow"
                        ? "version: resolved at deploy (set MLFLOW_TRACKING_URI, and MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN if the server needs them, to resolve it in the plan)"
                        : "version: resolved at deploy (set DATABRICKS_HOST and DATABRICKS_TOKEN to resolve it in the plan)",
            });
            continue;
        }
        try {
            // A host without http:// or https:// is refused here, naming the variable it came from.
            const client = new RegistryClient({ kind, url: host.url, urlSource: host.source, credential: selectCredential(kind, {}, env), ...clientOptions });
            // The program asks the same question before it declares serving (lib/serving/bootstrap.ts):
            // a model that is not registered yet is skipped there, so it is skipped here too.
            if (!(await client.modelExists(model))) {
                const service = String(resource.name).replace(/^.*-serving-(.*)-version$/, "$1");
                notes.push({ resource: resource.name, outcome: "skipped", text: `skipped: ${skipWarning({ name: service, model, reason: "not registered" })}` });
                continue;
            }
            const info = await client.resolve(model, selector);
            notes.push({
                resource: resource.name,
                outcome: "resolved",
                version: info.version,
                modelUri: modelUri(info.name, info.version),
                text: `version: ${info.version} (${info.status}, ${modelUri(info.name, info.version)}), resolved now from ${client.url}`,
            });
        } catch (err) {
            notes.push({ resource: resource.name, outcome: "failed", text: `cannot resolve: ${(err as Error).message}` });
        }
    }
    return notes;
}
