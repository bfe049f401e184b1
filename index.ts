// Composition root: read the stack config once, build the components, export what operators and
// other stacks need.
import * as pulumi from "@pulumi/pulumi";
import { loadPlatformConfig, stackReferenceName } from "./lib/config";
import { ModelStore } from "./components/modelStore";
import { MlflowWorkspace } from "./components/mlflowWorkspace";
import { ModelServing } from "./components/serving/modelServing";

const config = loadPlatformConfig();
const env = config.environment;
// The engine shows these in `pulumi preview`/`up`; the credential-free plan prints its own section.
if (pulumi.runtime.hasEngine()) for (const warning of config.warnings) pulumi.log.warn(warning);

/** The current organization; self-managed backends (and the plan's mock runtime) have none to give. */
function currentOrganization(): string | undefined {
    try {
        return pulumi.getOrganization();
    } catch {
        return undefined;
    }
}

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

const serving = new ModelServing(`${env}-serving`, {
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
    registry: { kind: config.registry.kind, url: registryUrl, credentials: config.registryCredentials },
    models: config.models,
    tags: config.tags,
});

export const resourceGroupName = store.resourceGroupName;
export const storageAccountName = store.accountName;
export const blobEndpoint = store.blobEndpoint;
export const containerNames = store.containerNames;
export const workspaceId = mlflow.workspaceId;
export const workspaceUrl = mlflow.workspaceUrl;
export const accessConnectorId = mlflow.accessConnectorId;
export const registry = registryUrl;
export const containerRegistry = serving.loginServer;
export const models = pulumi.output(serving.models);
