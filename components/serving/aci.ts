// The Azure Container Instances back end: one container group per served model.
import * as pulumi from "@pulumi/pulumi";
import * as containerinstance from "@pulumi/azure-native/containerinstance";
import type { ServingEnvVar } from "./environment";

export const SCORING_PORT = 8080;

/**
 * The model is in the image, so /ping only waits for the scoring server to load local files:
 * seconds, not the minutes a registry download took. Readiness is checked from 5 s on; liveness
 * starts after a minute so a slow import (large libraries) is not killed while loading.
 */
export const ACI_PROBES = {
    readiness: { httpGet: { path: "/ping", port: SCORING_PORT, scheme: "http" }, initialDelaySeconds: 5, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3 },
    liveness: { httpGet: { path: "/health", port: SCORING_PORT, scheme: "http" }, initialDelaySeconds: 60, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 3 },
} as const;

export interface AciServiceArgs {
    location: string;
    resourceGroupName: pulumi.Input<string>;
    image: pulumi.Input<string>;
    loginServer: pulumi.Input<string>;
    identityId: pulumi.Input<string>;
    cpu: number;
    memoryGb: number;
    env: ServingEnvVar[];
    /** Globally unique in the region; a function of the whole spec, so it changes with every revision. */
    dnsNameLabel: pulumi.Input<string>;
    tags: Record<string, string>;
}

/**
 * A Linux container group running the scoring server, pulling its image by managed identity.
 *
 * ACI cannot change a running group's image, size, environment or probes: it recreates the group.
 * So a new revision (any of these) replaces the group create-before-delete, under a new DNS label (the old group
 * still holds the old one), and the old group serves until the new one exists. The scoring URI
 * therefore changes with each revision; clients read it from the stack output.
 */
export function aciScoringService(name: string, args: AciServiceArgs, opts: pulumi.CustomResourceOptions): { scoringUri: pulumi.Output<string> } {
    const group = new containerinstance.ContainerGroup(
        name,
        {
            resourceGroupName: args.resourceGroupName,
            location: args.location,
            osType: "Linux",
            sku: "Standard",
            restartPolicy: "Always",
            identity: { type: "UserAssigned", userAssignedIdentities: [args.identityId] },
            // Pulls by the user-assigned identity (ACI needs a user-assigned one for ACR pulls).
            imageRegistryCredentials: [{ server: args.loginServer, identity: args.identityId }],
            containers: [
                {
                    name: "scoring",
                    image: args.image,
                    ports: [{ port: SCORING_PORT, protocol: "TCP" }],
                    resources: { requests: { cpu: args.cpu, memoryInGB: args.memoryGb } },
                    environmentVariables: args.env.map((v) => (v.secret ? { name: v.name, secureValue: v.value } : { name: v.name, value: v.value })),
                    readinessProbe: ACI_PROBES.readiness,
                    livenessProbe: ACI_PROBES.liveness,
                },
            ],
            ipAddress: { type: "Public", dnsNameLabel: args.dnsNameLabel, ports: [{ port: SCORING_PORT, protocol: "TCP" }] },
            tags: args.tags,
        },
        { ...opts, replaceOnChanges: ["containers", "ipAddress"], deleteBeforeReplace: false },
    );
    return {
        scoringUri: group.ipAddress.apply((ip) => {
            if (!ip?.fqdn) throw new Error(`container group ${name} has no public DNS name`);
            return `http://${ip.fqdn}:${SCORING_PORT}/invocations`;
        }),
    };
}
