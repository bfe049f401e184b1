import { createHash } from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerregistry from "@pulumi/azure-native/containerregistry";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as docker from "@pulumi/docker";
import type { ContainerRegistrySku, ServingPlatform } from "../../lib/config";
import type { Selector } from "../../lib/registry/types";
import { BUILT_IN_ROLES, roleDefinitionId } from "../azureIds";
import { ModelVersion } from "../modelVersion";
import { aciScoringService } from "./aci";
import { servingEnvironment, type RegistryAccess } from "./environment";

/**
 * The build context with the Dockerfile, relative to the project folder (where Pulumi runs the
 * program), so state does not record a machine-specific path.
 */
export const SERVING_IMAGE_CONTEXT = "serving";

export interface ServedModelArgs {
    /** Service name: lowercase letters, digits and '-'. */
    name: string;
    /** Registered model name. */
    model: string;
    selector: Selector;
    cpu: number;
    memoryGb: number;
    workers: number;
}

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
    tags: Record<string, string>;
}

export interface ServedModelOutputs {
    version: pulumi.Output<string>;
    modelUri: pulumi.Output<string>;
    /** `<registry>/models/<service>:<model>-v<version>` */
    image: pulumi.Output<string>;
    scoringUri: pulumi.Output<string>;
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
        for (const served of args.models) {
            const serviceName = `${name}-${served.name}`;
            const version = new ModelVersion(
                `${serviceName}-version`,
                { registryKind: args.registry.kind, registryUrl: args.registry.url, model: served.model, selector: served.selector },
                { parent: this },
            );
            const imageName = pulumi.interpolate`${registry.loginServer}/models/${served.name}:${version.version.apply((v) => imageTag(served.model, v))}`;
            const image = new docker.Image(
                `${serviceName}-image`,
                {
                    imageName,
                    build: {
                        context: SERVING_IMAGE_CONTEXT,
                        dockerfile: path.posix.join(SERVING_IMAGE_CONTEXT, "Dockerfile"),
                        platform: "linux/amd64",
                        // Only the model URI: no credential goes into a build argument or a layer.
                        args: { MODEL_URI: version.modelUri },
                    },
                    // Push credentials come from the deployer's Docker credential store (`az acr login`).
                    registry: { server: registry.loginServer },
                },
                { parent: this },
            );
            const env = servingEnvironment(args.registry, identity.clientId, served.workers);
            // Pin the container to the pushed digest, so any rebuild of the image rolls out.
            const revision = image.repoDigest.apply((digest) => revisionHash([digest, served.cpu, served.memoryGb, served.workers]));
            const service = aciScoringService(
                `${serviceName}-aci`,
                {
                    location: args.location,
                    resourceGroupName: args.resourceGroupName,
                    image: image.repoDigest,
                    loginServer: registry.loginServer,
                    identityId: identity.id,
                    cpu: served.cpu,
                    memoryGb: served.memoryGb,
                    env,
                    dnsNameLabel: pulumi.interpolate`${args.dnsLabelPrefix}-${served.name}-${revision}`,
                    tags: args.tags,
                },
                { parent: this, dependsOn: [acrPull] },
            );
            this.models[served.name] = { version: version.version, modelUri: version.modelUri, image: image.imageName, scoringUri: service.scoringUri };
        }

        this.registerOutputs({ loginServer: this.loginServer, identityId: this.identityId, models: this.models });
    }
}
