// Helpers for Azure Resource Manager ids, so components derive scopes from resources they
// already hold instead of asking the provider for the subscription.
import * as pulumi from "@pulumi/pulumi";
import { roleAssignmentName } from "../access/roleAssignmentName";

/** Built-in role definition ids (the same GUID in every tenant). */
export const BUILT_IN_ROLES = {
    storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    acrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    // Lets a principal send metrics to Azure Monitor with Entra ID (Application Insights with local auth off).
    monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
} as const;

/** `/subscriptions/<id>` of any ARM resource id. */
export function subscriptionScopeOf(resourceId: string): string {
    const match = /^\/subscriptions\/([^/]+)/i.exec(resourceId);
    if (!match) throw new Error(`"${resourceId}" is not an Azure resource id (expected /subscriptions/<id>/...)`);
    return `/subscriptions/${match[1]}`;
}

/** The subscription-scoped id of a built-in role, in the subscription of `resourceInSubscription`. */
export function roleDefinitionId(resourceInSubscription: pulumi.Input<string>, roleGuid: string): pulumi.Output<string> {
    return pulumi
        .output(resourceInSubscription)
        .apply((id) => `${subscriptionScopeOf(id)}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`);
}

/**
 * The deterministic name of a role assignment (lib/access/roleAssignmentName.ts) for its inputs.
 * Changing an existing assignment's name replaces it; Resource Manager refuses a second assignment
 * of the same grant, so such a replacement must delete first (`deleteBeforeReplace`).
 */
export function roleAssignmentNameOf(principalId: pulumi.Input<string>, roleDefinitionId: pulumi.Input<string>, scope: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.all([principalId, roleDefinitionId, scope]).apply(([p, r, s]) => roleAssignmentName(p, r, s));
}
