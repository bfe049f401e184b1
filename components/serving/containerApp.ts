// The Azure Container Apps back end: a log workspace and managed environment per stack, and one
// container app per served model, in multiple-revision mode with traffic set from config.
import * as pulumi from "@pulumi/pulumi";
import * as app from "@pulumi/azure-native/app";
import * as monitor from "@pulumi/azure-native/monitor";
import * as operationalinsights from "@pulumi/azure-native/operationalinsights";
import type { AccessConfig } from "../../lib/config";
import type { ServingEnvVar } from "./environment";
import type { ScoringApiAuth } from "../access/scoringApi";
import { SCORING_PORT } from "./aci";
import { appApiVersionWarning, azureNativeAppApiVersion } from "../../lib/azure/containerApps";

/** The API versions azure-native uses for the app and its auth config (fixed by the installed SDK). */
export const CONTAINER_APP_SDK_API_VERSION = { containerApp: azureNativeAppApiVersion("containerApp"), authConfig: azureNativeAppApiVersion("containerAppsAuthConfig") };

/** A revision the app should run: its suffix (a function of its whole spec) and its image. */
export interface AppRevision {
    suffix: pulumi.Input<string>;
    image: pulumi.Input<string>;
}

/**
 * Probe budgets now cover only loading a model that is already in the image: the startup probe
 * allows 2 minutes (24 x 5 s) for the scoring server to import its libraries and load the files.
 */
export const CONTAINER_APP_PROBES = [
    { type: "Startup", httpGet: { path: "/ping", port: SCORING_PORT, scheme: "HTTP" }, periodSeconds: 5, failureThreshold: 24, timeoutSeconds: 5 },
    { type: "Readiness", httpGet: { path: "/ping", port: SCORING_PORT, scheme: "HTTP" }, periodSeconds: 5, failureThreshold: 3, timeoutSeconds: 5 },
    { type: "Liveness", httpGet: { path: "/health", port: SCORING_PORT, scheme: "HTTP" }, periodSeconds: 30, failureThreshold: 3, timeoutSeconds: 10 },
] as const;

export interface ContainerAppServiceArgs {
    resourceGroupName: pulumi.Input<string>;
    location: string;
    /** Azure name of the app: 2-32 lowercase letters, digits, '-'. */
    appName: string;
    environmentId: pulumi.Input<string>;
    identityId: pulumi.Input<string>;
    loginServer: pulumi.Input<string>;
    /** The revision the app's template describes: the canary's when there is one, else the stable one's. */
    template: AppRevision;
    /** The traffic table the app's own PUT carries (lib/serving/traffic.ts declaredTraffic). */
    traffic: pulumi.Input<{ revisionName: string; weight: number; label?: string }[]>;
    /** Inactive revisions Azure keeps for a fast rollback. */
    maxInactiveRevisions: number;
    cpu: number;
    memoryGb: number;
    scale: { minReplicas: number; maxReplicas: number; concurrentRequests: number };
    env: ServingEnvVar[];
    access: AccessConfig;
    /** The scoring API's Entra registration: the app accepts only its tokens. */
    auth: ScoringApiAuth;
    /**
     * False when the app is created by this deployment: its ingress then admits no address until
     * the authentication config exists, and RevisionTraffic (after the auth config) opens it.
     */
    ingressOpen: boolean;
    tags: Record<string, string>;
}

/**
 * Until Entra authentication is on, a new app admits no caller. Container Apps denies every
 * address that no rule allows once any Allow rule exists ("Set up IP ingress restrictions in
 * Azure Container Apps"), and 192.0.2.0/32 is documentation space (RFC 5737) no request comes from.
 */
export const CLOSED_INGRESS = [{ name: "closed-until-auth", ipAddressRange: "192.0.2.0/32", action: "Allow" }] as const;

/** The configured allow-list as Container Apps rules (empty: any address, Entra still required). */
export function ipRestrictions(ipAllowList: readonly string[]): { name: string; ipAddressRange: string; action: "Allow" }[] {
    return ipAllowList.map((range, i) => ({ name: `allow-${i + 1}`, ipAddressRange: range.includes("/") ? range : `${range}/32`, action: "Allow" as const }));
}

