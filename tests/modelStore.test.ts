// isHnsEnabled is create-only (issue 19 point 25): an existing account without a hierarchical
// namespace is refused before Pulumi can replace (in dev: delete) it.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ModelStore, type ModelStoreArgs } from "../components/storage/modelStore";
import { recordProgram } from "../lib/plan";
import { checkHierarchicalNamespace, hierarchicalNamespaceProblem } from "../lib/storage/namespace";
import { deployedAzureMocks } from "./helpers/azureMocks";

const storeArgs: ModelStoreArgs = {
    location: "westeurope",
    existingResourceGroupName: "rg-ml",
    accountName: "mlplattest01",
    sku: "Standard_LRS",
    blobSoftDeleteDays: 7,
    containerSoftDeleteDays: 7,
    softDeleteEnabled: true,
    allowBlobPublicAccess: false,
    protect: false,
    tags: {},
};

/** Deploys a ModelStore whose existing account getStorageAccount answers with `existing` (or an error). */
function deployWithExisting(existing: Record<string, unknown> | Error) {
    const mocks: pulumi.runtime.Mocks = {
        ...deployedAzureMocks,
        call: (args) => {
            if (args.token === "azure-native:storage:getStorageAccount") {
                assert.deepStrictEqual([args.inputs.resourceGroupName, args.inputs.accountName], ["rg-ml", "mlplattest01"]);
                // The engine hands an invoke's failure to the program as its `details` text.
                if (existing instanceof Error) throw Object.assign(existing, { details: existing.message });
                return existing;
            }
            return deployedAzureMocks.call(args);
        },
    };
    return recordProgram(() => {
        new ModelStore("t-store", storeArgs);
    }, { project: "mlflow-platform", stack: "dev", mocks, preview: false });
}

describe("storage account: hierarchical namespace is set at creation only", () => {
    it("refuses an existing account without one, before declaring it, with the way forward", async () => {
        await assert.rejects(deployWithExisting({ name: "mlplattest01", isHnsEnabled: false }), (err: Error) => {
            assert.match(err.message, /the storage account mlplattest01 \(resource group rg-ml\) exists without a hierarchical namespace \(isHnsEnabled false\)/);
            assert.match(err.message, /in dev it would delete the account and every file in it/);
            assert.match(err.message, /az storage account hns-migration start --type validation -n mlplattest01 -g rg-ml/);
            assert.match(err.message, /pulumi refresh/);
            return true;
        });
    });

    it("declares the account when it has one, or does not exist yet", async () => {
        const warned: string[] = [];
        const warn = pulumi.log.warn;
        (pulumi.log as { warn: typeof warn }).warn = async (message: string) => void warned.push(message);
        try {
            for (const existing of [{ name: "mlplattest01", isHnsEnabled: true }, new Error("ResourceNotFound: The Resource 'Microsoft.Storage/storageAccounts/mlplattest01' was not found")]) {
                const plan = await deployWithExisting(existing);
                assert.ok(plan.resources.some((r) => r.type === "azure-native:storage:StorageAccount" && r.inputs.isHnsEnabled === true));
            }
        } finally {
            (pulumi.log as { warn: typeof warn }).warn = warn;
        }
        assert.deepStrictEqual(warned, [], "a missing account is no reason to warn");
    });

    it("a lookup that fails for another reason is a warning, not a refusal; a missing flag counts as off", async () => {
        const warnings: string[] = [];
        await checkHierarchicalNamespace(async () => Promise.reject(new Error("AuthorizationFailed")), "rg", "acct", (m) => warnings.push(m));
        assert.deepStrictEqual(warnings, ["could not check whether the storage account acct has a hierarchical namespace (AuthorizationFailed): an account created without one would be replaced"]);
        assert.ok(hierarchicalNamespaceProblem({}, "acct", "rg"));
        assert.strictEqual(hierarchicalNamespaceProblem(undefined, "acct", "rg"), undefined);
    });
});
