import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";
import { revisionSuffix, trafficSplit } from "../components/serving/containerApp";
import { imageTag, revisionHash } from "../components/serving/modelServing";
import { planStack, renderPlanText, type Plan, type PlannedResource } from "../lib/plan";
import { deployedAzureMocks } from "./helpers/azureMocks";
import { byType, onlyOfType, planEditedStack, PROJECT_DIR } from "./helpers/fixtures";

type Resolver = (selector: Record<string, unknown>) => string;

/** Deployed mocks whose registry resolves each selector with `resolve` (a fixed version by default). */
function mocksResolving(resolve: string | Resolver): pulumi.runtime.Mocks {
    const versionOf: Resolver = typeof resolve === "string" ? () => resolve : resolve;
    return {
        ...deployedAzureMocks,
        newResource: async (args) => {
            const result = await deployedAzureMocks.newResource(args);
            if (args.type === "pulumi-nodejs:dynamic/registry:ModelVersion") {
                const version = versionOf(args.inputs.selector);
                return { ...result, state: { ...result.state, version, modelUri: `models:/${args.inputs.model}/${version}` } };
            }
            return result;
        },
    };
}

function deployed(stack: string, resolve: string | Resolver = "7"): Promise<Plan> {
    return planStack(PROJECT_DIR, stack, "index.ts", { mocks: mocksResolving(resolve), preview: false });
}

/** A copy of a stack file, edited, planned with deployed mocks. */
async function deployedEdited(stack: string, edit: (config: Record<string, any>) => void, resolve: string | Resolver = "7"): Promise<Plan> {
    const { planEditedStackWith } = await import("./helpers/fixtures");
    return planEditedStackWith(stack, edit, { mocks: mocksResolving(resolve), preview: false });
}

function envOf(vars: { name: string; value?: unknown; secureValue?: unknown; secretRef?: unknown }[]): Record<string, Record<string, unknown>> {
    return Object.fromEntries(vars.map(({ name, ...rest }) => [name, rest]));
}

