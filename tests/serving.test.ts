import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";
import { imageTag, revisionHash } from "../components/serving/modelServing";
import { planStack, type Plan, type PlannedResource } from "../lib/plan";
import { deployedAzureMocks } from "./helpers/azureMocks";
import { byType, onlyOfType, planEditedStack, PROJECT_DIR } from "./helpers/fixtures";

/** Deployed mocks whose registry resolves every model to `version`. */
function mocksResolving(version: string): pulumi.runtime.Mocks {
    return {
        ...deployedAzureMocks,
        newResource: async (args) => {
            const result = await deployedAzureMocks.newResource(args);
            if (args.type === "pulumi-nodejs:dynamic/registry:ModelVersion") {
                return { ...result, state: { ...result.state, version, modelUri: `models:/${args.inputs.model}/${version}` } };
            }
            return result;
        },
    };
}

function container(plan: Plan): Record<string, any> {
    return (onlyOfType(plan, "azure-native:containerinstance:ContainerGroup").inputs.containers as any[])[0];
}

function envOf(resource: PlannedResource): Record<string, { value?: unknown; secureValue?: unknown }> {
    const vars = (resource.inputs.containers as any[])[0].environmentVariables as { name: string; value?: unknown; secureValue?: unknown }[];
    return Object.fromEntries(vars.map(({ name, ...rest }) => [name, rest]));
}

