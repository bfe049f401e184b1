// components/drift/driftJob.ts under Pulumi's mocks: the scheduled Container Apps job, its identity
// and its role assignments, with deterministic names and the config's schedule, window and baseline.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { DriftJob, type DriftJobArgs } from "../components/drift/driftJob";
import { AZURE_ROLES } from "../lib/access/roles";
import { driftConfig } from "../lib/config/drift";
import { driftWriteCondition } from "../lib/drift/job";
import { recordProgram, type Plan } from "../lib/plan";
import { deployedAzureMocks } from "./helpers/azureMocks";
import { byType, onlyOfType } from "./helpers/fixtures";

const ACCOUNT = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/mlplat01";

function args(drift = driftConfig({})!): DriftJobArgs {
    return {
        resourceGroupName: "rg",
        location: "westeurope",
        environmentId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/managedEnvironments/env",
        model: "fraud",
        version: pulumi.output("3"),
        image: pulumi.output("acr.azurecr.io/fraud:3-abc"),
        loginServer: "acr.azurecr.io",
        pullIdentityId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/serving",
        storageAccountId: ACCOUNT,
        blobEndpoint: "https://mlplat01.blob.core.windows.net/",
        drift,
        tags: { project: "mlflow-platform" },
    };
}

function deployed(program: () => unknown): Promise<Plan> {
    return recordProgram(program, { project: "mlflow-platform", stack: "test", mocks: deployedAzureMocks, preview: false });
}

// version and image are outputs, as ModelServing's models[name].version and .image are.
describe("DriftJob", () => {
    it("declares an identity, read on the payloads, conditioned write of the reports, and a scheduled job, named after the component", async () => {
        const plan = await deployed(() => new DriftJob("t-drift-fraud", args()));
        assert.deepStrictEqual(
            plan.resources.map((r) => `${r.type} ${r.name} <- ${r.parent ?? ""}`).sort(),
            [
                "azure-native:app:Job t-drift-fraud-job <- t-drift-fraud",
                "azure-native:authorization:RoleAssignment t-drift-fraud-payloads-reader <- t-drift-fraud",
                "azure-native:authorization:RoleAssignment t-drift-fraud-reports-writer <- t-drift-fraud",
                "azure-native:managedidentity:UserAssignedIdentity t-drift-fraud-identity <- t-drift-fraud",
                "mlflow-platform:drift:DriftJob t-drift-fraud <- ",
            ],
        );
        const [reader, writer] = ["t-drift-fraud-payloads-reader", "t-drift-fraud-reports-writer"].map((n) => plan.resources.find((r) => r.name === n)!.inputs);
        assert.strictEqual(reader.scope, `${ACCOUNT}/blobServices/default/containers/payloads`);
        assert.match(String(reader.roleDefinitionId), new RegExp(`${AZURE_ROLES.storageBlobDataReader}$`));
        assert.strictEqual(reader.condition, undefined, "reads are not conditioned");
        assert.strictEqual(writer.scope, reader.scope);
        assert.match(String(writer.roleDefinitionId), new RegExp(`${AZURE_ROLES.storageBlobDataContributor}$`));
        assert.strictEqual(writer.condition, driftWriteCondition("fraud"));
        assert.strictEqual(writer.conditionVersion, "2.0");
        assert.match(String(writer.roleAssignmentName), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.notStrictEqual(writer.roleAssignmentName, reader.roleAssignmentName);

        const job = onlyOfType(plan, "azure-native:app:Job").inputs as any;
        assert.strictEqual(job.jobName, "drift-fraud");
        assert.strictEqual(job.configuration.triggerType, "Schedule");
        assert.deepStrictEqual(job.configuration.scheduleTriggerConfig, { cronExpression: "15 0 * * *", parallelism: 1, replicaCompletionCount: 1 });
        assert.deepStrictEqual(job.configuration.registries, [{ server: "acr.azurecr.io", identity: args().pullIdentityId }]);
        const [container] = job.template.containers;
        assert.strictEqual(container.name, "drift", "the alert's query finds the job's lines by this name");
        assert.strictEqual(container.image, "acr.azurecr.io/fraud:3-abc");
        assert.deepStrictEqual(container.command, ["python", "/opt/serving/drift_job.py", "--model", "fraud", "--version", "3", "--window", "24h", "--baseline", "registered-sample"]);
        assert.deepStrictEqual(container.env.map((e: { name: string }) => e.name), ["DRIFT_BLOB_ENDPOINT", "AZURE_CLIENT_ID"]);
        assert.strictEqual(job.identity.type, "UserAssigned");
        assert.strictEqual(job.identity.userAssignedIdentities.length, 2);
    });

    it("a dataset baseline in another container adds read on that container; in payloads, none", async () => {
        const plan = await deployed(() => new DriftJob("t-drift-fraud", args(driftConfig({ baseline: "data/fraud/baseline.csv", window: "7d", schedule: "0 6 * * 1" })!)));
        const readers = byType(plan, "azure-native:authorization:RoleAssignment").map((r) => r.name).sort();
        assert.deepStrictEqual(readers, ["t-drift-fraud-baseline-reader", "t-drift-fraud-payloads-reader", "t-drift-fraud-reports-writer"]);
        assert.strictEqual(plan.resources.find((r) => r.name === "t-drift-fraud-baseline-reader")!.inputs.scope, `${ACCOUNT}/blobServices/default/containers/data`);
        const job = onlyOfType(plan, "azure-native:app:Job").inputs as any;
        assert.strictEqual(job.configuration.scheduleTriggerConfig.cronExpression, "0 6 * * 1");
        assert.deepStrictEqual(job.template.containers[0].command.slice(-4), ["--window", "7d", "--baseline", "data/fraud/baseline.csv"]);

        const inPayloads = await deployed(() => new DriftJob("t-drift-fraud", args(driftConfig({ baseline: "payloads/baselines/fraud.csv" })!)));
        assert.strictEqual(byType(inPayloads, "azure-native:authorization:RoleAssignment").length, 2);
    });

    it("the same spec gives the same names and role assignment names", async () => {
        const names = async () => (await deployed(() => new DriftJob("t-drift-fraud", args()))).resources.map((r) => `${r.name} ${String(r.inputs.roleAssignmentName ?? "")}`).sort();
        assert.deepStrictEqual(await names(), await names());
    });
});
