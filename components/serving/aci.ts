// The Azure Container Instances back end: one container group per served model.
import * as pulumi from "@pulumi/pulumi";
import * as containerinstance from "@pulumi/azure-native/containerinstance";
import type { ServingEnvVar } from "./environment";

export const SCORING_PORT = 8080;

export interface AciServiceArgs {
    location: string;
    resourceGroupName: pulumi.Input<string>;
    image: pulumi.Input<string>;
    loginServer: pulumi.Input<string>;
    identityId: pulumi.Input<string>;
    cpu: number;
    memoryGb: number;
    env: ServingEnvVar[];
    /** Globally unique in the region; it changes with every revision (see below). */
    dnsNameLabel: pulumi.Input<string>;
    tags: Record<string, string>;
}

/**
 * A Linux container group running the scoring server, pulling its image by managed identity.
 *
 * ACI cannot change a running group's image or size: it recreates the group. So a new revision
 * (image or size) replaces the group create-before-delete, under a new DNS label (the old group
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
            imageRegistryCredentials: [{ server: args.loginServer, identity: args.identityId }],
            containers: [
                {
                    name: "scoring",
                    image: args.image,
                    ports: [{ port: SCORING_PORT, protocol: "TCP" }],
                    resources: { requests: { cpu: args.cpu, memoryInGB: args.memoryGb } },
                    environmentVariables: args.env.map((v) => (v.secret ? { name: v.name, secureValue: v.value } : { name: v.name, value: v.value })),
                    // /ping answers once the model is loaded; loading includes fetching it from the registry.
                    readinessProbe: {
                        httpGet: { path: "/ping", port: SCORING_PORT, scheme: "http" },
                        initialDelaySeconds: 15,
                        periodSeconds: 10,
                        timeoutSeconds: 5,
                        failureThreshold: 3,
                    },
                    livenessProbe: {
                        httpGet: { path: "/health", port: SCORING_PORT, scheme: "http" },
                        initialDelaySeconds: 180,
                        periodSeconds: 30,
                        timeoutSeconds: 10,
                        failureThreshold: 3,
                    },
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
