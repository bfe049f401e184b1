// The registration job under Pulumi's mock runtime: the component's resources and permissions,
// and which stack declares it (only the one whose workspace holds the registry).
import * as assert from "assert";
import type * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { RegistrationJob, type RegistrationJobArgs } from "../components/registrationJob";
import { recordProgram, type Plan } from "../lib/plan";
import { deployedAzureMocks } from "./helpers/azureMocks";
import { byType, onlyOfType, planEditedStack, planEditedStackWith } from "./helpers/fixtures";

const tags = { environment: "dev", project: "mlflow-platform", "managed-by": "pulumi" };

/** Azure mocks plus what the databricks provider computes on create, noting each resource's provider. */
function databricksMocks(providers: Map<string, string | undefined>): pulumi.runtime.Mocks {
    return {
        newResource: (args) => {
            providers.set(args.name, args.provider);
            if (args.type === "databricks:index/job:Job") return { id: "987", state: { ...args.inputs, url: "https://adb-1.1.azuredatabricks.net/#job/987" } };
            if (args.type === "databricks:index/workspaceFile:WorkspaceFile") return { id: args.inputs.path, state: { ...args.inputs, objectId: 4242, workspacePath: `/Workspace${args.inputs.path}` } };
            return deployedAzureMocks.newResource(args);
        },
        call: deployedAzureMocks.call,
    };
}

async function deployed(args: Partial<RegistrationJobArgs> = {}): Promise<{ plan: Plan; providers: Map<string, string | undefined> }> {
    const providers = new Map<string, string | undefined>();
    const plan = await recordProgram(
        () => {
            const provider = new databricks.Provider("ws", { host: "https://adb-1.1.azuredatabricks.net" });
            const job = new RegistrationJob("dev-register-model", {
                provider,
                registryKind: "unity-catalog",
                schema: "main.dev_models",
                runners: [{ groupName: "data-scientists" }, { servicePrincipalName: "00000000-0000-0000-0000-0000000000aa" }],
                workspaceFolder: "/Shared/mlflow-platform/",
                experiment: "/Shared/mlflow-platform/registrations",
                tags,
                ...args,
            });
            return { jobId: job.jobId, jobUrl: job.jobUrl, scriptPath: job.scriptPath };
        },
        { project: "mlflow-platform", stack: "dev", mocks: databricksMocks(providers), preview: false },
    );
    return { plan, providers };
}

describe("RegistrationJob", () => {
    it("ships the script as a workspace file and runs it on serverless compute with the four run parameters", async () => {
        const { plan, providers } = await deployed();
        const file = onlyOfType(plan, "databricks:index/workspaceFile:WorkspaceFile").inputs;
        assert.strictEqual(file.path, "/Shared/mlflow-platform/register_model.py");
        assert.strictEqual(file.source, "jobs/register_model.py", "relative to the project, the same on every machine");

        const job = onlyOfType(plan, "databricks:index/job:Job").inputs as any;
        assert.strictEqual(job.name, "dev-register-model");
        assert.deepStrictEqual(job.parameters, ["pickle", "model", "sample", "alias"].map((name) => ({ name, default: "" })));
        assert.deepStrictEqual(job.environments, [{ environmentKey: "register", spec: { environmentVersion: "4", dependencies: ["mlflow>=2.16,<4", "scikit-learn", "pandas", "pyarrow"] } }]);
        assert.strictEqual(job.tasks.length, 1);
        const task = job.tasks[0];
        assert.strictEqual(task.taskKey, "register");
        assert.strictEqual(task.environmentKey, "register", "serverless: a Python script task names its environment and no cluster");
        assert.strictEqual(task.newCluster, undefined);
        assert.strictEqual(task.existingClusterId, undefined);
        assert.deepStrictEqual(task.sparkPythonTask, {
            pythonFile: "/Shared/mlflow-platform/register_model.py",
            source: "WORKSPACE",
            parameters: [
                "--pickle={{job.parameters.pickle}}", "--model={{job.parameters.model}}", "--sample={{job.parameters.sample}}", "--alias={{job.parameters.alias}}",
                "--registry", "databricks-uc", "--experiment", "/Shared/mlflow-platform/registrations", "--schema", "main.dev_models",
            ],
        });
        assert.strictEqual(task.maxRetries, 0, "a failed registration is reported, not retried");
        assert.deepStrictEqual(job.tags, tags);
        assert.strictEqual(job.runAs, undefined);

        const permissions = onlyOfType(plan, "databricks:index/permissions:Permissions").inputs as any;
        assert.strictEqual(permissions.jobId, "987");
        assert.deepStrictEqual(permissions.accessControls, [
            { groupName: "data-scientists", permissionLevel: "CAN_MANAGE_RUN" },
            { servicePrincipalName: "00000000-0000-0000-0000-0000000000aa", permissionLevel: "CAN_MANAGE_RUN" },
        ]);
        for (const name of ["dev-register-model-script", "dev-register-model-job", "dev-register-model-runners"]) {
            assert.match(providers.get(name) ?? "", /pulumi:providers:databricks::ws::/, `${name} uses the given provider`);
        }
        assert.ok(plan.resources.filter((r) => r.custom && r.type.startsWith("databricks:index")).every((r) => r.parent === "dev-register-model"));
        assert.deepStrictEqual(plan.outputs, { jobId: "987", jobUrl: "https://adb-1.1.azuredatabricks.net/#job/987", scriptPath: "/Shared/mlflow-platform/register_model.py" });
    });

    it("runs as the given identity, which may read the script", async () => {
        const { plan } = await deployed({ runAs: { servicePrincipalName: "00000000-0000-0000-0000-0000000000bb" } });
        assert.deepStrictEqual((onlyOfType(plan, "databricks:index/job:Job").inputs as any).runAs, { servicePrincipalName: "00000000-0000-0000-0000-0000000000bb" });
        const readers = byType(plan, "databricks:index/permissions:Permissions").find((p) => p.name === "dev-register-model-script-readers")!.inputs as any;
        assert.deepStrictEqual(readers, { workspaceFilePath: "/Shared/mlflow-platform/register_model.py", accessControls: [{ servicePrincipalName: "00000000-0000-0000-0000-0000000000bb", permissionLevel: "CAN_READ" }] });
    });

    it("declares no permissions without runners, and gives the workspace registry its URI", async () => {
        const { plan } = await deployed({ runners: [], registryKind: "databricks", schema: undefined });
        assert.strictEqual(byType(plan, "databricks:index/permissions:Permissions").length, 0);
        const parameters = (onlyOfType(plan, "databricks:index/job:Job").inputs as any).tasks[0].sparkPythonTask.parameters as string[];
        assert.deepStrictEqual(parameters.slice(4), ["--registry", "databricks", "--experiment", "/Shared/mlflow-platform/registrations"]);
    });

    it("refuses a Unity Catalog registry without the schema to register into", async () => {
        await assert.rejects(deployed({ schema: undefined }), /a Unity Catalog registry needs the schema models are registered into/);
    });
});

