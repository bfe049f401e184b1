// Composition root: read the stack config once, build the components, export what operators and
// other stacks need.
//
// The entry point is async because two decisions need a registry's answer as a plain value, and
// Pulumi cannot add or drop resources from a value known only inside an output's apply:
// - whether each model is registered at all (an unregistered one is skipped, with a warning);
// - each model version, which names its image tag and revision (ModelServing.create waits for it).
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import * as authorization from "@pulumi/azure-native/authorization";
import { ConfigError, loadPlatformConfig, stackReferenceName } from "./lib/config";
import { deploymentContext } from "./lib/deployment/context";
import { skipWarning } from "./lib/serving/bootstrap";
import { ModelStore } from "./components/storage/modelStore";
import { MlflowWorkspace } from "./components/workspace/mlflowWorkspace";
import { ModelServing } from "./components/serving/modelServing";
import { AzureAccess } from "./components/access/azureAccess";
import { deployingIdentity } from "./components/access/deployingIdentity";
import { ScoringApi } from "./components/access/scoringApi";
import { MANAGED_STORAGE, UnityCatalogAccess } from "./components/access/unityCatalog";
import { RegistrationJob, type DatabricksPrincipal } from "./components/registration/registrationJob";
import { databricksNames } from "./lib/access/unityCatalogGrants";
import { registrationSchemaOf } from "./lib/registration/target";
import { settled, unknownValue } from "./lib/deployment/outputs";
import { requiredProviders } from "./lib/subscription/resourceProviders";
import { ResourceProviderRegistrations } from "./components/subscription/resourceProviders";

/** The current organization; self-managed backends (and the plan's mock runtime) have none to give. */
function currentOrganization(): string | undefined {
    try {
        return pulumi.getOrganization();
    } catch {
        return undefined;
    }
}

