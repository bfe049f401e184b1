import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import * as containerregistry from "@pulumi/azure-native/containerregistry";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import type { AccessConfig, ContainerRegistrySku, ServedModel, ServingPlatform } from "../../lib/config";
import { imageRepository, recipeDigest, type BuildCredential } from "../../lib/serving/image";
import { aciDnsLabel, revisionSuffix, secretRefFingerprint, type RevisionSpec } from "../../lib/serving/revision";
import { declaredTraffic, type RevisionState } from "../../lib/serving/traffic";
import { containerAppId } from "../../lib/azure/containerApps";
import { describeSelector, type RegistryKind, type Selector } from "../../lib/registry/types";
import { BUILT_IN_ROLES, roleDefinitionId, roleAssignmentNameOf } from "../../lib/azure/ids";
import { ModelVersion } from "../registry/modelVersion";
import { settled, unknownValue } from "../../lib/deployment/outputs";
import { ACI_PROBES, aciScoringService } from "./aci";
import { CONTAINER_APP_PROBES, containerAppScoringService, containerAppsEnvironment, ipRestrictions, secretName, trafficSplit, type TrafficEntry } from "./containerApp";
import { metricsExport, payloadLogClientId, revisionIdentity, servingEnvironment, type ServingEnvVar } from "./environment";
import { describePayloadLog, payloadLogOn, payloadLogVariables } from "../../lib/serving/payloadLog";
import { Delay } from "./delay";
import { modelImage, type ImageRegistryAccess, type ModelImage } from "./modelImage";
import { RevisionTraffic, type TrafficGuard } from "./revisionTraffic";
import { rolloutSummary, type RolloutConfig } from "../../lib/config/rollout";
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
    /** The model store's account, whose audit container keeps each guarded rollout's outcome. */
    auditAccountName?: string;
    /** serving.requireGuardedRollout: shown in the summary, where the prd policy reads it. */
    requireGuardedRollout?: boolean;
    /** Reads an app's revisions as Azure has them; absent in the credential-free plan. */
    rollout?: RevisionReader;
    /** Where the models' payload logs go (serving/payload_log.py); absent: no model logs payloads. */
    payloadLog?: PayloadLogDestination;
    /**
     * Application Insights' connection string: each revision exports its metrics there with
     * OpenTelemetry (serving/scoring_telemetry.py). Absent: no export (the /metrics endpoint stays).
     */
    metricsConnectionString?: pulumi.Input<string>;
    tags: Record<string, string>;
}

/** The model store's payloads container, which the serving identity alone may write to. */
export interface PayloadLogDestination {
    /** The model store account's name (a config value: the blob endpoint is derived from it). */
    accountName: string;
    /** The payloads container's ARM id: the scope of the identity's Storage Blob Data Contributor role. */
    containerId: pulumi.Input<string>;
    /** Days its blobs are kept (the store's lifecycle rule), for the plan. */
    retentionDays: number;
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
export function servingSummary(served: ServedModelArgs, args: Pick<ModelServingArgs, "platform" | "access" | "maxInactiveRevisions" | "requireGuardedRollout">): Record<string, unknown> {
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
        rollout: served.rollout ? rolloutSummary(served.rollout) : ONE_STEP_ROLLOUT,
        // serving.requireGuardedRollout: what the prd-guarded-rollout policy reads.
        guardedRolloutRequired: args.requireGuardedRollout === true,
    };
}

/** The summary's rollout of a model without models[].rollout (the policy recognises it). */
export const ONE_STEP_ROLLOUT = "one step: a new revision gets its traffic once ready (no rollout in config)";

/** The parts of a revision's spec that are the same for every version of one model entry. */
function envSpec(env: ServingEnvVar[]): RevisionSpec["env"] {
    // A secret enters by its name only (Container Apps keeps secrets at the app, not the revision):
    // a new value of it is no new revision; plain values as they are.
    return env.map((v) => (v.secret ? { name: v.name, secretRefSha256: secretRefFingerprint(secretName(v.name)) } : { name: v.name, value: String(v.value) }));
}