describe("ModelServing", () => {
    const plans: Record<string, Plan> = {};
    before(async () => {
        for (const stack of ["dev", "prd"]) plans[stack] = await deployed(stack);
    });

    describe("shared by both platforms", () => {
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
                assert.match(String(acrPull.inputs.scope), /Microsoft\.containerregistry\/Registry\/.*-serving-registry$/);
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
        }

        it("serves the same model entry on either platform from the same version and image resources", async () => {
            const onApps = await deployedEdited("dev", (config) => {
                config["mlflow-platform:serving"].platform = "containerapp";
                config["mlflow-platform:models"][0].cpu = 1;
                config["mlflow-platform:models"][0].memoryGb = 2;
            });
            const shared = (plan: Plan) =>
                plan.resources
                    .filter((r) => ["docker:index/image:Image", "pulumi-nodejs:dynamic/registry:ModelVersion", "azure-native:containerregistry:Registry"].includes(r.type))
                    .map((r) => [r.name, JSON.stringify(r.inputs.__provider ? { ...r.inputs, __provider: "" } : r.inputs)]);
            assert.deepStrictEqual(shared(onApps), shared(plans.dev));
            assert.strictEqual(byType(onApps, "azure-native:app:ContainerApp").length, 1);
            assert.strictEqual(byType(onApps, "azure-native:containerinstance:ContainerGroup").length, 0);
            assert.strictEqual(byType(plans.dev, "azure-native:containerinstance:ContainerGroup").length, 1);
        });

        it("serves nothing, but keeps the registry and identity, with no models (the bootstrap deployment)", async () => {
            const plan = await planEditedStack("prd", (config) => {
                config["mlflow-platform:models"] = [];
            });
            for (const type of ["azure-native:containerinstance:ContainerGroup", "azure-native:app:ContainerApp", "azure-native:app:ManagedEnvironment", "pulumi-nodejs:dynamic/registry:ModelVersion"]) {
                assert.strictEqual(byType(plan, type).length, 0, type);
            }
            assert.strictEqual(byType(plan, "azure-native:containerregistry:Registry").length, 1);
        });

        it("tags images as <model>-v<version> in Docker's tag alphabet, and hashes revisions", () => {
            assert.strictEqual(imageTag("main.fraud_detection.fraud", "12"), "main.fraud_detection.fraud-v12");
            assert.strictEqual(imageTag("Fraud Model/α", "3"), "Fraud-Model---v3");
            assert.notStrictEqual(revisionHash(["img", 1, 2]), revisionHash(["img", 2, 2]));
            assert.match(revisionHash(["x"]), /^[0-9a-f]{8}$/);
        });
    });

    describe("on Azure Container Instances (dev)", () => {
        const group = (plan: Plan, name = "dev-serving-fraud-aci") => byType(plan, "azure-native:containerinstance:ContainerGroup").find((g) => g.name === name)!;
        const container = (plan: Plan, name?: string) => (group(plan, name).inputs.containers as any[])[0];
        const label = (plan: Plan) => (group(plan).inputs.ipAddress as any).dnsNameLabel;

        it("a Linux container group that pulls by identity, restarts always and probes the scoring server", () => {
            const g = group(plans.dev);
            assert.strictEqual(g.inputs.osType, "Linux");
            assert.strictEqual(g.inputs.restartPolicy, "Always");
            assert.strictEqual((g.inputs.identity as any).type, "UserAssigned");
            assert.match(String((g.inputs.identity as any).userAssignedIdentities[0]), /dev-serving-identity$/);
            const [credential] = g.inputs.imageRegistryCredentials as any[];
            assert.deepStrictEqual(Object.keys(credential).sort(), ["identity", "server"], "identity, never a password");
            const c = container(plans.dev);
            assert.match(c.image, /^mlplatdevmodelsacr\.azurecr\.io\/models\/fraud@sha256:[0-9a-f]{64}$/, "pinned to the pushed digest");
            assert.deepStrictEqual(c.ports, [{ port: 8080, protocol: "TCP" }]);
            assert.strictEqual(c.readinessProbe.httpGet.path, "/ping");
            assert.strictEqual(c.livenessProbe.httpGet.path, "/health");
            assert.ok(c.livenessProbe.initialDelaySeconds > c.readinessProbe.initialDelaySeconds, "liveness waits for the model to load");
            assert.strictEqual(g.parent, "dev-serving");
        });

        it("sizes come from the stack's config, workers default to one per core", () => {
            assert.deepStrictEqual(container(plans.dev).resources.requests, { cpu: 1, memoryInGB: 2 });
            assert.deepStrictEqual(envOf(container(plans.dev).environmentVariables).MLFLOW_MODELS_WORKERS, { value: "1" });
        });

        it("exports the scoring URI, version and image per model", () => {
            const models = plans.dev.outputs.models as Record<string, Record<string, string>>;
            assert.match(models.fraud.scoringUri, /^http:\/\/mlplatdevmodels-fraud-[0-9a-f]{8}\.westeurope\.azurecontainer\.io:8080\/invocations$/);
            assert.strictEqual(models.fraud.version, "7");
            assert.strictEqual(models.fraud.image, "mlplatdevmodelsacr.azurecr.io/models/fraud:main.fraud_detection.fraud-v7");
        });

        it("gives each environment and model a stable, globally unique DNS label", async () => {
            assert.match(label(plans.dev), /^mlplatdevmodels-fraud-[0-9a-f]{8}$/, "the storage account name makes it unique");
            assert.strictEqual(label(await deployed("dev")), label(plans.dev), "the same across runs");
        });

        it("reads the Unity Catalog registry with the managed identity when no token is configured", () => {
            const env = envOf(container(plans.dev).environmentVariables);
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
            const env = envOf(container(plan).environmentVariables);
            assert.deepStrictEqual(env.DATABRICKS_TOKEN, { secureValue: "[secret]" });
            assert.strictEqual(env.DATABRICKS_AUTH_TYPE, undefined);
        });

        it("follows a new resolved version with a new image tag, image and DNS label", async () => {
            const v8 = await deployed("dev", "8");
            assert.match(String(onlyOfType(v8, "docker:index/image:Image").inputs.imageName), /:main\.fraud_detection\.fraud-v8$/);
            assert.deepStrictEqual((onlyOfType(v8, "docker:index/image:Image").inputs.build as any).args, { MODEL_URI: "models:/main.fraud_detection.fraud/8" });
            assert.notStrictEqual(label(v8), label(plans.dev), "a new revision gets a new label, so the new group can exist beside the old one");
        });

        it("changing a size in the stack file changes only the serving container group", async () => {
            const bigger = await planEditedStack("dev", (config) => {
                config["mlflow-platform:models"][0].cpu = 4;
                config["mlflow-platform:models"][0].memoryGb = 8;
            });
            const baseline = await planStack(PROJECT_DIR, "dev");
            const changed = bigger.resources
                .filter((r) => JSON.stringify(r.inputs) !== JSON.stringify(baseline.resources.find((b) => b.urn === r.urn)?.inputs))
                .map((r) => r.name);
            assert.deepStrictEqual(changed, ["dev-serving-fraud-aci"]);
            assert.deepStrictEqual((group(bigger).inputs.containers as any[])[0].resources.requests, { cpu: 4, memoryInGB: 8 });
        });

        it("serves several models side by side", async () => {
            const plan = await planEditedStack("dev", (config) => {
                config["mlflow-platform:models"].push({ name: "churn", model: "main.crm.churn", alias: "champion", cpu: 0.5, memoryGb: 1.5 });
            });
            assert.deepStrictEqual(byType(plan, "azure-native:containerinstance:ContainerGroup").map((g) => g.name).sort(), ["dev-serving-churn-aci", "dev-serving-fraud-aci"]);
            assert.deepStrictEqual(container(plan, "dev-serving-churn-aci").resources.requests, { cpu: 0.5, memoryInGB: 1.5 });
        });
    });

    describe("on Azure Container Apps (prd)", () => {
        const containerApp = (plan: Plan): PlannedResource => onlyOfType(plan, "azure-native:app:ContainerApp");
        const template = (plan: Plan) => containerApp(plan).inputs.template as any;
        const ingress = (plan: Plan) => (containerApp(plan).inputs.configuration as any).ingress;
        const canary = (weight: number, selector: Record<string, unknown> = { version: 8 }) => (config: Record<string, any>) => {
            config["mlflow-platform:models"][0].canary = { ...selector, weight };
        };
        const champion = (version: string) => (selector: Record<string, unknown>) => (selector.version ? String(selector.version) : version);

        it("a Log Analytics workspace and a managed environment whose logs go to it", () => {
            const logs = onlyOfType(plans.prd, "azure-native:operationalinsights:Workspace");
            assert.strictEqual(logs.inputs.retentionInDays, 30);
            const env = onlyOfType(plans.prd, "azure-native:app:ManagedEnvironment");
            assert.deepStrictEqual(env.inputs.workloadProfiles, [{ name: "Consumption", workloadProfileType: "Consumption" }]);
            assert.deepStrictEqual(env.inputs.appLogsConfiguration, { destination: "azure-monitor" });
            const diagnostics = onlyOfType(plans.prd, "azure-native:monitor:DiagnosticSetting");
            assert.match(String(diagnostics.inputs.workspaceId), /prd-serving-apps-logs$/);
            assert.match(String(diagnostics.inputs.resourceUri), /prd-serving-apps-env$/);
            assert.match(String(containerApp(plans.prd).inputs.managedEnvironmentId), /prd-serving-apps-env$/);
        });

        it("a container app in multiple-revision mode, pulling by identity, sized, probed and scaled from config", () => {
            const appInputs = containerApp(plans.prd).inputs as any;
            assert.strictEqual(appInputs.containerAppName, "prd-fraud");
            assert.strictEqual(appInputs.configuration.activeRevisionsMode, "Multiple");
            assert.strictEqual(appInputs.configuration.revisionTransitionThreshold, 100, "traffic waits for every replica of a new revision");
            assert.strictEqual(appInputs.identity.type, "UserAssigned");
            assert.deepStrictEqual(Object.keys(appInputs.configuration.registries[0]).sort(), ["identity", "server"]);
            const [c] = template(plans.prd).containers;
            assert.deepStrictEqual(c.resources, { cpu: 2, memory: "4Gi" });
            assert.deepStrictEqual(c.probes.map((p: any) => `${p.type} ${p.httpGet.path}`), ["Startup /ping", "Readiness /ping", "Liveness /health"]);
            assert.deepStrictEqual(template(plans.prd).scale, {
                minReplicas: 2,
                maxReplicas: 10,
                rules: [{ name: "http-concurrency", http: { metadata: { concurrentRequests: "20" } } }],
            });
        });

        it("names the revision after the model version and sends it all the traffic", () => {
            const suffix = template(plans.prd).revisionSuffix;
            assert.match(suffix, /^v7-[0-9a-f]{6}$/);
            assert.deepStrictEqual(ingress(plans.prd).traffic, [{ revisionName: `prd-fraud--${suffix}`, weight: 100, label: "stable" }]);
            assert.deepStrictEqual((plans.prd.outputs.models as any).fraud.traffic, [{ revision: `prd-fraud--${suffix}`, weight: 100, label: "stable" }]);
            assert.strictEqual((plans.prd.outputs.models as any).fraud.scoringUri, "https://prd-fraud.kindpond-1234abcd.westeurope.azurecontainerapps.io/invocations");
        });

        it("is HTTPS-only external ingress restricted to the allow-list", () => {
            const i = ingress(plans.prd);
            assert.strictEqual(i.external, true);
            assert.strictEqual(i.allowInsecure, false);
            assert.strictEqual(i.targetPort, 8080);
            assert.deepStrictEqual(i.ipSecurityRestrictions, [{ name: "allow-1", ipAddressRange: "203.0.113.0/24", action: "Allow" }]);
            assert.strictEqual(byType(plans.prd, "azure-native:app:ContainerAppsAuthConfig").length, 0, "no Entra auth unless configured");
        });

        it("a version bump creates a new revision that takes the traffic", async () => {
            const v8 = await deployed("prd", "8");
            assert.match(template(v8).revisionSuffix, /^v8-[0-9a-f]{6}$/);
            assert.deepStrictEqual(ingress(v8).traffic, [{ revisionName: `prd-fraud--${template(v8).revisionSuffix}`, weight: 100, label: "stable" }]);
        });

        it("a resize creates a new revision of the same version", async () => {
            const bigger = await deployedEdited("prd", (config) => {
                config["mlflow-platform:models"][0].cpu = 4;
                config["mlflow-platform:models"][0].memoryGb = 8;
            });
            assert.match(template(bigger).revisionSuffix, /^v7-/);
            assert.notStrictEqual(template(bigger).revisionSuffix, template(plans.prd).revisionSuffix);
            assert.deepStrictEqual(template(bigger).containers[0].resources, { cpu: 4, memory: "8Gi" });
        });

        it("a canary runs the candidate as the newest revision and splits the traffic as configured", async () => {
            const canaryPlan = await deployedEdited("prd", canary(10), champion("7"));
            const stableSuffix = template(plans.prd).revisionSuffix;
            const candidate = template(canaryPlan).revisionSuffix;
            assert.match(candidate, /^v8-/);
            assert.deepStrictEqual(ingress(canaryPlan).traffic, [
                { revisionName: `prd-fraud--${stableSuffix}`, weight: 90, label: "stable" },
                { revisionName: `prd-fraud--${candidate}`, weight: 10, label: "canary" },
            ]);
            assert.deepStrictEqual(
                byType(canaryPlan, "docker:index/image:Image").map((i) => String(i.inputs.imageName).split(":").pop()).sort(),
                ["main.fraud_detection.fraud-v7", "main.fraud_detection.fraud-v8"],
            );
        });

        it("promotion and rollback are config edits that reuse the existing revisions", async () => {
            const canaryPlan = await deployedEdited("prd", canary(10), champion("7"));
            // Promote: champion now points at 8, canary removed: same template, all traffic to it.
            const promoted = await deployed("prd", champion("8"));
            assert.strictEqual(template(promoted).revisionSuffix, template(canaryPlan).revisionSuffix, "no new revision");
            assert.deepStrictEqual(ingress(promoted).traffic.map((t: any) => t.weight), [100]);
            // Roll back: champion back to 7, the bad version kept as a canary with no traffic.
            const rolledBack = await deployedEdited("prd", canary(0), champion("7"));
            assert.strictEqual(template(rolledBack).revisionSuffix, template(promoted).revisionSuffix, "the template does not change");
            assert.deepStrictEqual(
                ingress(rolledBack).traffic.map((t: any) => [t.revisionName, t.weight]),
                [
                    [`prd-fraud--${template(plans.prd).revisionSuffix}`, 100],
                    [`prd-fraud--${template(promoted).revisionSuffix}`, 0],
                ],
            );
        });

        it("shows the canary's traffic split in the credential-free plan", async () => {
            const plan = await planEditedStack("prd", canary(10, { alias: "challenger" }));
            assert.match(renderPlanText(plan), /fraud\.traffic: 90% stable \(alias "champion"\), 10% canary \(alias "challenger"\)/);
        });

        it("the plan shows replicas, scale rule, revision mode and access", async () => {
            const text = renderPlanText(await planStack(PROJECT_DIR, "prd"));
            for (const line of [
                "fraud.platform: containerapp",
                "fraud.replicas: 2-10",
                "fraud.scaleRule: http, 20 concurrent requests per replica",
                "fraud.revisionMode: Multiple",
                'fraud.traffic: 100% stable (alias "champion")',
                "fraud.ingress: external, HTTPS only",
                "fraud.ipAllowList: 203.0.113.0/24",
                "fraud.entra: off",
            ]) {
                assert.ok(text.includes(`      ${line}\n`), `plan shows "${line}"`);
            }
        });

        it("requires Microsoft Entra tokens when configured, answering 401 to anyone else", async () => {
            const plan = await deployedEdited("prd", (config) => {
                config["mlflow-platform:serving"].entra = {
                    tenantId: "11111111-2222-3333-4444-555555555555",
                    clientId: "66666666-7777-8888-9999-000000000000",
                    audiences: ["api://mlflow-scoring"],
                };
            });
            const auth = onlyOfType(plan, "azure-native:app:ContainerAppsAuthConfig").inputs as any;
            assert.strictEqual(auth.authConfigName, "current");
            assert.strictEqual(auth.containerAppName, "prd-fraud");
            assert.deepStrictEqual(auth.platform, { enabled: true });
            assert.strictEqual(auth.globalValidation.unauthenticatedClientAction, "Return401");
            assert.deepStrictEqual(auth.identityProviders.azureActiveDirectory.validation.allowedAudiences, ["api://mlflow-scoring"]);
            assert.strictEqual(auth.identityProviders.azureActiveDirectory.registration.openIdIssuer, "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0");
        });

        it("can be internal-only", async () => {
            const plan = await deployedEdited("prd", (config) => {
                config["mlflow-platform:serving"].ingress = "internal";
                delete config["mlflow-platform:serving"].ipAllowList;
            });
            assert.strictEqual(ingress(plan).external, false);
        });

        it("keeps registry secrets as Container Apps secrets, referenced by the environment", async () => {
            const plan = await planEditedStack("prd", (config) => {
                config["mlflow-platform:registryToken"] = { secure: "v1:AAAAencryptedAAAA" };
            });
            const [app] = byType(plan, "azure-native:app:ContainerApp");
            // In a preview the whole configuration is unknown; the deployed shape is checked below.
            assert.ok(app);
            const deployedPlan = await deployedEdited("prd", (config) => {
                config["mlflow-platform:registryToken"] = { secure: "v1:AAAAencryptedAAAA" };
            });
            const inputs = containerApp(deployedPlan).inputs as any;
            // The configuration holds the secret, so Pulumi keeps all of it secret: nothing of it shows.
            assert.strictEqual(inputs.configuration, "[secret]");
            assert.deepStrictEqual(envOf(inputs.template.containers[0].env).DATABRICKS_TOKEN, { secretRef: "databricks-token" });
        });

        it("computes revision suffixes and traffic splits", () => {
            assert.strictEqual(revisionSuffix("12", "abcdef123"), "v12-abcdef");
            assert.deepStrictEqual(trafficSplit("a", "v1-x"), [{ revision: "a--v1-x", weight: 100, label: "stable" }]);
            assert.deepStrictEqual(trafficSplit("a", "v1-x", { suffix: "v1-x", weight: 10 }), [{ revision: "a--v1-x", weight: 100, label: "stable" }], "canary equal to stable");
            assert.deepStrictEqual(trafficSplit("a", "v1-x", { suffix: "v2-y", weight: 25 }).map((t) => t.weight), [75, 25]);
        });
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
