import * as assert from "assert";
import { MlflowWorkspace } from "../components/workspace/mlflowWorkspace";
import { ModelStore, type ModelStoreArgs } from "../components/storage/modelStore";
import { roleAssignmentName } from "../lib/access/roleAssignmentName";
import { recordProgram, type Plan } from "../lib/plan";
import { deployedAzureMocks, TEST_SUBSCRIPTION } from "./helpers/azureMocks";
import { byType, onlyOfType } from "./helpers/fixtures";

const tags = { environment: "dev", project: "mlflow-platform", "managed-by": "pulumi" };
const storeArgs: ModelStoreArgs = {
    location: "westeurope",
    accountName: "mlplattest01",
    sku: "Standard_ZRS",
    blobSoftDeleteDays: 14,
    containerSoftDeleteDays: 21,
    softDeleteEnabled: true,
    allowBlobPublicAccess: false,
    protect: false,
    tags,
};

function deployed(program: () => unknown): Promise<Plan> {
    return recordProgram(program, { project: "mlflow-platform", stack: "test", mocks: deployedAzureMocks, preview: false });
}

describe("ModelStore", () => {
    it("declares a group, a secure StorageV2 account, recoverable blob service and four private containers (data, models, audit, payloads)", async () => {
        const plan = await deployed(() => {
            new ModelStore("t-store", storeArgs);
        });
        assert.deepStrictEqual(
            plan.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? ""}`).sort(),
            [
                "azure-native:resources:ResourceGroup t-store-rg <- t-store",
                "azure-native:storage:BlobContainer t-store-audit <- t-store",
                "azure-native:storage:BlobContainer t-store-data <- t-store",
                "azure-native:storage:BlobContainer t-store-models <- t-store",
                "azure-native:storage:BlobContainer t-store-payloads <- t-store",
                "azure-native:storage:BlobServiceProperties t-store-blob-service <- t-store",
                "azure-native:storage:StorageAccount t-store-account <- t-store",
                "mlflow-platform:storage:ModelStore t-store <- ",
            ],
        );
        const account = onlyOfType(plan, "azure-native:storage:StorageAccount").inputs;
        assert.strictEqual(account.kind, "StorageV2");
        assert.deepStrictEqual(account.sku, { name: "Standard_ZRS" });
        assert.strictEqual(account.accountName, "mlplattest01");
        assert.strictEqual(account.enableHttpsTrafficOnly, true);
        assert.strictEqual(account.minimumTlsVersion, "TLS1_2");
        assert.strictEqual(account.allowBlobPublicAccess, false);
        assert.strictEqual(account.allowCrossTenantReplication, false);
        assert.strictEqual(account.defaultToOAuthAuthentication, true);
        assert.strictEqual(account.allowSharedKeyAccess, false);
        assert.strictEqual(account.resourceGroupName, "t-store-rgabc123", "account goes into the created group");

        const blob = onlyOfType(plan, "azure-native:storage:BlobServiceProperties").inputs;
        assert.deepStrictEqual(blob.deleteRetentionPolicy, { enabled: true, days: 14 });
        assert.deepStrictEqual(blob.containerDeleteRetentionPolicy, { enabled: true, days: 21 });
        assert.strictEqual(blob.isVersioningEnabled, false, "not supported with a hierarchical namespace");
        assert.strictEqual(blob.accountName, "mlplattest01");
        assert.strictEqual(blob.blobServicesName, "default");

        const containers = byType(plan, "azure-native:storage:BlobContainer").map((c) => c.inputs);
        assert.deepStrictEqual(containers.map((c) => c.containerName), ["data", "models", "audit", "payloads"]);
        for (const c of containers) assert.strictEqual(c.publicAccess, "None");
        assert.strictEqual(byType(plan, "azure-native:storage:BlobContainerImmutabilityPolicy").length, 0, "no retention policy unless asked");
    });

    it("keeps audit records for the retention asked: a time-based retention (WORM) policy on the audit container only", async () => {
        for (const protect of [false, true]) {
            const plan = await deployed(() => {
                new ModelStore("t-store", { ...storeArgs, protect, auditRetentionDays: 365 });
            });
            const policy = onlyOfType(plan, "azure-native:storage:BlobContainerImmutabilityPolicy");
            assert.strictEqual(policy.name, "t-store-audit-retention");
            assert.strictEqual(policy.parent, "t-store");
            assert.deepStrictEqual(
                { container: policy.inputs.containerName, name: policy.inputs.immutabilityPolicyName, days: policy.inputs.immutabilityPeriodSinceCreationInDays, appends: policy.inputs.allowProtectedAppendWrites, account: policy.inputs.accountName },
                { container: "audit", name: "default", days: 365, appends: false, account: "mlplattest01" },
            );
            assert.strictEqual(policy.protect, protect);
        }
    });

    it("exposes account name, blob endpoint and container names", async () => {
        let store: ModelStore | undefined;
        const plan = await deployed(() => {
            store = new ModelStore("t-store", storeArgs);
            return { accountName: store.accountName, blobEndpoint: store.blobEndpoint, containers: store.containerNames };
        });
        assert.deepStrictEqual(plan.outputs, {
            accountName: "mlplattest01",
            blobEndpoint: "https://mlplattest01.blob.core.windows.net/",
            containers: { data: "data", models: "models", audit: "audit", payloads: "payloads" },
        });
    });

    it("uses an existing resource group instead of creating one", async () => {
        const plan = await deployed(() => {
            new ModelStore("t-store", { ...storeArgs, existingResourceGroupName: "rg-shared" });
        });
        assert.strictEqual(byType(plan, "azure-native:resources:ResourceGroup").length, 0);
        for (const r of plan.resources.filter((r) => r.custom && r.inputs.resourceGroupName !== undefined)) {
            assert.strictEqual(r.inputs.resourceGroupName, "rg-shared", r.name);
        }
    });

    it("protects the account and containers only when asked", async () => {
        for (const protect of [true, false]) {
            const plan = await deployed(() => {
                new ModelStore("t-store", { ...storeArgs, protect });
            });
            const protectedNames = plan.resources.filter((r) => r.protect).map((r) => r.name).sort();
            assert.deepStrictEqual(protectedNames, protect ? ["t-store-account", "t-store-audit", "t-store-data", "t-store-models", "t-store-payloads"] : []);
        }
    });

    it("deletes payload log blobs after payloadRetentionDays, with the account's one lifecycle policy; none without it", async () => {
        const plan = await deployed(() => {
            new ModelStore("t-store", { ...storeArgs, payloadRetentionDays: 45 });
        });
        const policy = onlyOfType(plan, "azure-native:storage:ManagementPolicy").inputs;
        assert.strictEqual(policy.managementPolicyName, "default");
        assert.deepStrictEqual(policy.policy, {
            rules: [
                {
                    name: "payload-log-retention",
                    enabled: true,
                    type: "Lifecycle",
                    definition: { filters: { blobTypes: ["blockBlob"], prefixMatch: ["payloads/"] }, actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 45 } } } },
                },
            ],
        });
        const without = await deployed(() => {
            new ModelStore("t-store", storeArgs);
        });
        assert.deepStrictEqual(byType(without, "azure-native:storage:ManagementPolicy"), []);
    });

    it("tags every resource that takes tags", async () => {
        const plan = await deployed(() => {
            new ModelStore("t-store", storeArgs);
        });
        for (const type of ["azure-native:resources:ResourceGroup", "azure-native:storage:StorageAccount"]) {
            assert.deepStrictEqual(onlyOfType(plan, type).inputs.tags, tags, type);
        }
    });
});

describe("MlflowWorkspace", () => {
    const accountId = `${TEST_SUBSCRIPTION}/resourceGroups/rg-test/providers/Microsoft.Storage/storageAccounts/mlplattest01`;

    async function workspacePlan(protect = false) {
        let ws: MlflowWorkspace | undefined;
        const plan = await deployed(() => {
            ws = new MlflowWorkspace("t-mlflow", {
                location: "westeurope",
                resourceGroupName: "rg-test",
                storageAccountId: accountId,
                sku: "premium",
                protect,
                tags,
            });
            return { url: ws.workspaceUrl, id: ws.workspaceId };
        });
        return plan;
    }

    it("declares a no-public-IP workspace with a managed group, and a connector with blob data access", async () => {
        const plan = await workspacePlan();
        assert.deepStrictEqual(
            plan.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? ""}`).sort(),
            [
                "azure-native:authorization:RoleAssignment t-mlflow-storage-access <- t-mlflow",
                "azure-native:databricks:AccessConnector t-mlflow-access-connector <- t-mlflow",
                "azure-native:databricks:Workspace t-mlflow-workspace <- t-mlflow",
                "mlflow-platform:mlflow:MlflowWorkspace t-mlflow <- ",
            ],
        );
        const workspace = onlyOfType(plan, "azure-native:databricks:Workspace").inputs;
        assert.deepStrictEqual(workspace.sku, { name: "premium" });
        assert.strictEqual(workspace.computeMode, "Hybrid");
        assert.deepStrictEqual(workspace.parameters, { enableNoPublicIp: { value: true } });
        assert.strictEqual(workspace.managedResourceGroupId, `${TEST_SUBSCRIPTION}/resourceGroups/rg-test-databricks-managed`);
        assert.deepStrictEqual(workspace.tags, tags);

        const connector = onlyOfType(plan, "azure-native:databricks:AccessConnector").inputs;
        assert.deepStrictEqual(connector.identity, { type: "SystemAssigned" });

        const role = onlyOfType(plan, "azure-native:authorization:RoleAssignment").inputs;
        assert.strictEqual(role.principalId, "principal-of-t-mlflow-access-connector");
        assert.strictEqual(role.principalType, "ServicePrincipal");
        assert.strictEqual(role.scope, accountId);
        assert.strictEqual(
            role.roleDefinitionId,
            `${TEST_SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe`,
        );
        // Named by what it grants, so a rerun or an assignment made by hand is the same assignment.
        assert.strictEqual(role.roleAssignmentName, roleAssignmentName(String(role.principalId), String(role.roleDefinitionId), String(role.scope)));
    });

    it("exports the workspace URL as https://", async () => {
        const plan = await workspacePlan();
        assert.deepStrictEqual(plan.outputs, {
            url: "https://adb-1234567890123456.7.azuredatabricks.net",
            id: "1234567890123456",
        });
    });

    it("protects the workspace when asked, never the connector or role", async () => {
        assert.deepStrictEqual((await workspacePlan(true)).resources.filter((r) => r.protect).map((r) => r.name), ["t-mlflow-workspace"]);
        assert.deepStrictEqual((await workspacePlan(false)).resources.filter((r) => r.protect).length, 0);
    });
});
