import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerregistry from "@pulumi/azure-native/containerregistry";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import type { AccessConfig, ContainerRegistrySku, ServedModel, ServingPlatform } from "../../lib/config";
import { imageRepository, recipeDigest, type BuildCredential } from "../../lib/serving/image";
import { aciDnsLabel, revisionSuffix, type RevisionSpec } from "../../lib/serving/revision";
import { declaredTraffic, type RevisionState } from "../../lib/serving/traffic";
import { containerAppId } from "../../lib/azure/containerApps";
import { describeSelector, type RegistryKind, type Selector } from "../../lib/registry/types";
import { BUILT_IN_ROLES, roleDefinitionId, roleAssignmentNameOf } from "../../lib/azure/ids";
import { ModelVersion } from "../registry/modelVersion";
import { settled, unknownValue } from "../../lib/deployment/outputs";
import { ACI_PROBES, aciScoringService } from "./aci";
import { CONTAINER_APP_PROBES, containerAppScoringService, containerAppsEnvironment, ipRestrictions, trafficSplit, type TrafficEntry } from "./containerApp";
import { servingEnvironment, type ServingEnvVar } from "./environment";
import { Delay } from "./delay";
import { modelImage, type ImageRegistryAccess, type ModelImage } from "./modelImage";
import { RevisionTraffic } from "./revisionTraffic";
import type { ScoringApiAuth } from "../access/scoringApi";

export type ServedModelArgs = ServedModel;

/** How images are built: the recipe's folder and the credentials the build and push use. */
export interface ImageBuildArgs {
    /** The project folder holding `serving/` (the recipe is hashed from it). */
    projectDir: string;
    /** The model registry credential for the build's fetch step; undefined when not known here (the plan). */
    credential: BuildCredential | undefined;
    /** Container registry calls for a login server; undefined in the credential-free plan. */
    registryAccess?: (loginServer: string) => ImageRegistryAccess;
}

export interface ModelServingArgs {
    location: string;
    resourceGroupName: pulumi.Input<string>;
    /** Globally unique container registry name, 5-50 letters or digits. */
    containerRegistryName: string;
    containerRegistrySku: ContainerRegistrySku;
    /** Start of each model's DNS label; should be globally unique (the storage account name is). */
    dnsLabelPrefix: string;
    registry: { kind: RegistryKind; url: pulumi.Input<string> };
    models: ServedModelArgs[];
    platform: ServingPlatform;
    /** Container Apps: who may call the endpoints. */
    access: AccessConfig;
    /** Container Apps: the scoring API registration whose tokens the apps accept. */
    auth?: ScoringApiAuth;
    logRetentionDays: number;
    /** Prefix of container app names (`<prefix>-<model>`), unique in the resource group. */
    appNamePrefix: string;
    images: ImageBuildArgs;
    /** Container Apps: inactive revisions Azure keeps for a fast rollback. */
    maxInactiveRevisions: number;
    /** Reads an app's revisions as Azure has them; absent in the credential-free plan. */
    rollout?: RevisionReader;
    tags: Record<string, string>;
}

/** The live state a rollout starts from. */
export interface RevisionReader {
    /** The app's revisions, or undefined when Azure says it does not exist; throws on any other failure. */
    revisions(appId: string): Promise<RevisionState[] | undefined>;
    /**
     * Whether the app's Entra authentication config exists and refuses anonymous requests. Absent:
     * not known, so the app's PUT keeps the ingress closed and RevisionTraffic opens it.
     */
    authConfigured?(appId: string): Promise<boolean>;
}

/** How long a new revision may take to become ready before `pulumi up` fails (image pull and model load). */
export const REVISION_READY_TIMEOUT_SECONDS = 15 * 60;
/**
 * A new AcrPull role assignment takes up to about ten minutes to reach ACR: the first container
 * group or revision waits that long after it is created (once; it overlaps the image build).
 */
export const ROLE_PROPAGATION_SECONDS = 600;