/** A resolved version, its image, and the revision that runs it. */
interface VersionRevision {
    version: ModelVersion;
    /** undefined when the registry cannot be asked yet (a preview before the registry exists). */
    resolved?: string;
    image?: ModelImage;
    suffix?: string;
}

/** What every model's images share: the recipe's digest, the registry's login server, push access once it exists. */
interface ImageContext {
    recipe: string;
    loginServer: string;
    access: ImageRegistryAccess | undefined;
}

/** One model entry on its way to being served: its versions and images, and its container's variables. */
interface ModelRevisions {
    served: ServedModelArgs;
    /** `<component>-<model>`: the start of every resource name of this model. */
    serviceName: string;
    env: ServingEnvVar[];
    /** Whether this model's revisions log payloads. */
    payloadLog: boolean;
    stable: VersionRevision;
    canary?: VersionRevision;
}

/** What serves a model now, as the component's outputs and summary show it. */
interface ServiceOutcome {
    scoringUri: pulumi.Output<string>;
    revisionName: pulumi.Output<string>;
    traffic?: pulumi.Output<TrafficEntry[]>;
    /** The traffic table in plain words, when every revision name is known (also in a preview). */
    trafficTable?: string;
}

/**
 * A revision's container variables: the model's, the revision's own identity for its request
 * records, and (payload log on) the client id of the identity the log signs in with. The client id
 * is an output of that identity and stays out of the revision's spec, as the identity does.
 */
function revisionEnv(model: ModelRevisions, revision: VersionRevision, identityClientId: pulumi.Output<string>): ServingEnvVar[] {
    return [
        ...model.env,
        ...revisionIdentity(model.served.model, revision.resolved ?? unknownValue(), revision.image?.tag ?? unknownValue()),
        ...(model.payloadLog ? payloadLogClientId(identityClientId) : []),
    ];
}

/** Everything that makes a revision, as the platform receives it; undefined while the image tag is unknown. */
function revisionSpecOf(model: ModelRevisions, revision: VersionRevision, platform: ServingPlatform): RevisionSpec | undefined {
    const { served } = model;
    if (revision.image?.tag === undefined) return undefined;
    return {
        image: `${imageRepository(served.name)}:${revision.image.tag}`,
        // (A spec whose version is not resolved yet names no revision: its suffix waits for the version.)
        env: envSpec([...model.env, ...revisionIdentity(served.model, revision.resolved ?? "", revision.image.tag)]),
        cpu: served.cpu,
        memoryGb: served.memoryGb,
        workers: served.workers,
        probes: platform === "aci" ? ACI_PROBES : CONTAINER_APP_PROBES,
        scale: platform === "containerapp" ? served.scale : undefined,
    };
}

function imageRef(revision: VersionRevision): pulumi.Output<string> {
    return revision.image?.ref ?? unknownValue();
}

/** The image builds of this run that the model's service must wait for. */
function buildsOf(model: ModelRevisions): pulumi.Resource[] {
    return [model.stable, model.canary].map((r) => r?.image?.build).filter((b): b is NonNullable<typeof b> => b !== undefined);
}

/** A Container Apps app's revisions as this deployment declares them, and the traffic target when every name is known. */
interface AppRevisions {
    appName: string;
    /** The app's template is the canary's revision when there is one. */
    templateSuffix?: string;
    templateRevision?: string;
    target?: TrafficEntry[];
}

function appRevisionsOf(model: ModelRevisions, args: ModelServingArgs): AppRevisions {
    const { served, stable, canary } = model;
    const appName = `${args.appNamePrefix}-${served.name}`;
    const suffixOf = (revision: VersionRevision) => {
        const spec = revisionSpecOf(model, revision, args.platform);
        return spec && revision.resolved ? revisionSuffix(revision.resolved, spec) : undefined;
    };
    const stableSuffix = suffixOf(stable);
    const canarySuffix = canary ? suffixOf(canary) : undefined;
    const templateSuffix = canary ? canarySuffix : stableSuffix;
    const known = stableSuffix !== undefined && (!canary || canarySuffix !== undefined);
    const target = known ? trafficSplit(appName, stableSuffix!, served.canary && canarySuffix ? { suffix: canarySuffix, weight: served.canary.weight } : undefined) : undefined;
    return { appName, templateSuffix, templateRevision: templateSuffix ? `${appName}--${templateSuffix}` : undefined, target };
}

