import { createHash } from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerregistry from "@pulumi/azure-native/containerregistry";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as docker from "@pulumi/docker";
import type { AccessConfig, ContainerRegistrySku, ServedModel, ServingPlatform } from "../../lib/config";
import { describeSelector, type Selector } from "../../lib/registry/types";
import { BUILT_IN_ROLES, roleDefinitionId } from "../azureIds";
import { ModelVersion } from "../modelVersion";
import { aciScoringService } from "./aci";
import { containerAppScoringService, containerAppsEnvironment, type TrafficEntry } from "./containerApp";
import { servingEnvironment, type RegistryAccess } from "./environment";

/**
 * The build context with the Dockerfile, relative to the project folder (where Pulumi runs the
 * program), so state does not record a machine-specific path.
 */
export const SERVING_IMAGE_CONTEXT = "serving";

export type ServedModelArgs = ServedModel;

export interface ModelServingArgs {
    location: string;
    resourceGroupName: pulumi.Input<string>;
    /** Globally unique container registry name, 5-50 letters or digits. */
    containerRegistryName: string;
    containerRegistrySku: ContainerRegistrySku;
    /** Start of each model's DNS label; should be globally unique (the storage account name is). */
    dnsLabelPrefix: string;
    registry: RegistryAccess;
    models: ServedModelArgs[];
    platform: ServingPlatform;
    /** Container Apps: who may call the endpoints. */
    access: AccessConfig;
    logRetentionDays: number;
    /** Prefix of container app names (`<prefix>-<model>`), unique in the resource group. */
    appNamePrefix: string;
    tags: Record<string, string>;
}

export interface ServedModelOutputs {
    version: pulumi.Output<string>;
    modelUri: pulumi.Output<string>;
    /** `<registry>/models/<service>:<model>-v<version>` */
    image: pulumi.Output<string>;
    scoringUri: pulumi.Output<string>;
    /** Container Apps: the active revisions and their traffic weights. */
    traffic?: pulumi.Output<TrafficEntry[]>;
}

/** What a reviewer needs to see per model, in plain values that a preview knows. */
export function servingSummary(served: ServedModelArgs, args: Pick<ModelServingArgs, "platform" | "access">): Record<string, unknown> {
    const describe = (selector: Selector) => describeSelector(selector);
    const common = { platform: args.platform, model: served.model, cpu: served.cpu, memoryGb: served.memoryGb, workers: served.workers };
    if (args.platform === "aci") {
        return { ...common, selector: describe(served.selector), endpoint: "public HTTP on port 8080, new DNS label per revision (create before delete)" };
    }
    const { access } = args;
    return {
        ...common,
        replicas: `${served.scale.minReplicas}-${served.scale.maxReplicas}`,
        scaleRule: `http, ${served.scale.concurrentRequests} concurrent requests per replica`,
        revisionMode: "Multiple",
        traffic: served.canary
            ? `${100 - served.canary.weight}% stable (${describe(served.selector)}), ${served.canary.weight}% canary (${describe(served.canary.selector)})`
            : `100% stable (${describe(served.selector)})`,
        ingress: `${access.ingress}, HTTPS only`,
        ipAllowList: access.ipAllowList.length ? access.ipAllowList.join(", ") : "any address",
        entra: access.entra ? `required, audiences ${access.entra.audiences.join(", ")}` : "off",
    };
}

/** Docker tags allow letters, digits, '_', '.' and '-'. */
export function imageTag(model: string, version: string): string {
    return `${model.replace(/[^A-Za-z0-9_.-]/g, "-")}-v${version}`.slice(0, 128);
}

/** A short digest of what makes a revision: the image and the size. */
export function revisionHash(parts: readonly (string | number)[]): string {
    return createHash("sha256").update(parts.join("|")).digest("hex").slice(0, 8);
}

/**
 * Serves registry model versions as HTTP scoring endpoints: a container registry (admin user off),
 * a managed identity that pulls from it, one image per resolved model version, and one service
 * per model on the configured platform.
 */
export class ModelServing extends pulumi.ComponentResource {
    readonly loginServer: pulumi.Output<string>;
    readonly identityId: pulumi.Output<string>;
    readonly models: Record<string, ServedModelOutputs>;