export interface TrafficEntry {
    revision: string;
    weight: number;
    /** Each label gets its own URL (`<app>---<label>.<environment domain>`), to test a revision directly. */
    label: "stable" | "canary";
}

/**
 * The traffic split: everything to the stable revision, or `100 - weight` to it and `weight` to
 * the canary. Revisions are named, never "latest", so a revision that is still starting gets no
 * traffic until Container Apps reports it ready, and a rollback is a shift back by name.
 */
export function trafficSplit(appName: string, stableSuffix: string, canary?: { suffix: string; weight: number }): TrafficEntry[] {
    const stable = `${appName}--${stableSuffix}`;
    if (!canary || canary.suffix === stableSuffix) return [{ revision: stable, weight: 100, label: "stable" }];
    return [
        { revision: stable, weight: 100 - canary.weight, label: "stable" },
        { revision: `${appName}--${canary.suffix}`, weight: canary.weight, label: "canary" },
    ];
}

/** Kebab-case names for Container Apps secrets (a revision's spec holds a hash of it, never the value). */
export function secretName(envName: string): string {
    return envName.toLowerCase().replace(/_/g, "-");
}

/** The environment every model's app runs in, with its logs in a Log Analytics workspace. */
export function containerAppsEnvironment(
    name: string,
    args: { resourceGroupName: pulumi.Input<string>; location: string; logRetentionDays: number; tags: Record<string, string> },
    opts: pulumi.CustomResourceOptions,
): { environmentId: pulumi.Output<string>; logsWorkspaceId: pulumi.Output<string>; logsCustomerId: pulumi.Output<string> } {
    // Once per stack, in every preview, plan and up: the app's resources use the SDK's API version.
    const versionWarning = appApiVersionWarning(CONTAINER_APP_SDK_API_VERSION.containerApp, CONTAINER_APP_SDK_API_VERSION.authConfig);
    if (versionWarning) pulumi.log.warn(versionWarning, opts.parent);
    const logs = new operationalinsights.Workspace(
        `${name}-logs`,
        {
            resourceGroupName: args.resourceGroupName,
            location: args.location,
            sku: { name: "PerGB2018" },
            retentionInDays: args.logRetentionDays,
            tags: args.tags,
        },
        opts,
    );
    const environment = new app.ManagedEnvironment(
        `${name}-env`,
        {
            resourceGroupName: args.resourceGroupName,
            location: args.location,
            workloadProfiles: [{ name: "Consumption", workloadProfileType: "Consumption" }],
            // Logs go through Azure Monitor diagnostic settings: no workspace key to hand over.
            appLogsConfiguration: { destination: "azure-monitor" },
            tags: args.tags,
        },
        opts,
    );
    new monitor.DiagnosticSetting(
        `${name}-env-logs`,
        {
            resourceUri: environment.id,
            workspaceId: logs.id,
            // Resource-specific tables (ContainerAppConsoleLogs, ContainerAppSystemLogs), which the
            // alerts and the dashboard query; unset, Azure Monitor's default is the AzureDiagnostics table.
            logAnalyticsDestinationType: "Dedicated",
            logs: [{ categoryGroup: "allLogs", enabled: true }],
        },
        opts,
    );
    // customerId: the workspace's GUID, which the Log Analytics query API addresses it by.
    return { environmentId: environment.id, logsWorkspaceId: logs.id, logsCustomerId: logs.customerId };
}

/**
 * A container app serving one model. Any change of a revision's spec is a new revision (the suffix
 * is a function of the whole spec); the traffic table is what ModelServing declares for the PUT,
 * and RevisionTraffic moves it to new revisions once they are ready.
 */
