// Unity Catalog access of the registry's stack (issue 19): which grant sets exist for any role
// lists, who gets what, and the order the objects are created in (the resource graph under Pulumi's
// mock runtime): nothing hands ownership away, and the locations wait for the connector's role.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import * as authorization from "@pulumi/azure-native/authorization";
import { recordProgram, type Plan, type PlannedResource } from "../lib/plan";
import { readStackConfig } from "../lib/config/stackFiles";
import { OFFLINE_VARIABLE } from "../lib/deployment/context";
import { catalogGrantSets, PRIVILEGES, SECURABLES, type GrantSet } from "../lib/access/unityCatalogGrants";
import { catalogGrants } from "../lib/access/table";
import { evaluate } from "../lib/policy/rules";
import { STORAGE_ROLE_PROPAGATION_SECONDS, UnityCatalogAccess } from "../components/access/unityCatalog";
import type { AccessRoles } from "../lib/config";
import { deployedAzureMocks, REGISTRATION_APP_ID } from "./helpers/azureMocks";
import { byType, planEditedStack, PROJECT_DIR } from "./helpers/fixtures";
import { stackWarnings } from "../lib/plan/report";

const PREVIEW_APP_ID = "0e0e0e0e-1111-4222-8333-444444444444";
const SCIENTISTS = { objectId: "11111111-1111-1111-1111-111111111111", type: "group" as const, name: "ml-data-scientists" };
const DEPLOYERS = { objectId: "22222222-2222-2222-2222-222222222222", type: "group" as const, name: "ml-deployers" };

/** Every subset of the optional principals, as role lists. */
function combinations(): { scientists: string[]; deployers: string[]; readers: string[]; registrar?: string }[] {
    const out = [];
    for (let mask = 0; mask < 16; mask++) {
        out.push({
            scientists: mask & 1 ? ["ml-data-scientists"] : [],
            deployers: mask & 2 ? ["ml-deployers", "deployer@example.com"] : [],
            readers: mask & 4 ? [PREVIEW_APP_ID] : [],
            registrar: mask & 8 ? REGISTRATION_APP_ID : undefined,
        });
    }
    return out;
}

const privilegesOf = (sets: GrantSet<string>[], securable: string, principal: string) => sets.find((s) => s.securable === securable)?.grants.find((g) => g.principal === principal)?.privileges ?? [];

