// Resolves the plan's ModelVersion resources against the real registry when the environment has
// a registry host and credentials, as a preview would; otherwise notes that deploy resolves them.
import { UNKNOWN_DISPLAY, type Plan } from "./plan";
import { RegistryClient, type RegistryClientOptions } from "./registry/client";
import { selectCredential } from "./registry/credentials";
import { modelUri, type RegistryKind } from "./registry/types";
import { parseSelector, type SelectorFields } from "./registry/validation";

export const MODEL_VERSION_TYPE = "pulumi-nodejs:dynamic/registry:ModelVersion";

export interface ModelVersionNote {
    resource: string;
    outcome: "resolved" | "deferred" | "failed";
    text: string;
}

function hostFromEnvironment(kind: RegistryKind, env: NodeJS.ProcessEnv): string | undefined {
    const tracking = env.MLFLOW_TRACKING_URI;
    if (tracking && /^https?:\/\//.test(tracking)) return tracking;
    return kind === "mlflow" ? undefined : env.DATABRICKS_HOST || undefined;
}

function credentialInEnvironment(kind: RegistryKind, env: NodeJS.ProcessEnv): boolean {
    // Only explicit credentials: the plan never waits on an interactive or managed-identity sign-in.
    return kind === "mlflow"
        ? Boolean(env.MLFLOW_TRACKING_TOKEN || (env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD))
        : Boolean(env.DATABRICKS_TOKEN || env.MLFLOW_TRACKING_TOKEN);
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
        const host = typeof declaredHost === "string" && declaredHost !== UNKNOWN_DISPLAY ? declaredHost : hostFromEnvironment(kind, env);
        const selector = parseSelector(kind, (resource.inputs.selector ?? {}) as SelectorFields).selector;
        if (!host || !selector || !credentialInEnvironment(kind, env)) {
            notes.push({
                resource: resource.name,
                outcome: "deferred",
                text:
                    kind === "mlflow"
                        ? "version: resolved at deploy (set MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME/PASSWORD, to resolve it in the plan)"
                        : "version: resolved at deploy (set DATABRICKS_HOST and DATABRICKS_TOKEN to resolve it in the plan)",
            });
            continue;
        }
        try {
            const client = new RegistryClient({ kind, url: host, credential: selectCredential(kind, {}, env), ...clientOptions });
            const info = await client.resolve(model, selector);
            notes.push({
                resource: resource.name,
                outcome: "resolved",
                text: `version: ${info.version} (${info.status}, ${modelUri(info.name, info.version)}), resolved now from ${client.url}`,
            });
        } catch (err) {
            notes.push({ resource: resource.name, outcome: "failed", text: `cannot resolve: ${(err as Error).message}` });
        }
    }
    return notes;
}
