import * as assert from "assert";
import * as path from "path";
import type { PolicyResource as PackResource, StackValidationArgs } from "@pulumi/policy";
import { platformPolicies, stackOfUrn } from "../policy/policies";
import { environmentOfStack, evaluate, RULES, type Environment, type PolicyResource } from "../lib/policy/rules";
import { planStack } from "../lib/plan";
import { comparePlans, planViolations, renderComparison, renderPlanMarkdown } from "../lib/plan/report";
import { runScript } from "./helpers/cli";
import { planEditedStack, PROJECT_DIR } from "./helpers/fixtures";

const T = {
    account: "azure-native:storage:StorageAccount",
    blob: "azure-native:storage:BlobServiceProperties",
    container: "azure-native:storage:BlobContainer",
    workspace: "azure-native:databricks:Workspace",
    registry: "azure-native:containerregistry:Registry",
    group: "azure-native:containerinstance:ContainerGroup",
    app: "azure-native:app:ContainerApp",
    auth: "azure-native:app:ContainerAppsAuthConfig",
    serving: "mlflow-platform:serving:ModelServing",
};

const secureAccount = {
    kind: "StorageV2",
    enableHttpsTrafficOnly: true,
    minimumTlsVersion: "TLS1_2",
    defaultToOAuthAuthentication: true,
    allowSharedKeyAccess: false,
    allowCrossTenantReplication: false,
    allowBlobPublicAccess: false,
    isHnsEnabled: true,
};
const recoverableBlob = {
    deleteRetentionPolicy: { enabled: true, days: 7 },
    containerDeleteRetentionPolicy: { enabled: true, days: 7 },
    isVersioningEnabled: false,
};
const goodGroup = {
    ipAddress: { type: "Private" },
    imageRegistryCredentials: [{ server: "r.azurecr.io", identity: "/id" }],
    containers: [{ name: "scoring", resources: { requests: { cpu: 1, memoryInGB: 2 } }, environmentVariables: [{ name: "DATABRICKS_TOKEN", secureValue: "x" }] }],
};
const goodApp = {
    containerAppName: "prd-fraud",
    configuration: {
        registries: [{ server: "r.azurecr.io", identity: "/id" }],
        ingress: { external: true, ipSecurityRestrictions: [{ name: "allow-1", ipAddressRange: "203.0.113.0/24", action: "Allow" }] },
    },
    template: {
        containers: [{ name: "scoring", resources: { cpu: 1, memory: "2Gi" }, env: [{ name: "DATABRICKS_TOKEN", secretRef: "databricks-token" }] }],
        scale: { minReplicas: 1, maxReplicas: 3 },
    },
};

function resource(type: string, props: Record<string, unknown>, extra: Partial<PolicyResource> = {}): PolicyResource {
    return { type, name: `r-${type.split(":").pop()}`, props, protect: true, ...extra };
}

function violationsOf(environment: Environment, ...resources: PolicyResource[]) {
    return evaluate({ environment, resources }).map((v) => `${v.level} ${v.rule}: ${v.message}`);
}