describe("Unity Catalog grant sets (lib/access/unityCatalogGrants)", () => {
    it("never a grant set without a grant, nor a grant without a privilege, for any combination of empty and non-empty role lists", () => {
        for (const c of combinations()) {
            const sets = catalogGrantSets<string>({ dataScientists: c.scientists, deployers: c.deployers, readers: c.readers, registrar: c.registrar });
            const label = JSON.stringify(c);
            for (const set of sets) {
                assert.ok(set.grants.length > 0, `${label}: ${set.securable} has an empty grant set`);
                for (const g of set.grants) assert.ok(g.privileges.length > 0, `${label}: ${set.securable}: ${g.principal} has no privilege`);
            }
            // A securable has a set exactly when someone named holds a privilege on it.
            const expected = SECURABLES.filter((s) => {
                const p = PRIVILEGES[s];
                return (c.scientists.length > 0 && p.dataScientists.length > 0) || (c.deployers.length > 0 && p.deployers.length > 0) || (c.readers.length > 0 && p.readers.length > 0) || (c.registrar !== undefined && p.registrar.length > 0);
            });
            assert.deepStrictEqual(sets.map((s) => s.securable), expected, label);
        }
    });

    it("the shipped role lists (all empty, the stack's own registration principal): no set for the credential or the prd schema", () => {
        assert.deepStrictEqual(catalogGrantSets<string>({ dataScientists: [], deployers: [], readers: [] }), []);
        const sets = catalogGrantSets<string>({ dataScientists: [], deployers: [], readers: [], registrar: REGISTRATION_APP_ID });
        assert.deepStrictEqual(sets.map((s) => s.securable), ["dataLocation", "modelsLocation", "catalog", "devSchema"]);
    });

    it("deployers hold MANAGE on every securable instead of owning it; data scientists never MANAGE, CREATE_MODEL or ALL_PRIVILEGES on prd or the catalog", () => {
        const sets = catalogGrantSets<string>({ dataScientists: ["ml-data-scientists"], deployers: ["ml-deployers"], readers: [] });
        for (const securable of SECURABLES) assert.ok(privilegesOf(sets, securable, "ml-deployers").includes("MANAGE"), securable);
        assert.deepStrictEqual(privilegesOf(sets, "prdSchema", "ml-deployers"), ["USE_SCHEMA", "CREATE_MODEL", "EXECUTE", "MANAGE"]);
        assert.deepStrictEqual(privilegesOf(sets, "prdSchema", "ml-data-scientists"), ["USE_SCHEMA", "EXECUTE"]);
        assert.deepStrictEqual(privilegesOf(sets, "catalog", "ml-data-scientists"), ["USE_CATALOG", "BROWSE"]);
        assert.deepStrictEqual(privilegesOf(sets, "storageCredential", "ml-data-scientists"), []);
    });

    it("the preview identity reads model versions and aliases in both schemas (USE_CATALOG, USE_SCHEMA, EXECUTE) and nothing else", () => {
        const sets = catalogGrantSets<string>({ dataScientists: [], deployers: [], readers: [PREVIEW_APP_ID] });
        const held = sets.flatMap((s) => s.grants.filter((g) => g.principal === PREVIEW_APP_ID).map((g) => `${s.securable}: ${g.privileges.join(",")}`));
        assert.deepStrictEqual(held, ["catalog: USE_CATALOG", "devSchema: USE_SCHEMA,EXECUTE", "prdSchema: USE_SCHEMA,EXECUTE"]);
    });

    it("one entry per principal: a principal in two roles gets both sets of privileges once", () => {
        const sets = catalogGrantSets<string>({ dataScientists: ["both"], deployers: ["both"], readers: ["both"] });
        assert.deepStrictEqual(sets.find((s) => s.securable === "devSchema")!.grants, [{ principal: "both", privileges: ["USE_SCHEMA", "CREATE_MODEL", "EXECUTE", "MANAGE"] }]);
    });
});

interface Registered {
    name: string;
    type: string;
    urn: string;
    /** Logical names of the resources it depends on (explicit dependsOn and inputs' resources). */
    dependsOn: string[];
}

/**
 * Runs `program` under recordProgram and also records each registration's direct dependencies
 * (what the engine orders creation by), by logical name.
 */
async function recordGraph(program: () => unknown, options: Parameters<typeof recordProgram>[1]): Promise<{ plan: Plan; graph: Map<string, Registered> }> {
    const registered: Registered[] = [];
    const plan = await recordProgram(() => {
        const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: any, cb: (err: Error | null, res?: any) => void): void };
        const forward = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req, cb) => {
            const entry: Registered & { deps: string[] } = { name: req.getName(), type: req.getType(), urn: "", dependsOn: [], deps: req.getDependenciesList() };
            forward(req, (err, res) => {
                if (res) {
                    entry.urn = res.getUrn();
                    registered.push(entry);
                }
                cb(err, res);
            });
        };
        return program();
    }, options);
    const byUrn = new Map(registered.map((r) => [r.urn, r.name]));
    const graph = new Map(registered.map((r) => [r.name, { ...r, dependsOn: (r as any).deps.map((u: string) => byUrn.get(u) ?? u) }]));
    return { plan, graph };
}

