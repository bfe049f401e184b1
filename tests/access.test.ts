// Access as code: the scoring API's Entra registration, Azure RBAC, Unity Catalog objects and
// grants, the "who can do what" table and the policy rule, for both shipped stacks under the mock
// runtime; the new app's closed ingress against the fake Resource Manager.
import * as assert from "assert";
import { roleAssignmentName } from "../lib/access/roleAssignmentName";
import * as pulumi from "@pulumi/pulumi";
import { recordProgram, type Plan, type PlannedResource } from "../lib/plan";
import { accessTable, CAPABILITIES, compareAccess, DEPLOYING_IDENTITY, REGISTRATION_ROLE, renderAccessText } from "../lib/access/table";
import { AZURE_ROLES, stableGuid } from "../lib/access/roles";
import { BUILT_IN_ROLES } from "../lib/azure/ids";
import { evaluate } from "../lib/policy/rules";
import { planViolations } from "../lib/plan/report";
import { ScoringApi } from "../components/access/scoringApi";
import { deployingIdentity } from "../components/access/deployingIdentity";
import { AzureAccess, noDeletesIn, noWritesUnder } from "../components/access/azureAccess";
import { RevisionTrafficProvider } from "../components/serving/revisionTraffic";
import { CLOSED_INGRESS, ipRestrictions } from "../components/serving/containerApp";
import { ContainerAppsClient } from "../lib/azure/containerApps";
import { DEPLOYING_IDENTITY as MOCK_IDENTITY, deployedAzureMocks, REGISTRATION_APP_ID } from "./helpers/azureMocks";
import { byType, onlyOfType, planEditedStackWith } from "./helpers/fixtures";
import { FakeContainerApps } from "./helpers/fakeContainerApps";

const SCIENTISTS = { objectId: "11111111-1111-1111-1111-111111111111", type: "group", name: "ml-data-scientists" };
const DEPLOYERS = { objectId: "22222222-2222-2222-2222-222222222222", type: "group", name: "ml-deployers" };
const CALLER = { objectId: "33333333-3333-3333-3333-333333333333", type: "servicePrincipal" };

function withRoles(config: Record<string, any>): void {
    config["mlflow-platform:access"] = { dataScientists: [SCIENTISTS], deployers: [DEPLOYERS], scoringClients: [CALLER] };
}

const deployed = (stack: string, edit: (config: Record<string, any>) => void = withRoles) => planEditedStackWith(stack, edit, { mocks: deployedAzureMocks, preview: false });