describe("policy rules", () => {
    it("pass a compliant set of resources in both environments", () => {
        const all = [
            resource(T.account, secureAccount),
            resource(T.blob, recoverableBlob),
            resource(T.container, { publicAccess: "None" }),
            resource(T.workspace, {}),
            resource(T.registry, { adminUserEnabled: false }),
            resource(T.group, goodGroup),
            resource(T.app, goodApp),
        ];
        assert.deepStrictEqual(violationsOf("prd", ...all), []);
        assert.deepStrictEqual(violationsOf("dev", ...all), []);
    });

    const failing: [string, PolicyResource, Environment, RegExp][] = [
        ["storage over HTTP", resource(T.account, { ...secureAccount, enableHttpsTrafficOnly: false }), "dev", /mandatory storage-secure-transport-and-auth: enableHttpsTrafficOnly is false, must be true/],
        ["TLS 1.0", resource(T.account, { ...secureAccount, minimumTlsVersion: "TLS1_0" }), "dev", /minimumTlsVersion is "TLS1_0", must be "TLS1_2"/],
        ["shared keys", resource(T.account, { ...secureAccount, allowSharedKeyAccess: true }), "dev", /allowSharedKeyAccess is true, must be false/],
        ["cross-tenant replication unset", resource(T.account, { ...secureAccount, allowCrossTenantReplication: undefined }), "dev", /allowCrossTenantReplication is not set, must be false/],
        ["public blob access on the account", resource(T.account, { ...secureAccount, allowBlobPublicAccess: true }), "prd", /mandatory no-public-blob-access: allowBlobPublicAccess is true, must be false/],
        ["a public container", resource(T.container, { publicAccess: "Blob" }), "dev", /no-public-blob-access: publicAccess is "Blob", must be "None"/],
        ["blob soft delete off", resource(T.blob, { ...recoverableBlob, deleteRetentionPolicy: { enabled: false, days: 7 } }), "dev", /storage-recoverable: mlflow-platform:softDeleteEnabled is false \(deleteRetentionPolicy.enabled\), must be true/],
        ["container soft delete of 0 days", resource(T.blob, { ...recoverableBlob, containerDeleteRetentionPolicy: { enabled: true, days: 0 } }), "dev", /mlflow-platform:containerSoftDeleteDays is 0 \(containerDeleteRetentionPolicy\.days\), must be at least 1/],
        ["container soft delete off", resource(T.blob, { ...recoverableBlob, containerDeleteRetentionPolicy: { enabled: false, days: 7 } }), "prd", /mlflow-platform:softDeleteEnabled is false \(containerDeleteRetentionPolicy\.enabled\), must be true/],
        ["a flat namespace", resource(T.account, { ...secureAccount, isHnsEnabled: false }), "dev", /isHnsEnabled is false, must be true/],
        ["a registry admin user", resource(T.registry, { adminUserEnabled: true }), "dev", /container-registry-admin-disabled: adminUserEnabled is true, must be false/],
        ["an ACI pull by password", resource(T.group, { ...goodGroup, imageRegistryCredentials: [{ server: "r", username: "u", password: "p" }] }), "dev", /images-pulled-by-identity: registry credential 0 uses a password/],
        ["a Container Apps pull by password", resource(T.app, { ...goodApp, configuration: { ...goodApp.configuration, registries: [{ server: "r", username: "u", passwordSecretRef: "pw" }] } }), "dev", /registry credential 0 uses a password/],
        ["a token in a plain ACI variable", resource(T.group, { ...goodGroup, containers: [{ ...goodGroup.containers[0], environmentVariables: [{ name: "DATABRICKS_TOKEN", value: "not-a-real-token" }] }] }), "dev", /secrets-in-secret-stores: environment variable DATABRICKS_TOKEN is a plain value: use secureValue/],
        ["a password in a plain Container Apps variable", resource(T.app, { ...goodApp, template: { ...goodApp.template, containers: [{ ...goodApp.template.containers[0], env: [{ name: "MLFLOW_TRACKING_PASSWORD", value: "p" }] }] } }), "dev", /MLFLOW_TRACKING_PASSWORD is a plain value: use a Container Apps secret/],
        ["an unprotected prd storage account", resource(T.account, secureAccount, { protect: false }), "prd", /mandatory prd-stateful-resources-protected: is not protected: set mlflow-platform:protect to true/],
        ["an unprotected prd workspace", resource(T.workspace, {}, { protect: false }), "prd", /prd-stateful-resources-protected/],
        ["an ACI size over the limit", resource(T.group, { ...goodGroup, containers: [{ ...goodGroup.containers[0], resources: { requests: { cpu: 8, memoryInGB: 2 } } }] }), "dev", /serving-size-within-platform-bounds: cpu 8 must be 0.1-4 cores/],
        ["a Container Apps size Azure does not offer", resource(T.app, { ...goodApp, template: { ...goodApp.template, containers: [{ ...goodApp.template.containers[0], resources: { cpu: 1, memory: "3Gi" } }] } }), "dev", /memoryGb 3 must be 2 for cpu 1/],
        ["replica bounds out of order", resource(T.app, { ...goodApp, template: { ...goodApp.template, scale: { minReplicas: 5, maxReplicas: 2 } } }), "dev", /replicas 5-2 must be within 0-30/],
        ["an anonymous ACI endpoint in prd", resource(T.group, { ...goodGroup, ipAddress: { type: "Public" } }), "prd", /mandatory prd-no-public-container-groups: serves on a public IP with no access control/],
        ["an open Container App in prd", resource(T.app, { ...goodApp, configuration: { ...goodApp.configuration, ingress: { external: true } } }), "prd", /mandatory prd-endpoints-not-anonymous: accepts requests from anyone on the internet/],
        ["an anonymous endpoint in dev, as a warning", resource(T.group, { ...goodGroup, ipAddress: { type: "Public" } }), "dev", /^advisory prd-no-public-container-groups:/],
        [
            "a Container App whose allow-list is the internet's two halves",
            resource(T.app, { ...goodApp, configuration: { ...goodApp.configuration, ingress: { external: true, ipSecurityRestrictions: [{ ipAddressRange: "0.0.0.0/1", action: "Allow" }, { ipAddressRange: "128.0.0.0/1", action: "Allow" }] } } }),
            "prd",
            /^mandatory prd-endpoints-not-anonymous: allows the whole internet, which is as good as anyone: narrow serving.ipAllowList, or set serving.entra$/,
        ],
        [
            "a wide allow-list seen only through the component summary",
            resource(T.serving, {}, { outputs: { summary: { fraud: { platform: "containerapp", ingress: "external, HTTPS only", ipAllowList: "0.0.0.0/2, 64.0.0.0/2", entra: "off", cpu: 1, memoryGb: 2 } } } }),
            "prd",
            /model fraud allows 50% of the internet \(2147483648 addresses\), which is as good as anyone/,
        ],
        [
            "an open Container App seen only through its component summary (a preview)",
            resource(T.serving, {}, { outputs: { summary: { fraud: { platform: "containerapp", ingress: "external, HTTPS only", ipAllowList: "any address", entra: "off", cpu: 1, memoryGb: 2 } } } }),
            "prd",
            /model fraud accepts requests from anyone on the internet/,
        ],
    ];
    for (const [title, r, environment, expected] of failing) {
        it(`flag ${title}`, () => {
            const found = violationsOf(environment, r);
            assert.ok(found.length >= 1, "expected a violation");
            assert.ok(found.some((v) => expected.test(v)), found.join("\n"));
        });
    }

    it("accept an external Container App with Entra authentication and no allow-list", () => {
        const open = resource(T.app, { ...goodApp, configuration: { ...goodApp.configuration, ingress: { external: true } } });
        assert.deepStrictEqual(violationsOf("prd", open, resource(T.auth, { containerAppName: "prd-fraud" })), []);
    });

    it("do not guess about values a preview does not know", () => {
        const unknown = "(known after deploy)";
        assert.deepStrictEqual(violationsOf("prd", resource(T.app, { containerAppName: "prd-fraud", configuration: unknown, template: unknown })), []);
        assert.deepStrictEqual(violationsOf("prd", resource(T.group, { ipAddress: unknown, imageRegistryCredentials: unknown, containers: unknown })), []);
    });

    it("leave protection to prd and anonymity warnings to dev", () => {
        assert.deepStrictEqual(violationsOf("dev", resource(T.account, secureAccount, { protect: false })), []);
        const rule = RULES.find((r) => r.name === "prd-endpoints-not-anonymous")!;
        assert.deepStrictEqual(rule.enforcement, { dev: "advisory", prd: "mandatory" });
        assert.strictEqual(environmentOfStack("prd"), "prd");
        assert.strictEqual(environmentOfStack("team-prd"), "prd");
        assert.strictEqual(environmentOfStack("dev"), "dev");
    });
});

