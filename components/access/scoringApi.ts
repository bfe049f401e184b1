// The scoring API's identity in Microsoft Entra ID: an app registration that issues v2 access
// tokens, its `Scoring.Invoke` app role, and a service principal that requires an assignment, so
// Entra issues tokens for the API only to the principals assigned the role (users and groups get
// AADSTS50105, applications and managed identities AADSTS501051). Container Apps then validates
// the issuer and audience of every request (containerApp.ts).
//
// Two ways to a token, one gate: applications and managed identities use the client-credentials
// flow (`api://<client id>/.default`, app-only, the role in `roles`); users, and the members of a
// group holding the role, sign in through a client app and need a delegated scope the API exposes
// and a client that is consented or pre-authorized for it, else AADSTS65001
// (the shared Azure facts, "Entra"). So the API exposes `user_impersonation` and
// pre-authorizes the Azure CLI and Azure PowerShell for it; pre-authorizing widens nothing, since
// the service principal still issues tokens only to principals assigned Scoring.Invoke.
import * as pulumi from "@pulumi/pulumi";
import * as azuread from "@pulumi/azuread";
import type { Principal } from "../../lib/config";
import { SCORING_ROLE_VALUE, stableGuid } from "../../lib/access/roles";

/** The delegated scope users (and group members) ask for: `api://<client id>/user_impersonation`. */
export const SCORING_USER_SCOPE_VALUE = "user_impersonation";

/**
 * First-party clients pre-authorized for the delegated scope, by their well-known application ids:
 * the Azure CLI (the client id in AADSTS65002 messages for `az`/azure-identity's default, e.g.
 * microsoftgraph/msgraph-sdk-python#678) and Azure PowerShell (AzureAD-B2C-scripts#1).
 */
export const PRE_AUTHORIZED_CLIENTS = {
    azureCli: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    azurePowerShell: "1950a258-227b-4e31-a9cf-717495945fc2",
} as const;

export interface ScoringApiArgs {
    /** Shown in Entra ID: names the project and stack. */
    displayName: string;
    /** The tenant that issues the tokens (the deploying identity's). */
    tenantId: pulumi.Input<string>;
    /** Principals that may call the API: groups, users, applications, managed identities. */
    callers: Principal[];
    /** The deploying identity's object id: it gets the role too, so the smoke test can call. */
    deployerObjectId: pulumi.Input<string>;
}

/** What the Container Apps authentication needs to accept this API's tokens. */
export interface ScoringApiAuth {
    clientId: pulumi.Output<string>;
    /** `https://login.microsoftonline.com/<tenant>/v2.0`: the issuer of v2 tokens. */
    issuer: pulumi.Output<string>;
    /** v2 tokens carry the client id as `aud`; the identifier URI is accepted as well. */
    audiences: pulumi.Output<string[]>;
}

export class ScoringApi extends pulumi.ComponentResource {
    readonly clientId: pulumi.Output<string>;
    readonly identifierUri: pulumi.Output<string>;
    readonly servicePrincipalObjectId: pulumi.Output<string>;
    readonly appRoleId: string;
    readonly auth: ScoringApiAuth;
    /** `api://<client id>/.default`: the scope an application or managed identity asks Entra for. */
    readonly scope: pulumi.Output<string>;
    /** `api://<client id>/user_impersonation`: the scope a user asks for (az, Azure PowerShell). */
    readonly userScope: pulumi.Output<string>;
    /** The delegated scope's id (fixed per stack). */
    readonly userScopeId: string;