/**
 * Container Apps creates one revision per PUT (the template's): any other revision the target gives
 * traffic must exist already.
 */
function refuseMissingTrafficRevisions(served: ServedModelArgs, app: AppRevisions, current: RevisionState[] | undefined): void {
    if (!app.target || !current) return;
    const impossible = app.target.filter((t) => t.weight > 0 && t.revision !== app.templateRevision && !current.some((r) => r.name === t.revision));
    if (impossible.length === 0) return;
    throw new Error(
        `models[${served.name}]: the traffic would go to ${impossible.map((t) => t.revision).join(", ")}, which does not exist, ` +
            "and one deployment creates only the canary's revision. A change to the stable revision's spec (size, scale, " +
            "workers) while a canary runs cannot be deployed: promote or remove the canary first, then make the change.",
    );
}

/** The per-model outputs of the component. */
function modelOutputs(stable: VersionRevision, outcome: ServiceOutcome): ServedModelOutputs {
    return {
        version: stable.version.version,
        modelUri: stable.version.modelUri,
        image: imageRef(stable),
        revision: outcome.revisionName,
        scoringUri: outcome.scoringUri,
        ...(outcome.traffic ? { traffic: outcome.traffic } : {}),
    };
}

/** The model's entry in the component's summary (what the plan and a preview show). */
function modelSummary(served: ServedModelArgs, args: ModelServingArgs, stable: VersionRevision, recipe: string, trafficTable: string | undefined): Record<string, unknown> {
    return {
        ...servingSummary(served, args),
        image: stable.image?.tag
            ? `${imageRepository(served.name)}:${stable.image.tag}${stable.image.build ? " (built in this deployment)" : " (already in the registry: reused)"}`
            : `${imageRepository(served.name)}:<model>-v<version>-${recipe} (the version is known after the registry answers)`,
        ...(trafficTable ? { revisions: trafficTable } : {}),
        payloadLog: args.payloadLog ? describePayloadLog(served, args.payloadLog.accountName, args.payloadLog.retentionDays) : "off (no destination)",
    };
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
    /** The serving identity's principal (observability gives it Monitoring Metrics Publisher). */
    readonly identityPrincipalId: pulumi.Output<string>;
    /** The identity's client id: the payload log and the metrics export sign in as it (ManagedIdentityCredential(client_id=...)). */
    readonly identityClientId: pulumi.Output<string>;
    readonly models: Record<string, ServedModelOutputs> = {};
    /** Container Apps: each served model's app, by model name (what its alerts watch). */
    readonly apps: Record<string, { appName: string; appId: pulumi.Output<string> }> = {};
    /** Container Apps: the Log Analytics workspace the environment's logs go to. */
    readonly logsWorkspaceId?: pulumi.Output<string>;
    /** Its GUID, by which a guarded rollout queries the request records. */
    readonly logsCustomerId?: pulumi.Output<string>;
    private readonly registry: containerregistry.Registry;
    private readonly acrPull: authorization.RoleAssignment;
    /** The AcrPull assignment, once it has had time to propagate. */
    private readonly pullReady: pulumi.Resource;
    /** The Container Apps environment (absent on ACI): scheduled jobs such as drift run in it. */
    readonly environmentId?: pulumi.Output<string>;

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
        // Write access to the payloads container only (not the account, not data or models), and
        // only when some model logs payloads.
        const payloadWriter =
            args.payloadLog && args.models.some(payloadLogOn)
                ? new authorization.RoleAssignment(
                      `${name}-payload-writer`,
                      {
                          roleAssignmentName: roleAssignmentNameOf(identity.principalId, roleDefinitionId(args.payloadLog.containerId, BUILT_IN_ROLES.storageBlobDataContributor), args.payloadLog.containerId),
                          principalId: identity.principalId,
                          principalType: "ServicePrincipal",
                          roleDefinitionId: roleDefinitionId(args.payloadLog.containerId, BUILT_IN_ROLES.storageBlobDataContributor),
                          scope: args.payloadLog.containerId,
                          description: "Serving containers write the payload log (sampled requests and predictions)",
                      },
                      { parent: this, deleteBeforeReplace: true },
                  )
                : undefined;
        this.pullReady = new Delay(
            `${name}-acr-pull-propagation`,
            { seconds: ROLE_PROPAGATION_SECONDS, reason: payloadWriter ? "AcrPull and payload log role assignment propagation" : "AcrPull role assignment propagation" },
            { parent: this, dependsOn: payloadWriter ? [this.acrPull, payloadWriter] : [this.acrPull] },
        );
        this.loginServer = this.registry.loginServer;
        this.registryId = this.registry.id;
        this.identityId = identity.id;
        this.identityPrincipalId = identity.principalId;
        this.identityClientId = identity.clientId;
        if (args.platform === "containerapp" && args.models.length > 0) {
            const environment = containerAppsEnvironment(
                `${name}-apps`,
                { resourceGroupName: args.resourceGroupName, location: args.location, logRetentionDays: args.logRetentionDays, tags: args.tags },
                { parent: this },
            );
            this.environmentId = environment.environmentId;
            this.logsWorkspaceId = environment.logsWorkspaceId;
            this.logsCustomerId = environment.logsCustomerId;
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
        const images = await this.imageContext(args);
        const summary: Record<string, unknown> = {};
        for (const served of args.models) {
            const model = await this.modelRevisions(`${name}-${served.name}`, served, args, images);
            const outcome = this.environmentId ? await this.serveOnContainerApps(model, args, images.loginServer) : this.serveOnAci(model, args, images.loginServer);
            this.models[served.name] = modelOutputs(model.stable, outcome);
            summary[served.name] = modelSummary(served, args, model.stable, images.recipe, outcome.trafficTable);
        }
        this.registerOutputs({ loginServer: this.loginServer, identityId: this.identityId, models: this.models, summary });
    }

    private async imageContext(args: ModelServingArgs): Promise<ImageContext> {
        const recipe = recipeDigest(args.images.projectDir);
        // ACR's login server is the registry name in lowercase under azurecr.io (Azure public cloud),
        // so image references are plain values even before the registry exists.
        const loginServer = `${args.containerRegistryName.toLowerCase()}.azurecr.io`;
        // Known once the registry exists: in an update always, in a preview after the first deploy.
        const registryExists = (await settled(this.registry.loginServer)) !== undefined;
        return { recipe, loginServer, access: registryExists ? args.images.registryAccess?.(loginServer) : undefined };
    }

    /** The model's stable version and image, and its canary's when it has one. */
    private async modelRevisions(serviceName: string, served: ServedModelArgs, args: ModelServingArgs, images: ImageContext): Promise<ModelRevisions> {
        const stable = await this.versionImage(serviceName, "", served, served.selector, args, images);
        const canary = served.canary ? await this.versionImage(serviceName, "-canary", served, served.canary.selector, args, images, stable) : undefined;
        const payloadLog = args.payloadLog !== undefined && payloadLogOn(served);
        const env = [
            ...servingEnvironment(served.workers),
            ...(payloadLog ? payloadLogVariables(served, args.payloadLog!.accountName).map((v) => ({ ...v, secret: false })) : []),
            ...(args.metricsConnectionString !== undefined ? metricsExport({ connectionString: args.metricsConnectionString, identityClientId: this.identityClientId }) : []),
        ];
        return { served, serviceName, env, payloadLog, stable, canary };
    }

    /** One selector's ModelVersion, resolved, and the image of that version. */
    private async versionImage(serviceName: string, role: string, served: ServedModelArgs, selector: Selector, args: ModelServingArgs, images: ImageContext, shared?: VersionRevision): Promise<VersionRevision> {
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
                recipe: images.recipe,
                registryKind: args.registry.kind,
                registryUrl: pulumi.output(args.registry.url),
                loginServer: images.loginServer,
                access: images.access,
                credential: args.images.credential,
                dependsOn: [this.registry],
            },
            this,
        );
        return { version, resolved, image };
    }

    /** One container group per model version, under a new DNS label per revision. */
    private serveOnAci(model: ModelRevisions, args: ModelServingArgs, loginServer: string): ServiceOutcome {
        const { served, stable } = model;
        const spec = revisionSpecOf(model, stable, args.platform);
        const label = spec && stable.resolved ? aciDnsLabel(args.dnsLabelPrefix, served.name, stable.resolved, spec) : undefined;
        const { scoringUri } = aciScoringService(
            `${model.serviceName}-aci`,
            {
                location: args.location,
                resourceGroupName: args.resourceGroupName,
                image: imageRef(stable),
                loginServer,
                identityId: this.identityId,
                cpu: served.cpu,
                memoryGb: served.memoryGb,
                env: revisionEnv(model, stable, this.identityClientId),
                dnsNameLabel: label ?? unknownValue(),
                tags: args.tags,
            },
            { parent: this, dependsOn: [this.registry, this.pullReady, ...buildsOf(model)] },
        );
        return { scoringUri, revisionName: label ? pulumi.output(label) : unknownValue() };
    }

    /** One app per model: its revisions as declared, read against the live app, then its traffic moved. */
    private async serveOnContainerApps(model: ModelRevisions, args: ModelServingArgs, loginServer: string): Promise<ServiceOutcome> {
        const { served } = model;
        const app = appRevisionsOf(model, args);
        this.warnCanaryOnStable(model);
        const appId = app.target ? await this.appIdOf(args, app.appName) : undefined;
        const live = appId ? await this.liveApp(args, appId, app.appName) : undefined;
        const current = live?.revisions;
        refuseMissingTrafficRevisions(served, app, current);
        this.warnRebuiltImages(model, app.appName, current);
        if (!args.auth) throw new Error(`models[${served.name}]: Container Apps serving needs the scoring API's Entra registration (ModelServingArgs.auth)`);
        // The ingress is open in the app's PUT only when its Entra authentication config exists
        // already. A new app, one whose auth config is missing (a first run that failed at it),
        // or one not read here (the plan) is PUT closed; RevisionTraffic, after the auth
        // config, checks it exists and opens the ingress.
        const ingressOpen = current !== undefined && live?.authConfigured === true;
        const service = this.declareApp(model, args, loginServer, app, current, ingressOpen);
        this.apps[served.name] = { appName: app.appName, appId: service.appId };
        const revisionName = app.templateSuffix ? pulumi.output(app.templateSuffix) : unknownValue();
        if (!app.target) return { scoringUri: service.scoringUri, revisionName, traffic: unknownValue() as unknown as pulumi.Output<TrafficEntry[]> };
        this.declareTraffic(model, args, service, app.target, ingressOpen);
        return {
            scoringUri: service.scoringUri,
            revisionName,
            traffic: pulumi.output(app.target),
            trafficTable: app.target.map((e) => `${e.weight}% ${e.revision} (${e.label})`).join(", "),
        };
    }

    private warnCanaryOnStable({ served, stable, canary }: ModelRevisions): void {
        if (canary && served.canary && canary.resolved !== undefined && canary.resolved === stable.resolved) {
            pulumi.log.warn(
                `models[${served.name}].canary resolves to version ${canary.resolved}, the version the stable selector serves: ` +
                    "all traffic stays on one revision. Point the canary at the candidate version, or remove it.",
                this,
            );
        }
    }

    /** A rollback normally finds its image in the registry; a rebuild is a new image. */
    private warnRebuiltImages({ served, stable, canary }: ModelRevisions, appName: string, current: RevisionState[] | undefined): void {
        for (const revision of [stable, canary]) {
            if (revision?.image?.build && current?.some((r) => r.name.startsWith(`${appName}--v${revision.resolved}-`))) {
                pulumi.log.warn(
                    `models[${served.name}]: the image of version ${revision.resolved} (${revision.image.tag}) is no longer in the container registry, ` +
                        "so it is rebuilt from the model registry's files: a new image, not the one that served before.",
                    this,
                );
            }
        }
    }

    private declareApp(model: ModelRevisions, args: ModelServingArgs, loginServer: string, app: AppRevisions, current: RevisionState[] | undefined, ingressOpen: boolean) {
        const { served } = model;
        const declared = app.target ? declaredTraffic(current, app.target, { guarded: served.rollout !== undefined }) : undefined;
        return containerAppScoringService(
            `${model.serviceName}-app`,
            {
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                appName: app.appName,
                environmentId: this.environmentId!,
                identityId: this.identityId,
                loginServer,
                template: { suffix: app.templateSuffix ?? unknownValue(), image: imageRef(model.canary ?? model.stable) },
                traffic: declared ? declared.table : (unknownValue() as unknown as pulumi.Output<{ revisionName: string; weight: number }[]>),
                maxInactiveRevisions: args.maxInactiveRevisions,
                cpu: served.cpu,
                memoryGb: served.memoryGb,
                scale: served.scale,
                env: revisionEnv(model, model.canary ?? model.stable, this.identityClientId),
                access: args.access,
                auth: args.auth!,
                ingressOpen,
                tags: args.tags,
            },
            { parent: this, dependsOn: [this.registry, this.pullReady, ...buildsOf(model)] },
        );
    }

    /** A model's guarded rollout: its steps, where its request records are, and what its replay reads. */
    private guardOf(served: ServedModelArgs, rollout: RolloutConfig, args: ModelServingArgs): pulumi.Output<TrafficGuard> {
        const replayOff =
            !args.payloadLog || !payloadLogOn(served)
                ? "this model logs no payloads (serving.payloadLog.sampleRate 0, or no model store)"
                : served.payloadLog!.excludeColumns.length > 0
                  ? `logged inputs lack the columns payloadLog.excludeColumns keeps out (${served.payloadLog!.excludeColumns.join(", ")}), so they cannot be replayed`
                  : undefined;
        return pulumi.all([this.logsCustomerId!, args.auth!.clientId]).apply(([workspaceId, clientId]) => ({
            workspaceId,
            appName: this.apps[served.name].appName,
            rollout,
            modelKey: `models[${served.name}]`,
            modelName: served.model,
            ...(args.auditAccountName ? { auditAccountName: args.auditAccountName } : {}),
            // The payload log's folder is the registered model name (SERVING_MODEL_NAME, serving/payload_log.py).
            replay: replayOff ? { off: replayOff } : { accountName: args.payloadLog!.accountName, folder: served.model, scope: `api://${clientId}/.default` },
        }));
    }

    /** Moves the traffic to the target once its revisions are ready; deactivates the rest. */
    private declareTraffic(model: ModelRevisions, args: ModelServingArgs, service: ReturnType<ModelServing["declareApp"]>, target: TrafficEntry[], ingressOpen: boolean): void {
        new RevisionTraffic(
            `${model.serviceName}-traffic`,
            {
                appId: service.appId,
                target,
                readyTimeoutSeconds: REVISION_READY_TIMEOUT_SECONDS,
                ipSecurityRestrictions: ipRestrictions(args.access.ipAllowList),
                ingressClosedByApp: !ingressOpen,
                ...(model.served.rollout && this.logsCustomerId ? { guard: this.guardOf(model.served, model.served.rollout, args) } : {}),
                ...(this.logsCustomerId ? { logs: this.logsCustomerId.apply((workspaceId) => ({ workspaceId, appName: this.apps[model.served.name].appName })) } : {}),
            },
            // After the auth config: opening the ingress of a new app must come second.
            { parent: this, dependsOn: [service.app, service.authConfig] },
        );
    }
}
