import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";
import { DockerfileParser } from "dockerfile-ast";
import { trafficSplit } from "../components/serving/containerApp";
import { REGISTRY_VARIABLE } from "../components/serving/environment";
import { imageTag, RECIPE_FILES, recipeDigest } from "../lib/serving/image";
import { aciDnsLabel, revisionSuffix, type RevisionSpec } from "../lib/serving/revision";
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

const RECIPE = recipeDigest(PROJECT_DIR);
const MODEL: Record<string, string> = { dev: "mlplatform.dev.fraud", prd: "mlplatform.prd.fraud" };
// A container's variables: how to serve, the payload log's (on by default: every request in dev, a tenth in prd), the revision's identity.
const ENV_NAMES = ["MLFLOW_MODELS_WORKERS", "PAYLOAD_LOG_SAMPLE_RATE", "PAYLOAD_LOG_ACCOUNT_URL", "PAYLOAD_LOG_CONTAINER", "SERVING_MODEL_NAME", "SERVING_MODEL_VERSION", "SERVING_IMAGE_TAG", "PAYLOAD_LOG_CLIENT_ID"];
/** On Container Apps, after the model's own variables: where the metrics go (serving/scoring_telemetry.py). */
const METRICS_EXPORT_NAMES = ["APPLICATIONINSIGHTS_CONNECTION_STRING", "SERVING_IDENTITY_CLIENT_ID"];
const TAG = (stack: string, version = "7") => `${MODEL[stack]}-v${version}-${RECIPE}`;
/** dev serves on Container Apps by default; the ACI tests switch it back. */
const onAci = (config: Record<string, any>) => {
    config["mlflow-platform:serving"].platform = "aci";
};

function envOf(vars: { name: string; value?: unknown; secureValue?: unknown; secretRef?: unknown }[]): Record<string, Record<string, unknown>> {
    return Object.fromEntries(vars.map(({ name, ...rest }) => [name, rest]));
}