    constructor(name: string, args: ScoringApiArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:access:ScoringApi", name, {}, opts);
        const child = { parent: this };

        const app = new azuread.ApplicationRegistration(
            `${name}-app`,
            {
                displayName: args.displayName,
                description: "MLflow model scoring endpoints; callers need the Scoring.Invoke app role",
                signInAudience: "AzureADMyOrg",
                // v2 tokens: their issuer is https://login.microsoftonline.com/<tenant>/v2.0, the
                // one Container Apps is configured with (v1 tokens say https://sts.windows.net/<tenant>/).
                requestedAccessTokenVersion: 2,
            },
            child,
        );
        // api://<client id> is accepted by every tenant's default app management policy (custom
        // URIs need a verified domain under the newer policies).
        const identifierUri = new azuread.ApplicationIdentifierUri(
            `${name}-uri`,
            { applicationId: app.id, identifierUri: pulumi.interpolate`api://${app.clientId}` },
            child,
        );
        // A fixed id per stack: Entra refuses to change a role's id while assignments use it.
        this.appRoleId = stableGuid(`${name}/${SCORING_ROLE_VALUE}`);
        const role = new azuread.ApplicationAppRole(
            `${name}-invoke-role`,
            {
                applicationId: app.id,
                roleId: this.appRoleId,
                value: SCORING_ROLE_VALUE,
                displayName: "Call the scoring API",
                description: "Send scoring requests to the MLflow model endpoints",
                allowedMemberTypes: ["User", "Application"],
            },
            child,
        );
        // The delegated scope: a user's token (through a pre-authorized client) carries
        // scp=user_impersonation plus the user's (or their group's) Scoring.Invoke in `roles`.
        this.userScopeId = stableGuid(`${name}/${SCORING_USER_SCOPE_VALUE}`);
        const userScope = new azuread.ApplicationPermissionScope(
            `${name}-user-scope`,
            {
                applicationId: app.id,
                scopeId: this.userScopeId,
                value: SCORING_USER_SCOPE_VALUE,
                type: "User",
                adminConsentDisplayName: "Call the scoring API as the signed-in user",
                adminConsentDescription: "Send scoring requests to the MLflow model endpoints as the signed-in user (who also needs the Scoring.Invoke role)",
                userConsentDisplayName: "Call the scoring API as you",
                userConsentDescription: "Send scoring requests to the MLflow model endpoints as you",
            },
            { ...child, dependsOn: [identifierUri] },
        );
        for (const [client, clientId] of Object.entries(PRE_AUTHORIZED_CLIENTS)) {
            new azuread.ApplicationPreAuthorized(
                `${name}-preauthorized-${client}`,
                { applicationId: app.id, authorizedClientId: clientId, permissionIds: [this.userScopeId] },
                { ...child, dependsOn: [userScope] },
            );
        }
        const servicePrincipal = new azuread.ServicePrincipal(
            `${name}-sp`,
            {
                clientId: app.clientId,
                // Tokens only for principals assigned a role of this API.
                appRoleAssignmentRequired: true,
                description: "Scoring API: only principals with the Scoring.Invoke role get tokens",
            },
            { ...child, dependsOn: [role] },
        );
        const assign = (logical: string, principalObjectId: pulumi.Input<string>) =>
            new azuread.AppRoleAssignment(
                `${name}-${logical}`,
                { appRoleId: this.appRoleId, principalObjectId, resourceObjectId: servicePrincipal.objectId },
                { ...child, dependsOn: [role] },
            );
        for (const caller of args.callers) assign(`caller-${caller.objectId}`, caller.objectId);
        assign("deployer", args.deployerObjectId);

        this.clientId = app.clientId;
        this.identifierUri = identifierUri.identifierUri;
        this.servicePrincipalObjectId = servicePrincipal.objectId;
        this.scope = pulumi.interpolate`${this.identifierUri}/.default`;
        this.userScope = pulumi.interpolate`${this.identifierUri}/${SCORING_USER_SCOPE_VALUE}`;
        this.auth = {
            clientId: app.clientId,
            issuer: pulumi.interpolate`https://login.microsoftonline.com/${args.tenantId}/v2.0`,
            audiences: pulumi.all([app.clientId, identifierUri.identifierUri]).apply(([id, uri]) => [id, uri]),
        };
        this.registerOutputs({
            clientId: this.clientId,
            identifierUri: this.identifierUri,
            scope: this.scope,
            userScope: this.userScope,
            issuer: this.auth.issuer,
            summary: {
                appRole: SCORING_ROLE_VALUE,
                accessTokenVersion: 2,
                appRoleAssignmentRequired: true,
                delegatedScope: SCORING_USER_SCOPE_VALUE,
                preAuthorizedClients: "Azure CLI, Azure PowerShell",
                callers: args.callers.map((c) => `${c.name ?? c.objectId} (${c.type})`).concat("the deploying identity"),
            },
        });
    }
}
