// Which configured models can be served now. A model that is not registered yet (a brand-new
// workspace) is skipped with a warning instead of failing the stack, so the bootstrap order is
// "list the model, pulumi up, register it, pulumi up again" with no config edit in between.
import { isRegistryUnreachable } from "../registry/errors";

/** The registry question the check asks: does this registered model exist? */
export interface RegisteredModelProbe {
    /** true or false on a definite answer; throws RegistryError on anything else. */
    modelExists(model: string): Promise<boolean>;
}

export interface SkippedModel {
    /** The service name (`models[i].name`). */
    name: string;
    model: string;
    reason: string;
}

// Failures that say nothing about the model: the ModelVersion resource then decides (it keeps the
// recorded version while the registry is down, or fails with the registry's own message). A host
// name that does not resolve is a wrong URL, not an outage, so it fails here.
function isOutage(err: unknown): boolean {
    return isRegistryUnreachable(err) && !/does not resolve/.test(err.message);
}

export function skipWarning(skipped: SkippedModel): string {
    return (
        `models[${skipped.name}]: the registered model ${skipped.model} does not exist yet, so it is not served in this deployment. ` +
        `Register a version (npm run register, or mlflow.register_model in the workspace), then run \`pulumi up\` again: it will serve it with no config change.`
    );
}

/**
 * Splits `entries` into the ones to serve and the ones skipped because their registered model does
 * not exist. Every other definite failure (authentication, a host that is not a registry, a name
 * that does not resolve) is thrown: it would fail the deployment later anyway, with less context.
 */
export async function registeredEntries<T extends { name: string; model: string }>(
    entries: readonly T[],
    probe: RegisteredModelProbe | undefined,
): Promise<{ serve: T[]; skipped: SkippedModel[] }> {
    if (!probe) return { serve: [...entries], skipped: [] };
    const serve: T[] = [];
    const skipped: SkippedModel[] = [];
    for (const entry of entries) {
        let exists = true;
        try {
            exists = await probe.modelExists(entry.model);
        } catch (err) {
            if (!isOutage(err)) throw err;
        }
        if (exists) serve.push(entry);
        else skipped.push({ name: entry.name, model: entry.model, reason: "not registered" });
    }
    return { serve, skipped };
}