describe("policy pack", () => {
    function packResource(stack: string, type: string, name: string, props: Record<string, unknown>, protect = false): PackResource {
        return {
            type,
            name,
            props,
            urn: `urn:pulumi:${stack}::mlflow-platform::${type}::${name}`,
            opts: { protect, ignoreChanges: [], aliases: [], additionalSecretOutputs: [], customTimeouts: {} } as never,
            dependencies: [],
            propertyDependencies: {},
            isType: () => false,
            asType: () => undefined,
        } as unknown as PackResource;
    }

    async function runPack(resources: PackResource[]) {
        const reported: { policy: string; level: string; message: string; urn?: string }[] = [];
        for (const policy of platformPolicies()) {
            const report = (urn?: string) => (message: string, reportedUrn?: string) => reported.push({ policy: policy.name, level: String(policy.enforcementLevel), message, urn: reportedUrn ?? urn });
            if ("validateStack" in policy && policy.validateStack) {
                await policy.validateStack({ resources, getConfig: () => ({}) } as unknown as StackValidationArgs, report());
            } else if ("validateResource" in policy && typeof policy.validateResource === "function") {
                for (const r of resources) await policy.validateResource({ ...r, getConfig: () => ({}) } as never, report(r.urn));
            }
        }
        return reported;
    }

    it("names one policy per rule and level, with its enforcement", () => {
        const levels = Object.fromEntries(platformPolicies().map((p) => [p.name, p.enforcementLevel]));
        assert.strictEqual(levels["storage-recoverable"], "mandatory");
        assert.strictEqual(levels["prd-endpoints-not-anonymous"], "mandatory");
        assert.strictEqual(levels["prd-endpoints-not-anonymous-advisory"], "advisory");
        assert.strictEqual(levels["prd-stateful-resources-protected"], "mandatory");
        // Rules mandatory in prd and advisory in dev become two policies each.
        assert.strictEqual(Object.keys(levels).length, RULES.length + RULES.filter((r) => r.enforcement.dev === "advisory").length);
    });

    it("reports violations with the resource's URN, by the stack's environment", async () => {
        const prd = await runPack([packResource("prd", T.account, "prd-store-account", { ...secureAccount, allowBlobPublicAccess: true }, false)]);
        assert.deepStrictEqual(
            prd.map((r) => [r.policy, r.level, r.message]),
            [
                ["no-public-blob-access", "mandatory", "prd-store-account: allowBlobPublicAccess is true, must be false: training data and models are private: set mlflow-platform:allowBlobPublicAccess to false"],
                ["prd-stateful-resources-protected", "mandatory", "prd-store-account: is not protected: set mlflow-platform:protect to true, so pulumi up or destroy cannot delete it"],
            ],
        );
        assert.strictEqual(prd[0].urn, "urn:pulumi:prd::mlflow-platform::azure-native:storage:StorageAccount::prd-store-account");
        const dev = await runPack([packResource("dev", T.group, "dev-serving-fraud-aci", { ...goodGroup, ipAddress: { type: "Public" } })]);
        assert.deepStrictEqual(dev.map((r) => [r.policy, r.level]), [["prd-no-public-container-groups-advisory", "advisory"]]);
        assert.strictEqual(stackOfUrn("urn:pulumi:team-prd::p::t::n"), "team-prd");
    });

    it("is a loadable pack folder", () => {
        const fs = require("fs") as typeof import("fs");
        assert.match(fs.readFileSync(path.join(PROJECT_DIR, "policy/PulumiPolicy.yaml"), "utf8"), /^runtime: nodejs$/m);
        assert.match(fs.readFileSync(path.join(PROJECT_DIR, "policy/index.ts"), "utf8"), /new PolicyPack\("mlflow-platform", \{ policies: platformPolicies\(\) \}\)/);
    });
});