export interface ServedModelOutputs {
    version: pulumi.Output<string>;
    modelUri: pulumi.Output<string>;
    /** `<registry>/models/<service>:<model>-v<version>-<recipe>` */
    image: pulumi.Output<string>;
    /** Container Apps revision suffix or ACI DNS label of what serves now. */
    revision: pulumi.Output<string>;
    scoringUri: pulumi.Output<string>;
    /** Container Apps: the active revisions and their traffic weights. */
    traffic?: pulumi.Output<TrafficEntry[]>;
}

/** What a reviewer needs to see per model, in plain values that a preview knows. */
export function servingSummary(served: ServedModelArgs, args: Pick<ModelServingArgs, "platform" | "access" | "maxInactiveRevisions">): Record<string, unknown> {
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
        // serving.maxInactiveRevisions: shown per app, since the app's configuration is unknown in a preview.
        maxInactiveRevisions: args.maxInactiveRevisions,
        traffic: served.canary
            ? `${100 - served.canary.weight}% stable (${describe(served.selector)}), ${served.canary.weight}% canary (${describe(served.canary.selector)})`
            : `100% stable (${describe(served.selector)})`,
        ingress: `${access.ingress}, HTTPS only`,
        ipAllowList: access.ipAllowList.length ? access.ipAllowList.join(", ") : "any address",
        entra: "required: tokens of the stack's scoring API with the Scoring.Invoke role (401 without)",
    };
}

/** The parts of a revision's spec that are the same for every version of one model entry. */
function envSpec(env: ServingEnvVar[]): RevisionSpec["env"] {
    // Every value here is a plain string today; a secret would enter by a hash of its value.
    return env.map((v) => ({ name: v.name, value: String(v.value) }));
}

/** A resolved version, its image, and the revision that runs it. */
interface VersionRevision {
    version: ModelVersion;
    /** undefined when the registry cannot be asked yet (a preview before the registry exists). */
    resolved?: string;
    image?: ModelImage;
    suffix?: string;
}

/**
 * Serves registry model versions as HTTP scoring endpoints: a container registry (admin user off),
 * a managed identity that pulls from it, one self-contained image per model version, and one
 * service per model on the configured platform.
 *
 * Construct it with `ModelServing.create`: image tags, revision names and whether an image must be
 * built depend on the resolved version, and Pulumi resource names and the set of resources must be
 * plain values, so the component waits for each ModelVersion before declaring what serves it.
 */
export class ModelServing extends pulumi.ComponentResource {
    readonly loginServer: pulumi.Output<string>;
    /** The container registry's ARM id (deployers get AcrPush on it). */
    readonly registryId: pulumi.Output<string>;
    readonly identityId: pulumi.Output<string>;
    readonly models: Record<string, ServedModelOutputs> = {};
    private readonly registry: containerregistry.Registry;
    private readonly acrPull: authorization.RoleAssignment;
    /** The AcrPull assignment, once it has had time to propagate. */
    private readonly pullReady: pulumi.Resource;
    private readonly environmentId?: pulumi.Output<string>;

    static async create(name: string, args: ModelServingArgs, opts?: pulumi.ComponentResourceOptions): Promise<ModelServing> {
        const serving = new ModelServing(name, args, opts);
        await serving.serveModels(name, args);
        return serving;
    }