export = async () => {
    const config = loadPlatformConfig();
    const env = config.environment;
    // The engine shows these in `pulumi preview`/`up`; the credential-free plan prints its own section.
    if (pulumi.runtime.hasEngine()) for (const warning of config.warnings) pulumi.log.warn(warning);
    const context = await deploymentContext(config, process.env);
    const deployer = await deployingIdentity(context.offline);
    if (!context.offline && !deployer.found && config.environment === "prd" && config.access.deployers.length === 0) {
        throw new ConfigError(config.stack, [
            `${config.project}:access.deployers is empty and the deploying identity cannot be found (azuread getClientConfig gave no object id): prd needs a deployer. Name one (objectId, type, name), or deploy with an identity Entra ID reports`,
        ]);
    }

    // The registry's Unity Catalog objects belong to the stack whose own workspace is the registry.
    const holdsRegistry = config.registry.kind === "unity-catalog" && !config.registry.host && !config.registry.hostFromStack && config.registry.catalog !== undefined;
    // Before any resource: its registration principal's rule set is named after the Databricks account.
    if (holdsRegistry && !context.offline && !config.registry.registrationRunAs && !config.registry.databricksAccountId) {
        throw new ConfigError(config.stack, [
            `${config.project}:registry.databricksAccountId is not set: the registration job runs as its own service principal, and pulumi up gives the deploying identity and the deployers its Service Principal User role in an account rule set named after the Databricks account. Set it to the Databricks account id of this stack's workspace (a GUID, shown in the account console), or name the principal to run as in registry.registrationRunAs`,
        ]);
    }

    // A new subscription has none of the resource providers the stack uses registered.
    const providers = new ResourceProviderRegistrations(`${env}-resource-providers`, {
        // The plan asks no provider: there the subscription is known after deploy.
        subscriptionId: context.offline ? unknownValue() : authorization.getClientConfigOutput().subscriptionId,
        namespaces: requiredProviders(config.serving.platform),
    });

    const store = new ModelStore(
        `${env}-store`,
        {
            location: config.location,
            ...config.storage,
            protect: config.protect,
            tags: config.tags,
        },
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

    // dev and prd share one registry: an explicit host, another stack's workspace, or this one's.
    const registryUrl: pulumi.Output<string> = config.registry.host
        ? pulumi.output(config.registry.host)
        : config.registry.hostFromStack
          ? (new pulumi.StackReference(stackReferenceName(config.registry.hostFromStack, currentOrganization())).requireOutput("workspaceUrl") as pulumi.Output<string>)
          : mlflow.workspaceUrl;

    const schemas = holdsRegistry ? { catalog: config.registry.catalog!, devSchema: config.registry.devSchema, prdSchema: config.registry.prdSchema } : undefined;
    const unityCatalog = schemas
        ? new UnityCatalogAccess(`${env}-unity-catalog`, {
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
              offline: context.offline,
          })
        : undefined;

    // The registration job (`npm run register`) lives where the registry does. Data scientists may run
    // it; it registers into the dev schema only. Unity Catalog: issue 14's provider and schema.
    const target = schemas
        ? { schema: `${schemas.catalog}.${schemas.devSchema}` }
        : !config.registry.host && !config.registry.hostFromStack
          ? registrationSchemaOf(config.registry.kind, config.models.map((m) => m.model))
          : undefined;
    if (target?.reason && pulumi.runtime.hasEngine()) pulumi.log.warn(target.reason);
    const runners: DatabricksPrincipal[] = config.access.dataScientists.flatMap((p): DatabricksPrincipal[] => {
        if (!p.name) return [];
        return [p.type === "group" ? { groupName: p.name } : p.type === "user" ? { userName: p.name } : { servicePrincipalName: p.name }];
    });
    const registration =
        target && !target.reason
            ? new RegistrationJob(`${env}-register-model`, {
                  provider:
                      unityCatalog?.provider ??
                      new databricks.Provider(`${env}-databricks`, { host: mlflow.workspaceUrl, azureWorkspaceResourceId: mlflow.workspaceResourceId }),
                  registryKind: config.registry.kind,
                  schema: target.schema,
                  runners,
                  // In the registry's stack, the registration principal alone registers (issue 18).
                  runAs: unityCatalog?.registrationPrincipal,
                  runAsReady: unityCatalog?.registrationPrincipalReady,
                  workspaceFolder: "/Shared/mlflow-platform",
                  // Declared by the job when it has a run_as identity; a new path, since runs as the
                  // owner may already have created `registrations` (set_experiment creates a missing one).
                  experiment: unityCatalog ? "/Shared/mlflow-platform/registration-runs" : "/Shared/mlflow-platform/registrations",
                  tags: config.tags,
              })
            : undefined;

    const { serve, skipped } = await context.registeredModels(config.models, await settled(registryUrl));
    const scoringApi =
        config.serving.platform === "containerapp"
            ? new ScoringApi(`${env}-scoring-api`, {
                  displayName: `${config.project} ${config.stack} scoring API`,
                  tenantId: deployer.tenantId,
                  callers: config.access.scoringClients,
                  deployerObjectId: deployer.objectId,
              })
            : undefined;
    for (const entry of skipped) pulumi.log.warn(skipWarning(entry));

    const serving = await ModelServing.create(`${env}-serving`, {
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
        appNamePrefix: env,
        registry: { kind: config.registry.kind, url: registryUrl },
        models: serve,
        images: context.images,
        maxInactiveRevisions: config.serving.maxInactiveRevisions,
        rollout: context.rollout,
        tags: config.tags,
    });

    new AzureAccess(`${env}-access`, {
        roles: config.access,
        resourceGroupName: store.resourceGroupName,
        storageAccountId: store.accountId,
        containerNames: store.containerNames,
        containerRegistryId: serving.registryId,
        protectedModelsPrefix: schemas ? `${MANAGED_STORAGE.prdSchema}/` : undefined,
        catalog: schemas,
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
        // Applications ask Entra for a token with `scope`, users with `userScope` (`npm run smoke -- --entra-scope ...`).
        scoringApi: scoringApi ? pulumi.output({ clientId: scoringApi.clientId, scope: scoringApi.scope, userScope: scoringApi.userScope }) : undefined,
        ...(unityCatalog ? { unityCatalog: pulumi.output({ catalog: unityCatalog.catalogName, prdSchema: unityCatalog.prdSchemaName }) } : {}),
        ...(registration ? { registrationJob: pulumi.output({ jobId: registration.jobId, jobUrl: registration.jobUrl, registryKind: config.registry.kind, schema: target?.schema }) } : {}),
    };
};