describe("access as code", () => {
    const plans: Record<string, Plan> = {};
    before(async function () {
        this.timeout(60_000);
        for (const stack of ["dev", "prd"]) plans[stack] = await deployed(stack);
    });

    for (const stack of ["dev", "prd"]) {
        describe(`${stack}: the scoring API in Entra ID`, () => {
            it("an app registration issuing v2 tokens, with the Scoring.Invoke app role and identifier URI api://<client id>", () => {
                const app = onlyOfType(plans[stack], "azuread:index/applicationRegistration:ApplicationRegistration");
                assert.strictEqual(app.inputs.requestedAccessTokenVersion, 2);
                assert.strictEqual(app.inputs.signInAudience, "AzureADMyOrg");
                assert.strictEqual(app.inputs.displayName, `mlflow-platform ${stack} scoring API`);
                const role = onlyOfType(plans[stack], "azuread:index/applicationAppRole:ApplicationAppRole");
                assert.strictEqual(role.inputs.value, "Scoring.Invoke");
                assert.deepStrictEqual(role.inputs.allowedMemberTypes, ["User", "Application"], "groups, users, applications and managed identities");
                assert.strictEqual(role.inputs.roleId, stableGuid(`${stack}-scoring-api/Scoring.Invoke`), "the same id in every run");
                const uri = onlyOfType(plans[stack], "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri");
                assert.strictEqual(uri.inputs.identifierUri, `api://client-of-${app.name}`);
            });

            it("a service principal that requires an assignment, and the role for each scoring client and the deploying identity", () => {
                const sp = onlyOfType(plans[stack], "azuread:index/servicePrincipal:ServicePrincipal");
                assert.strictEqual(sp.inputs.appRoleAssignmentRequired, true);
                const assignments = byType(plans[stack], "azuread:index/appRoleAssignment:AppRoleAssignment");
                const role = onlyOfType(plans[stack], "azuread:index/applicationAppRole:ApplicationAppRole");
                assert.deepStrictEqual(assignments.map((a) => a.inputs.principalObjectId), [CALLER.objectId, "(known after deploy)"], "the deploying identity is found at deploy");
                for (const a of assignments) {
                    assert.strictEqual(a.inputs.appRoleId, role.inputs.roleId);
                    assert.strictEqual(a.inputs.resourceObjectId, `object-of-${sp.name}`);
                }
            });

            it("Azure RBAC: data scientists get data-plane roles on the two containers and Reader; deployers the write roles and the audit container", () => {
                const assignments = byType(plans[stack], "azure-native:authorization:RoleAssignment").filter((r) => r.parent === `${stack}-access`);
                const of = (who: string) => assignments.filter((a) => a.inputs.principalId === who).map((a) => [String(a.inputs.roleDefinitionId).split("/").pop(), String(a.inputs.scope).replace(/^.*\/resourceGroups\//, "rg:"), a.inputs.principalType]).sort((x, y) => String(x[1]).localeCompare(String(y[1])));
                assert.deepStrictEqual(of(SCIENTISTS.objectId), [
                    [AZURE_ROLES.storageBlobDataContributor, "rg:rg-test/providers/Microsoft.storage/StorageAccount/" + `${stack}-store-account/blobServices/default/containers/data`, "Group"],
                    [AZURE_ROLES.storageBlobDataContributor, "rg:rg-test/providers/Microsoft.storage/StorageAccount/" + `${stack}-store-account/blobServices/default/containers/models`, "Group"],
                    [AZURE_ROLES.reader, `rg:${stack}-store-rgabc123`, "Group"],
                ].sort((x, y) => x[1].localeCompare(y[1])));
                assert.deepStrictEqual(of(DEPLOYERS.objectId), [
                    [AZURE_ROLES.contributor, `rg:${stack}-store-rgabc123`, "Group"],
                    [AZURE_ROLES.acrPush, `rg:rg-test/providers/Microsoft.containerregistry/Registry/${stack}-serving-registry`, "Group"],
                    [AZURE_ROLES.storageBlobDataContributor, "rg:rg-test/providers/Microsoft.storage/StorageAccount/" + `${stack}-store-account/blobServices/default/containers/audit`, "Group"],
                    // Read only: a guarded rollout replays the payload log.
                    [AZURE_ROLES.storageBlobDataReader, "rg:rg-test/providers/Microsoft.storage/StorageAccount/" + `${stack}-store-account/blobServices/default/containers/payloads`, "Group"],
                ].sort((x, y) => x[1].localeCompare(y[1])));
                assert.deepStrictEqual(of(CALLER.objectId), [], "a scoring client holds no Azure role");
                // The serving identity: AcrPull on the registry, writes to the payloads container only, publishes metrics; nothing else.
                const identity = `principal-of-${stack}-serving-identity`;
                const serving = byType(plans[stack], "azure-native:authorization:RoleAssignment").filter((a) => a.inputs.principalId === identity);
                assert.deepStrictEqual(
                    serving.map((a) => [String(a.inputs.roleDefinitionId).split("/").pop(), String(a.inputs.scope).replace(/^.*\/providers\//, "")]).sort(),
                    [
                        [AZURE_ROLES.acrPull, `Microsoft.containerregistry/Registry/${stack}-serving-registry`],
                        [AZURE_ROLES.storageBlobDataContributor, `Microsoft.storage/BlobContainer/${stack}-store-payloads`],
                        [BUILT_IN_ROLES.monitoringMetricsPublisher, `Microsoft.applicationinsights/Component/${stack}-observability-insights`],
                    ].sort(),
                );
            });

            it("names every role assignment by what it grants, so a rerun meets the same assignment (never 409 RoleAssignmentExists)", () => {
                const all = byType(plans[stack], "azure-native:authorization:RoleAssignment");
                assert.ok(all.length >= 5);
                for (const a of all) {
                    // The deploying identity's (audit) assignment is named when its object id is known, at deploy.
                    if (a.inputs.principalId === "(known after deploy)") {
                        assert.strictEqual(a.inputs.roleAssignmentName, "(known after deploy)", a.name);
                        continue;
                    }
                    assert.strictEqual(a.inputs.roleAssignmentName, roleAssignmentName(String(a.inputs.principalId), String(a.inputs.roleDefinitionId), String(a.inputs.scope)), a.name);
                }
                const known = all.filter((a) => a.inputs.roleAssignmentName !== "(known after deploy)");
                assert.strictEqual(new Set(known.map((a) => a.inputs.roleAssignmentName)).size, known.length, "distinct grants, distinct names");
            });
        });
    }

    it("audit records: deployers and the deploying identity (the Promote workflow's) write to the audit container, never delete; nobody else holds a role there", () => {
        for (const stack of ["dev", "prd"]) {
            const onAudit = byType(plans[stack], "azure-native:authorization:RoleAssignment").filter((a) => String(a.inputs.scope).endsWith("/containers/audit"));
            assert.deepStrictEqual(onAudit.map((a) => [a.name, a.inputs.principalId]).sort(), [
                [`${stack}-access-deployer-audit-${DEPLOYERS.objectId}`, DEPLOYERS.objectId],
                // Found at deploy, like its Scoring.Invoke assignment.
                [`${stack}-access-deploying-identity-audit`, "(known after deploy)"],
            ]);
            for (const a of onAudit) {
                assert.strictEqual(String(a.inputs.roleDefinitionId).split("/").pop(), AZURE_ROLES.storageBlobDataContributor);
                assert.strictEqual(a.inputs.conditionVersion, "2.0");
                assert.strictEqual(a.inputs.condition, noDeletesIn("audit"));
            }
        }
        assert.strictEqual(
            noDeletesIn("audit"),
            "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'}) AND !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringNotEquals 'audit'))",
        );
        // Each store keeps its records for a year (a time-based retention policy on the audit container).
        for (const stack of ["dev", "prd"]) assert.strictEqual(onlyOfType(plans[stack], "azure-native:storage:BlobContainerImmutabilityPolicy").inputs.immutabilityPeriodSinceCreationInDays, 365);
    });

    it("audit records: a deploying identity that is also a named deployer gets the audit role once", async () => {
        const me = { objectId: MOCK_IDENTITY.objectId, type: "servicePrincipal" as const, name: "aaaaaaaa-1111-4222-8333-444444444444" };
        const declare = (deployers: (typeof me)[]) =>
            recordProgram(
                () => {
                    new AzureAccess("t-access", {
                        roles: { dataScientists: [], deployers, scoringClients: [], acceptDataScientistAsDeployer: false },
                        resourceGroupName: "rg-test",
                        storageAccountId: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/Microsoft.Storage/storageAccounts/acct",
                        containerNames: { data: "data", models: "models", audit: "audit", payloads: "payloads" },
                        containerRegistryId: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-test/providers/Microsoft.ContainerRegistry/registries/acr",
                        deployingIdentity: { objectId: MOCK_IDENTITY.objectId },
                    });
                },
                { project: "mlflow-platform", stack: "test", mocks: deployedAzureMocks, preview: false },
            );
        const onAudit = (plan: Plan) => byType(plan, "azure-native:authorization:RoleAssignment").filter((a) => String(a.inputs.scope).endsWith("/containers/audit"));
        const listed = onAudit(await declare([me]));
        assert.deepStrictEqual(listed.map((a) => [a.name, a.inputs.principalId]), [[`t-access-deployer-audit-${me.objectId}`, me.objectId]]);
        const alone = onAudit(await declare([]));
        assert.deepStrictEqual(alone.map((a) => [a.name, a.inputs.principalId, a.inputs.condition]), [["t-access-deploying-identity-audit", me.objectId, noDeletesIn("audit")]]);
        // The same grant, the same name, whichever way it is declared.
        assert.strictEqual(alone[0].inputs.roleAssignmentName, listed[0].inputs.roleAssignmentName);
        // Read access to the payload log (a guarded rollout's replay reads it), the same way.
        const onPayloads = (plan: Plan) => byType(plan, "azure-native:authorization:RoleAssignment").filter((a) => String(a.inputs.scope).endsWith("/containers/payloads"));
        const [listedReader] = onPayloads(await declare([me]));
        const [aloneReader] = onPayloads(await declare([]));
        assert.deepStrictEqual([listedReader.name, aloneReader.name], [`t-access-deployer-payloads-reader-${me.objectId}`, "t-access-deploying-identity-payloads-reader"]);
        assert.strictEqual(listedReader.inputs.roleAssignmentName, aloneReader.inputs.roleAssignmentName);
        assert.match(String(aloneReader.inputs.roleDefinitionId), /\/roleDefinitions\/2a2b9908-6ea1-4ae2-8e65-a410df84e7d1$/, "Storage Blob Data Reader");
        assert.strictEqual(alone[0].inputs.roleAssignmentName, roleAssignmentName(me.objectId, String(alone[0].inputs.roleDefinitionId), String(alone[0].inputs.scope)));
    });

    it("dev (the registry's stack): data scientists cannot write the prd schema's files in the models container", () => {
        const models = byType(plans.dev, "azure-native:authorization:RoleAssignment").find((a) => a.name === `dev-access-data-scientist-models-${SCIENTISTS.objectId}`)!;
        assert.strictEqual(models.inputs.conditionVersion, "2.0");
        assert.strictEqual(models.inputs.condition, noWritesUnder("unity-catalog-prd/"));
        assert.match(String(models.inputs.condition), /StringNotStartsWith 'unity-catalog-prd\/'/);
        const prdModels = byType(plans.prd, "azure-native:authorization:RoleAssignment").find((a) => a.name === `prd-access-data-scientist-models-${SCIENTISTS.objectId}`)!;
        assert.strictEqual(prdModels.inputs.condition, undefined, "prd's store holds no registry files");
    });

    it("dev: the databricks provider from the workspace this stack created, a storage credential from its access connector, external locations", () => {
        const provider = onlyOfType(plans.dev, "pulumi:providers:databricks");
        assert.strictEqual(provider.inputs.host, "https://adb-1234567890123456.7.azuredatabricks.net");
        assert.match(String(provider.inputs.azureWorkspaceResourceId), /Workspace\/dev-mlflow-workspace$/);
        assert.ok(!("token" in provider.inputs), "no stored token: Entra sign-in");
        const credential = onlyOfType(plans.dev, "databricks:index/storageCredential:StorageCredential");
        assert.match(String((credential.inputs.azureManagedIdentity as any).accessConnectorId), /AccessConnector\/dev-mlflow-access-connector$/);
        // No owner handed over: the deploying identity (creator) keeps it; the deployers get MANAGE.
        assert.strictEqual(credential.inputs.owner, undefined);
        const locations = byType(plans.dev, "databricks:index/externalLocation:ExternalLocation").map((l) => [l.inputs.name, l.inputs.url, l.inputs.credentialName]);
        assert.deepStrictEqual(locations, [
            ["mlplatdevmodels-data", "abfss://data@mlplatdevmodels.dfs.core.windows.net/", "mlplatdevmodels-access-connector"],
            ["mlplatdevmodels-models", "abfss://models@mlplatdevmodels.dfs.core.windows.net/", "mlplatdevmodels-access-connector"],
        ]);
    });

    it("dev: the catalog, a dev schema and a prd schema the deployers manage (MANAGE; the creator owns them), with grants", () => {
        const catalog = onlyOfType(plans.dev, "databricks:index/catalog:Catalog");
        assert.strictEqual(catalog.inputs.name, "mlplatform");
        assert.strictEqual(catalog.inputs.owner, undefined);
        const schemas = byType(plans.dev, "databricks:index/schema:Schema").map((s) => [s.inputs.catalogName, s.inputs.name, s.inputs.owner, s.inputs.storageRoot]);
        assert.deepStrictEqual(schemas, [
            ["mlplatform", "dev", undefined, undefined],
            ["mlplatform", "prd", undefined, "abfss://models@mlplatdevmodels.dfs.core.windows.net/unity-catalog-prd"],
        ]);
        const grants = Object.fromEntries(
            byType(plans.dev, "databricks:index/grants:Grants").map((g) => [
                String(g.inputs.schema ?? g.inputs.catalog ?? g.inputs.externalLocation ?? g.inputs.storageCredential),
                Object.fromEntries((g.inputs.grants as any[]).map((x) => [x.principal, x.privileges.join(",")])),
            ]),
        );
        // The registration job's principal (by its application id) reads the staged files and creates models in dev.
        assert.deepStrictEqual(grants, {
            "mlplatdevmodels-access-connector": { "ml-deployers": "MANAGE" },
            "mlplatdevmodels-data": { "ml-data-scientists": "READ_FILES,WRITE_FILES", "ml-deployers": "READ_FILES,MANAGE", [REGISTRATION_APP_ID]: "READ_FILES" },
            "mlplatdevmodels-models": { "ml-data-scientists": "READ_FILES", "ml-deployers": "READ_FILES,WRITE_FILES,MANAGE", [REGISTRATION_APP_ID]: "READ_FILES" },
            mlplatform: { "ml-data-scientists": "USE_CATALOG,BROWSE", "ml-deployers": "USE_CATALOG,BROWSE,MANAGE", [REGISTRATION_APP_ID]: "USE_CATALOG" },
            "mlplatform.dev": { "ml-data-scientists": "USE_SCHEMA,CREATE_MODEL,EXECUTE,MANAGE", "ml-deployers": "USE_SCHEMA,EXECUTE,MANAGE", [REGISTRATION_APP_ID]: "USE_SCHEMA,CREATE_MODEL" },
            "mlplatform.prd": { "ml-data-scientists": "USE_SCHEMA,EXECUTE", "ml-deployers": "USE_SCHEMA,CREATE_MODEL,EXECUTE,MANAGE" },
        });
    });

    it("prd (the registry is dev's workspace) declares no Databricks object", () => {
        assert.deepStrictEqual(plans.prd.resources.filter((r) => r.type.startsWith("databricks:") || r.type === "pulumi:providers:databricks"), []);
    });

    describe("who can do what", () => {
        const row = (plan: Plan, principal: string) => accessTable(plan.resources).find((r) => r.principal.startsWith(principal))!;

        it("dev: data scientists read data and register; deployers promote and deploy; the caller only calls", () => {
            const scientists = row(plans.dev, "ml-data-scientists");
            assert.strictEqual(scientists.roles, "data scientist");
            assert.strictEqual(scientists.can["read data"], "blobs: data, models (not the prd schema's files); Unity Catalog: READ_FILES, WRITE_FILES on data");
            assert.strictEqual(scientists.can["register models"], "yes, in mlplatform.dev (CREATE_MODEL, EXECUTE, MANAGE)");
            assert.strictEqual(scientists.can.promote, "no (mlplatform.prd: USE_SCHEMA, EXECUTE)");
            assert.strictEqual(scientists.can.deploy, "- (Reader)");
            assert.strictEqual(scientists.can["call scoring API"], "-");
            const deployers = row(plans.dev, "ml-deployers");
            assert.strictEqual(deployers.can.promote, "yes, mlplatform.prd (CREATE_MODEL, EXECUTE, MANAGE)", "MANAGE sets the aliases prd serves");
            assert.strictEqual(deployers.can.deploy, "yes: acrPush on container registry, contributor on resource group");
            assert.strictEqual(deployers.can["register models"], "-");
            assert.match(deployers.can["read data"], /^blobs: audit \(audit records: no deletes\), payloads;/);
            const caller = row(plans.dev, CALLER.objectId);
            assert.deepStrictEqual(caller.can, { "read data": "-", "register models": "-", promote: "-", deploy: "-", "call scoring API": "yes (Scoring.Invoke)" });
            const registrar = accessTable(plans.dev.resources).filter((r) => r.roles === REGISTRATION_ROLE);
            assert.deepStrictEqual(registrar, [
                {
                    principal: `mlplatdevmodels-registration (${REGISTRATION_APP_ID})`,
                    roles: REGISTRATION_ROLE,
                    can: {
                        "read data": "Unity Catalog: READ_FILES on data; READ_FILES on models",
                        "register models": "yes, in mlplatform.dev (CREATE_MODEL; owns what it creates)",
                        promote: "-",
                        deploy: "-",
                        "call scoring API": "-",
                    },
                },
            ]);
            const me = row(plans.dev, DEPLOYING_IDENTITY);
            assert.strictEqual(me.can.deploy, "yes: runs pulumi up");
            assert.strictEqual(me.can["call scoring API"], "yes (Scoring.Invoke)");
            assert.match(renderAccessText("dev", accessTable(plans.dev.resources)), /^Who can do what in "dev"/);
        });

        it("prd: registering and promoting are the registry stack's; --compare shows what differs", () => {
            assert.strictEqual(row(plans.prd, "ml-data-scientists").can.promote, "declared by the registry's stack");
            const differences = compareAccess(accessTable(plans.dev.resources), accessTable(plans.prd.resources));
            assert.deepStrictEqual(
                differences.filter((d) => d.principal.startsWith("ml-data-scientists")).map((d) => d.capability),
                ["read data", "register models", "promote"],
            );
            // The registration principal exists only where the registry is (it calls nothing).
            assert.ok(!differences.some((d) => d.capability === "call scoring API" && !d.principal.startsWith("mlplatdevmodels-registration")), "the same callers in both");
            assert.deepStrictEqual(
                differences.filter((d) => d.principal.startsWith("mlplatdevmodels-registration")).map((d) => [d.capability, d.values[1]]),
                CAPABILITIES.map((c) => [c, "(absent)"]),
            );
        });

        it("is the same in the credential-free plan, where role definition ids are not known yet", async () => {
            const { planEditedStack } = await import("./helpers/fixtures");
            const offline = await planEditedStack("dev", withRoles);
            // Except the registration principal's application id, which Databricks gives it at deploy.
            const named = (rows: ReturnType<typeof accessTable>) => rows.map((r) => (r.roles === REGISTRATION_ROLE ? { ...r, principal: r.principal.replace(/ \(.*\)$/, "") } : r));
            assert.strictEqual(accessTable(offline.resources).find((r) => r.roles === REGISTRATION_ROLE)?.principal, "mlplatdevmodels-registration (service principal)");
            assert.deepStrictEqual(named(accessTable(offline.resources)), named(accessTable(plans.dev.resources)));
        });

        it("shows only the deploying identity for the shipped stack files (no placeholder principals)", async () => {
            const shipped = await deployed("prd", () => undefined);
            assert.deepStrictEqual(accessTable(shipped.resources).map((r) => r.principal), [DEPLOYING_IDENTITY]);
            assert.deepStrictEqual(planViolations(shipped), []);
        });
    });

    describe("policy: data scientists cannot change what prd serves", () => {
        const withExtra = (plan: Plan, extra: Partial<PlannedResource>[]) => ({
            environment: "dev" as const,
            resources: [...plan.resources, ...extra.map((e) => ({ urn: "", custom: true, protect: false, inputs: {}, ...e }) as PlannedResource)].map((r) => ({ type: r.type, name: r.name, props: r.inputs, protect: r.protect, outputs: r.outputs })),
        });
        const rule = (context: ReturnType<typeof withExtra>) => evaluate(context).filter((v) => v.rule === "data-scientists-cannot-change-prd");

        it("passes the declared roles of both stacks", () => {
            assert.deepStrictEqual(planViolations(plans.dev), []);
            assert.deepStrictEqual(planViolations(plans.prd), []);
        });

        it("refuses a write role on serving, ownership of the prd schema or a prd model, and MANAGE on the prd schema or catalog", () => {
            const violations = rule(
                withExtra(plans.dev, [
                    { type: "azure-native:authorization:RoleAssignment", name: "sneaky-contributor", inputs: { principalId: SCIENTISTS.objectId, roleDefinitionId: `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${AZURE_ROLES.contributor}`, scope: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/prd-fraud" } },
                    { type: "azure-native:authorization:RoleAssignment", name: "sneaky-uaa", inputs: { principalId: SCIENTISTS.objectId.toUpperCase(), roleDefinitionId: `/x/roleDefinitions/${AZURE_ROLES.userAccessAdministrator}`, scope: "/subscriptions/s" } },
                    { type: "databricks:index/grants:Grants", name: "sneaky-grant", inputs: { schema: "mlplatform.prd", grants: [{ principal: "ML-Data-Scientists", privileges: ["USE_SCHEMA", "MANAGE"] }] } },
                    { type: "databricks:index/grants:Grants", name: "sneaky-catalog", inputs: { catalog: "mlplatform", grants: [{ principal: "ml-data-scientists", privileges: ["ALL_PRIVILEGES"] }] } },
                    { type: "databricks:index/schema:Schema", name: "sneaky-owner", inputs: { catalogName: "mlplatform", name: "prd", owner: "ml-data-scientists" } },
                    { type: "databricks:index/registeredModel:RegisteredModel", name: "sneaky-model", inputs: { catalogName: "mlplatform", schemaName: "prd", name: "fraud", owner: "ml-data-scientists" } },
                ]),
            );
            assert.deepStrictEqual(
                violations.map((v) => [v.level, v.resource, v.message]),
                [
                    ["mandatory", "sneaky-contributor", `gives data scientist ${SCIENTISTS.objectId} the write role contributor on /subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/prd-fraud: only deployers change serving, the registry and role assignments`],
                    ["mandatory", "sneaky-uaa", `gives data scientist ${SCIENTISTS.objectId.toUpperCase()} the write role userAccessAdministrator on /subscriptions/s: only deployers change serving, the registry and role assignments`],
                    ["mandatory", "sneaky-grant", "grants data scientist ML-Data-Scientists MANAGE on the prd schema mlplatform.prd: that would let them add versions or set the aliases prd serves"],
                    ["mandatory", "sneaky-catalog", "grants data scientist ml-data-scientists ALL_PRIVILEGES on the catalog mlplatform, above the prd schema: that would let them add versions or set the aliases prd serves"],
                    ["mandatory", "sneaky-owner", "makes data scientist ml-data-scientists the owner of the prd schema mlplatform.prd"],
                    ["mandatory", "sneaky-model", "makes data scientist ml-data-scientists the owner of the prd model fraud: an owner sets its aliases"],
                ],
            );
        });

        it("leaves the dev schema, reads of prd, and a principal prd accepts as both roles alone", async () => {
            assert.deepStrictEqual(
                rule(withExtra(plans.dev, [
                    { type: "databricks:index/grants:Grants", name: "dev-manage", inputs: { schema: "mlplatform.dev", grants: [{ principal: "ml-data-scientists", privileges: ["MANAGE"] }] } },
                    { type: "databricks:index/grants:Grants", name: "prd-read", inputs: { schema: "mlplatform.prd", grants: [{ principal: "ml-data-scientists", privileges: ["USE_SCHEMA", "EXECUTE"] }] } },
                    { type: "databricks:index/grants:Grants", name: "catalog-use", inputs: { catalog: "mlplatform", grants: [{ principal: "ml-data-scientists", privileges: ["USE_CATALOG", "CREATE_SCHEMA"] }] } },
                ])),
                [],
            );
            const both = await deployed("prd", (config) => {
                config["mlflow-platform:access"] = { dataScientists: [SCIENTISTS], deployers: [SCIENTISTS], acceptDataScientistAsDeployer: true };
            });
            assert.deepStrictEqual(planViolations(both), [], "acknowledged in config: its Contributor role is a deployer's");
        });
    });

    describe("the Container Apps authentication uses the stack's registration", () => {
        it("issuer https://login.microsoftonline.com/<tenant>/v2.0 and audiences client id and identifier URI, from the deploying identity's tenant", async () => {
            let issuer: string | undefined;
            let audiences: string[] | undefined;
            await recordProgram(
                async () => {
                    const me = await deployingIdentity(false);
                    assert.deepStrictEqual([me.objectId, me.tenantId, me.found], [MOCK_IDENTITY.objectId, MOCK_IDENTITY.tenantId, true]);
                    const api = new ScoringApi("t-scoring-api", { displayName: "t", tenantId: me.tenantId, callers: [], deployerObjectId: me.objectId });
                    api.auth.issuer.apply((v) => (issuer = v));
                    api.auth.audiences.apply((v) => (audiences = v));
                    return { clientId: api.clientId };
                },
                { project: "mlflow-platform", stack: "t", mocks: deployedAzureMocks, preview: false },
            );
            assert.strictEqual(issuer, `https://login.microsoftonline.com/${MOCK_IDENTITY.tenantId}/v2.0`);
            assert.deepStrictEqual(audiences, ["client-of-t-scoring-api-app", "api://client-of-t-scoring-api-app"]);
        });

        it("offline (the plan) nothing signs in: the deploying identity is known at deploy", async () => {
            const me = await deployingIdentity(true);
            assert.strictEqual(me.found, false);
            assert.ok(pulumi.Output.isInstance(me.objectId));
        });
    });

    it("prd with no deployer (none named, and Entra reports no deploying identity) stops with the key to set", async () => {
        const path = await import("path");
        const { readStackConfig } = await import("../lib/config/stackFiles");
        const { PROJECT_DIR } = await import("./helpers/fixtures");
        const stack = readStackConfig(PROJECT_DIR, "prd");
        const program = path.join(PROJECT_DIR, "index.ts");
        const mocks: pulumi.runtime.Mocks = {
            ...deployedAzureMocks,
            call: (args) => (args.token === "azuread:index/getClientConfig:getClientConfig" ? { ...MOCK_IDENTITY, objectId: "" } : deployedAzureMocks.call(args)),
        };
        await assert.rejects(
            recordProgram(
                () => {
                    delete require.cache[require.resolve(program)];
                    return require(program);
                },
                { project: stack.project, stack: "prd", config: stack.config, mocks, preview: false },
            ),
            /mlflow-platform:access\.deployers is empty and the deploying identity cannot be found \(azuread getClientConfig gave no object id\): prd needs a deployer/,
        );
    });

    describe("no moment without authentication", () => {
        const azure = new FakeContainerApps();
        let endpoint: string;
        before(async () => (endpoint = await azure.start()));
        after(() => azure.stop());

        it("a new app is created admitting no address; RevisionTraffic, after the auth config, opens it with the traffic", async () => {
            azure.put("v7-aaaaaaaaaa", "t7", [{ revisionName: "prd-fraud--v7-aaaaaaaaaa", weight: 100 }]);
            azure.ipSecurityRestrictions = CLOSED_INGRESS.map((r) => ({ ...r }));
            azure.putAuthConfig();
            const provider = new RevisionTrafficProvider({ client: () => new ContainerAppsClient({ endpoint, token: async () => "fake-arm-token" }), sleep: async () => undefined, pollMs: 1, log: () => undefined });
            const opened = ipRestrictions(["20.50.0.0/16"]);
            await provider.create({ appId: azure.appId, target: [{ revision: "prd-fraud--v7-aaaaaaaaaa", weight: 100, label: "stable" }], readyTimeoutSeconds: 60, ipSecurityRestrictions: opened });
            assert.deepStrictEqual(azure.ipSecurityRestrictions, [{ name: "allow-1", ipAddressRange: "20.50.0.0/16", action: "Allow" }]);
            const diff = await provider.diff("id", { appId: azure.appId, target: [], readyTimeoutSeconds: 60, ipSecurityRestrictions: opened }, { appId: azure.appId, target: [], readyTimeoutSeconds: 60, ipSecurityRestrictions: [] });
            assert.strictEqual(diff.changes, true, "a changed allow-list is applied again");
        });
    });
});

describe("Unity Catalog grants in the plan", () => {
    it("lists each securable's owner and grants: the creator owns the prd schema, deployers manage it, data scientists may only read it", async () => {
        const { catalogGrants, renderCatalogGrantsText } = await import("../lib/access/table");
        const plan = await deployed("dev");
        const rows = catalogGrants(plan.resources);
        const prd = rows.find((r) => r.securable === "schema mlplatform.prd")!;
        assert.strictEqual(prd.owner, "the deploying identity (creator)");
        assert.ok(prd.grants.some((g) => g.principal === "ml-deployers" && g.privileges.includes("MANAGE")), JSON.stringify(prd));
        const scientistsOnPrd = prd.grants.filter((g) => g.principal === "ml-data-scientists").flatMap((g) => g.privileges);
        assert.deepStrictEqual(scientistsOnPrd.filter((p) => ["CREATE_MODEL", "MANAGE", "MODIFY", "ALL_PRIVILEGES", "APPLY_TAG"].includes(p)), [], JSON.stringify(prd));
        const devSchema = rows.find((r) => r.securable === "schema mlplatform.dev")!;
        assert.ok(devSchema.grants.some((g) => g.principal === "ml-data-scientists" && g.privileges.includes("CREATE_MODEL")), JSON.stringify(devSchema));
        const text = renderCatalogGrantsText("dev", false, rows);
        assert.match(text, /^Unity Catalog grants that decide what this stack serves, declared by "dev" \(its workspace holds the registry\):/);
        assert.match(text, /\n {2}schema mlplatform\.prd \(owner: the deploying identity \(creator\)\): /);
    });

    it("npm run plan -- prd shows the grants the registry's stack declares", async function () {
        this.timeout(60_000);
        const { runScript } = await import("./helpers/cli");
        const { code, stdout } = await runScript("scripts/plan.ts", ["prd"]);
        assert.strictEqual(code, 0);
        assert.match(stdout, /Unity Catalog grants that decide what this stack serves, declared by "dev"[^\n]*\n(.*\n)*  schema mlplatform\.prd \(owner: /);
    });
});
