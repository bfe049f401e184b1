// Where a stack's model registry is, as plain decisions over its config: dev and prd share one
// registry, held by one stack's own Databricks workspace (usually dev) or named by a host.
import type { RegistryConfig } from "../config";
import { stackReferenceName } from "../config";

/**
 * Whether this stack's own workspace holds the Unity Catalog registry: then it declares the
 * catalog, both schemas and their grants, and the registration job.
 */
export function holdsRegistry(registry: RegistryConfig): boolean {
    return registry.kind === "unity-catalog" && !registry.host && !registry.hostFromStack && registry.catalog !== undefined;
}

/** The catalog and schemas this stack declares, when it holds the registry. */
export interface RegistrySchemas {
    catalog: string;
    devSchema: string;
    prdSchema: string;
}

export function registrySchemas(registry: RegistryConfig): RegistrySchemas | undefined {
    return holdsRegistry(registry) ? { catalog: registry.catalog!, devSchema: registry.devSchema, prdSchema: registry.prdSchema } : undefined;
}

/** Where the registry's URL comes from: an explicit host, another stack's `workspaceUrl` output, or this stack's workspace. */
export type RegistrySource = { from: "host"; host: string } | { from: "stack"; stackName: string } | { from: "own-workspace" };

/** `organization`: the current Pulumi organization, when the backend has one (see stackReferenceName). */
export function registrySource(registry: RegistryConfig, organization: string | undefined): RegistrySource {
    if (registry.host) return { from: "host", host: registry.host };
    if (registry.hostFromStack) return { from: "stack", stackName: stackReferenceName(registry.hostFromStack, organization) };
    return { from: "own-workspace" };
}
