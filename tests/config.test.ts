import * as assert from "assert";
import { ConfigError, parsePlatformConfig, rawConfigFrom } from "../lib/config";
import { validRawConfig as fixture } from "./helpers/fixtures";

/** The warnings other than the notice that a registry stack names no reader (tests/unityCatalog.test.ts pins that one). */
const otherWarnings = (warnings: readonly string[]) => warnings.filter((w) => !w.startsWith("mlflow-platform:access.readers is empty"));

/** The shared fixture, with the Unity Catalog catalog its model names live in. */
function validRawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return fixture({ registry: { kind: "unity-catalog", catalog: "main" }, ...overrides });
}

/** The problems reported for `raw`, planned as the stack its environment names unless told otherwise. */
function problemsFor(raw: Record<string, unknown>, stack = raw.environment === "prd" ? "prd" : "dev", isSecret?: (key: string) => boolean): readonly string[] {
    try {
        parsePlatformConfig(raw, stack, "mlflow-platform", isSecret);
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

    it("reads this project's keys without their prefix and keeps every other key as written, to be checked", () => {
        const raw = rawConfigFrom({
            "mlflow-platform:storageSku": "Standard_ZRS",
            "mlflow-platform:serving": '{"a":1}',
            "azure-native:location": "northeurope",
            "azure-native:subscriptionId": "ignored",
            "other-project:key": "ignored",
        });
        assert.deepStrictEqual(raw, {
            storageSku: "Standard_ZRS",
            serving: { a: 1 },
            "azure-native:location": "northeurope",
            "azure-native:subscriptionId": "ignored",
            "other-project:key": "ignored",
        });
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
            expected: 'mlflow-platform:databricksSku = "enterprise" is not allowed: it must be one of: premium, trial',
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
            overrides: { registry: { kind: "unity-catalog", catalog: "main", host: "https://adb-1.azuredatabricks.net", hostFromStack: "org/mlflow-platform/dev" } },
            expected: 'mlflow-platform:registry.hostFromStack = "org/mlflow-platform/dev" is not allowed: it cannot be set together with host',
        },
        {
            title: "a Databricks account id that is not a GUID",
            overrides: { registry: { kind: "unity-catalog", catalog: "main", databricksAccountId: "my-account" } },
            expected: 'mlflow-platform:registry.databricksAccountId = "my-account" is not allowed: it must be the Databricks account id of the registry\'s workspace (a GUID',
        },
        {
            title: "a Databricks account id in a stack that reads another stack's registry",
            overrides: { registry: { kind: "unity-catalog", catalog: "main", hostFromStack: "org/mlflow-platform/dev", databricksAccountId: "abcdef01-2345-4678-9abc-def012345678" } },
            expected: 'mlflow-platform:registry.databricksAccountId = "abcdef01-2345-4678-9abc-def012345678" is not allowed: it only applies in the stack whose own workspace holds a unity-catalog registry',
        },
        {
            title: "a registration principal that is neither an application id nor an e-mail address",
            overrides: { registry: { kind: "unity-catalog", catalog: "main", registrationRunAs: "registration-sp" } },
            expected: 'mlflow-platform:registry.registrationRunAs = "registration-sp" is not allowed: it must be a service principal\'s application id (a GUID) or a user\'s e-mail address in Databricks',
        },
        {
            title: "a misspelt registry key, suggesting the nested key",
            overrides: { registry: { kind: "unity-catalog", catalog: "main", hostFromStak: "org/p/dev" } },
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
            title: "a canary that would take all the traffic without a promotion",
            overrides: { serving: apps, models: models({ alias: "champion", canary: { alias: "challenger", weight: 100 } }) },
            expected: "mlflow-platform:models[0].canary.weight = 100 is not allowed: it would leave the stable revision with no traffic: to serve only the candidate, promote it",
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
            expected:
                "mlflow-platform:models[0].maxReplicas = 4 is not allowed: it only applies with serving.platform containerapp (this stack serves on aci): remove it, or set serving.platform: containerapp",
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
            title: "a hand-made Entra setting, which the stack now creates",
            overrides: { serving: { ...apps, entra: { tenantId: "11111111-2222-3333-4444-555555555555", clientId: "66666666-7777-8888-9999-000000000000", audiences: ["api://x"] } } },
            expected: "mlflow-platform:serving.entra = {",
        },
        {
            title: "a principal whose object id is not a GUID",
            overrides: { access: { dataScientists: [{ objectId: "ml-data-scientists", type: "group", name: "ml-data-scientists" }] } },
            expected: 'mlflow-platform:access.dataScientists[0].objectId = "ml-data-scientists" is not allowed: it must be the principal\'s object id in Microsoft Entra ID (a GUID',
        },
        {
            title: "a principal of an unknown type",
            overrides: { access: { deployers: [{ objectId: "11111111-2222-3333-4444-555555555555", type: "robot", name: "x" }] } },
            expected: 'mlflow-platform:access.deployers[0].type = "robot" is not allowed: it must be one of: group, user, servicePrincipal',
        },
        {
            title: "a deployer without its Databricks name",
            overrides: { access: { deployers: [{ objectId: "11111111-2222-3333-4444-555555555555", type: "group" }] } },
            expected: "mlflow-platform:access.deployers[0].name is not set: it must be the principal's name in Databricks, which Unity Catalog grants use",
        },
        {
            title: "a service principal named by its display name",
            overrides: { access: { deployers: [{ objectId: "11111111-2222-3333-4444-555555555555", type: "servicePrincipal", name: "deploy-pipeline" }] } },
            expected: 'mlflow-platform:access.deployers[0].name = "deploy-pipeline" is not allowed: it must be a service principal\'s name in Databricks is its application (client) id',
        },
        {
            title: "a misspelt role list",
            overrides: { access: { dataScientist: [] } },
            expected: "mlflow-platform:access.dataScientist is not a setting this program reads (probable typo): did you mean mlflow-platform:access.dataScientists?",
        },
        {
            title: "a catalog name with a period, which Unity Catalog refuses even quoted",
            overrides: { registry: { kind: "unity-catalog", catalog: "ml.models" }, models: [] },
            expected: 'mlflow-platform:registry.catalog = "ml.models" is not allowed: it must be a Unity Catalog catalog name: 1-255 lowercase letters, digits',
        },
        {
            title: "a catalog Unity Catalog keeps for itself",
            overrides: { registry: { kind: "unity-catalog", catalog: "system" }, models: [] },
            expected: 'mlflow-platform:registry.catalog = "system" is not allowed: it is a catalog Unity Catalog keeps for itself',
        },
        {
            title: "a catalog name in capitals, which Unity Catalog would store in lowercase",
            overrides: { registry: { kind: "unity-catalog", catalog: "Main" }, models: [] },
            expected: 'mlflow-platform:registry.catalog = "Main" is not allowed: it must be lowercase: Unity Catalog stores names in lowercase, so write main',
        },
        {
            title: "the same schema for dev and prd",
            overrides: { registry: { kind: "unity-catalog", catalog: "main", devSchema: "models", prdSchema: "models" } },
            expected: 'mlflow-platform:registry.devSchema = "models" is not allowed: it is the prd schema too',
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
        const raw = validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic", ingress: "internal" }, storageAccountName: "Bad Name", storageSku: "Premium_LRS", blobSoftDeleteDays: "0", protekt: "true" });
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
        assert.deepStrictEqual([config.models[0].cpu, config.models[0].memoryGb, config.models[0].workers], [2.5, 3, 3], "one worker per vCPU, rounded up");
        assert.strictEqual(parsePlatformConfig(validRawConfig({ models: [] }), "dev").models.length, 0);
    });

    it("defaults the platform to Container Apps in both stacks, scaled to zero in dev and one warm replica in prd", () => {
        const dev = parsePlatformConfig(validRawConfig({ serving: { containerRegistrySku: "Basic" } }), "dev");
        assert.strictEqual(dev.serving.platform, "containerapp");
        assert.deepStrictEqual(dev.models[0].scale, { minReplicas: 0, maxReplicas: 3, concurrentRequests: 20 });
        const prd = parsePlatformConfig(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic", ipAllowList: ["203.0.113.7"] } }), "prd");
        assert.strictEqual(prd.serving.platform, "containerapp");
        assert.deepStrictEqual(prd.serving.access, { ingress: "external", ipAllowList: ["203.0.113.7"] });
        assert.strictEqual(prd.serving.maxInactiveRevisions, 3);
        assert.deepStrictEqual(prd.models[0].scale, { minReplicas: 1, maxReplicas: 3, concurrentRequests: 20 });
    });

    it("never lets prd be anonymous: Container Apps always takes Entra tokens, no allow-list needed; ACI is refused", () => {
        const prd = (serving: Record<string, unknown>) => problemsFor(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic", ...serving } }));
        const prdConfig = (serving: Record<string, unknown>) => parsePlatformConfig(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic", ...serving } }), "prd");
        assert.deepStrictEqual(prdConfig({}).serving.access, { ingress: "external", ipAllowList: [] }, "no placeholder needed: the stack's scoring API guards prd");
        assert.deepStrictEqual(prd({ platform: "aci" }), [
            'mlflow-platform:serving.platform = "aci" is not allowed: it would serve prd anonymously over plain HTTP (Azure Container Instances has no authentication): use containerapp, which accepts only Entra tokens with the Scoring.Invoke role',
        ]);
        assert.deepStrictEqual(prdConfig({ ipAllowList: ["0.0.0.0/0"] }).serving.access.ipAllowList, ["0.0.0.0/0"], "an allow-list is an extra on top of Entra, however wide");
    });

    it("warns that an ACI endpoint is anonymous plain HTTP (dev may still choose it)", () => {
        const aci = parsePlatformConfig(validRawConfig({ serving: { containerRegistrySku: "Basic", platform: "aci" } }), "dev");
        assert.deepStrictEqual(otherWarnings(aci.warnings), [
            'mlflow-platform:serving.platform = "aci": its endpoints are anonymous plain HTTP (Azure Container Instances has no authentication and no HTTPS): anyone who finds the address can call the models. Container Apps (the default) accepts only Entra tokens and scales to zero in dev',
        ]);
        assert.deepStrictEqual(otherWarnings(parsePlatformConfig(validRawConfig({ serving: { containerRegistrySku: "Basic" } }), "dev").warnings), []);
    });

    describe("roles", () => {
        const group = (objectId: string, name: string) => ({ objectId, type: "group", name });
        const scientists = group("11111111-1111-1111-1111-111111111111", "ml-data-scientists");
        const deployers = group("22222222-2222-2222-2222-222222222222", "ml-deployers");

        it("reads the three role lists, with empty lists by default", () => {
            const config = parsePlatformConfig(validRawConfig({ access: { dataScientists: [scientists], deployers: [deployers], scoringClients: [{ objectId: "33333333-3333-3333-3333-333333333333", type: "servicePrincipal" }] } }), "dev");
            assert.deepStrictEqual(config.access.dataScientists, [scientists]);
            assert.deepStrictEqual(config.access.deployers, [deployers]);
            assert.strictEqual(config.access.scoringClients[0].name, undefined, "a scoring client needs no Databricks name");
            assert.deepStrictEqual(parsePlatformConfig(validRawConfig(), "dev").access, { dataScientists: [], deployers: [], scoringClients: [], readers: [], acceptDataScientistAsDeployer: false });
        });

        it("refuses one principal as data scientist and deployer in prd unless acknowledged; dev does not separate them", () => {
            const both = group("44444444-4444-4444-4444-444444444444", "ml-team");
            const access = { dataScientists: [both], deployers: [both] };
            assert.deepStrictEqual(problemsFor(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic" }, access }), "prd"), [
                'mlflow-platform:access.dataScientists[0].objectId = "44444444-4444-4444-4444-444444444444" is not allowed: it is also in access.deployers: in prd a data scientist must not decide what prd serves. Remove it from one list, or set access.acceptDataScientistAsDeployer: true to accept that this principal both registers and deploys',
            ]);
            const accepted = parsePlatformConfig(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic" }, access: { ...access, acceptDataScientistAsDeployer: true } }), "prd");
            assert.strictEqual(accepted.access.acceptDataScientistAsDeployer, true);
            // A dev stack that reads its registry elsewhere governs no prd schema: it may merge the roles.
            const readsRegistry = { kind: "unity-catalog", catalog: "main", hostFromStack: "organization/mlflow-platform/dev" };
            assert.strictEqual(parsePlatformConfig(validRawConfig({ registry: readsRegistry, access }), "dev").access.deployers.length, 1);
            assert.strictEqual(parsePlatformConfig(validRawConfig({ registry: { kind: "mlflow", host: "https://mlflow.example.com" }, access, models: [] }), "dev").access.deployers.length, 1);
            assert.match(
                problemsFor(validRawConfig({ registry: readsRegistry, access: { acceptDataScientistAsDeployer: true } }))[0],
                /^mlflow-platform:access.acceptDataScientistAsDeployer = true is not allowed: it only applies in prd and in the stack that holds the Unity Catalog registry/,
            );
        });

        it("separates the roles in the dev stack that holds the Unity Catalog registry too, as the policy does: its deployers manage the prd schema", () => {
            const both = group("44444444-4444-4444-4444-444444444444", "ml-team");
            const access = { dataScientists: [both], deployers: [both] };
            assert.deepStrictEqual(problemsFor(validRawConfig({ access })), [
                'mlflow-platform:access.dataScientists[0].objectId = "44444444-4444-4444-4444-444444444444" is not allowed: it is also in access.deployers: this stack\'s workspace holds the Unity Catalog registry and its deployers manage the prd schema, so a data scientist here would decide what prd serves. Remove it from one list, or set access.acceptDataScientistAsDeployer: true to accept that this principal both registers and deploys',
            ]);
            assert.strictEqual(parsePlatformConfig(validRawConfig({ access: { ...access, acceptDataScientistAsDeployer: true } }), "dev").access.acceptDataScientistAsDeployer, true);
        });

        it("serves in prd only models of the deployers' schema", () => {
            const problems = problemsFor(validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic" }, models: [{ name: "fraud", model: "main.dev.fraud", alias: "champion", cpu: 1, memoryGb: 2 }] }), "prd");
            assert.deepStrictEqual(problems, [
                'mlflow-platform:models[0].model = "main.dev.fraud" is not allowed: it is in schema dev, but prd serves only models in the deployers\' schema registry.prdSchema (prd), where only a promotion puts versions: write it as main.prd.fraud',
            ]);
        });
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

describe("stack configuration: edits that must never pass", () => {
    const apps = { containerRegistrySku: "Basic", platform: "containerapp" };
    const prdServing = (serving: Record<string, unknown>) => validRawConfig({ environment: "prd", serving: { containerRegistrySku: "Basic", ...serving } });
    const entra = { tenantId: "11111111-2222-3333-4444-555555555555", clientId: "66666666-7777-8888-9999-000000000000", audiences: ["api://scoring"] };

    describe("1. prd allow-lists are an extra to Entra", () => {
        it("accepts narrow ranges as an extra to Entra", () => {
            const config = parsePlatformConfig(prdServing({ ipAllowList: ["198.18.0.0/15", "20.50.0.0/16"] }), "prd");
            assert.deepStrictEqual(config.serving.access.ipAllowList, ["198.18.0.0/15", "20.50.0.0/16"]);
            assert.deepStrictEqual(otherWarnings(config.warnings), []);
        });

        it("warns that documentation and private ranges in an external prd allow-list look like placeholders", () => {
            const config = parsePlatformConfig(prdServing({ ipAllowList: ["203.0.113.0/24", "10.1.0.0/16", "20.50.0.0/16"] }), "prd");
            assert.deepStrictEqual(otherWarnings(config.warnings), [
                'mlflow-platform:serving.ipAllowList[0] = "203.0.113.0/24" looks like a placeholder: it is a documentation-only range (RFC 5737) that no real client has: replace it with your clients\' public ranges',
                'mlflow-platform:serving.ipAllowList[1] = "10.1.0.0/16" looks like a placeholder: it is a private range, from which no request reaches an external endpoint over the internet: replace it with your clients\' public ranges',
            ]);
            assert.deepStrictEqual(parsePlatformConfig(prdServing({ ingress: "internal", ipAllowList: ["10.1.0.0/16"] }), "prd").warnings.filter((w) => !w.includes("access.readers")), [], "private ranges are what internal ingress sees");
        });
    });

    describe("2. no secret in plaintext, anywhere", () => {
        const token = "fake-token-for-tests";
        it("refuses credentials inside a URL without ever showing them", () => {
            const problems = problemsFor(validRawConfig({ registry: { kind: "mlflow", host: `https://admin:${token}@mlflow.example.com` }, models: [] }));
            assert.deepStrictEqual(problems, [
                "mlflow-platform:registry.host is not allowed: it holds a user name or password inside a URL (scheme://user:secret@host); the value is not shown. Remove them from the stack file; registry credentials go in `pulumi config set --secret registryToken <value>`",
            ]);
            const nested = problemsFor(validRawConfig({ serving: { ...apps, ipAllowList: [], logRetentionDays: 30, notes: [`https://x:${token}@api.example.com`] } }));
            assert.ok(nested.some((p) => p.startsWith("mlflow-platform:serving.notes[0] is not allowed: it holds a user name or password inside a URL")), nested.join("\n"));
            assert.ok(!nested.join("\n").includes(token), "the token is never printed");
        });

        it("refuses a provider secret in plain text and accepts it encrypted", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ "azure-native:clientSecret": token })), [
                "azure-native:clientSecret is stored in plain text: remove it from the stack file and set it with `pulumi config set --secret azure-native:clientSecret <value>`",
            ]);
            assert.doesNotThrow(() => parsePlatformConfig(validRawConfig({ "azure-native:clientSecret": token }), "dev", "mlflow-platform", (key) => key === "azure-native:clientSecret"));
            assert.ok(problemsFor(validRawConfig({ "docker-build:registries": '[{"address":"r","password":"p"}]' }))[0].startsWith("docker-build:registries is stored in plain text"));
        });

        it("points a secret written in the wrong place to `pulumi config set --secret`", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ serving: { containerRegistrySku: "Basic", platform: "aci", registryToken: token } })), [
                "mlflow-platform:serving.registryToken is not a setting this program reads, and a secret never belongs in a stack file: remove it and set it with `pulumi config set --secret registryToken <value>`",
            ]);
            assert.deepStrictEqual(problemsFor(validRawConfig({ registrytoken: token })), [
                "mlflow-platform:registrytoken is not a setting this program reads: did you mean mlflow-platform:registryToken? It is a secret: remove it from the stack file and set it with `pulumi config set --secret registryToken <value>`",
            ]);
            assert.deepStrictEqual(problemsFor(validRawConfig({ "mlflow-platfrom:registryPassword": token })), [
                "mlflow-platfrom:registryPassword has a misspelt namespace (mlflow-platfrom), and a secret never belongs in a stack file: remove it and set it with `pulumi config set --secret registryPassword <value>`",
            ]);
        });
    });

    describe("3. the stack is what it says", () => {
        it("refuses an environment that does not match the stack", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ environment: "dev" }), "prd"), [
                'mlflow-platform:environment = "dev" is not allowed: it does not match the stack "prd", which is a prd stack by its name (prd, or a name ending in -prd, is prd; any other name is dev) and gets prd\'s policy rules: set environment: prd, or use a stack named for dev',
            ]);
            assert.ok(problemsFor(prdServing({ ipAllowList: ["20.50.0.0/16"] }), "team-dev")[0].startsWith('mlflow-platform:environment = "prd" is not allowed: it does not match the stack "team-dev", which is a dev stack'));
            assert.doesNotThrow(() => parsePlatformConfig(prdServing({ ipAllowList: ["20.50.0.0/16"] }), "team-prd"));
        });
    });

    describe("4. nothing is silently ignored", () => {
        const cases: [string, Record<string, unknown>, string][] = [
            ["a misspelt project namespace", { "mlflow-platfrom:protect": "true" }, "mlflow-platfrom:protect has a misspelt namespace, so nothing reads it: did you mean mlflow-platform:protect?"],
            ["a misspelt provider key", { "azure-native:locaton": "northeurope" }, "azure-native:locaton is not a setting of the azure-native provider (probable typo): did you mean azure-native:location?"],
            ["a misspelt provider namespace", { "azure-nativ:location": "northeurope" }, "azure-nativ:location has a misspelt namespace, so nothing reads it: did you mean azure-native:location?"],
            ["a namespace nothing reads", { "aws:region": "eu-west-1" }, "aws:region is under the namespace aws, which nothing in this program reads (it reads mlflow-platform, azure-native, docker-build, azuread, pulumi): remove it"],
            ["an unknown provider key, not close to any", { "azure-native:colour": "blue" }, "azure-native:colour is not a setting of the azure-native provider, so it would be ignored: it takes auxiliaryTenantIds,"],
            ["a model key at the top level", { cpu: "2" }, "mlflow-platform:cpu is not read here: cpu belongs in each entry of models"],
            ["a serving key at the top level", { ipAllowList: ["203.0.113.7"] }, "mlflow-platform:ipAllowList is not read here: ipAllowList belongs in mlflow-platform:serving"],
            ["an unknown key not close to any", { colour: "blue" }, "mlflow-platform:colour is not a setting this program reads: the project's keys are environment, resourceGroupName, storageAccountName,"],
        ];
        for (const [title, overrides, expected] of cases) {
            it(`names ${title} with the fix`, () => {
                const problems = problemsFor(validRawConfig(overrides));
                assert.strictEqual(problems.length, 1, problems.join("\n"));
                assert.ok(problems[0].startsWith(expected), problems[0]);
            });
        }

        it("suggests a key only when it is actually close", () => {
            const far = problemsFor(validRawConfig({ serving: { containerRegistrySku: "Basic", platform: "aci", replicas: 3 } }));
            assert.deepStrictEqual(far, [
                "mlflow-platform:serving.replicas is not a setting this program reads: serving takes platform, containerRegistrySku, ingress, ipAllowList, logRetentionDays, maxInactiveRevisions, payloadLog, requireGuardedRollout",
            ]);
            assert.ok(!far[0].includes("did you mean"));
        });

        for (const [key, value] of [["ingress", "internal"], ["ipAllowList", ["20.50.0.0/16"]], ["logRetentionDays", 60], ["maxInactiveRevisions", 5]] as const) {
            it(`refuses the Container Apps-only serving key ${key} on ACI, like every such key`, () => {
                assert.deepStrictEqual(problemsFor(validRawConfig({ serving: { containerRegistrySku: "Basic", platform: "aci", [key]: value } })), [
                    `mlflow-platform:serving.${key} = ${JSON.stringify(value)} is not allowed: it only applies with serving.platform containerapp (this stack serves on aci, which has no access control, revisions or logs workspace): remove it, or set serving.platform: containerapp`,
                ]);
            });
        }

        it("accepts maxInactiveRevisions on Container Apps within 0-20", () => {
            assert.strictEqual(parsePlatformConfig(validRawConfig({ serving: { ...apps, maxInactiveRevisions: 0 } }), "dev").serving.maxInactiveRevisions, 0);
            assert.deepStrictEqual(problemsFor(validRawConfig({ serving: { ...apps, maxInactiveRevisions: 21 } })), [
                "mlflow-platform:serving.maxInactiveRevisions = 21 is not allowed: it must be a whole number from 0 to 20",
            ]);
        });
    });

    describe("5. values Azure would refuse at deploy", () => {
        it("reduces a Databricks registry URL copied from the browser to its origin, with a notice", () => {
            const config = parsePlatformConfig(validRawConfig({ serving: { containerRegistrySku: "Basic" }, registry: { kind: "unity-catalog", catalog: "main", host: "https://adb-123.4.azuredatabricks.net/?o=123#ml/models/main.risk.fraud" } }), "dev");
            assert.strictEqual(config.registry.host, "https://adb-123.4.azuredatabricks.net");
            assert.deepStrictEqual(config.warnings, [
                "mlflow-platform:registry.host: using https://adb-123.4.azuredatabricks.net; what was written after it (a path, query or fragment: a page address copied from the browser?) was left out and is not shown, since the registry's API answers at the workspace's root. Write just https://adb-123.4.azuredatabricks.net to silence this notice.",
            ]);
            const mlflow = parsePlatformConfig(validRawConfig({ registry: { kind: "mlflow", host: "https://tools.example.com/mlflow/?x=1" }, models: [] }), "dev");
            assert.strictEqual(mlflow.registry.host, "https://tools.example.com/mlflow", "a self-hosted server keeps its path prefix");
            assert.deepStrictEqual(parsePlatformConfig(validRawConfig({ registry: { kind: "mlflow", host: "https://mlflow.example.com/" }, models: [] }), "dev").warnings, []);
        });

        it("refuses a service name that makes an invalid Container Apps name", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ models: [{ name: "fraud--v2", model: "main.risk.fraud", alias: "champion", cpu: 1, memoryGb: 2 }] })), [
                'mlflow-platform:models[0].name = "fraud--v2" is not allowed: it must not contain "--": Azure Container Apps reserves it to separate an app\'s name from a revision\'s suffix',
            ]);
        });

        it("refuses a pinned version beyond what a number holds exactly", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ models: [{ name: "fraud", model: "main.risk.fraud", version: 99999999999999999, cpu: 1, memoryGb: 2 }] })), [
                "mlflow-platform:models[0].version = 100000000000000000 is not allowed: it is larger than 9007199254740991, the largest whole number a stack file passes to the program exactly: check the version, and write it in quotes",
            ]);
            const quoted = parsePlatformConfig(validRawConfig({ models: [{ name: "fraud", model: "main.risk.fraud", version: "12", cpu: 1, memoryGb: 2 }] }), "dev");
            assert.deepStrictEqual(quoted.models[0].selector, { version: "12" });
        });

        it("refuses a location that is not an Azure region, suggesting only a close one", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ "azure-native:location": "westeurop" })), [
                'azure-native:location = "westeurop" is not allowed: it must be an Azure region name in lowercase without spaces, such as westeurope: did you mean westeurope?',
            ]);
            assert.deepStrictEqual(problemsFor(validRawConfig({ "azure-native:location": "mars" })), [
                'azure-native:location = "mars" is not allowed: it must be an Azure region name in lowercase without spaces, such as westeurope (`az account list-locations -o table` lists them; lib/config/regions.ts says how to update the list)',
            ]);
        });
    });

    describe("6. Databricks tier", () => {
        it("refuses the retired Standard tier with the reason", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ databricksSku: "standard" })), [
                'mlflow-platform:databricksSku = "standard" is not allowed: it is no longer offered: Azure creates no Standard workspaces since 2026-04-01 and moved the rest to Premium on 2026-10-01: use premium',
            ]);
        });

        it("refuses a Unity Catalog registry on the trial tier, and accepts trial with the MLflow registry", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ databricksSku: "trial" })), [
                'mlflow-platform:databricksSku = "trial" is not allowed: it cannot hold a Unity Catalog registry (registry.kind unity-catalog needs premium): use premium',
            ]);
            assert.strictEqual(parsePlatformConfig(validRawConfig({ databricksSku: "trial", registry: { kind: "databricks" }, models: [] }), "dev").databricks.sku, "trial");
        });

        it("needs the catalog the models live in, and model names in it", () => {
            assert.deepStrictEqual(problemsFor(fixture({})), [
                "mlflow-platform:registry.catalog is not set: it must name the Unity Catalog catalog the models live in (models are catalog.schema.model), such as mlplatform: there is no default catalog to assume",
            ]);
            assert.deepStrictEqual(problemsFor(validRawConfig({ registry: { kind: "unity-catalog", catalog: "ml_prod" } })), [
                'mlflow-platform:models[0].model = "main.risk.fraud" is not allowed: it is in catalog main, but registry.catalog is ml_prod: write it as ml_prod.risk.fraud, or change registry.catalog',
            ]);
            assert.deepStrictEqual(problemsFor(validRawConfig({ registry: { kind: "mlflow", catalog: "main", host: "https://mlflow.example.com" } })), [
                'mlflow-platform:registry.catalog = "main" is not allowed: it only applies with registry.kind unity-catalog: remove it',
            ]);
            assert.strictEqual(parsePlatformConfig(validRawConfig({ models: [] }), "dev").registry.catalog, "main");
        });
    });

    describe("7. messages a person can act on", () => {
        it("never shows a validation library's own text, for any wrong type anywhere", () => {
            const wrong = [null, "text", 7, true, [], {}, [1], { a: 1 }, ""];
            const paths: ((v: unknown) => Record<string, unknown>)[] = [
                (v) => ({ registry: v }),
                (v) => ({ registry: { kind: "unity-catalog", catalog: v } }),
                (v) => ({ models: v }),
                (v) => ({ models: [v] }),
                (v) => ({ models: [{ name: "fraud", model: "main.risk.fraud", alias: "champion", cpu: 1, memoryGb: 2, canary: v }] }),
                (v) => ({ serving: v }),
                (v) => ({ serving: { ...apps, entra: v } }),
                (v) => ({ serving: { ...apps, entra: { ...entra, audiences: v } } }),
                (v) => ({ serving: { ...apps, entra: { ...entra, audiences: [v] } } }),
                (v) => ({ serving: { ...apps, ipAllowList: v } }),
                (v) => ({ resourceGroupName: v }),
                (v) => ({ "azure-native:location": v }),
                (v) => ({ databricksSku: v }),
            ];
            for (const at of paths) {
                for (const value of wrong) {
                    let message = "";
                    try {
                        parsePlatformConfig(validRawConfig(at(value)), "dev");
                        continue;
                    } catch (err) {
                        assert.ok(err instanceof ConfigError, String(err));
                        message = err.message;
                    }
                    assert.doesNotMatch(message, /Invalid input|Too small|Too big|expected (object|string|array|number)|received/, message);
                }
            }
        });

        it("shows .nan and .inf as YAML writes them, not as null", () => {
            assert.deepStrictEqual(problemsFor(validRawConfig({ models: [{ name: "fraud", model: "main.risk.fraud", alias: "champion", cpu: NaN, memoryGb: Infinity }] })), [
                "mlflow-platform:models[0].cpu = .nan is not allowed: it must be a number of CPU cores, such as 1 or 0.5",
                "mlflow-platform:models[0].memoryGb = .inf is not allowed: it must be a number of GB, such as 2 or 1.5",
            ]);
        });
    });
});

