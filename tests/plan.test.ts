import * as assert from "assert";
import * as path from "path";
import { ConfigError, stackReferenceName } from "../lib/config";
import { planStack, renderPlanText, UNKNOWN_DISPLAY, type Plan } from "../lib/plan";
import { StackFileError } from "../lib/config/stackFiles";
import { runScript } from "./helpers/cli";
import { byType, onlyOfType, planEditedStack, PROJECT_DIR } from "./helpers/fixtures";

/** Runs `npm run plan -- <args>` the way a user does. */
const planCli = (...args: string[]) => runScript("scripts/plan.ts", args);

describe("plan of the shipped stacks", () => {
    let dev: Plan;
    let prd: Plan;
    before(async () => {
        dev = await planStack(PROJECT_DIR, "dev");
        prd = await planStack(PROJECT_DIR, "prd");
    });

    it("declares the same storage, workspace, serving and scoring API in dev and prd; dev alone, holding the registry, declares Unity Catalog", () => {
        const unityCatalog = (r: { type: string; name: string }) => r.type.startsWith("databricks:") || r.type === "pulumi:providers:databricks" || r.name.startsWith("dev-unity-catalog");
        const platformShape = (plan: Plan) =>
            // Only the stack holding the registry declares Unity Catalog objects and the registration job.
            // prd alone alerts when a model has no replica (dev scales to zero).
            plan.resources.filter((r) => !r.read && r.parent !== `${plan.stack}-serving` && !unityCatalog(r) && !r.name.startsWith(`${plan.stack}-register-model`) && !r.name.endsWith("-no-ready-replica")).map((r) => `${r.type} ${r.name.replace(/^(dev|prd)-/, "")}`).sort();
        assert.deepStrictEqual(platformShape(dev), platformShape(prd));
        assert.deepStrictEqual([dev, prd].map((plan) => plan.resources.filter((r) => r.name.endsWith("-no-ready-replica")).map((r) => r.name)), [[], ["prd-observability-fraud-no-ready-replica"]]);
        assert.strictEqual(byType(dev, "azure-native:app:ContainerApp").length, 1, "dev serves on Container Apps too");
        assert.strictEqual(byType(dev, "azure-native:containerinstance:ContainerGroup").length, 0);
        assert.strictEqual(byType(prd, "azure-native:app:ContainerApp").length, 1);
        assert.strictEqual(byType(dev, "azure-native:app:ContainerAppsAuthConfig").length, 1);
        assert.strictEqual(byType(prd, "azure-native:app:ContainerAppsAuthConfig").length, 1);
        assert.ok(dev.resources.some(unityCatalog));
        assert.ok(!prd.resources.some(unityCatalog));
        assert.deepStrictEqual(
            [...new Set(dev.resources.map((r) => r.type))].sort(),
            [
                "azure-native:app:ContainerApp",
                "azure-native:app:ContainerAppsAuthConfig",
                "azure-native:app:Job",
                "azure-native:app:ManagedEnvironment",
                "azure-native:applicationinsights:Component",
                "azure-native:authorization:RoleAssignment",
                "azure-native:containerregistry:Registry",
                "azure-native:databricks:AccessConnector",
                "azure-native:databricks:Workspace",
                "azure-native:managedidentity:UserAssignedIdentity",
                "azure-native:monitor:DiagnosticSetting",
                "azure-native:monitor:MetricAlert",
                "azure-native:monitor:ScheduledQueryRule",
                "azure-native:operationalinsights:Workspace",
                "azure-native:portal:Dashboard",
                "azure-native:resources:ResourceGroup",
                "azure-native:storage:BlobContainer",
                "azure-native:storage:BlobContainerImmutabilityPolicy",
                "azure-native:storage:BlobServiceProperties",
                "azure-native:storage:ManagementPolicy",
                "azure-native:storage:StorageAccount",
                "azuread:index/appRoleAssignment:AppRoleAssignment",
                "azuread:index/applicationAppRole:ApplicationAppRole",
                "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri",
                "azuread:index/applicationPermissionScope:ApplicationPermissionScope",
                "azuread:index/applicationPreAuthorized:ApplicationPreAuthorized",
                "azuread:index/applicationRegistration:ApplicationRegistration",
                "azuread:index/servicePrincipal:ServicePrincipal",
                "databricks:index/accessControlRuleSet:AccessControlRuleSet",
                "databricks:index/catalog:Catalog",
                "databricks:index/externalLocation:ExternalLocation",
                "databricks:index/grants:Grants",
                "databricks:index/job:Job",
                "databricks:index/mlflowExperiment:MlflowExperiment",
                "databricks:index/permissions:Permissions",
                "databricks:index/schema:Schema",
                "databricks:index/servicePrincipal:ServicePrincipal",
                "databricks:index/storageCredential:StorageCredential",
                "databricks:index/workspaceFile:WorkspaceFile",
                "docker-build:index:Image",
                "mlflow-platform:access:AzureAccess",
                "mlflow-platform:access:ScoringApi",
                "mlflow-platform:access:UnityCatalogAccess",
                "mlflow-platform:drift:DriftJob",
                "mlflow-platform:jobs:RegistrationJob",
                "mlflow-platform:mlflow:MlflowWorkspace",
                "mlflow-platform:observability:ServingObservability",
                "mlflow-platform:serving:ModelServing",
                "mlflow-platform:storage:ModelStore",
                "pulumi-nodejs:dynamic/registry:ModelVersion",
                "pulumi-nodejs:dynamic/serving:Delay",
                "pulumi-nodejs:dynamic/subscription:ResourceProviderRegistrations",
                "pulumi:providers:databricks",
            ],
        );
    });

    it("declares a drift job per served model with its identity, scoped roles and alert, reading the registered name's payloads", () => {
        for (const plan of [dev, prd]) {
            const env = plan.stack;
            const job = byType(plan, "azure-native:app:Job");
            assert.deepStrictEqual(job.map((j) => j.name), [`${env}-drift-fraud-job`]);
            assert.strictEqual(job[0].inputs.jobName, `drift-mlplatform-${env}-fraud`);
            const alert = plan.resources.find((r) => r.name === `${env}-drift-fraud-alert`);
            assert.ok(alert && alert.type === "azure-native:monitor:ScheduledQueryRule", `${env}: the drift alert`);
            const query = (alert.inputs.criteria as { allOf: { query: string }[] }).allOf[0].query;
            assert.ok(query.includes(`| where tostring(d.model) == "mlplatform.${env}.fraud"`), query);
            const writer = plan.resources.find((r) => r.name === `${env}-drift-fraud-reports-writer`)!;
            assert.match(String(writer.inputs.condition), new RegExp(`StringLike 'mlplatform\\.${env}\\.fraud/\\*/drift/\\*'`));
        }
    });

    it("takes SKUs, retention and names from each stack's config", () => {
        const account = (plan: Plan) => onlyOfType(plan, "azure-native:storage:StorageAccount").inputs;
        const blob = (plan: Plan) => onlyOfType(plan, "azure-native:storage:BlobServiceProperties").inputs as any;
        const workspace = (plan: Plan) => onlyOfType(plan, "azure-native:databricks:Workspace").inputs as any;
        assert.deepStrictEqual(account(dev).sku, { name: "Standard_LRS" });
        assert.deepStrictEqual(account(prd).sku, { name: "Standard_GZRS" });
        assert.strictEqual(account(dev).accountName, "mlplatdevmodels");
        assert.strictEqual(account(prd).accountName, "mlplatprdmodels");
        assert.strictEqual(blob(dev).deleteRetentionPolicy.days, 7);
        assert.strictEqual(blob(prd).deleteRetentionPolicy.days, 30);
        assert.strictEqual(blob(prd).containerDeleteRetentionPolicy.days, 30);
        assert.strictEqual(workspace(dev).sku.name, "premium", "Azure no longer creates Standard workspaces");
        assert.strictEqual(workspace(prd).sku.name, "premium");
    });

    it("protects the stateful resources in prd and nothing in dev", () => {
        assert.deepStrictEqual(dev.resources.filter((r) => r.protect), []);
        assert.deepStrictEqual(
            prd.resources.filter((r) => r.protect).map((r) => r.name).sort(),
            ["prd-mlflow-workspace", "prd-store-account", "prd-store-audit", "prd-store-audit-retention", "prd-store-data", "prd-store-models", "prd-store-payloads"],
        );
    });

    it("tags every taggable resource with environment, project and managed-by", () => {
        for (const plan of [dev, prd]) {
            const taggable = plan.resources.filter((r) => r.custom && "location" in r.inputs);
            assert.ok(taggable.length >= 4);
            for (const r of taggable) {
                assert.deepStrictEqual(
                    r.inputs.tags,
                    { environment: plan.stack, "managed-by": "pulumi", project: "mlflow-platform" },
                    `${r.name} tags`,
                );
            }
        }
    });

    it("gives every Azure resource a component parent", () => {
        for (const r of prd.resources.filter((r) => r.type.startsWith("azure-native:"))) assert.ok(r.parent, `${r.name} has no parent`);
    });

    it("shows values the provider computes as unknown, as a preview does", () => {
        for (const role of byType(dev, "azure-native:authorization:RoleAssignment")) assert.strictEqual(role.inputs.scope, UNKNOWN_DISPLAY);
        assert.strictEqual(dev.outputs.workspaceUrl, UNKNOWN_DISPLAY);
    });

    it("shows each served model's rollout: prd's guarded steps and thresholds, dev's one step", () => {
        assert.match(
            renderPlanText(prd),
            /^ {6}fraud\.rollout: 10% -> 50% -> 100%, bake 10m each; a step passes with <= 1% 5xx, p95 <= 1000 ms, >= 200 calls, and at most 0\.5% more 5xx and 25% slower p95 than stable; first, up to 100 requests logged in the last 24 h replayed: >= 99% of predictions agree$/m,
        );
        assert.match(renderPlanText(prd), /^ {6}fraud\.guardedRolloutRequired: true$/m);
        assert.match(renderPlanText(dev), /^ {6}fraud\.rollout: one step: a new revision gets its traffic once ready \(no rollout in config\)$/m);
    });

    it("shows each served model's payload log: its share, excluded columns and destination", async () => {
        assert.match(renderPlanText(dev), /^ {6}fraud\.payloadLog: 100% of requests, every input column, to mlplatdevmodels\/payloads\/mlplatform\.dev\.fraud\/<version>\/date=YYYY-MM-DD\/hour=HH\/ \(kept 30 days\)$/m);
        assert.match(renderPlanText(prd), /^ {6}fraud\.payloadLog: 10% of requests, every input column, to mlplatprdmodels\/payloads\/mlplatform\.prd\.fraud\/<version>\/date=YYYY-MM-DD\/hour=HH\/ \(kept 90 days\)$/m);
        const edited = await planEditedStack("prd", (config) => {
            (config["mlflow-platform:models"] as any[])[0].payloadLog = { sampleRate: 0.25, excludeColumns: ["email", "iban"] };
        });
        assert.match(renderPlanText(edited), /fraud\.payloadLog: 25% of requests, without columns email, iban, to mlplatprdmodels\/payloads\//);
        const off = await planEditedStack("prd", (config) => {
            (config["mlflow-platform:serving"] as any).payloadLog = { sampleRate: 0 };
        });
        assert.match(renderPlanText(off), /fraud\.payloadLog: off \(sampleRate 0\)/);
        assert.strictEqual(byType(off, "azure-native:authorization:RoleAssignment").filter((r) => r.name.endsWith("payload-writer")).length, 0, "no write access when nothing logs");
    });

    it("renders type, name, parent, settings and a summary", () => {
        const text = renderPlanText(prd);
        assert.match(text, /\+ azure-native:storage:StorageAccount {2}prd-store-account {2}\(parent: prd-store, PROTECTED\)/);
        assert.match(text, /^ {6}minimumTlsVersion: TLS1_2$/m);
        assert.match(text, /^ {6}allowBlobPublicAccess: false$/m);
        assert.match(text, /^ {6}parameters\.enableNoPublicIp\.value: true$/m);
        assert.match(text, /^ {6}isVersioningEnabled: false$/m);
        assert.match(text, /^ {6}isHnsEnabled: true$/m);
        assert.match(text, /^Summary: 54 resources to create \(47 cloud or dynamic resources, 7 components\), 7 protected, 1 read from existing sources\.$/m);
        assert.match(text, /^= pulumi:pulumi:StackReference {2}organization\/mlflow-platform\/dev {2}\(read\)$/m);
    });
});

describe("plan with broken configuration", () => {
    it("reports a corrupted value before declaring any resource", async () => {
        await assert.rejects(
            planEditedStack("prd", (config) => {
                config["mlflow-platform:storageSku"] = "Premium_LRS";
                config["mlflow-platform:blobSoftDeleteDays"] = 0;
            }),
            (err: unknown) => {
                assert.ok(err instanceof ConfigError);
                assert.strictEqual(err.problems.length, 2);
                assert.match(err.message, /mlflow-platform:storageSku = "Premium_LRS"/);
                assert.match(err.message, /mlflow-platform:blobSoftDeleteDays = 0/);
                return true;
            },
        );
    });

    it("names a removed required key and falls back to Pulumi.yaml defaults for the others", async () => {
        await assert.rejects(
            planEditedStack("dev", (config) => {
                delete config["mlflow-platform:storageAccountName"];
            }),
            /mlflow-platform:storageAccountName is not set/,
        );
        const plan = await planEditedStack("dev", (config) => {
            delete config["mlflow-platform:blobSoftDeleteDays"];
            delete config["mlflow-platform:storageSku"];
        });
        assert.deepStrictEqual((onlyOfType(plan, "azure-native:storage:BlobServiceProperties").inputs as any).deleteRetentionPolicy.days, 7);
        assert.deepStrictEqual(onlyOfType(plan, "azure-native:storage:StorageAccount").inputs.sku, { name: "Standard_LRS" });
    });

    it("gives a clear error, never a crash, for every single key removed or corrupted", async () => {
        const { parse } = await import("yaml");
        const fs = await import("fs");
        const keys = Object.keys(parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.prd.yaml"), "utf8")).config);
        for (const key of keys) {
            for (const bad of ["", "not valid!", -1, ["a"], { nested: true }]) {
                try {
                    await planEditedStack("prd", (config) => {
                        config[key] = bad;
                    });
                    assert.fail(`${key} = ${JSON.stringify(bad)} was accepted`);
                } catch (err) {
                    // A type the CLI itself refuses is a stack-file error; the rest, config errors.
                    assert.ok(err instanceof ConfigError || err instanceof StackFileError, `${key} = ${JSON.stringify(bad)} gave ${err}`);
                    assert.ok(err.message.includes(key), `${key} not named in: ${err.message}`);
                    assert.doesNotMatch(err.message, /\n\s+at |Invalid input|Too small/);
                }
            }
            const defaults = parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8")).config;
            const hasDefault = defaults[key.replace("mlflow-platform:", "")]?.default !== undefined;
            const removed = planEditedStack("prd", (config) => {
                delete config[key];
            });
            // Without the key, the default applies (and may itself be refused in prd), or the key is named as missing.
            if (hasDefault) await removed.catch((err: unknown) => assert.ok(err instanceof ConfigError && err.message.includes(key), String(err)));
            else await assert.rejects(removed, (err: unknown) => err instanceof ConfigError && err.message.includes(`${key} is not set`));
        }
    });

    it("uses an existing resource group when config names one", async () => {
        const plan = await planEditedStack("dev", (config) => {
            config["mlflow-platform:resourceGroupName"] = "rg-data-science";
        });
        assert.strictEqual(byType(plan, "azure-native:resources:ResourceGroup").length, 0);
        assert.strictEqual(onlyOfType(plan, "azure-native:storage:StorageAccount").inputs.resourceGroupName, "rg-data-science");
    });

    it("reports an unknown stack with the stacks that exist", async () => {
        await assert.rejects(planStack(PROJECT_DIR, "staging"), (err: unknown) => {
            assert.ok(err instanceof StackFileError);
            assert.match(err.message, /no stack file Pulumi\.staging\.yaml .*known stacks: dev, prd/);
            return true;
        });
    });
});

describe("npm run plan (command line)", () => {
    it("prints the plan and exits 0", async () => {
        const { code, stdout } = await planCli("dev");
        assert.strictEqual(code, 0);
        assert.match(stdout, /^Plan for stack "dev"/);
        assert.match(stdout, /Summary: 74 resources to create/);
        assert.match(stdout, /\n\nWho can do what in "dev" \(from the declared role assignments, app role assignments and grants\):\n.*\n.*\n {2}mlplatdevmodels-registration \(service principal\) +registration job \(runs as\) +Unity Catalog: READ_FILES on data; READ_FILES on models +yes, in mlplatform\.dev \(CREATE_MODEL; owns what it creates\) +- +- +-\n {2}deploying identity +deployer \(found at deploy\)/);
        assert.match(stdout, /\n {2}schema mlplatform\.dev \(owner: [^)]*\)\): mlplatdevmodels-registration \(service principal\): USE_SCHEMA, CREATE_MODEL\n {2}schema mlplatform\.prd \(owner: [^)]*\)\): none beyond the owner\n/);
        assert.match(stdout, /\+ databricks:index\/job:Job {2}dev-register-model-job[^\n]*\n(?: {6}[^\n]*\n)* {6}runAs\.servicePrincipalName: \(known after deploy\)\n/);
    });

    it("exits non-zero with a usage line for a missing or extra argument or an unknown flag", async () => {
        for (const args of [[], ["dev", "prd"], ["--fast", "dev"]]) {
            const { code, stderr } = await planCli(...args);
            assert.strictEqual(code, 2, `args ${args.join(" ")}`);
            assert.match(stderr, /usage: npm run plan -- <stack>/);
            assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
        }
    });

    it("exits 1 with the message for an unknown stack, without a stack trace", async () => {
        const { code, stderr } = await planCli("staging");
        assert.strictEqual(code, 1);
        assert.match(stderr, /^plan: stack "staging": no stack file Pulumi\.staging\.yaml/m);
        assert.doesNotMatch(stderr, /plan: plan:/);
        assert.doesNotMatch(stderr, /\n\s+at /);
    });
});