describe("ModelServing on Azure Container Instances", () => {
    const plans: Record<string, Plan> = {};
    before(async () => {
        for (const stack of ["dev", "prd"]) plans[stack] = await planStack(PROJECT_DIR, stack, "index.ts", { mocks: mocksResolving("7"), preview: false });
    });

    for (const stack of ["dev", "prd"]) {
        it(`${stack}: a registry without admin user, and an identity with AcrPull on it`, () => {
            const plan = plans[stack];
            const registry = onlyOfType(plan, "azure-native:containerregistry:Registry");
            assert.strictEqual(registry.inputs.adminUserEnabled, false);
            assert.strictEqual(registry.inputs.registryName, `mlplat${stack}modelsacr`);
            assert.strictEqual(registry.parent, `${stack}-serving`);
            const identity = onlyOfType(plan, "azure-native:managedidentity:UserAssignedIdentity");
            const acrPull = byType(plan, "azure-native:authorization:RoleAssignment").find((r) => r.name === `${stack}-serving-acr-pull`)!;
            assert.strictEqual(acrPull.inputs.principalId, `principal-of-${identity.name}`);
            assert.match(String(acrPull.inputs.scope), /\/registries\/|containerregistry\/Registry/);
            assert.match(String(acrPull.inputs.roleDefinitionId), /\/roleDefinitions\/7f951dda-4ed3-4680-a7ca-43fe172d538d$/);
        });

        it(`${stack}: builds one image per resolved version, tagged with model and version, with no credential`, () => {
            const image = onlyOfType(plans[stack], "docker:index/image:Image");
            assert.strictEqual(image.inputs.imageName, `mlplat${stack}modelsacr.azurecr.io/models/fraud:main.fraud_detection.fraud-v7`);
            assert.deepStrictEqual(image.inputs.build, {
                context: "serving",
                dockerfile: "serving/Dockerfile",
                platform: "linux/amd64",
                args: { MODEL_URI: "models:/main.fraud_detection.fraud/7" },
            });
            assert.deepStrictEqual(image.inputs.registry, { server: `mlplat${stack}modelsacr.azurecr.io` }, "no username or password");
        });

        it(`${stack}: a Linux container group that pulls by identity, restarts always and probes the scoring server`, () => {
            const group = onlyOfType(plans[stack], "azure-native:containerinstance:ContainerGroup");
            const identityId = `${stack}-serving-identity`;
            assert.strictEqual(group.inputs.osType, "Linux");
            assert.strictEqual(group.inputs.restartPolicy, "Always");
            assert.deepStrictEqual((group.inputs.identity as any).type, "UserAssigned");
            assert.match(String((group.inputs.identity as any).userAssignedIdentities[0]), new RegExp(`${identityId}$`));
            const [credential] = group.inputs.imageRegistryCredentials as any[];
            assert.deepStrictEqual(Object.keys(credential).sort(), ["identity", "server"], "identity, never a password");
            const c = container(plans[stack]);
            assert.match(c.image, new RegExp(`^mlplat${stack}modelsacr\\.azurecr\\.io/models/fraud@sha256:[0-9a-f]{64}$`), "pinned to the pushed digest");
            assert.deepStrictEqual(c.ports, [{ port: 8080, protocol: "TCP" }]);
            assert.strictEqual(c.readinessProbe.httpGet.path, "/ping");
            assert.strictEqual(c.livenessProbe.httpGet.path, "/health");
            assert.strictEqual(c.readinessProbe.httpGet.port, 8080);
            assert.ok(c.livenessProbe.initialDelaySeconds > c.readinessProbe.initialDelaySeconds, "liveness waits for the model to load");
            assert.strictEqual(group.parent, `${stack}-serving`);
        });

        it(`${stack}: exports the scoring URI, version and image per model`, () => {
            const models = plans[stack].outputs.models as Record<string, Record<string, string>>;
            assert.match(models.fraud.scoringUri, new RegExp(`^http://mlplat${stack}models-fraud-[0-9a-f]{8}\\.westeurope\\.azurecontainer\\.io:8080/invocations$`));
            assert.strictEqual(models.fraud.version, "7");
            assert.strictEqual(models.fraud.image, `mlplat${stack}modelsacr.azurecr.io/models/fraud:main.fraud_detection.fraud-v7`);
        });
    }

    it("sizes come from each stack's config", () => {
        assert.deepStrictEqual(container(plans.dev).resources.requests, { cpu: 1, memoryInGB: 2 });
        assert.deepStrictEqual(container(plans.prd).resources.requests, { cpu: 2, memoryInGB: 4 });
        assert.strictEqual(envOf(onlyOfType(plans.prd, "azure-native:containerinstance:ContainerGroup")).MLFLOW_MODELS_WORKERS.value, "2");
    });

    it("gives each environment and model its own DNS label", () => {
        const label = (plan: Plan) => (onlyOfType(plan, "azure-native:containerinstance:ContainerGroup").inputs.ipAddress as any).dnsNameLabel;
        assert.notStrictEqual(label(plans.dev), label(plans.prd));
        assert.match(label(plans.dev), /^mlplatdevmodels-fraud-[0-9a-f]{8}$/);
    });

    it("reads the Unity Catalog registry with the managed identity when no token is configured", () => {
        const env = envOf(onlyOfType(plans.dev, "azure-native:containerinstance:ContainerGroup"));
        assert.deepStrictEqual(env.MLFLOW_TRACKING_URI, { value: "databricks" });
        assert.deepStrictEqual(env.MLFLOW_REGISTRY_URI, { value: "databricks-uc" });
        assert.deepStrictEqual(env.DATABRICKS_AUTH_TYPE, { value: "azure-msi" });
        assert.deepStrictEqual(env.ARM_CLIENT_ID, { value: "client-of-dev-serving-identity" });
        assert.strictEqual(env.DATABRICKS_TOKEN, undefined);
        assert.ok(Object.values(env).every((v) => v.secureValue === undefined), "nothing sensitive, nothing secure");
    });

    it("passes a configured registry token only as a secure environment variable", async () => {
        const plan = await planEditedStack("dev", (config) => {
            config["mlflow-platform:registryToken"] = { secure: "v1:AAAAencryptedAAAA" };
        });
        const env = envOf(onlyOfType(plan, "azure-native:containerinstance:ContainerGroup"));
        assert.deepStrictEqual(env.DATABRICKS_TOKEN, { secureValue: "[secret]" });
        assert.strictEqual(env.DATABRICKS_AUTH_TYPE, undefined);
    });

    it("follows a new resolved version with a new image tag, image and DNS label", async () => {
        const v8 = await planStack(PROJECT_DIR, "prd", "index.ts", { mocks: mocksResolving("8"), preview: false });
        assert.match(String(onlyOfType(v8, "docker:index/image:Image").inputs.imageName), /:main\.fraud_detection\.fraud-v8$/);
        assert.deepStrictEqual((onlyOfType(v8, "docker:index/image:Image").inputs.build as any).args, { MODEL_URI: "models:/main.fraud_detection.fraud/8" });
        const label = (plan: Plan) => (onlyOfType(plan, "azure-native:containerinstance:ContainerGroup").inputs.ipAddress as any).dnsNameLabel;
        assert.notStrictEqual(label(v8), label(plans.prd), "a new revision gets a new label, so the new group can exist beside the old one");
    });

    it("changing a size in the stack file changes only the serving container group", async () => {
        const bigger = await planEditedStack("prd", (config) => {
            (config["mlflow-platform:models"] as any[])[0].cpu = 4;
            (config["mlflow-platform:models"] as any[])[0].memoryGb = 8;
        });
        const baseline = await planStack(PROJECT_DIR, "prd");
        const changed = bigger.resources
            .filter((r) => JSON.stringify(r.inputs) !== JSON.stringify(baseline.resources.find((b) => b.urn === r.urn)?.inputs))
            .map((r) => r.name);
        assert.deepStrictEqual(changed, ["prd-serving-fraud-aci"]);
        assert.deepStrictEqual((onlyOfType(bigger, "azure-native:containerinstance:ContainerGroup").inputs.containers as any[])[0].resources.requests, { cpu: 4, memoryInGB: 8 });
    });

    it("serves nothing, but keeps the registry and identity, with no models (the bootstrap deployment)", async () => {
        const plan = await planEditedStack("dev", (config) => {
            config["mlflow-platform:models"] = [];
        });
        assert.strictEqual(byType(plan, "azure-native:containerinstance:ContainerGroup").length, 0);
        assert.strictEqual(byType(plan, "pulumi-nodejs:dynamic/registry:ModelVersion").length, 0);
        assert.strictEqual(byType(plan, "azure-native:containerregistry:Registry").length, 1);
    });

    it("serves several models side by side", async () => {
        const plan = await planEditedStack("dev", (config) => {
            (config["mlflow-platform:models"] as any[]).push({ name: "churn", model: "main.crm.churn", alias: "champion", cpu: 0.5, memoryGb: 1.5 });
        });
        assert.deepStrictEqual(byType(plan, "azure-native:containerinstance:ContainerGroup").map((g) => g.name).sort(), ["dev-serving-churn-aci", "dev-serving-fraud-aci"]);
        const churn = byType(plan, "azure-native:containerinstance:ContainerGroup").find((g) => g.name === "dev-serving-churn-aci")!;
        assert.deepStrictEqual((churn.inputs.containers as any[])[0].resources.requests, { cpu: 0.5, memoryInGB: 1.5 });
    });

    it("tags images as <model>-v<version> in Docker's tag alphabet, and hashes revisions", () => {
        assert.strictEqual(imageTag("main.fraud_detection.fraud", "12"), "main.fraud_detection.fraud-v12");
        assert.strictEqual(imageTag("Fraud Model/α", "3"), "Fraud-Model---v3");
        assert.notStrictEqual(revisionHash(["img", 1, 2]), revisionHash(["img", 2, 2]));
        assert.match(revisionHash(["x"]), /^[0-9a-f]{8}$/);
    });
});

