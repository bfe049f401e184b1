// Composition root: read the stack config once, build the components in order, export what
// operators and other stacks need. The decisions live in lib/ (named, unit-tested); this file only
// wires them to the components: the program reads top to bottom in `export =`, and each helper
// below it fills one component's arguments.
//
// The entry point is async because two decisions need a registry's answer as a plain value, and
// Pulumi cannot add or drop resources from a value known only inside an output's apply:
// - whether each model is registered at all (an unregistered one is skipped, with a warning);
// - each model version, which names its image tag and revision (ModelServing.create waits for it).
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import * as authorization from "@pulumi/azure-native/authorization";
import { ConfigError, loadPlatformConfig, type PlatformConfig } from "./lib/config";
import { currentOrganization, deploymentContext, type DeploymentContext } from "./lib/deployment/context";
import { settled, unknownValue } from "./lib/deployment/outputs";
import { missingPrdDeployerProblem } from "./lib/access/deployers";
import { databricksNames } from "./lib/access/unityCatalogGrants";
import { registrySchemas, registrySource, type RegistrySchemas } from "./lib/registry/placement";
import { databricksPrincipals, missingDatabricksAccountIdProblem, registrationExperiment, registrationJobTarget } from "./lib/registration/placement";
import { skipWarning } from "./lib/serving/bootstrap";
import { AUDIT_RETENTION_DAYS } from "./lib/audit/record";
import { requiredProviders } from "./lib/subscription/resourceProviders";
import { ResourceProviderRegistrations } from "./components/subscription/resourceProviders";
import { ModelStore } from "./components/storage/modelStore";
import { MlflowWorkspace } from "./components/workspace/mlflowWorkspace";
import { MANAGED_STORAGE, UnityCatalogAccess } from "./components/access/unityCatalog";
import { RegistrationJob } from "./components/registration/registrationJob";
import { ModelServing, type ServedModelArgs } from "./components/serving/modelServing";
import { AzureAccess } from "./components/access/azureAccess";
import { deployingIdentity, type DeployingIdentity } from "./components/access/deployingIdentity";
import { ScoringApi } from "./components/access/scoringApi";
import { ServingObservability } from "./components/observability/servingObservability";
import { DriftJob } from "./components/drift/driftJob";

export = async () => {
    const config = loadPlatformConfig();
    const env = config.environment;
    // The engine shows these in `pulumi preview`/`up`; the credential-free plan prints its own section.
    if (pulumi.runtime.hasEngine()) for (const warning of config.warnings) pulumi.log.warn(warning);
    const context = await deploymentContext(config, process.env);
    const deployer = await deployingIdentity(context.offline);
    // Before any resource.
    const problem = missingPrdDeployerProblem(config, { offline: context.offline, found: deployer.found }) ?? missingDatabricksAccountIdProblem(config, context.offline);
    if (problem) throw new ConfigError(config.stack, [problem]);

    const providers = new ResourceProviderRegistrations(`${env}-resource-providers`, {
        // The plan asks no provider: there the subscription is known after deploy.
        subscriptionId: context.offline ? unknownValue() : authorization.getClientConfigOutput().subscriptionId,
        namespaces: requiredProviders(config.serving.platform),
    });
    const store = new ModelStore(
        `${env}-store`,
        { location: config.location, ...config.storage, auditRetentionDays: AUDIT_RETENTION_DAYS, protect: config.protect, tags: config.tags, payloadRetentionDays: config.serving.payloadLog.retentionDays },
        { dependsOn: [providers] },
    );
    const mlflow = new MlflowWorkspace(`${env}-mlflow`, {
        location: config.location,
        resourceGroupName: store.resourceGroupName,
        storageAccountId: store.accountId,
        sku: config.databricks.sku,
        protect: config.protect,
        tags: config.tags,
    });
    const registryUrl = registryUrlOf(config, mlflow);
    const schemas = registrySchemas(config.registry);
    const unityCatalog = schemas ? unityCatalogAccess(config, schemas, store, mlflow, context.offline) : undefined;
    const registration = registrationJob(config, mlflow, unityCatalog);

    const { serve, skipped } = await context.registeredModels(config.models, await settled(registryUrl));
    const scoringApi = config.serving.platform === "containerapp" ? scoringApiOf(config, deployer) : undefined;
    for (const entry of skipped) pulumi.log.warn(skipWarning(entry));
    // The apps take Application Insights' connection string, which ServingObservability declares
    // after them (it watches their ids): the value is handed over once that component exists.
    const [metricsConnectionString, connectMetrics] = pulumi.deferredOutput<string>();
    const serving = await modelServing(config, context, store, registryUrl, serve, scoringApi, config.serving.platform === "containerapp" ? metricsConnectionString : undefined);
    const observability = servingObservability(config, store, serving);
    // No observability (no app): nothing reads it.
    connectMetrics(observability ? observability.connectionString : pulumi.output(""));
    driftJobs(config, store, serving, serve, observability);
    new AzureAccess(`${env}-access`, {
        roles: config.access,
        resourceGroupName: store.resourceGroupName,
        storageAccountId: store.accountId,
        containerNames: store.containerNames,
        containerRegistryId: serving.registryId,
        protectedModelsPrefix: schemas ? `${MANAGED_STORAGE.prdSchema}/` : undefined,
        catalog: schemas,
        // The Promote workflow signs in as the deploying identity: it writes audit records.
        deployingIdentity: { objectId: deployer.objectId },
    });

    return {
        resourceGroupName: store.resourceGroupName,
        storageAccountName: store.accountName,
        blobEndpoint: store.blobEndpoint,
        containerNames: store.containerNames,
        workspaceId: mlflow.workspaceId,
        workspaceUrl: mlflow.workspaceUrl,
        accessConnectorId: mlflow.accessConnectorId,
        registry: registryUrl,
        containerRegistry: serving.loginServer,
        models: pulumi.output(serving.models),
        skippedModels: skipped,
        applicationInsightsId: observability?.applicationInsightsId,
        // Applications ask Entra for a token with `scope`, users with `userScope` (`npm run smoke -- --entra-scope ...`).
        scoringApi: scoringApi ? pulumi.output({ clientId: scoringApi.clientId, scope: scoringApi.scope, userScope: scoringApi.userScope }) : undefined,
        ...(unityCatalog ? { unityCatalog: pulumi.output({ catalog: unityCatalog.catalogName, prdSchema: unityCatalog.prdSchemaName }) } : {}),
        ...(registration ? { registrationJob: pulumi.output({ jobId: registration.job.jobId, jobUrl: registration.job.jobUrl, registryKind: config.registry.kind, schema: registration.schema }) } : {}),
    };
};

