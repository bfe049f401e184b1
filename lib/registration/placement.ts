// Where the registration job (`npm run register`) goes, who may run it and what it records, as
// plain decisions over the stack's config. The job lives where the registry does.
import type { PlatformConfig, Principal } from "../config";
import { registrySchemas } from "../registry/placement";
import { registrationSchemaOf } from "./target";

/** A principal as a Databricks job permission names it. */
export type DatabricksPrincipal = { groupName: string } | { servicePrincipalName: string } | { userName: string };

/**
 * The schema the job registers into, or why there is no job. Unity Catalog in the stack holding the
 * registry: its dev schema (data scientists register candidates there only). A registry this stack's
 * workspace holds otherwise: the one schema of the served models. A registry elsewhere: no job here.
 */
export function registrationJobTarget(config: { registry: PlatformConfig["registry"]; models: readonly { model: string }[] }): { schema?: string; reason?: string } | undefined {
    const schemas = registrySchemas(config.registry);
    if (schemas) return { schema: `${schemas.catalog}.${schemas.devSchema}` };
    if (config.registry.host || config.registry.hostFromStack) return undefined;
    return registrationSchemaOf(config.registry.kind, config.models.map((m) => m.model));
}

/** The data scientists who may run the job, by their Databricks names; one without a name is left out. */
export function databricksPrincipals(dataScientists: readonly Principal[]): DatabricksPrincipal[] {
    return dataScientists.flatMap((p): DatabricksPrincipal[] => {
        if (!p.name) return [];
        return [p.type === "group" ? { groupName: p.name } : p.type === "user" ? { userName: p.name } : { servicePrincipalName: p.name }];
    });
}

/**
 * The MLflow experiment the job's runs go to. With a run_as identity (the stack holds the registry)
 * the job declares it, at a new path: runs as the owner may already have created `registrations`
 * (set_experiment creates a missing one).
 */
export function registrationExperiment(runsAsRegistrationPrincipal: boolean): string {
    return runsAsRegistrationPrincipal ? "/Shared/mlflow-platform/registration-runs" : "/Shared/mlflow-platform/registrations";
}

/**
 * Checked before any resource: the registration principal's rule set is named after the Databricks
 * account, so the stack holding the registry needs its id, unless a configured principal runs the
 * job. Not checked in the credential-free plan (`offline`). The problem's text, or undefined.
 */
export function missingDatabricksAccountIdProblem(config: Pick<PlatformConfig, "project" | "registry">, offline: boolean): string | undefined {
    if (!registrySchemas(config.registry) || offline || config.registry.registrationRunAs || config.registry.databricksAccountId) return undefined;
    return `${config.project}:registry.databricksAccountId is not set: the registration job runs as its own service principal, and pulumi up gives the deploying identity and the deployers its Service Principal User role in an account rule set named after the Databricks account. Set it to the Databricks account id of this stack's workspace (a GUID, shown in the account console), or name the principal to run as in registry.registrationRunAs`;
}
