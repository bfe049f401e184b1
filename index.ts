// Composition root: read the stack config once, build the components, export what operators and
// other stacks need.
import * as pulumi from "@pulumi/pulumi";
import { loadPlatformConfig } from "./lib/config";
import { ModelStore } from "./components/modelStore";
import { MlflowWorkspace } from "./components/mlflowWorkspace";
import { ModelVersion } from "./components/modelVersion";

const config = loadPlatformConfig();
const env = config.environment;

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
      ? (new pulumi.StackReference(config.registry.hostFromStack).requireOutput("workspaceUrl") as pulumi.Output<string>)
      : mlflow.workspaceUrl;

const modelVersions = config.models.map(
    (served) =>
        new ModelVersion(`${env}-${served.name}-version`, {
            registryKind: config.registry.kind,
            registryUrl,
            model: served.model,
            selector: served.selector,
        }),
);

export const resourceGroupName = store.resourceGroupName;
export const storageAccountName = store.accountName;
export const blobEndpoint = store.blobEndpoint;
export const containerNames = store.containerNames;
export const workspaceId = mlflow.workspaceId;
export const workspaceUrl = mlflow.workspaceUrl;
export const accessConnectorId = mlflow.accessConnectorId;
export const registry = registryUrl;
export const models = pulumi.output(
    Object.fromEntries(
        config.models.map((served, i) => [served.name, { version: modelVersions[i].version, modelUri: modelVersions[i].modelUri }]),
    ),
);