export function containerAppScoringService(
    name: string,
    args: ContainerAppServiceArgs,
    opts: pulumi.CustomResourceOptions,
): { scoringUri: pulumi.Output<string>; appId: pulumi.Output<string>; app: app.ContainerApp; authConfig: app.ContainerAppsAuthConfig } {
    const template = args.template;
    const secrets = args.env.filter((v) => v.secret);
    const { access } = args;
    const containerApp = new app.ContainerApp(
        name,
        {
            containerAppName: args.appName,
            resourceGroupName: args.resourceGroupName,
            location: args.location,
            managedEnvironmentId: args.environmentId,
            workloadProfileName: "Consumption",
            identity: { type: "UserAssigned", userAssignedIdentities: [args.identityId] },
            configuration: {
                // Always Multiple: switching an existing app to Single has been reported to leave it
                // not started. Traffic moves by name, only to ready revisions (RevisionTraffic).
                activeRevisionsMode: "Multiple",
                maxInactiveRevisions: args.maxInactiveRevisions,
                registries: [{ server: args.loginServer, identity: args.identityId }],
                secrets: secrets.map((v) => ({ name: secretName(v.name), value: v.value })),
                ingress: {
                    external: access.ingress === "external",
                    targetPort: SCORING_PORT,
                    transport: "http",
                    // HTTPS only: plain HTTP is refused, not redirected.
                    allowInsecure: false,
                    traffic: args.traffic,
                    ipSecurityRestrictions: args.ingressOpen ? ipRestrictions(access.ipAllowList) : CLOSED_INGRESS.map((r) => ({ ...r })),
                },
            },
            template: {
                revisionSuffix: template.suffix,
                containers: [
                    {
                        name: "scoring",
                        image: template.image,
                        resources: { cpu: args.cpu, memory: `${args.memoryGb}Gi` },
                        env: args.env.map((v) => (v.secret ? { name: v.name, secretRef: secretName(v.name) } : { name: v.name, value: v.value })),
                        probes: CONTAINER_APP_PROBES.map((probe) => ({ ...probe, httpGet: { ...probe.httpGet } })),
                    },
                ],
                scale: {
                    minReplicas: args.scale.minReplicas,
                    maxReplicas: args.scale.maxReplicas,
                    rules: [{ name: "http-concurrency", http: { metadata: { concurrentRequests: String(args.scale.concurrentRequests) } } }],
                },
            },
            tags: args.tags,
        },
        opts,
    );

    // A separate ARM child (authConfigs/current) that needs the app: created right after it, while
    // the new app's ingress still admits nobody (CLOSED_INGRESS).
    const authConfig = new app.ContainerAppsAuthConfig(
        `${name}-auth`,
        {
            authConfigName: "current",
            containerAppName: containerApp.name,
            resourceGroupName: args.resourceGroupName,
            platform: { enabled: true },
            // An API: callers without a valid token get 401, never a login redirect.
            globalValidation: { unauthenticatedClientAction: "Return401" },
            identityProviders: {
                azureActiveDirectory: {
                    enabled: true,
                    // v2 issuer, matching the registration's requestedAccessTokenVersion 2.
                    registration: { clientId: args.auth.clientId, openIdIssuer: args.auth.issuer },
                    // No defaultAuthorizationPolicy and no jwtClaimChecks, on purpose: who may call is
                    // decided by Entra, which issues this API's tokens only to principals assigned
                    // Scoring.Invoke (users, group members, applications, managed identities alike).
                    // allowedApplications would refuse user tokens obtained through the Azure CLI (their
                    // azp is the CLI's id); allowedPrincipals.identities matches a token's own oid, not
                    // its groups, and allowedPrincipals.groups / jwtClaimChecks.allowedGroups need the
                    // `groups` claim, which a token omits past 200 groups (overage): both would refuse
                    // scoring clients that hold the role through a group.
                    validation: { allowedAudiences: args.auth.audiences },
                },
            },
        },
        { ...opts, parent: opts.parent, dependsOn: [containerApp] },
    );

    const fqdn = containerApp.configuration.apply((c) => {
        if (!c?.ingress?.fqdn) throw new Error(`container app ${args.appName} has no ingress host name`);
        return c.ingress.fqdn;
    });
    return { scoringUri: pulumi.interpolate`https://${fqdn}/invocations`, appId: containerApp.id, app: containerApp, authConfig };
}