    private constructor(name: string, args: ModelServingArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:serving:ModelServing", name, {}, opts);

        this.registry = new containerregistry.Registry(
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
        const acrPullRole = roleDefinitionId(this.registry.id, BUILT_IN_ROLES.acrPull);
        this.acrPull = new authorization.RoleAssignment(
            `${name}-acr-pull`,
            {
                roleAssignmentName: roleAssignmentNameOf(identity.principalId, acrPullRole, this.registry.id),
                principalId: identity.principalId,
                principalType: "ServicePrincipal",
                roleDefinitionId: acrPullRole,
                scope: this.registry.id,
                description: "Serving containers pull model images",
            },
            { parent: this, deleteBeforeReplace: true },
        );
        this.pullReady = new Delay(`${name}-acr-pull-propagation`, { seconds: ROLE_PROPAGATION_SECONDS, reason: "AcrPull role assignment propagation" }, { parent: this, dependsOn: [this.acrPull] });
        this.loginServer = this.registry.loginServer;
        this.registryId = this.registry.id;
        this.identityId = identity.id;
        if (args.platform === "containerapp" && args.models.length > 0) {
            this.environmentId = containerAppsEnvironment(
                `${name}-apps`,
                { resourceGroupName: args.resourceGroupName, location: args.location, logRetentionDays: args.logRetentionDays, tags: args.tags },
                { parent: this },
            ).environmentId;
        }
    }

    /**
     * The SDK calls `registerOutputs()` with no outputs as soon as the (synchronous) constructor has
     * run; this component registers its outputs once, when `serveModels` has declared every model.
     */
    override registerOutputs(outputs?: pulumi.Inputs | Promise<pulumi.Inputs> | pulumi.Output<pulumi.Inputs>): void {
        if (outputs) super.registerOutputs(outputs);
    }

    /**
     * The app's ARM id when everything in it is known here (not in the plan, not before its group
     * exists). A failure to learn the subscription fails the run: taking the app for a new one would
     * send its PUT's traffic straight to a revision that is not ready.
     */
    private async appIdOf(args: ModelServingArgs, appName: string): Promise<string | undefined> {
        if (!args.rollout) return undefined;
        const group = await settled(pulumi.output(args.resourceGroupName));
        if (!group) return undefined;
        let subscriptionId: string;
        try {
            // The subscription the azure-native provider deploys to.
            ({ subscriptionId } = await authorization.getClientConfig({ parent: this }));
        } catch (err) {
            throw new Error(
                `container app ${appName}: cannot learn the subscription it is deployed to (azure-native getClientConfig: ${String((err as Error)?.message || "failed with no message").split("\n")[0]}), ` +
                    "so its live revisions cannot be read and nothing is changed. Check the Azure sign-in (az login, or ARM_* variables) and run `pulumi up` again.",
            );
        }
        if (!subscriptionId) throw new Error(`container app ${appName}: azure-native getClientConfig gave no subscription id, so its live revisions cannot be read; nothing is changed`);
        return containerAppId(subscriptionId, group, appName);
    }

    /** The live app, read before its PUT; a read that fails (other than "does not exist") fails the run. */
    private async liveApp(args: ModelServingArgs, appId: string, appName: string): Promise<{ revisions?: RevisionState[]; authConfigured: boolean }> {
        try {
            const revisions = await args.rollout!.revisions(appId);
            const authConfigured = revisions !== undefined && args.rollout!.authConfigured ? await args.rollout!.authConfigured(appId) : false;
            return { revisions, authConfigured };
        } catch (err) {
            throw new Error(
                `container app ${appName}: cannot read it as Azure has it (${(err as Error).message}). Nothing is changed: ` +
                    "a rollout starts from the live revisions and never treats an app it cannot read as new. Run `pulumi up` again.",
            );
        }
    }

    private async serveModels(name: string, args: ModelServingArgs): Promise<void> {
        const recipe = recipeDigest(args.images.projectDir);
        // ACR's login server is the registry name in lowercase under azurecr.io (Azure public cloud),
        // so image references are plain values even before the registry exists.
        const loginServer = `${args.containerRegistryName.toLowerCase()}.azurecr.io`;
        // Known once the registry exists: in an update always, in a preview after the first deploy.
        const registryExists = (await settled(this.registry.loginServer)) !== undefined;
        const access = registryExists ? args.images.registryAccess?.(loginServer) : undefined;
        const summary: Record<string, unknown> = {};

        for (const served of args.models) {
            const serviceName = `${name}-${served.name}`;
            const env = servingEnvironment(served.workers);
            const imageOf = async (role: string, selector: Selector, shared?: VersionRevision): Promise<VersionRevision> => {
                const version = new ModelVersion(
                    `${serviceName}${role}-version`,
                    { registryKind: args.registry.kind, registryUrl: args.registry.url, model: served.model, selector },
                    { parent: this },
                );
                const resolved = await settled(version.version);
                // A canary on the stable version reuses the stable image: one tag, one build.
                if (resolved !== undefined && shared?.resolved === resolved) return { ...shared, version };
                const image = await modelImage(
                    `${serviceName}-image`,
                    {
                        service: served.name,
                        model: served.model,
                        version: resolved,
                        recipe,
                        registryKind: args.registry.kind,
                        registryUrl: pulumi.output(args.registry.url),
                        loginServer,
                        access,
                        credential: args.images.credential,
                        dependsOn: [this.registry],
                    },
                    this,
                );
                return { version, resolved, image };
            };
            const stable = await imageOf("", served.selector);
            const canary = served.canary ? await imageOf("-canary", served.canary.selector, stable) : undefined;

            // Everything that makes a revision, as the platform receives it.
            const specOf = (revision: VersionRevision): RevisionSpec | undefined =>
                revision.image?.tag === undefined
                    ? undefined
                    : {
                          image: `${imageRepository(served.name)}:${revision.image.tag}`,
                          env: envSpec(env),
                          cpu: served.cpu,
                          memoryGb: served.memoryGb,
                          workers: served.workers,
                          probes: args.platform === "aci" ? ACI_PROBES : CONTAINER_APP_PROBES,
                          scale: args.platform === "containerapp" ? served.scale : undefined,
                      };
            const builds = [stable, canary].map((r) => r?.image?.build).filter((b): b is NonNullable<typeof b> => b !== undefined);
            const imageRef = (revision: VersionRevision) => revision.image?.ref ?? unknownValue();

            let scoringUri: pulumi.Output<string>;
            let revisionName: pulumi.Output<string>;
            let traffic: pulumi.Output<TrafficEntry[]> | undefined;
            // The traffic table in plain words, when every revision name is known (also in a preview).
            let trafficTable: string | undefined;
            if (this.environmentId) {
                const appName = `${args.appNamePrefix}-${served.name}`;
                const suffixOf = (revision: VersionRevision) => {
                    const spec = specOf(revision);
                    return spec && revision.resolved ? revisionSuffix(revision.resolved, spec) : undefined;
                };
                const template = canary ?? stable;
                const stableSuffix = suffixOf(stable);
                const canarySuffix = canary ? suffixOf(canary) : undefined;
                // The app's template is the canary's revision when there is one.
                const templateSuffix = canary ? canarySuffix : stableSuffix;
                const known = stableSuffix !== undefined && (!canary || canarySuffix !== undefined);
                const target = known
                    ? trafficSplit(appName, stableSuffix!, served.canary && canarySuffix ? { suffix: canarySuffix, weight: served.canary.weight } : undefined)
                    : undefined;
                if (canary && served.canary && canary.resolved !== undefined && canary.resolved === stable.resolved) {
                    pulumi.log.warn(
                        `models[${served.name}].canary resolves to version ${canary.resolved}, the version the stable selector serves: ` +
                            "all traffic stays on one revision. Point the canary at the candidate version, or remove it.",
                        this,
                    );
                }
                const appId = target ? await this.appIdOf(args, appName) : undefined;
                const live = appId ? await this.liveApp(args, appId, appName) : undefined;
                const current = live?.revisions;
                const templateRevision = templateSuffix ? `${appName}--${templateSuffix}` : undefined;
                if (target && current) {
                    // Container Apps creates one revision per PUT (the template's): any other revision the
                    // target gives traffic must exist already.
                    const impossible = target.filter((t) => t.weight > 0 && t.revision !== templateRevision && !current.some((r) => r.name === t.revision));
                    if (impossible.length > 0) {
                        throw new Error(
                            `models[${served.name}]: the traffic would go to ${impossible.map((t) => t.revision).join(", ")}, which does not exist, ` +
                                "and one deployment creates only the canary's revision. A change to the stable revision's spec (size, scale, " +
                                "workers) while a canary runs cannot be deployed: promote or remove the canary first, then make the change.",
                        );
                    }
                }
                for (const revision of [stable, canary]) {
                    // A rollback normally finds its image in the registry; a rebuild is a new image.
                    if (revision?.image?.build && current?.some((r) => r.name.startsWith(`${appName}--v${revision.resolved}-`))) {
                        pulumi.log.warn(
                            `models[${served.name}]: the image of version ${revision.resolved} (${revision.image.tag}) is no longer in the container registry, ` +
                                "so it is rebuilt from the model registry's files: a new image, not the one that served before.",
                            this,
                        );
                    }
                }
                const declared = target ? declaredTraffic(current, target) : undefined;
                if (!args.auth) throw new Error(`models[${served.name}]: Container Apps serving needs the scoring API's Entra registration (ModelServingArgs.auth)`);
                // The ingress is open in the app's PUT only when its Entra authentication config exists
                // already. A new app, one whose auth config is missing (a first run that failed at it),
                // or one not read here (the plan) is PUT closed; RevisionTraffic, after the auth
                // config, checks it exists and opens the ingress.
                const ingressOpen = current !== undefined && live?.authConfigured === true;
                const service = containerAppScoringService(
                    `${serviceName}-app`,
                    {
                        resourceGroupName: args.resourceGroupName,
                        location: args.location,
                        appName,
                        environmentId: this.environmentId,
                        identityId: this.identityId,
                        loginServer,
                        template: { suffix: templateSuffix ?? unknownValue(), image: imageRef(template) },
                        traffic: declared ? declared.table : (unknownValue() as unknown as pulumi.Output<{ revisionName: string; weight: number }[]>),
                        maxInactiveRevisions: args.maxInactiveRevisions,
                        cpu: served.cpu,
                        memoryGb: served.memoryGb,
                        scale: served.scale,
                        env,
                        access: args.access,
                        auth: args.auth,
                        ingressOpen,
                        tags: args.tags,
                    },
                    { parent: this, dependsOn: [this.registry, this.pullReady, ...builds] },
                );
                scoringUri = service.scoringUri;
                if (target) {
                    // Moves the traffic to the target once its revisions are ready; deactivates the rest.
                    new RevisionTraffic(
                        `${serviceName}-traffic`,
                        {
                            appId: service.appId,
                            target,
                            readyTimeoutSeconds: REVISION_READY_TIMEOUT_SECONDS,
                            ipSecurityRestrictions: ipRestrictions(args.access.ipAllowList),
                            ingressClosedByApp: !ingressOpen,
                        },
                        // After the auth config: opening the ingress of a new app must come second.
                        { parent: this, dependsOn: [service.app, service.authConfig] },
                    );
                    traffic = pulumi.output(target);
                    trafficTable = target.map((e) => `${e.weight}% ${e.revision} (${e.label})`).join(", ");
                } else {
                    traffic = unknownValue() as unknown as pulumi.Output<TrafficEntry[]>;
                }
                revisionName = templateSuffix ? pulumi.output(templateSuffix) : unknownValue();
            } else {
                const spec = specOf(stable);
                const label = spec && stable.resolved ? aciDnsLabel(args.dnsLabelPrefix, served.name, stable.resolved, spec) : undefined;
                scoringUri = aciScoringService(
                    `${serviceName}-aci`,
                    {
                        location: args.location,
                        resourceGroupName: args.resourceGroupName,
                        image: imageRef(stable),
                        loginServer,
                        identityId: this.identityId,
                        cpu: served.cpu,
                        memoryGb: served.memoryGb,
                        env,
                        dnsNameLabel: label ?? unknownValue(),
                        tags: args.tags,
                    },
                    { parent: this, dependsOn: [this.registry, this.pullReady, ...builds] },
                ).scoringUri;
                revisionName = label ? pulumi.output(label) : unknownValue();
            }
            this.models[served.name] = {
                version: stable.version.version,
                modelUri: stable.version.modelUri,
                image: imageRef(stable),
                revision: revisionName,
                scoringUri,
                ...(traffic ? { traffic } : {}),
            };
            summary[served.name] = {
                ...servingSummary(served, args),
                image: stable.image?.tag
                    ? `${imageRepository(served.name)}:${stable.image.tag}${stable.image.build ? " (built in this deployment)" : " (already in the registry: reused)"}`
                    : `${imageRepository(served.name)}:<model>-v<version>-${recipe} (the version is known after the registry answers)`,
                ...(trafficTable ? { revisions: trafficTable } : {}),
            };
        }

        this.registerOutputs({ loginServer: this.loginServer, identityId: this.identityId, models: this.models, summary });
    }
}