describe("ModelServing", () => {
    const plans: Record<string, Plan> = {};
    before(async () => {
        for (const stack of ["dev", "prd"]) plans[stack] = await deployed(stack);
        plans.devAci = await deployedEdited("dev", onAci);
    });

    describe("shared by both platforms", () => {
        for (const stack of ["dev", "prd"]) {
            it(`${stack}: a registry without admin user, and an identity with AcrPull on it`, () => {
                const plan = plans[stack];
                const registry = onlyOfType(plan, "azure-native:containerregistry:Registry");
                assert.strictEqual(registry.inputs.adminUserEnabled, false);
                assert.strictEqual(registry.inputs.registryName, `mlplat${stack}modelsacr`);
                assert.strictEqual(registry.parent, `${stack}-serving`);
                // The serving identity (a drift job has its own).
                const identity = onlyOfType({ ...plan, resources: plan.resources.filter((r) => r.parent === `${stack}-serving`) }, "azure-native:managedidentity:UserAssignedIdentity");
                const acrPull = byType(plan, "azure-native:authorization:RoleAssignment").find((r) => r.name === `${stack}-serving-acr-pull`)!;
                assert.strictEqual(acrPull.inputs.principalId, `principal-of-${identity.name}`);
                assert.match(String(acrPull.inputs.scope), /Microsoft\.containerregistry\/Registry\/.*-serving-registry$/);
                assert.match(String(acrPull.inputs.roleDefinitionId), /\/roleDefinitions\/7f951dda-4ed3-4680-a7ca-43fe172d538d$/);
            });

            it(`${stack}: the identity may write the payloads container and nothing else of the model store`, () => {
                const plan = plans[stack];
                // The serving identity (a drift job has its own).
                const identity = onlyOfType({ ...plan, resources: plan.resources.filter((r) => r.parent === `${stack}-serving`) }, "azure-native:managedidentity:UserAssignedIdentity");
                const writers = byType(plan, "azure-native:authorization:RoleAssignment").filter((r) => r.inputs.principalId === `principal-of-${identity.name}`);
                // Beside these, observability makes it a metrics publisher on Application Insights (not the store).
                assert.deepStrictEqual(writers.map((r) => r.name).sort(), [`${stack}-observability-metrics-publisher`, `${stack}-serving-acr-pull`, `${stack}-serving-payload-writer`]);
                assert.doesNotMatch(String(writers.find((r) => r.name === `${stack}-observability-metrics-publisher`)!.inputs.scope), /storageAccounts/i);
                const writer = writers.find((r) => r.name === `${stack}-serving-payload-writer`)!;
                assert.match(String(writer.inputs.scope), /\/blobServices\/default\/containers\/payloads$|BlobContainer\/.*-store-payloads$/, String(writer.inputs.scope));
                assert.match(String(writer.inputs.roleDefinitionId), /\/roleDefinitions\/ba92f5b4-2d11-453d-a403-e96b0029c9fe$/, "Storage Blob Data Contributor");
                assert.match(String(writer.inputs.roleAssignmentName), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "deterministic GUID name");
                const delay = byType(plan, "mlflow-platform:serving:Delay")[0] ?? plan.resources.find((r) => r.name === `${stack}-serving-acr-pull-propagation`)!;
                assert.ok(delay, "the revision waits for the assignments to propagate");
            });

            it(`${stack}: builds one self-contained image per resolved version, content-addressed, credential only as a build secret`, () => {
                const image = onlyOfType(plans[stack], "docker-build:index:Image");
                const ref = `mlplat${stack}modelsacr.azurecr.io/models/fraud:${TAG(stack)}`;
                assert.strictEqual(image.name, `${stack}-serving-fraud-image-${TAG(stack)}`);
                assert.deepStrictEqual(image.inputs.tags, [ref]);
                assert.deepStrictEqual(image.inputs.context, { location: "serving" });
                assert.deepStrictEqual(image.inputs.dockerfile, { location: "serving/Dockerfile" });
                assert.strictEqual(image.inputs.push, true);
                assert.deepStrictEqual(image.inputs.buildArgs, {
                    REGISTRY_KIND: "unity-catalog",
                    REGISTRY_URL: stack === "dev" ? "https://adb-1234567890123456.7.azuredatabricks.net" : "https://adb-1111111111111111.1.azuredatabricks.net",
                    MODEL_NAME: MODEL[stack],
                    MODEL_VERSION: "7",
                });
                assert.deepStrictEqual(image.inputs.secrets, "[secret]", "the credential file is a Pulumi secret");
                assert.deepStrictEqual(image.inputs.ignoreSecretsInDiffCalculation, ["registry_env"]);
                const [login] = image.inputs.registries as any[];
                // The push token comes from the ACR exchange at deploy; the credential-free plan asks no registry.
                assert.deepStrictEqual(login, { address: `mlplat${stack}modelsacr.azurecr.io`, username: "00000000-0000-0000-0000-000000000000", password: "(known after deploy)" });
                const cache = `mlplat${stack}modelsacr.azurecr.io/models/fraud:buildcache`;
                assert.deepStrictEqual(image.inputs.cacheFrom, [{ registry: { ref: cache } }]);
                assert.deepStrictEqual(image.inputs.cacheTo, [{ registry: { ref: cache, mode: "max", imageManifest: true, ociMediaTypes: true } }]);
                assert.doesNotMatch(JSON.stringify(image.inputs.buildArgs) + JSON.stringify(image.inputs.labels), /token|password|secret/i);
            });

            it(`${stack}: serving containers hold no registry URL, credential or identity grant for the registry`, () => {
                const containers = byType(plans[stack], "azure-native:containerinstance:ContainerGroup").flatMap((g) => g.inputs.containers as any[]);
                const appContainers = byType(plans[stack], "azure-native:app:ContainerApp").flatMap((a) => (a.inputs.template as any).containers);
                const all = [...containers, ...appContainers];
                assert.strictEqual(all.length, 1);
                for (const c of all) {
                    const vars = (c.environmentVariables ?? c.env) as { name: string; value: string }[];
                    const names = vars.map((v) => v.name);
                    // How to serve, the payload log's destination and share, on Container Apps where to
                    // export the metrics (secret references), and the revision's identity for its
                    // request records: nothing else.
                    const exportVars = c.env ? METRICS_EXPORT_NAMES : [];
                    assert.deepStrictEqual(names, [...ENV_NAMES.slice(0, 4), ...exportVars, ...ENV_NAMES.slice(4)]);
                    assert.deepStrictEqual(vars.slice(1, 4).map((v) => v.value), [stack === "dev" ? "1" : "0.1", `https://mlplat${stack}models.blob.core.windows.net`, "payloads"]);
                    const identityAt = 4 + exportVars.length;
                    assert.deepStrictEqual(vars.slice(identityAt, identityAt + 3).map((v) => v.value), [`mlplatform.${stack}.fraud`, "7", TAG(stack)]);
                    assert.ok(!names.some((n: string) => REGISTRY_VARIABLE.test(n)));
                    assert.strictEqual(c.image, `mlplat${stack}modelsacr.azurecr.io/models/fraud:${TAG(stack)}`);
                }
                assert.doesNotMatch(JSON.stringify(plans[stack].resources.filter((r) => !r.type.includes("ModelVersion") && !r.type.includes("docker-build") && r.type !== "pulumi:providers:databricks").map((r) => r.inputs)), /azuredatabricks\.net/);
            });
        }

        it("serves the same model entry on either platform from the same version and image resources", async () => {
            const onApps = plans.dev;
            const shared = (plan: Plan) =>
                plan.resources
                    .filter((r) => ["docker-build:index:Image", "pulumi-nodejs:dynamic/registry:ModelVersion", "azure-native:containerregistry:Registry"].includes(r.type))
                    .map((r) => [r.name, JSON.stringify(r.inputs.__provider ? { ...r.inputs, __provider: "" } : r.inputs)]);
            assert.deepStrictEqual(shared(onApps), shared(plans.devAci));
            assert.strictEqual(byType(onApps, "azure-native:app:ContainerApp").length, 1);
            assert.strictEqual(byType(onApps, "azure-native:containerinstance:ContainerGroup").length, 0);
            assert.strictEqual(byType(plans.devAci, "azure-native:containerinstance:ContainerGroup").length, 1);
            assert.strictEqual(byType(plans.devAci, "azure-native:app:ContainerAppsAuthConfig").length, 0, "ACI has no authentication");
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

        it("tags images as <model>-v<version>-<recipe> in Docker's tag alphabet", () => {
            assert.strictEqual(imageTag("main.fraud_detection.fraud", "12", "abc123"), "main.fraud_detection.fraud-v12-abc123");
            assert.strictEqual(imageTag("Fraud Model/α", "3", "r"), "Fraud-Model---v3-r");
            const long = imageTag("m".repeat(200), "123456", "0123456789ab");
            assert.strictEqual(long.length, 128);
            assert.ok(long.endsWith("-v123456-0123456789ab"), "the version and recipe are never cut");
        });

        it("the recipe digest covers the Dockerfile and every file it copies, with any line endings", () => {
            const dir = fs.mkdtempSync(path.join(require("os").tmpdir(), "recipe-"));
            fs.mkdirSync(path.join(dir, "serving"));
            for (const file of RECIPE_FILES) fs.copyFileSync(path.join(PROJECT_DIR, "serving", file), path.join(dir, "serving", file));
            assert.strictEqual(recipeDigest(dir), RECIPE);
            const script = path.join(dir, "serving", "serve_model.py");
            fs.writeFileSync(script, fs.readFileSync(script, "utf8").replace(/\n/g, "\r\n"));
            assert.strictEqual(recipeDigest(dir), RECIPE, "a Windows checkout gives the same tags");
            fs.appendFileSync(script, "# changed\n");
            assert.notStrictEqual(recipeDigest(dir), RECIPE, "a recipe change is a new tag");
            // Every file the Dockerfile copies from the context is part of the recipe.
            const copied = [...fs.readFileSync(path.join(PROJECT_DIR, "serving/Dockerfile"), "utf8").matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
            assert.deepStrictEqual([...new Set(copied)].sort(), RECIPE_FILES.filter((f) => f !== "Dockerfile").sort());
        });
    });

    describe("on Azure Container Instances (dev, when selected)", () => {
        const group = (plan: Plan, name = "dev-serving-fraud-aci") => byType(plan, "azure-native:containerinstance:ContainerGroup").find((g) => g.name === name)!;
        const container = (plan: Plan, name?: string) => (group(plan, name).inputs.containers as any[])[0];
        const label = (plan: Plan) => (group(plan).inputs.ipAddress as any).dnsNameLabel;

        it("a Linux container group that pulls by identity, restarts always and probes the scoring server", () => {
            const g = group(plans.devAci);
            assert.strictEqual(g.inputs.osType, "Linux");
            assert.strictEqual(g.inputs.restartPolicy, "Always");
            assert.strictEqual((g.inputs.identity as any).type, "UserAssigned");
            assert.match(String((g.inputs.identity as any).userAssignedIdentities[0]), /dev-serving-identity$/);
            const [credential] = g.inputs.imageRegistryCredentials as any[];
            assert.deepStrictEqual(Object.keys(credential).sort(), ["identity", "server"], "identity, never a password");
            const c = container(plans.devAci);
            assert.strictEqual(c.image, `mlplatdevmodelsacr.azurecr.io/models/fraud:${TAG("dev")}`, "an immutable, content-addressed tag");
            assert.deepStrictEqual(c.ports, [{ port: 8080, protocol: "TCP" }]);
            assert.strictEqual(c.readinessProbe.httpGet.path, "/ping");
            assert.strictEqual(c.livenessProbe.httpGet.path, "/health");
            assert.ok(c.livenessProbe.initialDelaySeconds > c.readinessProbe.initialDelaySeconds, "liveness waits for the model to load");
            assert.strictEqual(g.parent, "dev-serving");
        });

        it("sizes come from the stack's config, workers default to one per vCPU (rounded up)", () => {
            assert.deepStrictEqual(container(plans.devAci).resources.requests, { cpu: 1, memoryInGB: 2 });
            assert.deepStrictEqual(envOf(container(plans.devAci).environmentVariables).MLFLOW_MODELS_WORKERS, { value: "1" });
        });

        it("a fractional size rounds the worker count up", async () => {
            const plan = await planEditedStack("dev", (config) => {
                onAci(config);
                Object.assign(config["mlflow-platform:models"][0], { cpu: 1.5, memoryGb: 3 });
            });
            assert.deepStrictEqual(envOf(container(plan).environmentVariables).MLFLOW_MODELS_WORKERS, { value: "2" });
        });

        it("exports the scoring URI, version and image per model", () => {
            const models = plans.devAci.outputs.models as Record<string, Record<string, string>>;
            assert.match(models.fraud.scoringUri, /^http:\/\/mlplatdevmodels-fraud-v7-[0-9a-f]{8}\.westeurope\.azurecontainer\.io:8080\/invocations$/);
            assert.strictEqual(models.fraud.version, "7");
            assert.strictEqual(models.fraud.image, `mlplatdevmodelsacr.azurecr.io/models/fraud:${TAG("dev")}`);
            assert.strictEqual(models.fraud.revision, label(plans.devAci));
        });

        it("gives each environment and model a stable, globally unique DNS label", async () => {
            assert.match(label(plans.devAci), /^mlplatdevmodels-fraud-v7-[0-9a-f]{8}$/, "the storage account name makes it unique");
            assert.strictEqual(label(await deployedEdited("dev", onAci)), label(plans.devAci), "the same across runs");
        });

        it("a configured registry token goes only to the image build, never to the container", async () => {
            const plan = await deployedEdited("dev", (config) => {
                onAci(config);
                config["mlflow-platform:registryToken"] = { secure: "v1:AAAAencryptedAAAA" };
            });
            assert.deepStrictEqual(Object.keys(envOf(container(plan).environmentVariables)), ENV_NAMES);
            assert.doesNotMatch(JSON.stringify(container(plan).environmentVariables), /AAAAencrypted|secret/i);
            assert.strictEqual(onlyOfType(plan, "docker-build:index:Image").inputs.secrets, "[secret]");
        });

        it("follows a new resolved version with a new image tag, image and DNS label", async () => {
            const v8 = await deployedEdited("dev", onAci, "8");
            const image = onlyOfType(v8, "docker-build:index:Image");
            assert.deepStrictEqual(image.inputs.tags, [`mlplatdevmodelsacr.azurecr.io/models/fraud:${TAG("dev", "8")}`]);
            assert.strictEqual((image.inputs.buildArgs as any).MODEL_VERSION, "8");
            assert.match(label(v8), /^mlplatdevmodels-fraud-v8-/);
            assert.notStrictEqual(label(v8), label(plans.devAci), "a new revision gets a new label, so the new group can exist beside the old one");
        });

        it("changing a size in the stack file changes only the serving container group", async () => {
            const bigger = await planEditedStack("dev", (config) => {
                onAci(config);
                config["mlflow-platform:models"][0].cpu = 4;
                config["mlflow-platform:models"][0].memoryGb = 8;
            });
            const baseline = await planEditedStack("dev", onAci);
            const changed = bigger.resources
                .filter((r) => JSON.stringify(r.inputs) !== JSON.stringify(baseline.resources.find((b) => b.urn === r.urn)?.inputs))
                .map((r) => r.name);
            assert.deepStrictEqual(changed, ["dev-serving-fraud-aci"]);
            assert.deepStrictEqual((group(bigger).inputs.containers as any[])[0].resources.requests, { cpu: 4, memoryInGB: 8 });
        });

        it("serves several models side by side", async () => {
            const plan = await planEditedStack("dev", (config) => {
                onAci(config);
                config["mlflow-platform:models"].push({ name: "churn", model: "mlplatform.dev.churn", alias: "champion", cpu: 0.5, memoryGb: 1.5 });
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

        it("each container's MLFLOW_MODELS_WORKERS is the replica's vCPUs rounded up (at least 1) unless config sets workers", async () => {
            const plan = await deployedEdited("dev", (config) => {
                const models = config["mlflow-platform:models"];
                Object.assign(models[0], { cpu: 1.5, memoryGb: 3 });
                models.push({ name: "churn", model: "mlplatform.dev.churn", alias: "champion", cpu: 0.25, memoryGb: 0.5 });
                models.push({ name: "spam", model: "mlplatform.dev.spam", alias: "champion", cpu: 0.5, memoryGb: 1, workers: 3 });
            });
            const workers = Object.fromEntries(
                byType(plan, "azure-native:app:ContainerApp").map((a) => [a.name, envOf((a.inputs.template as any).containers[0].env).MLFLOW_MODELS_WORKERS]),
            );
            assert.deepStrictEqual(workers, { "dev-serving-churn-app": { value: "1" }, "dev-serving-fraud-app": { value: "2" }, "dev-serving-spam-app": { value: "3" } });
        });

        it("names the revision after the model version and sends it all the traffic", () => {
            const suffix = template(plans.prd).revisionSuffix;
            assert.match(suffix, /^v7-[0-9a-f]{10}$/);
            assert.strictEqual((plans.prd.outputs.models as any).fraud.revision, suffix);
            assert.deepStrictEqual(ingress(plans.prd).traffic, [{ revisionName: `prd-fraud--${suffix}`, weight: 100, label: "stable" }]);
            assert.deepStrictEqual((plans.prd.outputs.models as any).fraud.traffic, [{ revision: `prd-fraud--${suffix}`, weight: 100, label: "stable" }]);
            assert.strictEqual((plans.prd.outputs.models as any).fraud.scoringUri, "https://prd-fraud.kindpond-1234abcd.westeurope.azurecontainerapps.io/invocations");
        });

        it("is HTTPS-only external ingress, created admitting nobody until Entra authentication exists, then opened by RevisionTraffic", async () => {
            const i = ingress(plans.prd);
            assert.strictEqual(i.external, true);
            assert.strictEqual(i.allowInsecure, false);
            assert.strictEqual(i.targetPort, 8080);
            // A new app (no live revisions to read): closed.
            assert.deepStrictEqual(i.ipSecurityRestrictions, [{ name: "closed-until-auth", ipAddressRange: "192.0.2.0/32", action: "Allow" }]);
            const traffic = onlyOfType(plans.prd, "pulumi-nodejs:dynamic/serving:RevisionTraffic");
            assert.deepStrictEqual(traffic.inputs.ipSecurityRestrictions, [], "opened to any address: Entra alone guards it");
            const withList = await deployedEdited("prd", (config) => {
                config["mlflow-platform:serving"].ipAllowList = ["20.50.0.0/16"];
            });
            assert.deepStrictEqual(onlyOfType(withList, "pulumi-nodejs:dynamic/serving:RevisionTraffic").inputs.ipSecurityRestrictions, [{ name: "allow-1", ipAddressRange: "20.50.0.0/16", action: "Allow" }]);
        });

        it("hands prd's guarded rollout to RevisionTraffic: the model's steps and thresholds, its app, its logs workspace; dev has none", async () => {
            const guard = onlyOfType(plans.prd, "pulumi-nodejs:dynamic/serving:RevisionTraffic").inputs.guard as any;
            assert.strictEqual(guard.appName, "prd-fraud");
            assert.strictEqual(guard.modelKey, "models[fraud]");
            assert.strictEqual(guard.modelName, "mlplatform.prd.fraud");
            assert.strictEqual(guard.auditAccountName, "mlplatprdmodels", "the outcome goes to the stack's audit container");
            assert.deepStrictEqual(guard.rollout.steps, [10, 50, 100]);
            assert.strictEqual(guard.rollout.bakeSeconds, 600);
            assert.strictEqual(guard.rollout.minRequests, 200);
            assert.strictEqual(guard.workspaceId, "63613592-b6f7-4c3d-a390-22ba13102111", "the Log Analytics workspace's customerId");
            // The replay reads the model's payload log folder and signs in to the new revision for the scoring API.
            assert.strictEqual(guard.replay.accountName, "mlplatprdmodels");
            assert.strictEqual(guard.replay.folder, "mlplatform.prd.fraud");
            assert.match(guard.replay.scope, /^api:\/\/client-of-[a-z0-9-]+\/\.default$/);
            for (const traffic of byType(plans.dev, "pulumi-nodejs:dynamic/serving:RevisionTraffic")) assert.strictEqual(traffic.inputs.guard, undefined, traffic.name);
        });

        it("tells every RevisionTraffic, guarded or not, where its app's console lines are (a revision that never gets ready fails with them)", async () => {
            for (const [stack, plan] of Object.entries(plans)) {
                for (const traffic of byType(plan, "pulumi-nodejs:dynamic/serving:RevisionTraffic")) {
                    const logs = traffic.inputs.logs as { workspaceId: string; appName: string };
                    assert.strictEqual(logs.workspaceId, "63613592-b6f7-4c3d-a390-22ba13102111", `${stack} ${traffic.name}`);
                    // The app dev-fraud's traffic is dev-serving-fraud-traffic.
                    assert.strictEqual(traffic.name, `${stack}-serving-${logs.appName.slice(`${stack}-`.length)}-traffic`, `${stack} ${logs.appName}`);
                }
            }
        });

        it("a version bump creates a new revision that takes the traffic", async () => {
            const v8 = await deployed("prd", "8");
            assert.match(template(v8).revisionSuffix, /^v8-[0-9a-f]{10}$/);
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
                byType(canaryPlan, "docker-build:index:Image").map((i) => String((i.inputs.tags as string[])[0]).split(":").pop()).sort(),
                [TAG("prd"), TAG("prd", "8")],
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
                "fraud.ipAllowList: any address",
                "fraud.entra: required: tokens of the stack's scoring API with the Scoring.Invoke role (401 without)",
            ]) {
                assert.ok(text.includes(`      ${line}\n`), `plan shows "${line}"`);
            }
        });

        for (const stack of ["dev", "prd"]) {
            it(`${stack}: requires tokens of the stack's own scoring API, v2 issuer, answering 401 to anyone else`, () => {
                const plan = plans[stack];
                const auth = onlyOfType(plan, "azure-native:app:ContainerAppsAuthConfig");
                const inputs = auth.inputs as any;
                assert.strictEqual(inputs.authConfigName, "current");
                assert.strictEqual(inputs.containerAppName, `${stack}-fraud`);
                assert.deepStrictEqual(inputs.platform, { enabled: true });
                assert.strictEqual(inputs.globalValidation.unauthenticatedClientAction, "Return401");
                const app = onlyOfType(plan, "azuread:index/applicationRegistration:ApplicationRegistration");
                // The deployed mocks answer the app registration with a client id.
                const clientId = `client-of-${app.name}`;
                assert.strictEqual(inputs.identityProviders.azureActiveDirectory.registration.clientId, clientId);
                assert.deepStrictEqual(inputs.identityProviders.azureActiveDirectory.validation.allowedAudiences, [clientId, `api://${clientId}`]);
                // The plan cannot sign in, so the tenant is known at deploy; the v2 form is fixed.
                assert.match(String(inputs.identityProviders.azureActiveDirectory.registration.openIdIssuer), /^(\(known after deploy\)|https:\/\/login\.microsoftonline\.com\/[0-9a-f-]{36}\/v2\.0)$/);
                assert.strictEqual(app.inputs.requestedAccessTokenVersion, 2, "v2 tokens, matching the v2 issuer");
            });
        }

        it("can be internal-only", async () => {
            const plan = await deployedEdited("prd", (config) => {
                config["mlflow-platform:serving"].ingress = "internal";
                delete config["mlflow-platform:serving"].ipAllowList;
            });
            assert.strictEqual(ingress(plan).external, false);
        });

        it("computes revision suffixes and traffic splits", () => {
            const spec: RevisionSpec = { image: "models/fraud:t", env: [], cpu: 1, memoryGb: 2, workers: 1, probes: [] };
            assert.match(revisionSuffix("12", spec), /^v12-[0-9a-f]{10}$/);
            assert.match(aciDnsLabel("mlplatdevmodels", "fraud", "12", spec), /^mlplatdevmodels-fraud-v12-[0-9a-f]{8}$/);
            assert.strictEqual(aciDnsLabel("x".repeat(70), "fraud", "12", spec).length, 63);
            assert.deepStrictEqual(trafficSplit("a", "v1-x"), [{ revision: "a--v1-x", weight: 100, label: "stable" }]);
            assert.deepStrictEqual(trafficSplit("a", "v1-x", { suffix: "v1-x", weight: 10 }), [{ revision: "a--v1-x", weight: 100, label: "stable" }], "canary equal to stable");
            assert.deepStrictEqual(trafficSplit("a", "v1-x", { suffix: "v2-y", weight: 25 }).map((t) => t.weight), [75, 25]);
        });
    });
});

describe("serving image", () => {
    const text = fs.readFileSync(path.join(PROJECT_DIR, "serving/Dockerfile"), "utf8");
    const dockerfile = DockerfileParser.parse(text);
    const instructions = dockerfile.getInstructions();
    const stages = dockerfile.getFROMs().map((f) => f.getBuildStage());
    const stageOf = (line: number) => {
        const froms = dockerfile.getFROMs().filter((f) => f.getRange().start.line <= line);
        return froms[froms.length - 1]?.getBuildStage();
    };
    const inStage = (stage: string) => instructions.filter((i) => stageOf(i.getRange().start.line) === stage);

    it("is a multi-stage build: fetch, the model's environment, and a small serving stage last", () => {
        assert.deepStrictEqual(stages, ["uv", "fetch", "environment", "serve"]);
        assert.match(text, /^# syntax=docker\/dockerfile:1\.\d+/, "BuildKit syntax for secret and cache mounts");
    });

    it("uses the registry credential only through a BuildKit secret mount in the fetch stage", () => {
        const uses = instructions.filter((i) => /registry_env|run\/secrets/.test(i.toString()));
        assert.strictEqual(uses.length, 1);
        assert.strictEqual(uses[0].getKeyword(), "RUN");
        assert.strictEqual(stageOf(uses[0].getRange().start.line), "fetch");
        assert.match(uses[0].toString(), /--mount=type=secret,id=registry_env\b/);
    });

    it("no ARG, ENV or LABEL carries a credential, and nothing of the fetch stage but files reaches the image", () => {
        for (const i of instructions.filter((x) => ["ARG", "ENV", "LABEL"].includes(x.getKeyword()))) {
            assert.doesNotMatch(i.toString(), /token|password|secret|credential|DATABRICKS_|MLFLOW_TRACKING/i, i.toString());
        }
        const serve = inStage("serve");
        assert.ok(!serve.some((i) => i.getKeyword() === "ARG"), "the final stage takes no build argument");
        assert.doesNotMatch(serve.map((i) => i.toString()).join("\n"), /REGISTRY_URL|MODEL_VERSION|build-essential|uv /);
    });

    it("the final stage runs as a non-root user, serves on 8080 from the baked-in model folder", () => {
        const serve = inStage("serve");
        const user = serve.filter((i) => i.getKeyword() === "USER").pop();
        assert.ok(user, "a USER instruction");
        assert.doesNotMatch(user!.toString(), /\b(root|0)(:|$)/);
        assert.match(user!.toString(), /10001/);
        assert.ok(serve.some((i) => i.toString() === "EXPOSE 8080"));
        assert.match(serve.map((i) => i.toString()).join("\n"), /COPY --from=fetch --chown=root:root \/model \/opt\/model/);
        assert.match(serve.map((i) => i.toString()).join("\n"), /MODEL_DIR=\/opt\/model/);
        const cmd = serve.find((i) => i.getKeyword() === "CMD")!.toString();
        assert.match(cmd, /serve_model\.py/);
    });

    it("orders layers so a new version with the same requirements rebuilds only the model layer", () => {
        const env = inStage("environment").map((i) => i.toString());
        const copyFromFetch = env.filter((i) => i.startsWith("COPY --from=fetch"));
        assert.deepStrictEqual(copyFromFetch, ["COPY --from=fetch /model-env/ /opt/build/model-env/"], "only requirements and the Python version");
        const serve = inStage("serve").map((i) => i.toString());
        const modelCopy = serve.findIndex((i) => i.includes("/opt/model"));
        assert.strictEqual(modelCopy, serve.findIndex((i) => i.startsWith("COPY")) + serve.filter((i) => i.startsWith("COPY")).length - 1, "the model is the last COPY");
        assert.match(env.join("\n"), /--mount=type=cache,target=\/root\/\.cache\/uv/, "the installer's cache stays out of the image");
    });

    it("builds the environment into /opt/venv with the requirements rewriter beside the installer", () => {
        const env = inStage("environment").map((i) => i.toString());
        assert.ok(env.includes("COPY install_environment.sh serving_requirements.py /opt/build/"), env.join("\n"));
        const install = env.find((i) => i.includes("install_environment.sh /opt/build/model-env"))!;
        assert.match(install, /\bVENV_DIR=\/opt\/venv\b/);
        assert.doesNotMatch(install, /registry_env|secret/, "the credential stays in the fetch stage's secret mount");
        assert.match(env.join("\n"), /UV_PYTHON_PREFERENCE=only-managed/, "the image always installs its own Python");
    });

    it("serves with serve_model.py and its scoring app (and carries the drift job, serving/drift_job.py), workers left to the deployment or the CPUs", () => {
        const serve = inStage("serve").map((i) => i.toString());
        assert.ok(serve.includes("COPY model_files.py scoring_app.py serve_model.py request_records.py scoring_metrics.py scoring_telemetry.py payload_log.py drift.py drift_job.py /opt/serving/"), serve.join("\n"));
        const env = serve.filter((i) => i.startsWith("ENV")).join("\n");
        assert.doesNotMatch(env, /MLFLOW_MODELS_WORKERS/, "no fixed worker count: serve_model.py defaults to the CPUs available");
        const graceful = Number(/SCORING_GRACEFUL_TIMEOUT=(\d+)/.exec(env)?.[1]);
        // Container Apps' default terminationGracePeriodSeconds is 30 s: drain well inside it.
        assert.ok(graceful > 0 && graceful < 30, `SCORING_GRACEFUL_TIMEOUT=${graceful}`);
        assert.deepStrictEqual(serve.find((i) => i.startsWith("CMD")), 'CMD ["python", "/opt/serving/serve_model.py", "--port", "8080"]', "exec form: serve_model.py is PID 1 and gets SIGTERM");
    });

    it("sends only the recipe to the builder", () => {
        const ignore = fs.readFileSync(path.join(PROJECT_DIR, "serving/.dockerignore"), "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
        assert.deepStrictEqual(ignore, ["*", ...RECIPE_FILES.map((f) => `!${f}`)]);
    });
});

describe("ModelServing: metrics to Application Insights (serving/scoring_telemetry.py)", () => {
    /** Deployed mocks whose Application Insights answers with `connectionString`. */
    const withConnectionString = (connectionString: string): pulumi.runtime.Mocks => ({
        ...mocksResolving("7"),
        newResource: async (args) => {
            const result = await mocksResolving("7").newResource(args);
            return args.type === "azure-native:applicationinsights:Component" ? { ...result, state: { ...result.state, connectionString } } : result;
        },
    });
    const plan = (connectionString: string) => planStack(PROJECT_DIR, "prd", "index.ts", { mocks: withConnectionString(connectionString), preview: false });

    it("each app gets the stack's connection string and the serving identity's client id as secrets its container references", async () => {
        const deployedPlan = await deployed("prd");
        const app = onlyOfType(deployedPlan, "azure-native:app:ContainerApp").inputs as any;
        const insights = onlyOfType(deployedPlan, "azure-native:applicationinsights:Component");
        const identity = byType(deployedPlan, "azure-native:managedidentity:UserAssignedIdentity").find((r) => r.name === "prd-serving-identity")!;
        const secrets = Object.fromEntries((app.configuration.secrets as { name: string; value: string }[]).map((s) => [s.name, s.value]));
        assert.deepStrictEqual(secrets, {
            "applicationinsights-connection-string": `InstrumentationKey=key-of-${insights.name};IngestionEndpoint=https://${insights.inputs.location}-0.in.applicationinsights.azure.com/;ApplicationId=app-of-${insights.name}`,
            "serving-identity-client-id": `client-of-${identity.name}`,
            // The payload log's own reference to the same identity (serving/payload_log.py).
            "payload-log-client-id": `client-of-${identity.name}`,
        });
        assert.strictEqual(insights.inputs.disableLocalAuth, true, "the connection string carries no usable key");
        const env = envOf(app.template.containers[0].env);
        assert.deepStrictEqual(env.APPLICATIONINSIGHTS_CONNECTION_STRING, { secretRef: "applicationinsights-connection-string" });
        assert.deepStrictEqual(env.SERVING_IDENTITY_CLIENT_ID, { secretRef: "serving-identity-client-id" });
        assert.doesNotMatch(JSON.stringify(app.template), /InstrumentationKey|client-of-/, "no value in the revision template");
        const publisher = byType(deployedPlan, "azure-native:authorization:RoleAssignment").find((r) => r.name === "prd-observability-metrics-publisher")!;
        assert.strictEqual(publisher.inputs.principalId, `principal-of-${identity.name}`, "the identity the client id names may publish metrics");
    });

    it("a new connection string is no new revision; the revision suffix holds the secrets' names only", async () => {
        const [a, b] = [await plan("InstrumentationKey=a;IngestionEndpoint=https://a/"), await plan("InstrumentationKey=b;IngestionEndpoint=https://b/")];
        const suffix = (p: Plan) => (onlyOfType(p, "azure-native:app:ContainerApp").inputs as any).template.revisionSuffix;
        assert.match(suffix(a), /^v7-[0-9a-f]{10}$/);
        assert.strictEqual(suffix(a), suffix(b));
        const secretsOf = (p: Plan) => (onlyOfType(p, "azure-native:app:ContainerApp").inputs as any).configuration.secrets;
        assert.notDeepStrictEqual(secretsOf(a), secretsOf(b), "the app's secret follows the new value");
    });

    it("ACI gets no export (its stack declares no Application Insights)", async () => {
        const aci = await deployedEdited("dev", onAci);
        assert.strictEqual(byType(aci, "azure-native:applicationinsights:Component").length, 0);
        const names = byType(aci, "azure-native:containerinstance:ContainerGroup").flatMap((g) => (g.inputs.containers as any[]).flatMap((c) => c.environmentVariables.map((v: any) => v.name)));
        assert.ok(!names.includes("APPLICATIONINSIGHTS_CONNECTION_STRING") && !names.includes("SERVING_IDENTITY_CLIENT_ID"), names.join());
    });
});