describe("serving image", () => {
    const dockerfile = fs.readFileSync(path.join(PROJECT_DIR, "serving/Dockerfile"), "utf8");

    it("takes only the model URI as a build argument and runs the MLflow scoring server on 8080 as a non-root user", () => {
        assert.deepStrictEqual(dockerfile.match(/^ARG \w+/gm), ["ARG MODEL_URI"]);
        assert.match(dockerfile, /^USER scorer$/m);
        assert.match(dockerfile, /^EXPOSE 8080$/m);
        assert.match(dockerfile, /mlflow models serve --model-uri \\"\$MODEL_URI\\" --env-manager local --host 0\.0\.0\.0 --port 8080/);
        const instructions = dockerfile.split("\n").filter((line) => !line.startsWith("#")).join("\n");
        assert.doesNotMatch(instructions, /TOKEN|PASSWORD|SECRET/i);
    });

    it("sends only the requirements file to the builder", () => {
        assert.strictEqual(fs.readFileSync(path.join(PROJECT_DIR, "serving/.dockerignore"), "utf8").trim(), "*\n!requirements.txt");
        assert.match(fs.readFileSync(path.join(PROJECT_DIR, "serving/requirements.txt"), "utf8"), /^mlflow==\d+\.\d+\.\d+$/m);
    });
});