describe("plan accepts the edits operators make, and shows them", function () {
    // Each case plans the whole program under the mock runtime, twice for some.
    this.timeout(60_000);
    it("a resize, a second model, a canary, an allow-list and another SKU in prd", async () => {
        const plan = await planEditedStack("prd", (config) => {
            const [fraud] = config["mlflow-platform:models"];
            Object.assign(fraud, { cpu: 4, memoryGb: 8, maxReplicas: 20, canary: { alias: "challenger", weight: 10 } });
            config["mlflow-platform:models"].push({ name: "churn", model: "mlplatform.prd.churn", version: 3, cpu: 0.5, memoryGb: 1, minReplicas: 0 });
            config["mlflow-platform:serving"].ipAllowList = ["20.50.0.0/16", "198.51.100.7"];
            config["mlflow-platform:serving"].containerRegistrySku = "Premium";
            config["mlflow-platform:storageSku"] = "Standard_RAGZRS";
        });
        const text = renderPlanText(plan);
        assert.match(text, /^ {6}fraud\.cpu: 4$/m);
        assert.match(text, /^ {6}fraud\.memoryGb: 8$/m);
        assert.match(text, /^ {6}fraud\.replicas: 2-20$/m);
        assert.match(text, /^ {6}fraud\.traffic: 90% stable \(alias "champion"\), 10% canary \(alias "challenger"\)$/m);
        assert.match(text, /^ {6}churn\.model: mlplatform\.prd\.churn$/m);
        assert.match(text, /^ {6}churn\.selector: version 3$|^ {6}churn\.traffic: 100% stable \(version 3\)$/m);
        assert.match(text, /^ {6}fraud\.ipAllowList: 20\.50\.0\.0\/16, 198\.51\.100\.7$/m);
        assert.deepStrictEqual(onlyOfType(plan, "azure-native:containerregistry:Registry").inputs.sku, { name: "Premium" });
        assert.deepStrictEqual(onlyOfType(plan, "azure-native:storage:StorageAccount").inputs.sku, { name: "Standard_RAGZRS" });
        assert.strictEqual(byType(plan, "azure-native:app:ContainerApp").length, 2);
    });

    it("plans the shipped prd with no placeholder and no warning, and warns about a placeholder allow-list an operator adds", async () => {
        const { code, stdout } = await planCli("prd");
        assert.strictEqual(code, 0);
        assert.doesNotMatch(stdout, /Warnings:/);
        assert.match(stdout, /fraud\.entra: required: tokens of the stack's scoring API/);
        const markdown = await planCli("prd", "--format", "markdown");
        assert.match(markdown.stdout, /\*\*Who can do what\*\*\n\n\| principal \| roles \| read data \| register models \| promote \| deploy \| call scoring API \|/);
        const { stackWarnings } = await import("../lib/plan/report");
        const dir = require("fs").mkdtempSync(path.join(require("os").tmpdir(), "prd-placeholder-"));
        try {
            require("fs").copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
            const text = require("fs").readFileSync(path.join(PROJECT_DIR, "Pulumi.prd.yaml"), "utf8").replace("    ingress: external\n", "    ingress: external\n    ipAllowList:\n      - 203.0.113.0/24\n");
            require("fs").writeFileSync(path.join(dir, "Pulumi.prd.yaml"), text);
            assert.match(stackWarnings(dir, "prd")[0], /^mlflow-platform:serving\.ipAllowList\[0\] = "203\.0\.113\.0\/24" looks like a placeholder: it is a documentation-only range \(RFC 5737\)/);
        } finally {
            require("fs").rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("registry.hostFromStack", () => {
    it("names the current organization on Pulumi Cloud and keeps the literal word on a self-managed backend", () => {
        assert.strictEqual(stackReferenceName("organization/mlflow-platform/dev", "acme-ml"), "acme-ml/mlflow-platform/dev");
        assert.strictEqual(stackReferenceName("organization/mlflow-platform/dev", "organization"), "organization/mlflow-platform/dev");
        assert.strictEqual(stackReferenceName("organization/mlflow-platform/dev", undefined), "organization/mlflow-platform/dev");
        assert.strictEqual(stackReferenceName("other-org/mlflow-platform/dev", "acme-ml"), "other-org/mlflow-platform/dev", "an explicit organization stays");
        assert.strictEqual(stackReferenceName("dev", "acme-ml"), "dev");
    });

    it("reads the other stack through a StackReference under the program's organization", async () => {
        const pulumi = await import("@pulumi/pulumi");
        const { recordProgram } = await import("../lib/plan");
        const { readStackConfig } = await import("../lib/config/stackFiles");
        const stack = readStackConfig(PROJECT_DIR, "prd");
        // The plan's mock runtime has no organization; set one as Pulumi Cloud would.
        const setMocks = pulumi.runtime.setMocks;
        // Credential-free, as the plan is: no sign-in is attempted (lib/deployment/context.ts).
        process.env.MLFLOW_PLATFORM_OFFLINE = "1";
        (pulumi.runtime as any).setMocks = (mocks: any, project: string, name: string, preview: boolean) => setMocks(mocks, project, name, preview, "acme-ml");
        try {
            const plan = await recordProgram(
                () => {
                    delete require.cache[require.resolve(path.join(PROJECT_DIR, "index.ts"))];
                    return require(path.join(PROJECT_DIR, "index.ts"));
                },
                { project: stack.project, stack: "prd", config: stack.config },
            );
            assert.deepStrictEqual(plan.resources.filter((r) => r.read).map((r) => r.name), ["acme-ml/mlflow-platform/dev"]);
        } finally {
            (pulumi.runtime as any).setMocks = setMocks;
            delete process.env.MLFLOW_PLATFORM_OFFLINE;
        }
    });
});

describe("serving.maxInactiveRevisions in the plan", () => {
    it("shows the value per model, in the text and the markdown, so an edit is visible", async () => {
        const { renderPlanMarkdown } = await import("../lib/plan/report");
        const shipped = await planStack(PROJECT_DIR, "prd");
        const edited = await planEditedStack("prd", (config) => {
            config["mlflow-platform:serving"].maxInactiveRevisions = 7;
        });
        assert.ok(renderPlanText(shipped).includes("      fraud.maxInactiveRevisions: 3\n"), "the default");
        assert.ok(renderPlanText(edited).includes("      fraud.maxInactiveRevisions: 7\n"));
        assert.match(renderPlanMarkdown(edited, [], []), /\| replicas \| inactive revisions kept \| access \|[\s\S]*\| 2-10 \| 7 \| external/);
    });
});
