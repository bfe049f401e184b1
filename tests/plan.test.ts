import * as assert from "assert";
import * as path from "path";
import { ConfigError } from "../lib/config";
import { planStack, renderPlanText, UNKNOWN_DISPLAY, type Plan } from "../lib/plan";
import { StackFileError } from "../lib/stackFiles";
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

    it("declares the same storage and workspace in dev and prd, and serves dev on ACI, prd on Container Apps", () => {
        const platformShape = (plan: Plan) =>
            plan.resources.filter((r) => !r.read && r.parent !== `${plan.stack}-serving`).map((r) => `${r.type} ${r.name.replace(/^(dev|prd)-/, "")}`).sort();
        assert.deepStrictEqual(platformShape(dev), platformShape(prd));
        assert.strictEqual(byType(dev, "azure-native:containerinstance:ContainerGroup").length, 1);
        assert.strictEqual(byType(dev, "azure-native:app:ContainerApp").length, 0);
        assert.strictEqual(byType(prd, "azure-native:app:ContainerApp").length, 1);
        assert.strictEqual(byType(prd, "azure-native:containerinstance:ContainerGroup").length, 0);
        assert.deepStrictEqual(
            [...new Set(dev.resources.map((r) => r.type))].sort(),
            [
                "azure-native:authorization:RoleAssignment",
                "azure-native:containerinstance:ContainerGroup",
                "azure-native:containerregistry:Registry",
                "azure-native:databricks:AccessConnector",
                "azure-native:databricks:Workspace",
                "azure-native:managedidentity:UserAssignedIdentity",
                "azure-native:resources:ResourceGroup",
                "azure-native:storage:BlobContainer",
                "azure-native:storage:BlobServiceProperties",
                "azure-native:storage:StorageAccount",
                "docker:index/image:Image",
                "mlflow-platform:mlflow:MlflowWorkspace",
                "mlflow-platform:serving:ModelServing",
                "mlflow-platform:storage:ModelStore",
                "pulumi-nodejs:dynamic/registry:ModelVersion",
            ],
        );
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
            ["prd-mlflow-workspace", "prd-store-account", "prd-store-data", "prd-store-models"],
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

    it("renders type, name, parent, settings and a summary", () => {
        const text = renderPlanText(prd);
        assert.match(text, /\+ azure-native:storage:StorageAccount {2}prd-store-account {2}\(parent: prd-store, PROTECTED\)/);
        assert.match(text, /^ {6}minimumTlsVersion: TLS1_2$/m);
        assert.match(text, /^ {6}allowBlobPublicAccess: false$/m);
        assert.match(text, /^ {6}parameters\.enableNoPublicIp\.value: true$/m);
        assert.match(text, /^ {6}isVersioningEnabled: true$/m);
        assert.match(text, /^Summary: 20 resources to create \(17 cloud or dynamic resources, 3 components\), 4 protected, 1 read from existing sources\.$/m);
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
        assert.match(stdout, /Summary: 17 resources to create/);
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
        assert.match(stderr, /plan: no stack file Pulumi\.staging\.yaml/);
        assert.doesNotMatch(stderr, /\n\s+at /);
    });
});