/** Every window of `size` characters of `secret`: none may appear in a message. */
function assertNoPartOf(secret: string, text: string, size = 4): void {
    for (let i = 0; i + size <= secret.length; i++) {
        const part = secret.slice(i, i + size);
        assert.ok(!text.includes(part), `the output shows ${JSON.stringify(part)} of the secret: ${text}`);
    }
}

describe("stack configuration: ids and secrets in access (issue 19, points 23 and 24)", () => {
    const ZERO = "00000000-0000-0000-0000-000000000000";
    const APP_ID = "5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e";
    // An Entra client secret's shape: three characters, a digit, "Q~", the rest (40 in all).
    const CLIENT_SECRET = "Abc8Q~Xk3vR7mT9pL2wQ5zN8yB4cF6hJ1dG0sE_q";

    it("refuses the all-zero GUID wherever a GUID is read, naming the key", () => {
        const problems = problemsFor(
            validRawConfig({
                registry: { kind: "unity-catalog", catalog: "main", databricksAccountId: ZERO, registrationRunAs: ZERO },
                access: { deployers: [{ objectId: ZERO, type: "group", name: "ml-deployers" }] },
            }),
        );
        const rule = "is the all-zero GUID, a placeholder no real principal or account has: write the real id";
        assert.deepStrictEqual([...problems].sort(), [
            `mlflow-platform:access.deployers[0].objectId = "${ZERO}" is not allowed: it ${rule}`,
            `mlflow-platform:registry.databricksAccountId = "${ZERO}" is not allowed: it ${rule}`,
            `mlflow-platform:registry.registrationRunAs = "${ZERO}" is not allowed: it ${rule}`,
        ]);
        // A service principal's name is its application id: the placeholder is refused there too.
        assert.deepStrictEqual(problemsFor(validRawConfig({ access: { scoringClients: [{ objectId: "11111111-1111-1111-1111-111111111111", type: "servicePrincipal", name: ZERO }] } })), [
            `mlflow-platform:access.scoringClients[0].name = "${ZERO}" is not allowed: it ${rule}`,
        ]);
    });

    it("refuses a service principal whose object id is its application id", () => {
        assert.deepStrictEqual(problemsFor(validRawConfig({ access: { deployers: [{ objectId: APP_ID, type: "servicePrincipal", name: APP_ID.toUpperCase() }] } })), [
            `mlflow-platform:access.deployers[0].objectId = "${APP_ID}" is not allowed: it is the same GUID as its name, the application (client) id: a service principal's object id is a different GUID. Look it up with \`az ad sp show --id <application id> --query id -o tsv\``,
        ]);
    });

    it("refuses GUIDs with anything before or after them (the check is anchored)", () => {
        for (const bad of [`${APP_ID}x`, `x${APP_ID}`, `${APP_ID}\n`, `${APP_ID},${APP_ID}`, `{${APP_ID}}`]) {
            const problems = problemsFor(
                validRawConfig({
                    registry: { kind: "unity-catalog", catalog: "main", databricksAccountId: bad, registrationRunAs: bad },
                    access: { deployers: [{ objectId: bad, type: "servicePrincipal", name: APP_ID }] },
                }),
            );
            for (const key of ["registry.databricksAccountId", "registry.registrationRunAs", "access.deployers[0].objectId"]) {
                assert.ok(problems.some((p) => p.startsWith(`mlflow-platform:${key} = `)), `${key} = ${JSON.stringify(bad)} refused: ${problems.join("\n")}`);
            }
            const nameProblems = problemsFor(validRawConfig({ access: { deployers: [{ objectId: "22222222-2222-2222-2222-222222222222", type: "servicePrincipal", name: bad }] } }));
            assert.ok(nameProblems.some((p) => p.startsWith("mlflow-platform:access.deployers[0].name = ")), `name = ${JSON.stringify(bad)} refused: ${nameProblems.join("\n")}`);
        }
        assert.match(problemsFor(validRawConfig({ access: { deployers: [{ objectId: "22222222-2222-2222-2222-222222222222", type: "servicePrincipal", name: ` ${APP_ID}` }] } }))[0], /^mlflow-platform:access\.deployers\[0\]\.name = " 5b6c.*" is not allowed: it has spaces before or after it/);
    });

    it("never repeats a client secret pasted as a principal's name or object id, and does not advise storing it", () => {
        for (const principal of [
            { objectId: "22222222-2222-2222-2222-222222222222", type: "group", name: CLIENT_SECRET },
            { objectId: "22222222-2222-2222-2222-222222222222", type: "servicePrincipal", name: CLIENT_SECRET },
            { objectId: CLIENT_SECRET, type: "servicePrincipal", name: APP_ID },
            { objectId: "22222222-2222-2222-2222-222222222222", type: "user", name: CLIENT_SECRET },
        ]) {
            const problems = problemsFor(validRawConfig({ access: { deployers: [principal] } }));
            const text = problems.join("\n");
            assertNoPartOf(CLIENT_SECRET, text);
            assert.match(text, /looks like a secret \(a client secret or token\), and the value is not shown.*rotate that secret/);
            assert.doesNotMatch(text, /registryToken/);
        }
        const inUrl = problemsFor(validRawConfig({ access: { deployers: [{ objectId: "22222222-2222-2222-2222-222222222222", type: "group", name: `https://app:${CLIENT_SECRET}@login.example.com` }] } })).join("\n");
        assertNoPartOf(CLIENT_SECRET, inUrl);
        assert.match(inUrl, /needs no secret: remove it from the stack file, and rotate that password/);
        assert.doesNotMatch(inUrl, /registryToken/);
        for (const list of [[CLIENT_SECRET], CLIENT_SECRET]) {
            const text = problemsFor(validRawConfig({ access: { deployers: list } })).join("\n");
            assertNoPartOf(CLIENT_SECRET, text);
        }
    });

    it("answers a secret written inside a principal with a principal's advice, not the registry token's", () => {
        const problems = problemsFor(validRawConfig({ access: { deployers: [{ objectId: "22222222-2222-2222-2222-222222222222", type: "servicePrincipal", name: APP_ID, clientSecret: CLIENT_SECRET }] } }));
        assert.deepStrictEqual(problems, [
            "mlflow-platform:access.deployers[0].clientSecret is not a setting of a principal (it takes objectId, type, name), and a principal needs no secret: the platform gives it roles by its object id. Remove it from the stack file, and rotate that secret (`az ad app credential reset`), since it was written there",
        ]);
    });

    it("never repeats a token pasted as any other value, nor the query or path of a registry URL", () => {
        const token = "dapi0123456789abcdef0123456789abcdef";
        const text = problemsFor(validRawConfig({ storageAccountName: token, registry: { kind: "unity-catalog", catalog: "main", host: `http://adb-1.2.azuredatabricks.net/${token}/x?token=${token}` } })).join("\n");
        assertNoPartOf(token, text);
        assert.match(text, /mlflow-platform:registry\.host = "http:\/\/adb-1\.2\.azuredatabricks\.net\/…" is not allowed: it must use https:\/\//);
        const warned = parsePlatformConfig(validRawConfig({ registry: { kind: "unity-catalog", catalog: "main", host: `https://adb-1.2.azuredatabricks.net/${token}?t=${token}#${token}` } }), "dev");
        assertNoPartOf(token, warned.warnings.join("\n"));
        assert.strictEqual(warned.registry.host, "https://adb-1.2.azuredatabricks.net");
    });
});