/** Everything `name` waits for, directly or through what it waits for. */
function waitsFor(graph: Map<string, Registered>, name: string, seen = new Set<string>()): Set<string> {
    for (const dep of graph.get(name)?.dependsOn ?? []) {
        if (seen.has(dep)) continue;
        seen.add(dep);
        waitsFor(graph, dep, seen);
    }
    return seen;
}

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
    offline: true,
};
const roles = (dataScientists: AccessRoles["dataScientists"], deployers: AccessRoles["deployers"]): AccessRoles => ({ dataScientists, deployers, scoringClients: [], acceptDataScientistAsDeployer: false });
const UC_OBJECTS = ["databricks:index/storageCredential:StorageCredential", "databricks:index/externalLocation:ExternalLocation", "databricks:index/catalog:Catalog", "databricks:index/schema:Schema"];

async function component(r: AccessRoles, extra: { readers?: string[]; registrar?: { servicePrincipalName: string } } = {}) {
    return recordGraph(
        () => {
            const storageAccess = new authorization.RoleAssignment("t-storage-access", { principalId: "p", principalType: "ServicePrincipal", roleDefinitionId: "r", scope: "/s" });
            new UnityCatalogAccess("t-uc", { ...ucArgs, roles: r, storageAccess, ...extra });
        },
        { project: "mlflow-platform", stack: "dev", mocks: deployedAzureMocks, preview: false },
    );
}

