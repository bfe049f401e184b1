// The identity running `pulumi up`: a deployer by definition (it changes every resource), and the
// tenant that issues the scoring API's tokens. Asked of the azuread provider (`getClientConfig`,
// which signs in as the provider does: az login, or OIDC in the workflows); never offline.
import * as pulumi from "@pulumi/pulumi";
import * as azuread from "@pulumi/azuread";
import { unknownValue } from "../../lib/deployment/outputs";

export interface DeployingIdentity {
    objectId: pulumi.Input<string>;
    tenantId: pulumi.Input<string>;
    /** False in the credential-free plan: the values show as known after deploy. */
    found: boolean;
}

export async function deployingIdentity(offline: boolean): Promise<DeployingIdentity> {
    if (offline) return { objectId: unknownValue(), tenantId: unknownValue(), found: false };
    const client = await azuread.getClientConfig();
    return { objectId: client.objectId, tenantId: client.tenantId, found: Boolean(client.objectId && client.tenantId) };
}
