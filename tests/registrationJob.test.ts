// The registration job under Pulumi's mock runtime: the component's resources and permissions,
// and which stack declares it (only the one whose workspace holds the registry).
import * as assert from "assert";
import type * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import { RegistrationJob, type RegistrationJobArgs } from "../components/registration/registrationJob";
import { recordProgram, type Plan } from "../lib/plan";
import { deployedAzureMocks, REGISTRATION_APP_ID } from "./helpers/azureMocks";
import { ACCOUNT_ID_PLACEHOLDER, UnityCatalogAccess } from "../components/access/unityCatalog";
import { ConfigError } from "../lib/config";
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

    it("runs as the given identity, which may read the script and manage the experiment the job declares", async () => {
        const { plan } = await deployed({ runAs: { servicePrincipalName: "00000000-0000-0000-0000-0000000000bb" } });
        assert.deepStrictEqual((onlyOfType(plan, "databricks:index/job:Job").inputs as any).runAs, { servicePrincipalName: "00000000-0000-0000-0000-0000000000bb" });
        const permissions = (name: string) => byType(plan, "databricks:index/permissions:Permissions").find((p) => p.name === name)!.inputs as any;
        assert.deepStrictEqual(permissions("dev-register-model-script-readers"), { workspaceFilePath: "/Shared/mlflow-platform/register_model.py", accessControls: [{ servicePrincipalName: "00000000-0000-0000-0000-0000000000bb", permissionLevel: "CAN_READ" }] });
        const experiment = onlyOfType(plan, "databricks:index/mlflowExperiment:MlflowExperiment");
        assert.strictEqual(experiment.inputs.name, "/Shared/mlflow-platform/registrations", "the path the job passes as --experiment");
        assert.strictEqual(experiment.parent, "dev-register-model");
        assert.deepStrictEqual(permissions("dev-register-model-experiment-users").accessControls, [{ servicePrincipalName: "00000000-0000-0000-0000-0000000000bb", permissionLevel: "CAN_MANAGE" }]);
        assert.deepStrictEqual(permissions("dev-register-model-runners").accessControls.map((a: any) => a.permissionLevel), ["CAN_MANAGE_RUN", "CAN_MANAGE_RUN"], "runners start runs; run_as stays as declared");
    });

    it("declares no experiment without a run_as identity (the owner's runs create it, as before)", async () => {
        const { plan } = await deployed();
        assert.deepStrictEqual(byType(plan, "databricks:index/mlflowExperiment:MlflowExperiment"), []);
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
            "databricks:index/mlflowExperiment:MlflowExperiment dev-register-model-experiment",
            "databricks:index/permissions:Permissions dev-register-model-experiment-users",
            "databricks:index/permissions:Permissions dev-register-model-runners",
            "databricks:index/permissions:Permissions dev-register-model-script-readers",
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

describe("the registration principal (issue 18, point 6)", function () {
    this.timeout(60_000);
    const SCIENTISTS = { objectId: "11111111-1111-1111-1111-111111111111", type: "group", name: "ml-data-scientists" };
    const DEPLOYERS = { objectId: "22222222-2222-2222-2222-222222222222", type: "group", name: "ml-deployers" };
    const ACCOUNT = "abcdef01-2345-4678-9abc-def012345678";
    let dev: Plan;
    before(async () => {
        dev = await planEditedStackWith(
            "dev",
            (config) => {
                config["mlflow-platform:access"] = { dataScientists: [SCIENTISTS], deployers: [DEPLOYERS], scoringClients: [] };
                config["mlflow-platform:registry"].databricksAccountId = ACCOUNT;
            },
            { mocks: databricksMocks(new Map()), preview: false },
        );
    });
    const ucArgs = {
        workspaceUrl: "https://adb-1.1.azuredatabricks.net",
        workspaceResourceId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/workspaces/w",
        accessConnectorId: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Databricks/accessConnectors/c",
        storageAccountName: "mlplattest01",
        containerNames: { data: "data", models: "models" },
        catalog: "mlplatform",
        devSchema: "dev",
        prdSchema: "prd",
        namePrefix: "mlplattest01",
    };
    const grantsOf = (plan: Plan) =>
        byType(plan, "databricks:index/grants:Grants").map((g) => ({
            securable: String(g.inputs.schema ?? g.inputs.catalog ?? g.inputs.externalLocation ?? g.inputs.storageCredential),
            grants: g.inputs.grants as { principal: string; privileges: string[] }[],
        }));

    it("is a Databricks-managed service principal of the Unity Catalog component, and the job runs as it", () => {
        const sp = onlyOfType(dev, "databricks:index/servicePrincipal:ServicePrincipal");
        assert.strictEqual(sp.name, "dev-unity-catalog-registration-principal");
        assert.strictEqual(sp.parent, "dev-unity-catalog");
        assert.deepStrictEqual(sp.inputs, { displayName: "mlplatdevmodels-registration" }, "no applicationId: Databricks makes one; no entitlement beyond the defaults");
        const job = onlyOfType(dev, "databricks:index/job:Job").inputs as any;
        assert.deepStrictEqual(job.runAs, { servicePrincipalName: REGISTRATION_APP_ID });
        assert.ok(job.tasks[0].sparkPythonTask.parameters.join(" ").includes("--experiment /Shared/mlflow-platform/registration-runs"));
        assert.strictEqual(onlyOfType(dev, "databricks:index/mlflowExperiment:MlflowExperiment").inputs.name, "/Shared/mlflow-platform/registration-runs");
    });

    it("holds exactly USE_CATALOG, USE_SCHEMA + CREATE_MODEL on the dev schema and READ_FILES on both locations; nothing on prd", () => {
        const held = grantsOf(dev).flatMap((g) => g.grants.filter((x) => x.principal === REGISTRATION_APP_ID).map((x) => `${g.securable}: ${x.privileges.join(",")}`));
        assert.deepStrictEqual(held.sort(), ["mlplatdevmodels-data: READ_FILES", "mlplatdevmodels-models: READ_FILES", "mlplatform.dev: USE_SCHEMA,CREATE_MODEL", "mlplatform: USE_CATALOG"]);
        const prd = grantsOf(dev).find((g) => g.securable === "mlplatform.prd")!;
        assert.ok(!prd.grants.some((x) => x.principal === REGISTRATION_APP_ID), JSON.stringify(prd));
        for (const type of ["databricks:index/schema:Schema", "databricks:index/catalog:Catalog", "databricks:index/externalLocation:ExternalLocation", "databricks:index/storageCredential:StorageCredential"]) {
            for (const r of byType(dev, type)) assert.notStrictEqual(r.inputs.owner, REGISTRATION_APP_ID, `${r.name} is not its`);
        }
    });

    it("joins each securable's one Grants resource: no securable has two", () => {
        const securables = grantsOf(dev).map((g) => g.securable);
        assert.deepStrictEqual(securables, [...new Set(securables)]);
        assert.strictEqual(securables.length, 6, "the credential, both locations, the catalog and both schemas");
        for (const g of grantsOf(dev)) assert.ok(g.grants.length > 0, `${g.securable}: a Grants needs at least one grant`);
    });

    it("the deployers and the deploying identity get Service Principal User on it, in its default rule set; data scientists nothing", () => {
        const ruleSet = onlyOfType(dev, "databricks:index/accessControlRuleSet:AccessControlRuleSet");
        assert.strictEqual(ruleSet.parent, "dev-unity-catalog");
        assert.strictEqual(ruleSet.inputs.name, `accounts/${ACCOUNT}/servicePrincipals/${REGISTRATION_APP_ID}/ruleSets/default`);
        const rules = ruleSet.inputs.grantRules as { role: string; principals: string[] }[];
        assert.deepStrictEqual(rules.map((r) => r.role), ["roles/servicePrincipal.manager", "roles/servicePrincipal.user"]);
        // Offline, the deploying identity's Databricks name is known after deploy.
        assert.strictEqual(rules[1].principals as unknown, "(known after deploy)");
        const text = JSON.stringify(rules);
        assert.ok(!text.includes("ml-data-scientists"), text);
        const job = onlyOfType(dev, "databricks:index/job:Job");
        assert.ok(dev.resources.indexOf(ruleSet) < dev.resources.indexOf(job));
    });

    it("data scientists keep only CAN_MANAGE_RUN on the job: they start runs, which run as the principal, and cannot change run_as", () => {
        const scientistLevels = byType(dev, "databricks:index/permissions:Permissions").flatMap((p) =>
            (p.inputs.accessControls as any[]).filter((a) => a.groupName === "ml-data-scientists").map((a) => `${p.name}: ${a.permissionLevel}`),
        );
        assert.deepStrictEqual(scientistLevels, ["dev-register-model-runners: CAN_MANAGE_RUN"]);
        const principalLevels = byType(dev, "databricks:index/permissions:Permissions").flatMap((p) =>
            (p.inputs.accessControls as any[]).filter((a) => a.servicePrincipalName === REGISTRATION_APP_ID).map((a) => `${p.name}: ${a.permissionLevel}`),
        );
        assert.deepStrictEqual(principalLevels, ["dev-register-model-script-readers: CAN_READ", "dev-register-model-experiment-users: CAN_MANAGE"]);
    });

    it("the plan names the account id it still needs; a deploy without it stops before any resource", async () => {
        const plan = await planEditedStack("dev", () => undefined);
        const ruleSet = onlyOfType(plan, "databricks:index/accessControlRuleSet:AccessControlRuleSet");
        assert.ok(ACCOUNT_ID_PLACEHOLDER.includes("registry.databricksAccountId"));
        assert.strictEqual(ruleSet.inputs.name, "(known after deploy)", "the application id is known after deploy");
        const path = await import("path");
        const { readStackConfig } = await import("../lib/config/stackFiles");
        const { PROJECT_DIR } = await import("./helpers/fixtures");
        const stack = readStackConfig(PROJECT_DIR, "dev");
        const program = path.join(PROJECT_DIR, "index.ts");
        const registered: string[] = [];
        const mocks: pulumi.runtime.Mocks = { ...deployedAzureMocks, newResource: (args) => (registered.push(args.name), deployedAzureMocks.newResource(args)) };
        await assert.rejects(
            recordProgram(
                () => {
                    delete require.cache[require.resolve(program)];
                    return require(program);
                },
                { project: stack.project, stack: "dev", config: stack.config, mocks, preview: false },
            ),
            (err: unknown) => err instanceof ConfigError && /mlflow-platform:registry\.databricksAccountId is not set/.test(err.message),
        );
        assert.deepStrictEqual(registered, []);
    });

    it("deployed: the rule set names the deploying identity (as Databricks reports it) and each deployer once", async () => {
        const calls: string[] = [];
        const mocks: pulumi.runtime.Mocks = {
            newResource: deployedAzureMocks.newResource,
            call: (args) => {
                calls.push(args.token);
                if (args.token === "databricks:index/getCurrentUser:getCurrentUser") return { aclPrincipalId: "servicePrincipals/04b07795-8ddb-461a-bbee-02f9e1bf7b46", userName: "04b07795-8ddb-461a-bbee-02f9e1bf7b46" };
                return deployedAzureMocks.call(args);
            },
        };
        const plan = await recordProgram(
            () => {
                new UnityCatalogAccess("t-uc", {
                    ...ucArgs,
                    roles: {
                        dataScientists: [{ objectId: SCIENTISTS.objectId, type: "group", name: SCIENTISTS.name }],
                        deployers: [
                            { objectId: DEPLOYERS.objectId, type: "group", name: DEPLOYERS.name },
                            { objectId: "33333333-3333-3333-3333-333333333333", type: "servicePrincipal", name: "04b07795-8ddb-461a-bbee-02f9e1bf7b46" },
                            { objectId: "44444444-4444-4444-4444-444444444444", type: "user", name: "ops@example.com" },
                        ],
                        scoringClients: [],
                        acceptDataScientistAsDeployer: false,
                    },
                    databricksAccountId: ACCOUNT,
                    offline: false,
                });
            },
            { project: "mlflow-platform", stack: "dev", mocks, preview: false },
        );
        assert.deepStrictEqual(calls, ["databricks:index/getCurrentUser:getCurrentUser"]);
        const rules = onlyOfType(plan, "databricks:index/accessControlRuleSet:AccessControlRuleSet").inputs.grantRules as { role: string; principals: string[] }[];
        assert.deepStrictEqual(rules, [
            { role: "roles/servicePrincipal.manager", principals: ["servicePrincipals/04b07795-8ddb-461a-bbee-02f9e1bf7b46"] },
            { role: "roles/servicePrincipal.user", principals: ["servicePrincipals/04b07795-8ddb-461a-bbee-02f9e1bf7b46", "groups/ml-deployers", "users/ops@example.com"] },
        ]);
    });

    it("registry.registrationRunAs wins: the job runs as that principal, which alone gets the registration grants; no principal or rule set is declared", async () => {
        const plan = await planEditedStackWith(
            "dev",
            (config) => {
                config["mlflow-platform:access"] = { dataScientists: [SCIENTISTS], deployers: [DEPLOYERS], scoringClients: [] };
                config["mlflow-platform:registry"].registrationRunAs = "00000000-0000-0000-0000-0000000000cc";
            },
            { mocks: databricksMocks(new Map()), preview: false },
        );
        assert.deepStrictEqual((onlyOfType(plan, "databricks:index/job:Job").inputs as any).runAs, { servicePrincipalName: "00000000-0000-0000-0000-0000000000cc" });
        assert.deepStrictEqual(byType(plan, "databricks:index/servicePrincipal:ServicePrincipal"), []);
        assert.deepStrictEqual(byType(plan, "databricks:index/accessControlRuleSet:AccessControlRuleSet"), []);
        const held = grantsOf(plan).flatMap((g) => g.grants.filter((x) => x.principal === "00000000-0000-0000-0000-0000000000cc").map((x) => `${g.securable}: ${x.privileges.join(",")}`));
        assert.deepStrictEqual(held.sort(), ["mlplatdevmodels-data: READ_FILES", "mlplatdevmodels-models: READ_FILES", "mlplatform.dev: USE_SCHEMA,CREATE_MODEL", "mlplatform: USE_CATALOG"]);
        assert.ok(!grantsOf(plan).flatMap((g) => g.grants).some((x) => x.principal === REGISTRATION_APP_ID));
        const { parsePlatformConfig } = await import("../lib/config");
        const { validRawConfig } = await import("./helpers/fixtures");
        assert.deepStrictEqual(parsePlatformConfig(validRawConfig({ registry: { kind: "unity-catalog", catalog: "main", registrationRunAs: "ml-ops@example.com" } }), "dev").registry.registrationRunAs, { userName: "ml-ops@example.com" });
    });

    it("a principal given instead (an override) wins: no service principal or rule set, and it gets the same grants", async () => {
        const plan = await recordProgram(
            () => {
                new UnityCatalogAccess("t-uc", {
                    ...ucArgs,
                    roles: { dataScientists: [], deployers: [], scoringClients: [], acceptDataScientistAsDeployer: false },
                    registrar: { servicePrincipalName: "00000000-0000-0000-0000-0000000000bb" },
                    offline: true,
                });
            },
            { project: "mlflow-platform", stack: "dev", mocks: deployedAzureMocks, preview: false },
        );
        assert.deepStrictEqual(byType(plan, "databricks:index/servicePrincipal:ServicePrincipal"), []);
        assert.deepStrictEqual(byType(plan, "databricks:index/accessControlRuleSet:AccessControlRuleSet"), []);
        const held = grantsOf(plan).flatMap((g) => g.grants.filter((x) => x.principal === "00000000-0000-0000-0000-0000000000bb").map((x) => `${g.securable}: ${x.privileges.join(",")}`));
        assert.deepStrictEqual(held.sort(), ["mlplatform.dev: USE_SCHEMA,CREATE_MODEL", "mlplatform: USE_CATALOG", "mlplattest01-data: READ_FILES", "mlplattest01-models: READ_FILES"]);
    });

    it("a configured principal that is also a deployer has one entry per Grants, with both sets of privileges", async () => {
        const plan = await recordProgram(
            () => {
                new UnityCatalogAccess("t-uc", {
                    ...ucArgs,
                    roles: { dataScientists: [], deployers: [{ objectId: DEPLOYERS.objectId, type: "servicePrincipal", name: "00000000-0000-0000-0000-0000000000bb" }], scoringClients: [], acceptDataScientistAsDeployer: false },
                    registrar: { servicePrincipalName: "00000000-0000-0000-0000-0000000000bb" },
                    offline: true,
                });
            },
            { project: "mlflow-platform", stack: "dev", mocks: deployedAzureMocks, preview: false },
        );
        const dev = grantsOf(plan).find((g) => g.securable === "mlplatform.dev")!;
        assert.deepStrictEqual(dev.grants, [{ principal: "00000000-0000-0000-0000-0000000000bb", privileges: ["USE_SCHEMA", "EXECUTE", "MANAGE", "CREATE_MODEL"] }]);
        for (const g of grantsOf(plan)) assert.strictEqual(g.grants.length, 1, g.securable);
    });
});