describe("UnityCatalogAccess (the component, under the mock runtime)", function () {
    this.timeout(60_000);

    it("declares a Grants only for securables with someone to grant to, for every combination of empty and non-empty role lists", async () => {
        for (const scientists of [[], [SCIENTISTS]]) {
            for (const deployers of [[], [DEPLOYERS]]) {
                for (const readers of [[], [PREVIEW_APP_ID]]) {
                    for (const registrar of [undefined, { servicePrincipalName: "00000000-0000-0000-0000-0000000000bb" }]) {
                        const label = JSON.stringify({ scientists: scientists.length, deployers: deployers.length, readers: readers.length, registrar: !!registrar });
                        const { plan } = await component(roles(scientists, deployers), { readers, ...(registrar ? { registrar } : {}) });
                        const grants = byType(plan, "databricks:index/grants:Grants");
                        for (const g of grants) assert.ok(Array.isArray(g.inputs.grants) && (g.inputs.grants as unknown[]).length > 0, `${label}: ${g.name} has no grant`);
                        const names = grants.map((g) => g.name);
                        assert.deepStrictEqual(names, [...new Set(names)], label);
                        // Without deployers nobody is granted anything on the credential; without anyone but the registrar, nothing on prd.
                        assert.strictEqual(names.includes("t-uc-storage-credential-grants"), deployers.length > 0, label);
                        assert.strictEqual(names.includes("t-uc-prd-schema-grants"), scientists.length + deployers.length + readers.length > 0, label);
                    }
                }
            }
        }
    });

    it("hands no object away: none declares an owner, so the deploying identity (its creator) owns each until the end, and every Grants and child waits for its object", async () => {
        const { plan, graph } = await component(roles([SCIENTISTS], [DEPLOYERS]), { readers: [PREVIEW_APP_ID] });
        for (const type of UC_OBJECTS) {
            for (const r of byType(plan, type)) assert.ok(!("owner" in r.inputs), `${r.name} declares owner ${String(r.inputs.owner)}: it would move away from the deploying identity right after its creation`);
        }
        const deps = (name: string) => graph.get(name)!.dependsOn;
        assert.ok(deps("t-uc-data-location").includes("t-uc-storage-credential"), "a location names its credential");
        assert.ok(deps("t-uc-models-location").includes("t-uc-storage-credential"));
        assert.ok(deps("t-uc-catalog").includes("t-uc-models-location"), "managed storage inside the models location");
        assert.ok(deps("t-uc-dev-schema").includes("t-uc-catalog"));
        assert.ok(deps("t-uc-prd-schema").includes("t-uc-catalog"));
        const objectOf: Record<string, string> = {
            "t-uc-storage-credential-grants": "t-uc-storage-credential",
            "t-uc-data-location-grants": "t-uc-data-location",
            "t-uc-models-location-grants": "t-uc-models-location",
            "t-uc-catalog-grants": "t-uc-catalog",
            "t-uc-dev-schema-grants": "t-uc-dev-schema",
            "t-uc-prd-schema-grants": "t-uc-prd-schema",
        };
        assert.deepStrictEqual(byType(plan, "databricks:index/grants:Grants").map((g) => g.name).sort(), Object.keys(objectOf).sort());
        for (const [grants, object] of Object.entries(objectOf)) assert.ok(deps(grants).includes(object), `${grants} waits for ${object}`);
        // The deployers manage each object (MANAGE) in its Grants, instead of owning it.
        for (const g of byType(plan, "databricks:index/grants:Grants")) {
            const entry = (g.inputs.grants as { principal: string; privileges: string[] }[]).find((x) => x.principal === DEPLOYERS.name);
            assert.ok(entry?.privileges.includes("MANAGE"), `${g.name}: ${JSON.stringify(g.inputs.grants)}`);
        }
    });

    it("the credential and the locations wait for the connector's storage role assignment and a propagation delay", async () => {
        const { plan, graph } = await component(roles([], []));
        const delay = byType(plan, "pulumi-nodejs:dynamic/serving:Delay").find((d) => d.name === "t-uc-storage-access-propagation")!;
        assert.strictEqual(delay.inputs.seconds, STORAGE_ROLE_PROPAGATION_SECONDS);
        assert.deepStrictEqual(graph.get("t-uc-storage-access-propagation")!.dependsOn, ["t-storage-access"]);
        for (const name of ["t-uc-storage-credential", "t-uc-data-location", "t-uc-models-location", "t-uc-catalog", "t-uc-dev-schema", "t-uc-prd-schema"]) {
            const all = waitsFor(graph, name);
            assert.ok(all.has("t-storage-access") && all.has("t-uc-storage-access-propagation"), `${name} waits for: ${[...all].join(", ")}`);
        }
        // Validation stays on: a missing role fails the location's creation, not the first read.
        for (const l of byType(plan, "databricks:index/externalLocation:ExternalLocation")) assert.ok(!l.inputs.skipValidation, l.name);
    });

    it("the preview identity appears in the catalog's and both schemas' Grants only, with read privileges", async () => {
        const { plan } = await component(roles([SCIENTISTS], [DEPLOYERS]), { readers: [PREVIEW_APP_ID] });
        const held = byType(plan, "databricks:index/grants:Grants").flatMap((g) =>
            (g.inputs.grants as { principal: string; privileges: string[] }[]).filter((x) => x.principal === PREVIEW_APP_ID).map((x) => `${String(g.inputs.catalog ?? g.inputs.schema ?? g.inputs.externalLocation ?? g.inputs.storageCredential)}: ${x.privileges.join(",")}`),
        );
        assert.deepStrictEqual(held.sort(), ["mlplatform.dev: USE_SCHEMA,EXECUTE", "mlplatform.prd: USE_SCHEMA,EXECUTE", "mlplatform: USE_CATALOG"]);
        // The plan's grant listing names it where it holds something.
        const rows = catalogGrants(plan.resources);
        assert.ok(rows.find((r) => r.securable === "schema mlplatform.prd")!.grants.some((g) => g.principal === PREVIEW_APP_ID));
        // And the policy rule accepts the declared grants.
        const context = { environment: "dev" as const, resources: plan.resources.map((r: PlannedResource) => ({ type: r.type, name: r.name, props: r.inputs, protect: r.protect, outputs: r.outputs })) };
        assert.deepStrictEqual(evaluate(context).filter((v) => v.level === "mandatory"), []);
    });
});

