// Composition root: read the stack config once, build the components, export what operators and
// other stacks need.
//
// The entry point is async because two decisions need a registry's answer as a plain value, and
// Pulumi cannot add or drop resources from a value known only inside an output's apply:
// - whether each model is registered at all (an unregistered one is skipped, with a warning);
// - each model version, which names its image tag and revision (ModelServing.create waits for it).
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { loadPlatformConfig, stackReferenceName } from "./lib/config";
import { deploymentContext } from "./lib/deployment";
import { skipWarning } from "./lib/serving/bootstrap";
import { ModelStore } from "./components/modelStore";
import { MlflowWorkspace } from "./components/mlflowWorkspace";
import { ModelServing } from "./components/serving/modelServing";
import { RegistrationJob } from "./components/registrationJob";
import { registrationSchemaOf } from "./lib/registration/target";
import { settled } from "./lib/outputs";

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

    const store = new ModelStore(`${env}-store`, {
        location: config.location,
        ...config.storage,
        protect: config.protect,
        tags: config.tags,
    });

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

    // The stack whose workspace holds the registry declares the registration job (`npm run register`).
    const holdsRegistry = !config.registry.host && !config.registry.hostFromStack;
    const target = registrationSchemaOf(config.registry.kind, config.models.map((m) => m.model));
    if (holdsRegistry && target.reason && pulumi.runtime.hasEngine()) pulumi.log.warn(target.reason);
    const registration =
        holdsRegistry && !target.reason
            ? new RegistrationJob(`${env}-register-model`, {
                  // Minimal provider for this workspace; issue 14 brings the configured one (and the roles).
                  provider: new databricks.Provider(`${env}-databricks`, { host: mlflow.workspaceUrl, azureWorkspaceResourceId: mlflow.workspaceResourceId }),
                  registryKind: config.registry.kind,
                  schema: target.schema,
                  runners: [], // issue 14: the data scientists' group gets CAN_MANAGE_RUN
                  workspaceFolder: "/Shared/mlflow-platform",
                  experiment: "/Shared/mlflow-platform/registrations",
                  tags: config.tags,
              })
            : undefined;

    const { serve, skipped } = await context.registeredModels(config.models, await settled(registryUrl));
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
        logRetentionDays: config.serving.logRetentionDays,
        appNamePrefix: env,
        registry: { kind: config.registry.kind, url: registryUrl },
        models: serve,
        images: context.images,
        maxInactiveRevisions: config.serving.maxInactiveRevisions,
        rollout: context.rollout,
        tags: config.tags,
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
        registrationJob: registration && pulumi.output({ jobId: registration.jobId, jobUrl: registration.jobUrl, registryKind: config.registry.kind, schema: target.schema }),
    };
};
