// Azure RBAC for the platform's roles. Data scientists read and write training data and model
// files (data-plane roles scoped to the two containers) and can see, not change, the stack's
// resources; deployers hold the write roles; nobody else gets a write role here. The serving
// identity's AcrPull stays in ModelServing, its only grant.
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import type { AccessRoles, Principal } from "../../lib/config";
import { AZURE_ROLES, type DeclaredAssignment, type DeclaredRoles } from "../../lib/access/roles";
import { roleDefinitionId, subscriptionScopeOf, roleAssignmentNameOf } from "../../lib/azure/ids";
import { AUDIT_CONTAINER } from "../../lib/audit/record";

export interface AzureAccessArgs {
    roles: AccessRoles;
    resourceGroupName: pulumi.Input<string>;
    storageAccountId: pulumi.Input<string>;
    containerNames: pulumi.Input<{ data: string; models: string; audit: string; payloads: string }>;
    containerRegistryId: pulumi.Input<string>;
    /**
     * Blob path prefix in the models container that holds the prd schema's model files: data
     * scientists may read it but not write or delete there (an Azure ABAC condition).
     */
    protectedModelsPrefix?: string;
    /** What Unity Catalog declares in this stack, for the plan and the policy pack. */
    catalog?: { catalog: string; devSchema: string; prdSchema: string };
    /**
     * The deploying identity (the one the Promote workflow signs in as): it writes audit records like
     * the deployers. Known at deploy (unknown in the plan); skipped when it is one of the deployers.
     */
    deployingIdentity?: { objectId: pulumi.Input<string> };
}

const AUDIT_WRITERS = "Promotions and rollbacks write audit records: create and read, never delete";
const PAYLOAD_READERS = "A guarded rollout replays logged requests, and npm run drift reads them: read only";

const PRINCIPAL_TYPE = { group: "Group", user: "User", servicePrincipal: "ServicePrincipal" } as const;

/**
 * An ABAC condition (version 2.0) that keeps the data-plane role from writing, adding to,
 * deleting or moving blobs under `prefix`; reads stay allowed. Azure evaluates it on every
 * request the role assignment would otherwise allow.
 */
export function noWritesUnder(prefix: string): string {
    const actions = ["write", "add/action", "delete", "move/action"].map((a) => `!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${a}'})`);
    return `((${actions.join(" AND ")}) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringNotStartsWith '${prefix}'))`;
}

/**
 * An ABAC condition (version 2.0) that keeps the data-plane role from deleting or moving blobs in the
 * audit container: records are written once (create-only, and the container's retention policy
 * refuses overwrites), read, and never removed by the people whose actions they record. The container
 * name attribute and StringNotEquals: Microsoft Learn "Actions and attributes for Azure role
 * assignment conditions for Azure Blob Storage" and "Azure role assignment condition format".
 */
export function noDeletesIn(container: string): string {
    const actions = ["delete", "move/action"].map((a) => `!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${a}'})`);
    return `((${actions.join(" AND ")}) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringNotEquals '${container}'))`;
}