describe("plan with policies", () => {
    it("passes the shipped stacks", async () => {
        for (const stack of ["dev", "prd"]) assert.deepStrictEqual(planViolations(await planStack(PROJECT_DIR, stack)), [], stack);
    });

    it("fails a stack file that turns on public blob access or turns off soft delete, with the rule's message", async () => {
        const weakened = await planEditedStack("dev", (config) => {
            config["mlflow-platform:allowBlobPublicAccess"] = true;
            config["mlflow-platform:softDeleteEnabled"] = false;
        });
        assert.deepStrictEqual(
            planViolations(weakened).map((v) => `${v.level} ${v.rule} ${v.resource}: ${v.message}`),
            [
                "mandatory storage-recoverable dev-store-blob-service: mlflow-platform:softDeleteEnabled is false (deleteRetentionPolicy.enabled), must be true: deleted blobs must be recoverable",
                "mandatory storage-recoverable dev-store-blob-service: mlflow-platform:softDeleteEnabled is false (containerDeleteRetentionPolicy.enabled), must be true: deleted containers must be recoverable",
                "mandatory no-public-blob-access dev-store-account: allowBlobPublicAccess is true, must be false: training data and models are private: set mlflow-platform:allowBlobPublicAccess to false",
            ],
        );
    });

    it("prd's guarded-rollout rule: mandatory with serving.requireGuardedRollout, advisory without, silent with a rollout", async () => {
        const withoutRollout = (require: boolean) =>
            planEditedStack("prd", (config) => {
                delete config["mlflow-platform:models"][0].rollout;
                config["mlflow-platform:serving"].requireGuardedRollout = require;
            });
        const message = "mlflow-platform-serving: model fraud moves a new revision to 100% in one step: add models[].rollout (steps, bake, thresholds) so each step is watched and a bad revision rolls back by itself";
        const shown = (plan: Awaited<ReturnType<typeof withoutRollout>>) => planViolations(plan).map((v) => `${v.level} ${v.rule} ${v.resource}: ${v.message}`.replace(/ [a-z]+-serving: /, " mlflow-platform-serving: "));
        assert.deepStrictEqual(shown(await withoutRollout(true)), [`mandatory prd-guarded-rollout ${message}`]);
        assert.deepStrictEqual(shown(await withoutRollout(false)), [`advisory prd-guarded-rollout-recommended ${message}`]);
        // dev has no such rule: its models may roll out in one step.
        const dev = await planEditedStack("dev", (config) => {
            config["mlflow-platform:serving"].requireGuardedRollout = true;
        });
        assert.deepStrictEqual(planViolations(dev), []);
    });

    it("fails prd when protection is turned off", async () => {
        const plan = await planEditedStack("prd", (config) => {
            config["mlflow-platform:protect"] = false;
        });
        assert.deepStrictEqual(
            planViolations(plan).map((v) => v.resource).sort(),
            ["prd-mlflow-workspace", "prd-store-account", "prd-store-audit", "prd-store-data", "prd-store-models", "prd-store-payloads"],
        );
    });

    it("exits non-zero from the command line on a mandatory violation, naming the rule", async () => {
        const fs = await import("fs");
        const os = await import("os");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-policy-"));
        try {
            // A copy of the project's entry points with a weakened stack file.
            for (const entry of ["Pulumi.yaml", "Pulumi.prd.yaml", "index.ts", "package.json", "tsconfig.json"]) fs.cpSync(path.join(PROJECT_DIR, entry), path.join(dir, entry));
            for (const folder of ["components", "lib", "policy", "scripts", "serving"]) fs.cpSync(path.join(PROJECT_DIR, folder), path.join(dir, folder), { recursive: true });
            fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"));
            const stackFile = path.join(dir, "Pulumi.prd.yaml");
            fs.writeFileSync(stackFile, fs.readFileSync(stackFile, "utf8").replace("mlflow-platform:protect: true", "mlflow-platform:protect: false"));
            const result = await runScript("scripts/plan.ts", ["prd"], { cwd: dir });
            assert.strictEqual(result.code, 1);
            assert.match(result.stderr, /plan: 6 mandatory policy violation\(s\):\n/);
            assert.match(result.stderr, /\n {2}prd-stateful-resources-protected: prd-store-account: is not protected/);
            assert.match(result.stdout, /Policy: 6 violation\(s\), 6 mandatory, 0 advisory:/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("plan for reviewers", () => {
    it("renders a compact markdown summary for a PR comment", async () => {
        const plan = await planStack(PROJECT_DIR, "prd");
        const markdown = renderPlanMarkdown(plan, [{ resource: "prd-serving-fraud-version", outcome: "deferred", text: "version: resolved at deploy" }], []);
        assert.match(markdown, /^### Plan for `prd`\n\n\*\*54\*\* resources \(47 cloud or dynamic, 7 components\), \*\*7\*\* protected, 1 read from other stacks\./);
        assert.match(markdown, /\| `azure-native:storage:BlobContainer` \| 4 \|/);
        assert.match(markdown, /\| fraud \| containerapp \| 100% stable \(alias "champion"\) \| 2 \| 4 \| 2-10 \| 3 \| external, HTTPS only; IPs: any address; Entra: required: tokens of the stack's scoring API with the Scoring\.Invoke role \(401 without\) \|/);
        assert.match(markdown, /- `prd-serving-fraud-version`: version: resolved at deploy/);
        assert.match(markdown, /\*\*Protected:\*\* `prd-mlflow-workspace`, `prd-store-account`, `prd-store-data`, `prd-store-models`, `prd-store-audit`, `prd-store-payloads`, `prd-store-audit-retention`/);
        assert.match(markdown, /\*\*Policy:\*\* ✅ no violations$/);
        // One row per resource type and per model: 67 lines for prd with observability, payload log and audit.
        assert.ok(markdown.split("\n").length < 90, `compact: ${markdown.split("\n").length} lines`);
        const withViolation = renderPlanMarkdown(plan, [], [{ rule: "storage-recoverable", level: "mandatory", resource: "x", message: "a | b" }]);
        assert.match(withViolation, /\*\*Policy:\*\* ❌ 1 violation\(s\)/);
        assert.match(withViolation, /\| mandatory \| storage-recoverable \| `x` \| a \\\| b \|/);
    });

    it("compares dev and prd setting by setting: SKUs, sizes, protection, selectors and access", async () => {
        const rows = comparePlans(await planStack(PROJECT_DIR, "dev"), await planStack(PROJECT_DIR, "prd"));
        const find = (resource: string, setting: string) => rows.find((r) => r.resource === resource && r.setting === setting)?.values;
        assert.deepStrictEqual(find("store-account (StorageAccount)", "sku.name"), ["Standard_LRS", "Standard_GZRS"]);
        assert.deepStrictEqual(find("store-account (StorageAccount)", "protect"), ["false", "true"]);
        assert.strictEqual(find("mlflow-workspace (Workspace)", "sku.name"), undefined, "both workspaces are premium");
        assert.deepStrictEqual(find("store-blob-service (BlobServiceProperties)", "deleteRetentionPolicy.days"), ["7", "30"]);
        assert.deepStrictEqual(find("serving (ModelServing)", "summary.fraud.cpu"), ["1", "2"]);
        assert.strictEqual(find("serving (ModelServing)", "summary.fraud.platform"), undefined, "both serve on Container Apps");
        assert.deepStrictEqual(find("serving (ModelServing)", "summary.fraud.replicas"), ["0-3", "2-10"], "dev scales to zero");
        assert.deepStrictEqual(find("serving-fraud-version (ModelVersion)", "selector.alias"), ["(unset)", "champion"]);
        assert.deepStrictEqual(find("unity-catalog-prd-schema (Schema)", "(resource)"), ["declared", "absent"], "the registry's stack declares the schemas");
        assert.strictEqual(find("store-account (StorageAccount)", "minimumTlsVersion"), undefined, "equal settings are not listed");
        const markdown = renderComparison("dev", "prd", rows, "markdown");
        assert.match(markdown, /^### `dev` vs `prd`: \d+ settings differ/);
        assert.match(markdown, /\| store-account \(StorageAccount\) \| sku\.name \| Standard_LRS \| Standard_GZRS \|/);
        assert.match(renderComparison("dev", "prd", rows, "text"), /^dev vs prd: \d+ settings differ\n\nresource +setting +dev +prd/);
    });
});

describe("one principal as data scientist and deployer: the policy draws config validation's line", () => {
    const both = { objectId: "44444444-4444-4444-4444-444444444444", type: "group", name: "ml-team" };
    const roles = (accept: boolean) => ({ dataScientists: [both], deployers: [both], scoringClients: [], acceptDataScientistAsDeployer: accept, catalog: "mlplatform", devSchema: "mlplatform.dev", prdSchema: "mlplatform.prd" });
    const access = (accept: boolean) => resource("mlflow-platform:access:AzureAccess", {}, { outputs: { roles: roles(accept) } });
    const contributor = resource("azure-native:authorization:RoleAssignment", {
        principalId: both.objectId,
        roleDefinitionId: "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c",
        scope: "/subscriptions/s/resourceGroups/rg",
    });
    const prdSchemaOwner = resource("databricks:index/schema:Schema", { catalogName: "mlplatform", name: "prd", owner: "ml-team" });
    const violations = (environment: Environment, accept: boolean, r: PolicyResource) =>
        evaluate({ environment, resources: [access(accept), r] }).filter((v) => v.rule === "data-scientists-cannot-change-prd").map((v) => v.resource);

    it("dev: the deployer's Azure roles on dev's own resources are allowed, as config validation allows the overlap there", () => {
        assert.deepStrictEqual(violations("dev", false, contributor), []);
    });

    it("prd: refused unless the config acknowledges it (access.acceptDataScientistAsDeployer)", () => {
        assert.deepStrictEqual(violations("prd", false, contributor), [contributor.name]);
        assert.deepStrictEqual(violations("prd", true, contributor), []);
    });

    it("the prd schema (declared by the stack holding the registry, dev included) is exempt only when acknowledged, as config validation requires there", () => {
        assert.deepStrictEqual(violations("dev", false, prdSchemaOwner), [prdSchemaOwner.name]);
        assert.deepStrictEqual(violations("dev", true, prdSchemaOwner), []);
    });
});

describe("one principal in both roles, end to end in the dev stack that holds the registry", () => {
    const both = { objectId: "44444444-4444-4444-4444-444444444444", type: "group", name: "ml-team" };
    it("config refuses it unless acknowledged, and once acknowledged the policy agrees", async () => {
        await assert.rejects(
            planEditedStack("dev", (config) => {
                config["mlflow-platform:access"] = { dataScientists: [both], deployers: [both], scoringClients: [] };
            }),
            /access\.dataScientists\[0\]\.objectId = "44444444-4444-4444-4444-444444444444" is not allowed: it is also in access\.deployers: this stack's workspace holds the Unity Catalog registry/,
        );
        const accepted = await planEditedStack("dev", (config) => {
            config["mlflow-platform:access"] = { dataScientists: [both], deployers: [both], scoringClients: [], acceptDataScientistAsDeployer: true };
        });
        assert.deepStrictEqual(planViolations(accepted), []);
    });
});