/** dev and prd share one registry: an explicit host, another stack's workspace, or this one's. */
function registryUrlOf(config: PlatformConfig, mlflow: MlflowWorkspace): pulumi.Output<string> {
    const source = registrySource(config.registry, currentOrganization());
    if (source.from === "host") return pulumi.output(source.host);
    if (source.from === "stack") return new pulumi.StackReference(source.stackName).requireOutput("workspaceUrl") as pulumi.Output<string>;
    return mlflow.workspaceUrl;
}

/** The registry's Unity Catalog objects, in the stack whose own workspace is the registry. */
function unityCatalogAccess(config: PlatformConfig, schemas: RegistrySchemas, store: ModelStore, mlflow: MlflowWorkspace, offline: boolean): UnityCatalogAccess {
    return new UnityCatalogAccess(`${config.environment}-unity-catalog`, {
        workspaceUrl: mlflow.workspaceUrl,
        workspaceResourceId: mlflow.workspaceResourceId,
        accessConnectorId: mlflow.accessConnectorId,
        // Unity Catalog validates a location's access on creation: after the connector's role.
        storageAccess: mlflow.storageAccess,
        storageAccountName: store.accountName,
        containerNames: store.containerNames,
        ...schemas,
        roles: config.access,
        // The pull-request preview identity resolves model versions and aliases (issue 19).
        readers: databricksNames(config.access.readers ?? []),
        namePrefix: config.storage.accountName,
        databricksAccountId: config.registry.databricksAccountId,
        // A configured principal wins over the one the stack would declare.
        registrar: config.registry.registrationRunAs,
        offline,
    });
}

/** The registration job (`npm run register`), where the registry is; data scientists may run it. */
function registrationJob(config: PlatformConfig, mlflow: MlflowWorkspace, unityCatalog: UnityCatalogAccess | undefined): { job: RegistrationJob; schema?: string } | undefined {
    const target = registrationJobTarget(config);
    if (target?.reason && pulumi.runtime.hasEngine()) pulumi.log.warn(target.reason);
    if (!target || target.reason) return undefined;
    const env = config.environment;
    const job = new RegistrationJob(`${env}-register-model`, {
        provider: unityCatalog?.provider ?? new databricks.Provider(`${env}-databricks`, { host: mlflow.workspaceUrl, azureWorkspaceResourceId: mlflow.workspaceResourceId }),
        registryKind: config.registry.kind,
        schema: target.schema,
        runners: databricksPrincipals(config.access.dataScientists),
        // In the registry's stack, the registration principal alone registers (issue 18).
        runAs: unityCatalog?.registrationPrincipal,
        runAsReady: unityCatalog?.registrationPrincipalReady,
        workspaceFolder: "/Shared/mlflow-platform",
        experiment: registrationExperiment(unityCatalog !== undefined),
        tags: config.tags,
    });
    return { job, schema: target.schema };
}

