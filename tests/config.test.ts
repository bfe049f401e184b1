import * as assert from "assert";
import { ConfigError, parsePlatformConfig, rawConfigFrom } from "../lib/config";
import { validRawConfig } from "./helpers/fixtures";

function problemsFor(raw: Record<string, unknown>): readonly string[] {
    try {
        parsePlatformConfig(raw, "dev");
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
        return err.problems;
    }
    assert.fail("expected the configuration to be rejected");
}

describe("stack configuration", () => {
    it("builds the typed config from Pulumi's string values", () => {
        const config = parsePlatformConfig(
            validRawConfig({ protect: "true", blobSoftDeleteDays: "30", resourceGroupName: "rg-shared" }),
            "dev",
        );
        assert.strictEqual(config.protect, true);
        assert.strictEqual(config.storage.blobSoftDeleteDays, 30);
        assert.strictEqual(config.storage.existingResourceGroupName, "rg-shared");
        assert.strictEqual(config.location, "westeurope");
        assert.deepStrictEqual(config.tags, { environment: "dev", project: "mlflow-platform", "managed-by": "pulumi" });
    });

    it("reads only this project's keys and the provider location from Pulumi's flat map", () => {
        const raw = rawConfigFrom({
            "mlflow-platform:storageSku": "Standard_ZRS",
            "mlflow-platform:serving": '{"a":1}',
            "azure-native:location": "northeurope",
            "azure-native:subscriptionId": "ignored",
            "other-project:key": "ignored",
        });
        assert.deepStrictEqual(raw, { storageSku: "Standard_ZRS", serving: { a: 1 }, "azure-native:location": "northeurope" });
    });

    const invalidCases: { title: string; overrides: Record<string, unknown>; expected: string }[] = [
        {
            title: "a storage account name with capitals and underscores",
            overrides: { storageAccountName: "ML_Store" },
            expected: 'mlflow-platform:storageAccountName = "ML_Store" is not allowed: it must be 3-24 lowercase letters or digits',
        },
        {
            title: "a storage account name that is too long",
            overrides: { storageAccountName: "a".repeat(25) },
            expected: "mlflow-platform:storageAccountName = \"aaaaaaaaaaaaaaaaaaaaaaaaa\" is not allowed: it must be 3-24",
        },
        {
            title: "a storage account name that is too short",
            overrides: { storageAccountName: "ab" },
            expected: 'mlflow-platform:storageAccountName = "ab" is not allowed',
        },
        {
            title: "a premium storage SKU that StorageV2 cannot use",
            overrides: { storageSku: "Premium_LRS" },
            expected:
                'mlflow-platform:storageSku = "Premium_LRS" is not allowed: it must be one of: Standard_LRS, Standard_ZRS, Standard_GRS, Standard_RAGRS, Standard_GZRS, Standard_RAGZRS',
        },
        {
            title: "a Databricks SKU outside the list",
            overrides: { databricksSku: "enterprise" },
            expected: 'mlflow-platform:databricksSku = "enterprise" is not allowed: it must be one of: standard, premium, trial',
        },
        {
            title: "retention of 0 days",
            overrides: { blobSoftDeleteDays: "0" },
            expected: "mlflow-platform:blobSoftDeleteDays = 0 is not allowed: it must be a whole number from 1 to 365",
        },
        {
            title: "retention over 365 days",
            overrides: { containerSoftDeleteDays: "366" },
            expected: "mlflow-platform:containerSoftDeleteDays = 366 is not allowed: it must be a whole number from 1 to 365",
        },
        {
            title: "fractional retention",
            overrides: { blobSoftDeleteDays: "7.5" },
            expected: 'mlflow-platform:blobSoftDeleteDays = "7.5" is not allowed: it must be a whole number from 1 to 365',
        },
        {
            title: "retention that is not a number",
            overrides: { blobSoftDeleteDays: "a week" },
            expected: 'mlflow-platform:blobSoftDeleteDays = "a week" is not allowed: it must be a whole number from 1 to 365',
        },
        {
            title: "protect that is not a boolean",
            overrides: { protect: "yes" },
            expected: 'mlflow-platform:protect = "yes" is not allowed: it must be true or false',
        },
        {
            title: "an environment other than dev or prd",
            overrides: { environment: "prod" },
            expected: 'mlflow-platform:environment = "prod" is not allowed: it must be one of: dev, prd',
        },
        {
            title: "a location written as a display name",
            overrides: { "azure-native:location": "West Europe" },
            expected: 'azure-native:location = "West Europe" is not allowed: it must be an Azure region name in lowercase without spaces',
        },
        {
            title: "a resource group name ending in a period",
            overrides: { resourceGroupName: "rg-shared." },
            expected: 'mlflow-platform:resourceGroupName = "rg-shared." is not allowed',
        },
        {
            title: "a misspelt key",
            overrides: { storageSkus: "Standard_LRS" },
            expected:
                "mlflow-platform:storageSkus is not a setting this program reads (probable typo): did you mean mlflow-platform:storageSku?",
        },
        {
            title: "a misspelt retention key",
            overrides: { blobSoftDeletDays: "7" },
            expected: "did you mean mlflow-platform:blobSoftDeleteDays?",
        },
    ];

    const size = { cpu: 1, memoryGb: 2 };
    const apps = { containerRegistrySku: "Basic", platform: "containerapp" };
    const models = (entry: Record<string, unknown>) => [{ name: "fraud", model: "main.risk.fraud", ...size, ...entry }];
    invalidCases.push(
        {
            title: "an unknown registry kind",
            overrides: { registry: { kind: "sagemaker" } },
            expected: 'mlflow-platform:registry.kind = "sagemaker" is not allowed: it must be one of: mlflow, databricks, unity-catalog',
        },
        {
            title: "a registry host over plain http",
            overrides: { registry: { kind: "mlflow", host: "http://mlflow.internal:5000" } },
            expected: 'mlflow-platform:registry.host = "http://mlflow.internal:5000" is not allowed: it must use https://',
        },
        {
            title: "a registry host that is not a URL",
            overrides: { registry: { kind: "mlflow", host: "mlflow server" } },
            expected: 'mlflow-platform:registry.host = "mlflow server" is not allowed: it must be a URL such as https://',
        },
        {
            title: "both host and hostFromStack",
            overrides: { registry: { kind: "unity-catalog", host: "https://adb-1.azuredatabricks.net", hostFromStack: "org/mlflow-platform/dev" } },
            expected: 'mlflow-platform:registry.hostFromStack = "org/mlflow-platform/dev" is not allowed: it cannot be set together with host',
        },
        {
            title: "a misspelt registry key, suggesting the nested key",
            overrides: { registry: { kind: "unity-catalog", hostFromStak: "org/p/dev" } },
            expected: "mlflow-platform:registry.hostFromStak is not a setting this program reads (probable typo): did you mean mlflow-platform:registry.hostFromStack?",
        },
        {
            title: "a registry that is not a map",
            overrides: { registry: "unity-catalog" },
            expected: 'mlflow-platform:registry = "unity-catalog" is not allowed: it must be a map with kind',
        },
        {
            title: "models that are not a list",
            overrides: { models: "fraud" },
            expected: 'mlflow-platform:models = "fraud" is not allowed: it must be a list of models to serve',
        },
        {
            title: "a model entry with two selectors",
            overrides: { models: models({ alias: "champion", version: 3 }) },
            expected: "mlflow-platform:models[0] = {",
        },
        {
            title: "a model entry without a selector",
            overrides: { models: models({}) },
            expected: "cannot be used: no selector: set exactly one of alias, stage, version or latest: true",
        },
        {
            title: "the reserved alias latest",
            overrides: { models: models({ alias: "latest" }) },
            expected: 'mlflow-platform:models[0].alias = "latest" is not allowed: it cannot be used: alias "latest" is reserved by MLflow',
        },
        {
            title: "a stage selector on Unity Catalog",
            overrides: { models: models({ stage: "Production" }) },
            expected: 'mlflow-platform:models[0].stage = "Production" is not allowed: it cannot be used: Unity Catalog has no stages',
        },
        {
            title: "a Unity Catalog model name without catalog and schema",
            overrides: { models: [{ name: "fraud", model: "fraud", latest: true, ...size }] },
            expected: 'mlflow-platform:models[0].model = "fraud" is not allowed: it cannot be used: "fraud" is not a Unity Catalog model name',
        },
        {
            title: "a service name with capitals",
            overrides: { models: [{ name: "Fraud", model: "main.risk.fraud", latest: true, ...size }] },
            expected: 'mlflow-platform:models[0].name = "Fraud" is not allowed: it must be 1-24 lowercase letters, digits or \'-\', starting with a letter',
        },
        {
            title: "two models with the same service name",
            overrides: { models: [...models({ latest: true }), { name: "fraud", model: "main.risk.churn", latest: true, ...size }] },
            expected: 'mlflow-platform:models[1].name = "fraud" is not allowed: it is used by another model entry',
        },
        {
            title: "more CPU than a container group can have",
            overrides: { models: models({ latest: true, cpu: 5 }) },
            expected: "mlflow-platform:models[0].cpu = 5 is not allowed: it must be 0.1-4 cores in steps of 0.1 (Azure Container Instances, Linux)",
        },
        {
            title: "a CPU size between ACI's steps",
            overrides: { models: models({ latest: true, cpu: 0.25 }) },
            expected: "mlflow-platform:models[0].cpu = 0.25 is not allowed: it must be 0.1-4 cores in steps of 0.1",
        },
        {
            title: "more memory than a container group can have",
            overrides: { models: models({ latest: true, memoryGb: 32 }) },
            expected: "mlflow-platform:models[0].memoryGb = 32 is not allowed: it must be 0.1-16 GB in steps of 0.1 (Azure Container Instances, Linux)",
        },
        {
            title: "a CPU size that is not a number",
            overrides: { models: models({ latest: true, cpu: "two" }) },
            expected: 'mlflow-platform:models[0].cpu = "two" is not allowed: it must be a number of CPU cores, such as 1 or 0.5',
        },
        {
            title: "a model entry without memory",
            overrides: { models: [{ name: "fraud", model: "main.risk.fraud", latest: true, cpu: 1 }] },
            expected: "mlflow-platform:models[0].memoryGb is not set: it must be a number of GB, such as 2 or 1.5",
        },
        {
            title: "zero workers",
            overrides: { models: models({ latest: true, workers: 0 }) },
            expected: "mlflow-platform:models[0].workers = 0 is not allowed: it must be a whole number from 1 to 32",
        },
        {
            title: "an unknown serving platform",
            overrides: { serving: { platform: "kubernetes", containerRegistrySku: "Basic" } },
            expected: 'mlflow-platform:serving.platform = "kubernetes" is not allowed: it must be one of: aci',
        },
        {
            title: "an unknown container registry SKU",
            overrides: { serving: { platform: "aci", containerRegistrySku: "Free" } },
            expected: 'mlflow-platform:serving.containerRegistrySku = "Free" is not allowed: it must be one of: Basic, Standard, Premium',
        },
        {
            title: "a Container Apps CPU between steps",
            overrides: { serving: apps, models: models({ latest: true, cpu: 0.3, memoryGb: 0.6 }) },
            expected: "mlflow-platform:models[0].cpu = 0.3 is not allowed: it must be 0.25-4 cores in steps of 0.25 (Azure Container Apps, Consumption)",
        },
        {
            title: "a Container Apps CPU/memory combination Azure does not offer",
            overrides: { serving: apps, models: models({ latest: true, cpu: 1, memoryGb: 3 }) },
            expected: "mlflow-platform:models[0].memoryGb = 3 is not allowed: it must be 2 for cpu 1: Azure Container Apps pairs each 0.25 cores with 0.5 GB",
        },
        {
            title: "more than 4 cores on Container Apps",
            overrides: { serving: apps, models: models({ latest: true, cpu: 8, memoryGb: 16 }) },
            expected: "mlflow-platform:models[0].cpu = 8 is not allowed: it must be 0.25-4 cores",
        },
        {
            title: "maxReplicas below minReplicas",
            overrides: { serving: apps, models: models({ latest: true, minReplicas: 5, maxReplicas: 2 }) },
            expected: "mlflow-platform:models[0].maxReplicas = 2 is not allowed: it must be at least minReplicas (5)",
        },
        {
            title: "too many replicas",
            overrides: { serving: apps, models: models({ latest: true, maxReplicas: 31 }) },
            expected: "mlflow-platform:models[0].maxReplicas = 31 is not allowed: it must be a whole number from 1 to 30",
        },
        {
            title: "a negative minimum of replicas",
            overrides: { serving: apps, models: models({ latest: true, minReplicas: -1 }) },
            expected: "mlflow-platform:models[0].minReplicas = -1 is not allowed: it must be a whole number from 0 to 30",
        },
        {
            title: "a concurrency of zero",
            overrides: { serving: apps, models: models({ latest: true, concurrentRequests: 0 }) },
            expected: "mlflow-platform:models[0].concurrentRequests = 0 is not allowed: it must be a whole number from 1 to 1000",
        },
        {
            title: "a canary weight over 100",
            overrides: { serving: apps, models: models({ alias: "champion", canary: { alias: "challenger", weight: 110 } }) },
            expected: "mlflow-platform:models[0].canary.weight = 110 is not allowed: it must be a whole number from 0 to 100",
        },
        {
            title: "a canary weight that is not a number",
            overrides: { serving: apps, models: models({ alias: "champion", canary: { alias: "challenger", weight: "ten" } }) },
            expected: 'mlflow-platform:models[0].canary.weight = "ten" is not allowed: it must be a whole number from 0 to 100',
        },
        {
            title: "a canary without weight",
            overrides: { serving: apps, models: models({ alias: "champion", canary: { alias: "challenger" } }) },
            expected: "mlflow-platform:models[0].canary.weight is not set: it must be a whole number from 0 to 100",
        },
        {
            title: "a canary that selects what the model already selects",
            overrides: { serving: apps, models: models({ alias: "champion", canary: { alias: "champion", weight: 10 } }) },
            expected: "mlflow-platform:models[0].canary = {\"alias\":\"champion\",\"weight\":10} is not allowed: it selects the same as the model's own selector",
        },
        {
            title: "a canary with a reserved alias",
            overrides: { serving: apps, models: models({ alias: "champion", canary: { alias: "latest", weight: 10 } }) },
            expected: 'mlflow-platform:models[0].canary.alias = "latest" is not allowed: it cannot be used: alias "latest" is reserved',
        },
        {
            title: "a canary on ACI",
            overrides: { models: models({ alias: "champion", canary: { alias: "challenger", weight: 10 } }) },
            expected: "mlflow-platform:models[0].canary = {\"alias\":\"challenger\",\"weight\":10} is not allowed: it only applies with serving.platform containerapp",
        },
        {
            title: "replicas on ACI",
            overrides: { models: models({ latest: true, maxReplicas: 4 }) },
            expected: "mlflow-platform:models[0].maxReplicas = 4 is not allowed: it only applies with serving.platform containerapp",
        },
        {
            title: "an IP allow-list on ACI",
            overrides: { serving: { containerRegistrySku: "Basic", platform: "aci", ipAllowList: ["10.0.0.0/8"] } },
            expected: "mlflow-platform:serving.ipAllowList = [\"10.0.0.0/8\"] is not allowed: it only applies with serving.platform containerapp",
        },
        {
            title: "an allow-list entry that is not an IPv4 range",
            overrides: { serving: { ...apps, ipAllowList: ["10.0.0.0/33"] } },
            expected: 'mlflow-platform:serving.ipAllowList[0] = "10.0.0.0/33" is not allowed: it must be an IPv4 address or CIDR range',
        },
        {
            title: "an Entra tenant that is not a GUID",
            overrides: { serving: { ...apps, entra: { tenantId: "contoso.com", clientId: "66666666-7777-8888-9999-000000000000", audiences: ["api://x"] } } },
            expected: 'mlflow-platform:serving.entra.tenantId = "contoso.com" is not allowed: it must be the Microsoft Entra tenant id (a GUID)',
        },
        {
            title: "Entra without audiences",
            overrides: { serving: { ...apps, entra: { tenantId: "11111111-2222-3333-4444-555555555555", clientId: "66666666-7777-8888-9999-000000000000", audiences: [] } } },
            expected: "mlflow-platform:serving.entra.audiences = [] is not allowed: it must list at least one audience",
        },
        {
            title: "an unknown ingress mode",
            overrides: { serving: { ...apps, ingress: "public" } },
            expected: 'mlflow-platform:serving.ingress = "public" is not allowed: it must be one of: external, internal',
        },
        {
            title: "a misspelt model entry key",
            overrides: { models: models({ alais: "champion", latest: true }) },
            expected: "mlflow-platform:models[0].alais is not a setting this program reads (probable typo): did you mean mlflow-platform:models[0].alias?",
        },
        {
            title: "a model entry without a model name",
            overrides: { models: [{ name: "fraud", latest: true, ...size }] },
            expected: "mlflow-platform:models[0].model is not set: it must be the registered model name",
        },
    );

    for (const { title, overrides, expected } of invalidCases) {
        it(`rejects ${title}`, () => {
            const problems = problemsFor(validRawConfig(overrides));
            assert.strictEqual(problems.length, 1, `expected exactly one problem, got:\n${problems.join("\n")}`);
            assert.ok(problems[0].startsWith(expected) || problems[0].includes(expected), `"${problems[0]}" should contain "${expected}"`);
        });
    }

    for (const key of ["environment", "storageAccountName", "storageSku", "azure-native:location"]) {
        it(`names the missing required key ${key}`, () => {
            const raw = validRawConfig();
            delete raw[key];
            const problems = problemsFor(raw);
            const full = key.includes(":") ? key : `mlflow-platform:${key}`;
            assert.strictEqual(problems.length, 1);
            assert.match(problems[0], new RegExp(`^${full} is not set: it must be `));
        });
    }

    it("reports every problem at once, in one message", () => {
        const raw = validRawConfig({ storageAccountName: "Bad Name", storageSku: "Premium_LRS", blobSoftDeleteDays: "0", protekt: "true" });
        try {
            parsePlatformConfig(raw, "prd");
            assert.fail("expected a ConfigError");
        } catch (err) {
            assert.ok(err instanceof ConfigError);
            assert.strictEqual(err.problems.length, 4);
            assert.match(err.message, /^Invalid configuration for stack "prd" \(4 problems\):/);
            for (const key of ["storageAccountName", "storageSku", "blobSoftDeleteDays", "protekt"]) {
                assert.ok(err.message.includes(`mlflow-platform:${key}`), `message should name ${key}`);
            }
            assert.ok(err.message.includes("did you mean mlflow-platform:protect?"));
        }
    });

    it("accepts a registry host on localhost over http, an mlflow stage selector and an empty model list", () => {
        const config = parsePlatformConfig(
            validRawConfig({ registry: { kind: "mlflow", host: "http://127.0.0.1:5000" }, models: [{ name: "fraud", model: "fraud", stage: "production", cpu: "2.5", memoryGb: 3 }] }),
            "dev",
        );
        assert.deepStrictEqual(config.models[0].selector, { stage: "Production" });
        assert.deepStrictEqual([config.models[0].cpu, config.models[0].memoryGb, config.models[0].workers], [2.5, 3, 2], "one worker per whole core");
        assert.strictEqual(parsePlatformConfig(validRawConfig({ models: [] }), "dev").models.length, 0);
    });

    it("defaults the platform to aci in dev and containerapp in prd", () => {
        const serving = { containerRegistrySku: "Basic", ipAllowList: ["203.0.113.7"] };
        assert.strictEqual(parsePlatformConfig(validRawConfig({ serving: { containerRegistrySku: "Basic" } }), "dev").serving.platform, "aci");
        const prd = parsePlatformConfig(validRawConfig({ environment: "prd", serving }), "prd");
        assert.strictEqual(prd.serving.platform, "containerapp");
        assert.deepStrictEqual(prd.serving.access, { ingress: "external", ipAllowList: ["203.0.113.7"], entra: undefined });
        assert.deepStrictEqual(prd.models[0].scale, { minReplicas: 1, maxReplicas: 3, concurrentRequests: 20 });
    });

    it("never lets prd be anonymous", () => {
        const prd = (serving: Record<string, unknown>) => problemsFor(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic", ...serving } }));
        assert.deepStrictEqual(prd({}), [
            'mlflow-platform:serving = {"containerRegistrySku":"Basic"} is not allowed: it would let anyone on the internet call prd: set ipAllowList, entra, or ingress: internal',
        ]);
        assert.deepStrictEqual(prd({ platform: "aci" }), [
            'mlflow-platform:serving.platform = "aci" is not allowed: it would serve prd anonymously over plain HTTP: use containerapp with ipAllowList or entra',
        ]);
        assert.doesNotThrow(() => parsePlatformConfig(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic", ingress: "internal" } }), "prd"));
        const entra = { tenantId: "11111111-2222-3333-4444-555555555555", clientId: "66666666-7777-8888-9999-000000000000", audiences: ["api://scoring"] };
        assert.doesNotThrow(() => parsePlatformConfig(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic", entra } }), "prd"));
    });

    it("requires registry secrets to be encrypted, and never repeats their values", () => {
        const secret = "fake-plaintext-secret-for-tests";
        const problems = problemsFor(validRawConfig({ registryToken: secret, registryPassword: secret }));
        assert.deepStrictEqual(problems, [
            "mlflow-platform:registryToken is stored in plain text: remove it from the stack file and set it with `pulumi config set --secret registryToken <value>`",
            "mlflow-platform:registryPassword is stored in plain text: remove it from the stack file and set it with `pulumi config set --secret registryPassword <value>`",
        ]);
        const accepted = parsePlatformConfig(validRawConfig({ registryToken: secret }), "dev", "mlflow-platform", (key) => key === "mlflow-platform:registryToken");
        assert.ok(!JSON.stringify(accepted).includes(secret), "the program's config never holds the secret");
    });

    it("can tell encrypted config values apart through the Pulumi SDK", async () => {
        const pulumi = await import("@pulumi/pulumi");
        assert.strictEqual(typeof (pulumi.runtime as unknown as { isConfigSecret?: unknown }).isConfigSecret, "function");
    });

    it("is a Pulumi RunError, so the CLI prints the message without a stack trace", async () => {
        const pulumi = await import("@pulumi/pulumi");
        assert.ok(pulumi.RunError.isInstance(new ConfigError("dev", ["x"])));
    });
});