describe("registration job in the stacks", function () {
    this.timeout(60_000);
    const jobTypes = (plan: Plan) => plan.resources.filter((r) => r.type.startsWith("databricks:") || r.type === "pulumi:providers:databricks" || r.type.endsWith("RegistrationJob")).map((r) => `${r.type} ${r.name}`).sort();

    it("dev, whose workspace holds the registry, declares it with that workspace's provider, into the dev schema, run by the data scientists; prd does not", async () => {
        const dev = await planEditedStackWith(
            "dev",
            (config) => {
                config["mlflow-platform:access"] = {
                    ...config["mlflow-platform:access"],
                    dataScientists: [{ objectId: "11111111-1111-1111-1111-111111111111", type: "group", name: "data-scientists" }],
                };
            },
            { mocks: databricksMocks(new Map()), preview: false },
        );
        const jobResources = jobTypes(dev).filter((t) => /register-model/.test(t));
        assert.deepStrictEqual(jobResources, [
            "databricks:index/job:Job dev-register-model-job",
            "databricks:index/permissions:Permissions dev-register-model-runners",
            "databricks:index/workspaceFile:WorkspaceFile dev-register-model-script",
            "mlflow-platform:jobs:RegistrationJob dev-register-model",
        ]);
        // One provider for the workspace: the one the Unity Catalog access uses (issue 14).
        const providers = byType(dev, "pulumi:providers:databricks");
        assert.deepStrictEqual(providers.map((p) => p.name), ["dev-unity-catalog-provider"]);
        assert.strictEqual(providers[0].inputs.host, "https://adb-1234567890123456.7.azuredatabricks.net", "the workspace this stack created");
        const job = onlyOfType(dev, "databricks:index/job:Job").inputs as any;
        assert.ok(job.tasks[0].sparkPythonTask.parameters.join(" ").endsWith("--schema mlplatform.dev"), "the dev schema");
        const permissions = byType(dev, "databricks:index/permissions:Permissions").map((p) => JSON.stringify(p.inputs.accessControls));
        assert.ok(permissions.some((p) => p.includes('"groupName":"data-scientists"') && p.includes("CAN_MANAGE_RUN")), permissions.join("\n"));
        assert.deepStrictEqual(dev.outputs.registrationJob, { jobId: "987", jobUrl: "https://adb-1.1.azuredatabricks.net/#job/987", registryKind: "unity-catalog", schema: "mlplatform.dev" });

        const prd = await planEditedStack("prd", () => undefined);
        assert.deepStrictEqual(jobTypes(prd), []);
        assert.strictEqual(prd.outputs.registrationJob, undefined);
    });

    it("a dev stack that reads another registry declares no job", async () => {
        const plan = await planEditedStack("dev", (config) => {
            config["mlflow-platform:registry"].host = "https://adb-2222222222222222.2.azuredatabricks.net";
        });
        assert.deepStrictEqual(jobTypes(plan), []);
    });
});