/** The app registration whose tokens the Container Apps accept. */
function scoringApiOf(config: PlatformConfig, deployer: DeployingIdentity): ScoringApi {
    return new ScoringApi(`${config.environment}-scoring-api`, {
        displayName: `${config.project} ${config.stack} scoring API`,
        tenantId: deployer.tenantId,
        callers: config.access.scoringClients,
        deployerObjectId: deployer.objectId,
    });
}

/** Application Insights, alerts and the dashboard of the models served on Container Apps (issue 21). */
function servingObservability(config: PlatformConfig, store: ModelStore, serving: ModelServing): ServingObservability | undefined {
    if (!serving.logsWorkspaceId) return undefined;
    return new ServingObservability(`${config.environment}-observability`, {
        environment: config.environment,
        project: config.project,
        location: config.location,
        resourceGroupName: store.resourceGroupName,
        namePrefix: config.environment,
        logsWorkspaceId: serving.logsWorkspaceId,
        servingPrincipalId: serving.identityPrincipalId,
        models: Object.entries(serving.apps).map(([name, app]) => ({ name, ...app })),
        alerts: config.observability.alerts,
        actionGroup: config.observability.actionGroup,
        dashboard: config.observability.dashboard,
        tags: config.tags,
    });
}

/** A scheduled drift job per model served on Container Apps, when observability.drift is set. */
function driftJobs(config: PlatformConfig, store: ModelStore, serving: ModelServing, served: ServedModelArgs[], observability: ServingObservability | undefined): DriftJob[] {
    const drift = config.observability.drift;
    const environmentId = serving.environmentId;
    if (!drift || !environmentId) return [];
    return served
        .filter((model) => serving.models[model.name])
        .map(
            (model) =>
                new DriftJob(`${config.environment}-drift-${model.name}`, {
                    resourceGroupName: store.resourceGroupName,
                    location: config.location,
                    environmentId,
                    // The payload log's blob paths start with the registered name (SERVING_MODEL_NAME).
                    model: model.model,
                    version: serving.models[model.name].version,
                    image: serving.models[model.name].image,
                    loginServer: serving.loginServer,
                    pullIdentityId: serving.identityId,
                    storageAccountId: store.accountId,
                    blobEndpoint: store.blobEndpoint,
                    drift,
                    logsWorkspaceId: serving.logsWorkspaceId,
                    actionGroupId: observability?.actionGroupId,
                    tags: config.tags,
                }),
        );
}

function modelServing(config: PlatformConfig, context: DeploymentContext, store: ModelStore, registryUrl: pulumi.Output<string>, models: ServedModelArgs[], scoringApi: ScoringApi | undefined, metricsConnectionString: pulumi.Output<string> | undefined): Promise<ModelServing> {
    return ModelServing.create(`${config.environment}-serving`, {
        location: config.location,
        resourceGroupName: store.resourceGroupName,
        // Both are globally unique names; the storage account's already is, so build on it.
        containerRegistryName: `${config.storage.accountName}acr`,
        dnsLabelPrefix: config.storage.accountName,
        containerRegistrySku: config.serving.containerRegistrySku,
        platform: config.serving.platform,
        access: config.serving.access,
        auth: scoringApi?.auth,
        logRetentionDays: config.serving.logRetentionDays,
        appNamePrefix: config.environment,
        registry: { kind: config.registry.kind, url: registryUrl },
        models,
        images: context.images,
        maxInactiveRevisions: config.serving.maxInactiveRevisions,
        requireGuardedRollout: config.serving.requireGuardedRollout,
        rollout: context.rollout,
        // Guarded rollouts record their outcome in this stack's audit container.
        auditAccountName: config.storage.accountName,
        // Sampled requests and predictions of each model, in the store's payloads container.
        payloadLog: { accountName: config.storage.accountName, containerId: store.payloadContainerId, retentionDays: config.serving.payloadLog.retentionDays },
        metricsConnectionString,
        tags: config.tags,
    });
}