describe("index.ts wires the Unity Catalog component (dev, the registry's stack)", function () {
    this.timeout(60_000);

    it("the external locations wait for the access connector's Storage Blob Data Contributor assignment (MlflowWorkspace)", async () => {
        const { project, config, secretKeys } = readStackConfig(PROJECT_DIR, "dev");
        const offline = process.env[OFFLINE_VARIABLE];
        process.env[OFFLINE_VARIABLE] = "1";
        try {
            const program = require.resolve("../index");
            const { plan, graph } = await recordGraph(
                () => {
                    delete require.cache[program];
                    return require(program);
                },
                { project, stack: "dev", config, secretKeys },
            );
            const assignment = byType(plan, "azure-native:authorization:RoleAssignment").find((a) => a.name === "dev-mlflow-storage-access")!;
            assert.match(String(assignment.inputs.description), /access connector/);
            for (const location of byType(plan, "databricks:index/externalLocation:ExternalLocation")) {
                assert.ok(waitsFor(graph, location.name).has("dev-mlflow-storage-access"), `${location.name} waits for: ${[...waitsFor(graph, location.name)].join(", ")}`);
            }
            // The shipped stack: no Grants without a grant.
            for (const g of byType(plan, "databricks:index/grants:Grants")) assert.ok((g.inputs.grants as unknown[]).length > 0, g.name);
            assert.deepStrictEqual(byType(plan, "databricks:index/grants:Grants").map((g) => g.name), ["dev-unity-catalog-data-location-grants", "dev-unity-catalog-models-location-grants", "dev-unity-catalog-catalog-grants", "dev-unity-catalog-dev-schema-grants"]);
        } finally {
            if (offline === undefined) delete process.env[OFFLINE_VARIABLE];
            else process.env[OFFLINE_VARIABLE] = offline;
        }
    });
});

describe("access.readers: the preview identity, declared in config (issue 19, point 13)", function () {
    this.timeout(60_000);
    const reader = { objectId: "0f0f0f0f-2222-4333-8444-555555555555", type: "servicePrincipal", name: PREVIEW_APP_ID };

    it("the registry's stack grants a listed reader USE_CATALOG on the catalog and USE_SCHEMA, EXECUTE on both schemas", async () => {
        const plan = await planEditedStack("dev", (config) => {
            config["mlflow-platform:access"] = { readers: [reader] };
        });
        const granted = Object.fromEntries(
            byType(plan, "databricks:index/grants:Grants").map((g) => [
                g.name,
                (g.inputs.grants as { principal: string; privileges: string[] }[]).find((e) => e.principal === PREVIEW_APP_ID)?.privileges ?? null,
            ]),
        );
        assert.deepStrictEqual(granted, {
            "dev-unity-catalog-data-location-grants": null,
            "dev-unity-catalog-models-location-grants": null,
            "dev-unity-catalog-catalog-grants": ["USE_CATALOG"],
            "dev-unity-catalog-dev-schema-grants": ["USE_SCHEMA", "EXECUTE"],
            "dev-unity-catalog-prd-schema-grants": ["USE_SCHEMA", "EXECUTE"],
        });
    });

    it("the shipped registry stack, with no reader, warns in the plan that previews cannot read Unity Catalog", () => {
        assert.ok(stackWarnings(PROJECT_DIR, "dev").some((w) => /access\.readers is empty: the pull-request preview identity \(AZURE_PREVIEW_CLIENT_ID\)/.test(w)));
        assert.ok(!stackWarnings(PROJECT_DIR, "prd").some((w) => /access\.readers/.test(w)), "prd's registry is dev's");
    });

    it("a stack whose registry is elsewhere refuses readers, naming where they belong", async () => {
        await assert.rejects(
            planEditedStack("prd", (config) => {
                config["mlflow-platform:access"] = { readers: [reader] };
            }),
            (err: Error) => /access\.readers.*only applies in the stack whose workspace holds the Unity Catalog registry/s.test(err.message),
        );
    });
});