export class AzureAccess extends pulumi.ComponentResource {
    constructor(name: string, args: AzureAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:access:AzureAccess", name, {}, opts);
        const child = { parent: this };
        const groupId = pulumi.interpolate`${pulumi.output(args.storageAccountId).apply(subscriptionScopeOf)}/resourceGroups/${args.resourceGroupName}`;
        const containerId = (key: "data" | "models" | "audit" | "payloads") =>
            pulumi.all([args.storageAccountId, args.containerNames]).apply(([account, names]) => `${account}/blobServices/default/containers/${names[key]}`);
        // What is assigned, in plain values a preview knows (the ids contain the subscription, which
        // it does not): the plan's "who can do what" table reads them.
        const declared: DeclaredAssignment[] = [];
        const assign = (logical: string, who: Principal, role: string, scope: pulumi.Input<string>, description: string, condition?: string, scopeLabel = "") => {
            declared.push({ name: `${name}-${logical}-${who.objectId}`, principalId: who.objectId, role, scope: scopeLabel, conditioned: condition !== undefined });
            const definition = roleDefinitionId(args.storageAccountId, role);
            return new authorization.RoleAssignment(
                `${name}-${logical}-${who.objectId}`,
                {
                    roleAssignmentName: roleAssignmentNameOf(who.objectId, definition, scope),
                    principalId: who.objectId,
                    principalType: PRINCIPAL_TYPE[who.type],
                    roleDefinitionId: definition,
                    scope,
                    description,
                    ...(condition ? { condition, conditionVersion: "2.0" } : {}),
                },
                { ...child, deleteBeforeReplace: true },
            );
        };

        // Promotions and rollbacks write their audit records (lib/audit); nobody deletes one.
        // The container is always named AUDIT_CONTAINER (MODEL_STORE_CONTAINERS), so the condition is plain text.
        const assignAudit = (logical: string, who: Principal) =>
            assign(logical, who, AZURE_ROLES.storageBlobDataContributor, containerId("audit"), AUDIT_WRITERS, noDeletesIn(AUDIT_CONTAINER), "container audit");

        for (const scientist of args.roles.dataScientists) {
            assign("data-scientist-data", scientist, AZURE_ROLES.storageBlobDataContributor, containerId("data"), "Data scientists read and write training data", undefined, "container data");
            assign(
                "data-scientist-models",
                scientist,
                AZURE_ROLES.storageBlobDataContributor,
                containerId("models"),
                "Data scientists read and write model files (not the prd schema's)",
                args.protectedModelsPrefix ? noWritesUnder(args.protectedModelsPrefix) : undefined,
                "container models",
            );
            // See the serving resources (and the rest of the group); change nothing.
            assign("data-scientist-reader", scientist, AZURE_ROLES.reader, groupId, "Data scientists see, but do not change, the stack's resources", undefined, "resource group");
        }
        for (const deployer of args.roles.deployers) {
            assign("deployer-contributor", deployer, AZURE_ROLES.contributor, groupId, "Deployers change the stack's resources, serving included", undefined, "resource group");
            assign("deployer-acr-push", deployer, AZURE_ROLES.acrPush, args.containerRegistryId, "Deployers push serving images", undefined, "container registry");
            assignAudit("deployer-audit", deployer);
            assign("deployer-payloads-reader", deployer, AZURE_ROLES.storageBlobDataReader, containerId("payloads"), PAYLOAD_READERS, undefined, "container payloads");
        }
        // A second assignment of the same grant would be one Azure resource under two Pulumi names.
        const identity = args.deployingIdentity;
        const listed = typeof identity?.objectId === "string" && args.roles.deployers.some((d) => d.objectId.toLowerCase() === (identity.objectId as string).toLowerCase());
        if (identity && !listed) {
            const scope = containerId("audit");
            const definition = roleDefinitionId(args.storageAccountId, AZURE_ROLES.storageBlobDataContributor);
            new authorization.RoleAssignment(
                `${name}-deploying-identity-audit`,
                {
                    roleAssignmentName: roleAssignmentNameOf(identity.objectId, definition, scope),
                    principalId: identity.objectId,
                    // A user with az login, or a service principal in CI: Azure finds which.
                    roleDefinitionId: definition,
                    scope,
                    description: AUDIT_WRITERS,
                    condition: noDeletesIn(AUDIT_CONTAINER),
                    conditionVersion: "2.0",
                },
                { ...child, deleteBeforeReplace: true },
            );
            const payloads = containerId("payloads");
            const reader = roleDefinitionId(args.storageAccountId, AZURE_ROLES.storageBlobDataReader);
            new authorization.RoleAssignment(
                `${name}-deploying-identity-payloads-reader`,
                {
                    roleAssignmentName: roleAssignmentNameOf(identity.objectId, reader, payloads),
                    principalId: identity.objectId,
                    roleDefinitionId: reader,
                    scope: payloads,
                    description: PAYLOAD_READERS,
                },
                { ...child, deleteBeforeReplace: true },
            );
        }

        const brief = (p: Principal) => ({ objectId: p.objectId, name: p.name ?? p.objectId });
        const roles: DeclaredRoles = {
            dataScientists: args.roles.dataScientists.map(brief),
            deployers: args.roles.deployers.map(brief),
            scoringClients: args.roles.scoringClients.map(brief),
            acceptDataScientistAsDeployer: args.roles.acceptDataScientistAsDeployer,
            ...(args.catalog
                ? {
                      catalog: args.catalog.catalog,
                      devSchema: `${args.catalog.catalog}.${args.catalog.devSchema}`,
                      prdSchema: `${args.catalog.catalog}.${args.catalog.prdSchema}`,
                  }
                : {}),
        };
        this.registerOutputs({ roles, assignments: declared });
    }
}
