// Composition root: read the stack config once, build the components, export what operators and
// other stacks need.
import { loadPlatformConfig } from "./lib/config";
import { ModelStore } from "./components/modelStore";
import { MlflowWorkspace } from "./components/mlflowWorkspace";

const config = loadPlatformConfig();

const store = new ModelStore(`${config.environment}-store`, {
    location: config.location,
    ...config.storage,
    protect: config.protect,
    tags: config.tags,
});

const mlflow = new MlflowWorkspace(`${config.environment}-mlflow`, {
    location: config.location,
    resourceGroupName: store.resourceGroupName,
    storageAccountId: store.accountId,
    sku: config.databricks.sku,
    protect: config.protect,
    tags: config.tags,
});

export const resourceGroupName = store.resourceGroupName;
export const storageAccountName = store.accountName;
export const blobEndpoint = store.blobEndpoint;
export const containerNames = store.containerNames;
export const workspaceId = mlflow.workspaceId;
export const workspaceUrl = mlflow.workspaceUrl;
export const accessConnectorId = mlflow.accessConnectorId;
