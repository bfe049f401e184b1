import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as databricks from "@pulumi/azure-native/databricks";
import type { DatabricksSku } from "../../lib/config";
import { BUILT_IN_ROLES, roleDefinitionId, subscriptionScopeOf, roleAssignmentNameOf } from "../../lib/azure/ids";

export interface MlflowWorkspaceArgs {
    location: string;
    resourceGroupName: pulumi.Input<string>;
    /** The storage account notebooks and jobs read data and model files from. */
    storageAccountId: pulumi.Input<string>;
    /** premium (or the Premium trial): Azure no longer creates Standard workspaces. */
    sku: DatabricksSku;
    /** Protect the workspace against deletion by `pulumi up`/`destroy`. */
    protect: boolean;
    tags: Record<string, string>;
}

/**
 * An Azure Databricks workspace, which hosts MLflow tracking and the model registry, and an access
 * connector whose managed identity reads and writes the model store without account keys.
 */
export class MlflowWorkspace extends pulumi.ComponentResource {
    readonly workspaceResourceId: pulumi.Output<string>;
    readonly workspaceId: pulumi.Output<string>;
    /** `https://adb-….azuredatabricks.net`: the MLflow tracking and registry host. */
    readonly workspaceUrl: pulumi.Output<string>;
    readonly accessConnectorId: pulumi.Output<string>;
    readonly accessConnectorPrincipalId: pulumi.Output<string>;
    /** The connector's Storage Blob Data Contributor assignment: Unity Catalog's locations need it first. */
    readonly storageAccess: authorization.RoleAssignment;

    constructor(name: string, args: MlflowWorkspaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:mlflow:MlflowWorkspace", name, {}, opts);

        const connector = new databricks.AccessConnector(
            `${name}-access-connector`,
            {
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                identity: { type: "SystemAssigned" },
                tags: args.tags,
            },
            { parent: this },
        );
        const principalId = connector.identity.apply((identity) => {
            if (!identity?.principalId) throw new Error(`access connector ${name} has no system-assigned identity`);
            return identity.principalId;
        });

        const storageRole = roleDefinitionId(args.storageAccountId, BUILT_IN_ROLES.storageBlobDataContributor);
        this.storageAccess = new authorization.RoleAssignment(
            `${name}-storage-access`,
            {
                roleAssignmentName: roleAssignmentNameOf(principalId, storageRole, args.storageAccountId),
                principalId,
                principalType: "ServicePrincipal",
                roleDefinitionId: storageRole,
                scope: args.storageAccountId,
                description: "Databricks access connector reads and writes training data and model files",
            },
            { parent: this, deleteBeforeReplace: true },
        );

        // Databricks creates and owns this group (clusters' disks and networks); it must not exist yet.
        const subscriptionScope = pulumi.output(args.storageAccountId).apply(subscriptionScopeOf);
        const managedResourceGroupId = pulumi.interpolate`${subscriptionScope}/resourceGroups/${args.resourceGroupName}-databricks-managed`;

        const workspace = new databricks.Workspace(
            `${name}-workspace`,
            {
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                sku: { name: args.sku },
                // Classic compute in a Databricks-managed network; required on create by API 2026-01-01.
                computeMode: "Hybrid",
                managedResourceGroupId,
                // Secure cluster connectivity: cluster nodes get no public IP addresses.
                parameters: { enableNoPublicIp: { value: true } },
                tags: args.tags,
            },
            { parent: this, protect: args.protect },
        );

        this.workspaceResourceId = workspace.id;
        this.workspaceId = workspace.workspaceId;
        this.workspaceUrl = pulumi.interpolate`https://${workspace.workspaceUrl}`;
        this.accessConnectorId = connector.id;
        this.accessConnectorPrincipalId = principalId;

        this.registerOutputs({
            workspaceResourceId: this.workspaceResourceId,
            workspaceId: this.workspaceId,
            workspaceUrl: this.workspaceUrl,
            accessConnectorId: this.accessConnectorId,
            accessConnectorPrincipalId: this.accessConnectorPrincipalId,
        });
    }
}