    constructor(name: string, args: ModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:serving:ModelServing", name, {}, opts);

        const registry = new containerregistry.Registry(
            `${name}-registry`,
            {
                registryName: args.containerRegistryName,
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                sku: { name: args.containerRegistrySku },
                // No shared admin password: pushes use the deployer's Entra login, pulls the identity.
                adminUserEnabled: false,
                tags: args.tags,
            },
            { parent: this },
        );
        const identity = new managedidentity.UserAssignedIdentity(
            `${name}-identity`,
            { resourceGroupName: args.resourceGroupName, location: args.location, tags: args.tags },
            { parent: this },
        );
        const acrPull = new authorization.RoleAssignment(
            `${name}-acr-pull`,
            {
                principalId: identity.principalId,
                principalType: "ServicePrincipal",
                roleDefinitionId: roleDefinitionId(registry.id, BUILT_IN_ROLES.acrPull),
                scope: registry.id,
                description: "Serving containers pull model images",
            },
            { parent: this },
        );

        this.loginServer = registry.loginServer;
        this.identityId = identity.id;
        this.models = {};
        const environment =
            args.platform === "containerapp" && args.models.length > 0
                ? containerAppsEnvironment(
                      `${name}-apps`,
                      { resourceGroupName: args.resourceGroupName, location: args.location, logRetentionDays: args.logRetentionDays, tags: args.tags },
                      { parent: this },
                  )
                : undefined;

        for (const served of args.models) {
            const serviceName = `${name}-${served.name}`;
            const stable = this.versionImage(`${serviceName}`, served, served.selector, args, registry.loginServer);
            const env = servingEnvironment(args.registry, identity.clientId, served.workers);
            const size = [served.cpu, served.memoryGb, served.workers];
            let scoringUri: pulumi.Output<string>;
            let traffic: pulumi.Output<TrafficEntry[]> | undefined;
            if (environment) {
                const canary = served.canary ? this.versionImage(`${serviceName}-canary`, served, served.canary.selector, args, registry.loginServer) : undefined;
                const spec = (built: typeof stable) => ({
                    version: built.version.version,
                    image: built.image.repoDigest,
                    hash: built.image.repoDigest.apply((digest) => revisionHash([digest, ...size])),
                });
                const service = containerAppScoringService(
                    `${serviceName}-app`,
                    {
                        resourceGroupName: args.resourceGroupName,
                        location: args.location,
                        appName: `${args.appNamePrefix}-${served.name}`,
                        environmentId: environment.environmentId,
                        identityId: identity.id,
                        loginServer: registry.loginServer,
                        stable: spec(stable),
                        canary: canary && served.canary ? { ...spec(canary), weight: served.canary.weight } : undefined,
                        cpu: served.cpu,
                        memoryGb: served.memoryGb,
                        scale: served.scale,
                        env,
                        access: args.access,
                        tags: args.tags,
                    },
                    { parent: this, dependsOn: [acrPull] },
                );
                scoringUri = service.scoringUri;
                traffic = service.traffic;
            } else {
                // Pin the container to the pushed digest, so any rebuild of the image rolls out.
                const revision = stable.image.repoDigest.apply((digest) => revisionHash([digest, ...size]));
                scoringUri = aciScoringService(
                    `${serviceName}-aci`,
                    {
                        location: args.location,
                        resourceGroupName: args.resourceGroupName,
                        image: stable.image.repoDigest,
                        loginServer: registry.loginServer,
                        identityId: identity.id,
                        cpu: served.cpu,
                        memoryGb: served.memoryGb,
                        env,
                        dnsNameLabel: pulumi.interpolate`${args.dnsLabelPrefix}-${served.name}-${revision}`,
                        tags: args.tags,
                    },
                    { parent: this, dependsOn: [acrPull] },
                ).scoringUri;
            }
            this.models[served.name] = {
                version: stable.version.version,
                modelUri: stable.version.modelUri,
                image: stable.image.imageName,
                scoringUri,
                ...(traffic ? { traffic } : {}),
            };
        }

        this.registerOutputs({
            loginServer: this.loginServer,
            identityId: this.identityId,
            models: this.models,
            summary: Object.fromEntries(args.models.map((served) => [served.name, servingSummary(served, args)])),
        });
    }

    /** The registry version a selector points at, and its serving image. */
    private versionImage(
        resourceName: string,
        served: ServedModelArgs,
        selector: Selector,
        args: ModelServingArgs,
        loginServer: pulumi.Output<string>,
    ): { version: ModelVersion; image: docker.Image } {
        const version = new ModelVersion(
            `${resourceName}-version`,
            { registryKind: args.registry.kind, registryUrl: args.registry.url, model: served.model, selector },
            { parent: this },
        );
        const image = new docker.Image(
            `${resourceName}-image`,
            {
                imageName: pulumi.interpolate`${loginServer}/models/${served.name}:${version.version.apply((v) => imageTag(served.model, v))}`,
                build: {
                    context: SERVING_IMAGE_CONTEXT,
                    dockerfile: path.posix.join(SERVING_IMAGE_CONTEXT, "Dockerfile"),
                    platform: "linux/amd64",
                    // Only the model URI: no credential goes into a build argument or a layer.
                    args: { MODEL_URI: version.modelUri },
                },
                // Push credentials come from the deployer's Docker credential store (`az acr login`).
                registry: { server: loginServer },
            },
            { parent: this },
        );
        return { version, image };
    }
}
