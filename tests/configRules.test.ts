// Config rules at their edges: how Pulumi's strings become numbers and booleans, every bound of
// every range, GUIDs and e-mail addresses exactly (no trailing characters), defaults, and the
// message texts (configText) an operator reads.
import * as assert from "assert";
import { ConfigError, defaultMinReplicas, parsePlatformConfig, rawConfigFrom, servingPlatformOf, stackReferenceName, type PlatformConfig } from "../lib/config";
import { closeMatch, displayValue, editDistance, hasUrlCredentials, HIDDEN_SECRET, holdsSecret, looksLikeSecret, redactUrlCredentials, redactUrls, stringLeaves } from "../lib/config/text";
import { validRawConfig as fixture } from "./helpers/fixtures";

const GUID = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d";
const GUID2 = "1a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d";
const apps = { containerRegistrySku: "Basic", platform: "containerapp" };

function raw(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return fixture({ registry: { kind: "unity-catalog", catalog: "main" }, ...overrides });
}

function parsed(overrides: Record<string, unknown> = {}, stack?: string): PlatformConfig {
    const r = raw(overrides);
    return parsePlatformConfig(r, stack ?? (r.environment === "prd" ? "prd" : "dev"));
}

function problems(overrides: Record<string, unknown> = {}, stack?: string, isSecret?: (key: string) => boolean): readonly string[] {
    const r = raw(overrides);
    try {
        parsePlatformConfig(r, stack ?? (r.environment === "prd" ? "prd" : "dev"), "mlflow-platform", isSecret);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
        return err.problems;
    }
    return [];
}

const model = (fields: Record<string, unknown> = {}) => ({ name: "fraud", model: "main.risk.fraud", alias: "champion", cpu: 1, memoryGb: 2, ...fields });
const onApps = (fields: Record<string, unknown> = {}, serving: Record<string, unknown> = {}) => ({ serving: { ...apps, ...serving }, models: [model(fields)] });
const principal = (fields: Record<string, unknown> = {}) => ({ objectId: GUID, type: "group", name: "ml-team", ...fields });

describe("config rules at their edges", () => {
    describe("Pulumi's strings", () => {
        it("whole numbers: digits with surrounding blanks, a sign; nothing else", () => {
            assert.strictEqual(parsed({ blobSoftDeleteDays: " 12 " }).storage.blobSoftDeleteDays, 12);
            assert.strictEqual(parsed({ blobSoftDeleteDays: 12 }).storage.blobSoftDeleteDays, 12, "a number as it is");
            assert.deepStrictEqual(problems({ blobSoftDeleteDays: "-1" }), ["mlflow-platform:blobSoftDeleteDays = -1 is not allowed: it must be a whole number from 1 to 365"]);
            for (const text of ["7.0", "1e1", "0x10", "7 days", "", "+7"]) {
                assert.deepStrictEqual(problems({ blobSoftDeleteDays: text }), [`mlflow-platform:blobSoftDeleteDays = ${JSON.stringify(text)} is not allowed: it must be a whole number from 1 to 365`], text);
            }
        });

        it("sizes: decimal numbers with surrounding blanks; no sign, no exponent", () => {
            const entry = parsed({ models: [model({ cpu: " 0.5 ", memoryGb: "1.5" })] }).models[0];
            assert.deepStrictEqual([entry.cpu, entry.memoryGb], [0.5, 1.5]);
            assert.strictEqual(parsed({ models: [model({ cpu: "2", memoryGb: "2" })] }).models[0].cpu, 2);
            for (const text of ["-1", ".5", "1.", "1e0", "one"]) {
                assert.deepStrictEqual(problems({ models: [model({ cpu: text })] }), [`mlflow-platform:models[0].cpu = ${JSON.stringify(text)} is not allowed: it must be a number of CPU cores, such as 1 or 0.5`], text);
            }
            assert.deepStrictEqual(problems({ models: [model({ memoryGb: "2GB" })] }), ['mlflow-platform:models[0].memoryGb = "2GB" is not allowed: it must be a number of GB, such as 2 or 1.5']);
        });

        it("booleans: true or false in any case, with blanks; nothing else", () => {
            assert.strictEqual(parsed({ protect: " TRUE " }).protect, true);
            assert.strictEqual(parsed({ protect: "False" }).protect, false);
            assert.strictEqual(parsed({ protect: true }).protect, true);
            for (const text of ["yes", "1", "on", ""]) {
                assert.deepStrictEqual(problems({ protect: text }), [`mlflow-platform:protect = ${JSON.stringify(text)} is not allowed: it must be true or false`], text);
            }
        });

        it("structured values: JSON objects and lists decoded (with blanks), anything else kept as written", () => {
            assert.deepStrictEqual(
                rawConfigFrom({ "p:a": ' [1, "x"] ', "p:b": "{not json", "p:c": "[", "p:d": "plain", "q:e": "[1]" }, "p"),
                { a: [1, "x"], b: "{not json", c: "[", d: "plain", "q:e": "[1]" },
            );
        });
    });

    describe("ranges, bounds included", () => {
        const bounds: [string, (value: unknown) => Record<string, unknown>, number, number, string][] = [
            ["blobSoftDeleteDays", (v) => ({ blobSoftDeleteDays: v }), 1, 365, "mlflow-platform:blobSoftDeleteDays"],
            ["containerSoftDeleteDays", (v) => ({ containerSoftDeleteDays: v }), 1, 365, "mlflow-platform:containerSoftDeleteDays"],
            ["workers", (v) => ({ models: [model({ workers: v })] }), 1, 32, "mlflow-platform:models[0].workers"],
            ["minReplicas", (v) => onApps({ minReplicas: v, maxReplicas: 30 }), 0, 30, "mlflow-platform:models[0].minReplicas"],
            ["maxReplicas", (v) => onApps({ maxReplicas: v }), 1, 30, "mlflow-platform:models[0].maxReplicas"],
            ["concurrentRequests", (v) => onApps({ concurrentRequests: v }), 1, 1000, "mlflow-platform:models[0].concurrentRequests"],
            ["logRetentionDays", (v) => onApps({}, { logRetentionDays: v }), 30, 730, "mlflow-platform:serving.logRetentionDays"],
            ["maxInactiveRevisions", (v) => onApps({}, { maxInactiveRevisions: v }), 0, 20, "mlflow-platform:serving.maxInactiveRevisions"],
            ["canary.weight", (v) => onApps({ canary: { version: "9", weight: v } }), 0, 99, "mlflow-platform:models[0].canary.weight"],
        ];
        for (const [name, edit, min, max, key] of bounds) {
            it(`${name}: ${min} and ${max} pass, ${min - 1} and ${max + 1} do not`, () => {
                assert.deepStrictEqual(problems(edit(String(min))), [], `${min}`);
                assert.deepStrictEqual(problems(edit(String(max))), [], `${max}`);
                for (const outside of [min - 1, max + 1]) {
                    const found = problems(edit(String(outside)));
                    assert.strictEqual(found.length, 1, found.join("\n"));
                    assert.ok(found[0].startsWith(`${key} = ${outside} is not allowed: it `), found[0]);
                }
            });
        }
        it("a canary at 100% is refused for what it would do, not as out of range", () => {
            assert.deepStrictEqual(problems(onApps({ canary: { version: "9", weight: 100 } })), [
                "mlflow-platform:models[0].canary.weight = 100 is not allowed: it would leave the stable revision with no traffic: to serve only the candidate, promote it (point the model's selector at its version and remove canary)",
            ]);
            assert.ok(problems(onApps({ canary: { version: "9", weight: 101 } }))[0].includes("must be a whole number from 0 to 100"));
        });
        it("maxReplicas may equal minReplicas, not be below it", () => {
            assert.deepStrictEqual(problems(onApps({ minReplicas: 4, maxReplicas: 4 })), []);
            assert.deepStrictEqual(problems(onApps({ minReplicas: 4, maxReplicas: 3 })), ["mlflow-platform:models[0].maxReplicas = 3 is not allowed: it must be at least minReplicas (4)"]);
        });
    });

    describe("defaults", () => {
        it("workers: one per core, rounded up, at least one; config wins", () => {
            assert.strictEqual(parsed(onApps({ cpu: 0.25, memoryGb: 0.5 })).models[0].workers, 1);
            assert.strictEqual(parsed(onApps({ cpu: 1.25, memoryGb: 2.5 })).models[0].workers, 2);
            assert.strictEqual(parsed(onApps({ cpu: 2, memoryGb: 4 })).models[0].workers, 2);
            assert.strictEqual(parsed(onApps({ cpu: 2, memoryGb: 4, workers: 5 })).models[0].workers, 5);
        });
        it("replicas: dev scales to zero, prd keeps one; at most 3 unless the minimum is higher; 20 concurrent requests", () => {
            assert.deepStrictEqual(parsed(onApps()).models[0].scale, { minReplicas: 0, maxReplicas: 3, concurrentRequests: 20 });
            assert.deepStrictEqual(parsed({ environment: "prd", ...onApps({ model: "main.prd.fraud" }) }).models[0].scale, { minReplicas: 1, maxReplicas: 3, concurrentRequests: 20 });
            assert.deepStrictEqual(parsed(onApps({ minReplicas: 5 })).models[0].scale, { minReplicas: 5, maxReplicas: 5, concurrentRequests: 20 });
            assert.deepStrictEqual(parsed(onApps({ minReplicas: 2 })).models[0].scale.maxReplicas, 3);
            assert.deepStrictEqual(parsed(onApps({ maxReplicas: 7, concurrentRequests: 50 })).models[0].scale, { minReplicas: 0, maxReplicas: 7, concurrentRequests: 50 });
            assert.strictEqual(defaultMinReplicas("dev"), 0);
            assert.strictEqual(defaultMinReplicas("prd"), 1);
        });
        it("serving: Container Apps, external, any address, 30 days of logs, 3 inactive revisions", () => {
            const config = parsed(onApps());
            assert.deepStrictEqual(config.serving, { platform: "containerapp", containerRegistrySku: "Basic", access: { ingress: "external", ipAllowList: [] }, logRetentionDays: 30, maxInactiveRevisions: 3, payloadLog: { sampleRate: 1, retentionDays: 30 }, requireGuardedRollout: false });
            assert.strictEqual(parsed({ serving: { containerRegistrySku: "Standard" } }).serving.platform, "containerapp");
            assert.strictEqual(servingPlatformOf("prd", undefined), "containerapp");
            assert.strictEqual(servingPlatformOf("dev", "aci"), "aci");
        });
        it("registry: schemas dev and prd, no catalog needed without models; roles empty", () => {
            const config = parsed({ registry: { kind: "unity-catalog" }, models: [] });
            assert.deepStrictEqual(config.registry, {
                kind: "unity-catalog",
                catalog: undefined,
                host: undefined,
                hostFromStack: undefined,
                devSchema: "dev",
                prdSchema: "prd",
                databricksAccountId: undefined,
                registrationRunAs: undefined,
            });
            assert.deepStrictEqual(config.access, { dataScientists: [], deployers: [], scoringClients: [], readers: [], acceptDataScientistAsDeployer: false });
            assert.strictEqual(config.storage.existingResourceGroupName, undefined);
            assert.strictEqual(parsed({ resourceGroupName: "" }).storage.existingResourceGroupName, undefined, "Pulumi.yaml's empty default");
            assert.deepStrictEqual(config.registryCredentials, { token: undefined, username: undefined, password: undefined });
        });
        it("storage, Databricks and tags are read as given", () => {
            const config = parsed({ storageSku: "Standard_GZRS", containerSoftDeleteDays: "9", softDeleteEnabled: "true", allowBlobPublicAccess: "false", databricksSku: "trial", registry: { kind: "mlflow" }, models: [] });
            assert.deepStrictEqual(config.storage, {
                existingResourceGroupName: undefined,
                accountName: "mlplattest01",
                sku: "Standard_GZRS",
                blobSoftDeleteDays: 7,
                containerSoftDeleteDays: 9,
                softDeleteEnabled: true,
                allowBlobPublicAccess: false,
            });
            assert.deepStrictEqual(config.databricks, { sku: "trial" });
            assert.strictEqual(config.project, "mlflow-platform");
            assert.strictEqual(config.stack, "dev");
            assert.strictEqual(config.environment, "dev");
        });
    });

    describe("GUIDs and e-mail addresses, exactly", () => {
        const objectIdRule = "must be the principal's object id in Microsoft Entra ID (a GUID such as 3f2b8c1e-5d4a-4e6f-9b7c-2a1d0e9f8c7b; `az ad group show -g <name> --query id`)";
        it("an object id is a GUID in either case, with nothing before or after it", () => {
            assert.deepStrictEqual(problems({ access: { scoringClients: [principal({ objectId: GUID.toUpperCase() })] } }), []);
            for (const bad of [`${GUID}x`, `${GUID}-0`, `x${GUID}`, `${GUID} `, `{${GUID}}`, GUID.slice(1), GUID.replace(/-/g, "")]) {
                assert.deepStrictEqual(problems({ access: { scoringClients: [principal({ objectId: bad })] } }), [`mlflow-platform:access.scoringClients[0].objectId = ${JSON.stringify(bad)} is not allowed: it ${objectIdRule}`], bad);
            }
        });
        it("a Databricks account id is a GUID, with nothing after it", () => {
            assert.strictEqual(parsed({ registry: { kind: "unity-catalog", catalog: "main", databricksAccountId: GUID } }).registry.databricksAccountId, GUID);
            assert.deepStrictEqual(problems({ registry: { kind: "unity-catalog", catalog: "main", databricksAccountId: `${GUID}0` } }), [
                `mlflow-platform:registry.databricksAccountId = "${GUID}0" is not allowed: it must be the Databricks account id of the registry's workspace (a GUID, shown in the Databricks account console)`,
            ]);
        });
        it("a registration principal is an application id (GUID) or an e-mail address, nothing around either", () => {
            const runAs = (value: string) => ({ registry: { kind: "unity-catalog", catalog: "main", registrationRunAs: value } });
            assert.deepStrictEqual(parsed(runAs(GUID)).registry.registrationRunAs, { servicePrincipalName: GUID });
            assert.deepStrictEqual(parsed(runAs(GUID.toUpperCase())).registry.registrationRunAs, { servicePrincipalName: GUID.toUpperCase() });
            assert.deepStrictEqual(parsed(runAs("ann@example.com")).registry.registrationRunAs, { userName: "ann@example.com" });
            for (const bad of [`${GUID}x`, `x${GUID}`, "ann@example", "ann@@example.com", "ann example@example.com", "@example.com", `ann@example.com `]) {
                assert.deepStrictEqual(problems(runAs(bad)), [
                    `mlflow-platform:registry.registrationRunAs = ${JSON.stringify(bad)} is not allowed: it must be a service principal's application id (a GUID) or a user's e-mail address in Databricks`,
                ], bad);
            }
        });
        it("a service principal's Databricks name is its application id, nothing after it", () => {
            const sp = (name: string) => ({ access: { deployers: [principal({ type: "servicePrincipal", name, objectId: GUID2 })] } });
            assert.deepStrictEqual(problems(sp(GUID)), []);
            assert.deepStrictEqual(problems(sp(` ${GUID} `)), [
                `mlflow-platform:access.deployers[0].name = " ${GUID} " is not allowed: it has spaces before or after it, which Databricks would not match: write "${GUID}"`,
            ], "blanks around it are named, not trimmed");
            for (const bad of [`${GUID}x`, `${GUID}/x`, "deploy-bot"]) {
                assert.deepStrictEqual(problems(sp(bad)), [
                    `mlflow-platform:access.deployers[0].name = ${JSON.stringify(bad)} is not allowed: it must be a service principal's name in Databricks is its application (client) id, a GUID (not its display name)`,
                ], bad);
            }
        });
        it("a user's Databricks name is one e-mail address", () => {
            const user = (name: string) => ({ access: { dataScientists: [principal({ type: "user", name })] } });
            assert.deepStrictEqual(problems(user("ann@example.com")), []);
            assert.deepStrictEqual(problems(user("ann@localhost")), [], "a user principal name needs no dot");
            for (const bad of ["Ann", "ann@", "@example.com", "a@b@c", "ann smith@example.com"]) {
                assert.deepStrictEqual(problems(user(bad)), [
                    `mlflow-platform:access.dataScientists[0].name = ${JSON.stringify(bad)} is not allowed: it must be the user's e-mail address (user principal name), which Databricks uses as the user's name`,
                ], bad);
            }
        });
        it("a group's name may be anything printable but not blank", () => {
            const group = (name: string) => ({ access: { dataScientists: [principal({ name })] } });
            assert.deepStrictEqual(problems(group("ML team (EU)")), []);
            for (const bad of ["", "   ", "ml\tteam", "ml\u007fteam"]) {
                assert.deepStrictEqual(problems(group(bad)), [`mlflow-platform:access.dataScientists[0].name = ${JSON.stringify(bad)} is not allowed: it must be the principal's name in Databricks (not empty)`], JSON.stringify(bad));
            }
        });
    });

    describe("roles", () => {
        it("a principal listed twice in one role, in any case, is named at its second place", () => {
            assert.deepStrictEqual(problems({ access: { scoringClients: [principal(), principal({ objectId: GUID2 }), principal({ objectId: GUID.toUpperCase() })] } }), [
                `mlflow-platform:access.scoringClients[2].objectId = "${GUID.toUpperCase()}" is not allowed: it is listed twice in access.scoringClients`,
            ]);
            assert.deepStrictEqual(problems({ access: { dataScientists: [principal()], scoringClients: [principal()] } }), [], "two roles may name one principal");
        });
        it("data scientists and deployers need a Databricks name; scoring clients do not", () => {
            const nameless = { objectId: GUID, type: "group" };
            assert.deepStrictEqual(problems({ access: { scoringClients: [nameless] } }), []);
            for (const role of ["dataScientists", "deployers"]) {
                assert.deepStrictEqual(problems({ access: { [role]: [nameless] } }), [
                    `mlflow-platform:access.${role}[0].name is not set: it must be the principal's name in Databricks, which Unity Catalog grants use: a group's display name, a user's e-mail address, or a service principal's application (client) id`,
                ]);
            }
        });
        it("prd refuses one principal in both roles (any case) unless accepted; the flag is prd-only", () => {
            const prd = (access: Record<string, unknown>) => ({ environment: "prd", models: [model({ model: "main.prd.fraud" })], serving: apps, access });
            const both = { dataScientists: [principal({ objectId: GUID2 }), principal()], deployers: [principal({ objectId: GUID.toUpperCase() })] };
            assert.deepStrictEqual(problems(prd(both)), [
                `mlflow-platform:access.dataScientists[1].objectId = "${GUID}" is not allowed: it is also in access.deployers: in prd a data scientist must not decide what prd serves. Remove it from one list, or set access.acceptDataScientistAsDeployer: true to accept that this principal both registers and deploys`,
            ]);
            assert.deepStrictEqual(problems(prd({ ...both, acceptDataScientistAsDeployer: "true" })), []);
            assert.strictEqual(parsed(prd({ ...both, acceptDataScientistAsDeployer: "true" })).access.acceptDataScientistAsDeployer, true);
            assert.strictEqual(problems(prd({ ...both, acceptDataScientistAsDeployer: "false" })).length, 1);
            assert.strictEqual(problems({ access: both }).length, 1, "the dev stack that holds the Unity Catalog registry separates them too");
            const elsewhere = { registry: { kind: "unity-catalog", catalog: "main", hostFromStack: "organization/mlflow-platform/dev" } };
            assert.deepStrictEqual(problems({ ...elsewhere, access: both }), [], "a dev stack whose registry is elsewhere does not");
            assert.deepStrictEqual(problems({ ...elsewhere, access: { acceptDataScientistAsDeployer: false } }), [
                "mlflow-platform:access.acceptDataScientistAsDeployer = false is not allowed: it only applies in prd and in the stack that holds the Unity Catalog registry (its deployers manage the prd schema); this dev stack does not separate the roles: remove it",
            ]);
        });
    });

    describe("registry", () => {
        const registry = (fields: Record<string, unknown>, models: unknown[] = []) => ({ registry: fields, models });
        it("plain http only to this machine", () => {
            for (const host of ["http://localhost:5000", "http://127.0.0.1", "http://[::1]:5000", "https://mlflow.example.com"]) {
                assert.deepStrictEqual(problems(registry({ kind: "mlflow", host })), [], host);
            }
            for (const host of ["http://mlflow.example.com", "http://localhost.example.com", "http://127.0.0.2", "ftp://localhost"]) {
                assert.deepStrictEqual(problems(registry({ kind: "mlflow", host })), [
                    `mlflow-platform:registry.host = ${JSON.stringify(host)} is not allowed: it must use https:// (plain http:// only for localhost, so tokens never cross a network in clear text)`,
                ], host);
            }
            assert.deepStrictEqual(problems(registry({ kind: "mlflow", host: "mlflow.example.com" })), [
                'mlflow-platform:registry.host = "mlflow.example.com" is not allowed: it must be a URL such as https://adb-1234567890123456.7.azuredatabricks.net',
            ]);
        });
        it("a Databricks host keeps only its origin; an MLflow host keeps its path; a trailing '/' needs no notice", () => {
            const databricks = parsed(registry({ kind: "databricks", host: "https://adb-1.7.azuredatabricks.net/" }));
            assert.deepStrictEqual([databricks.registry.host, databricks.warnings], ["https://adb-1.7.azuredatabricks.net", []]);
            const mlflow = parsed(registry({ kind: "mlflow", host: "https://ml.example.com/mlflow//" }));
            assert.deepStrictEqual([mlflow.registry.host, mlflow.warnings], ["https://ml.example.com/mlflow", []]);
            const page = parsed(registry({ kind: "mlflow", host: "https://ml.example.com/mlflow/?tab=models" }));
            assert.strictEqual(page.registry.host, "https://ml.example.com/mlflow");
            assert.deepStrictEqual(page.warnings, [
                "mlflow-platform:registry.host: using https://ml.example.com/mlflow; what was written after it (a path, query or fragment: a page address copied from the browser?) was left out and is not shown, since the registry's API answers at the server's base URL. Write just https://ml.example.com/mlflow to silence this notice.",
            ]);
            const browse = parsed(registry({ kind: "databricks", host: "https://adb-1.7.azuredatabricks.net/browse?o=1" }));
            assert.match(browse.warnings[0], /since the registry's API answers at the workspace's root\. Write just https:\/\/adb-1\.7\.azuredatabricks\.net to silence this notice\.$/);
        });
        it("a stack reference names up to organization/project/stack", () => {
            for (const value of ["dev", "proj/dev", "organization/proj/dev", "acme-co/ml.proj/dev_2"]) {
                assert.strictEqual(parsed(registry({ kind: "databricks", hostFromStack: value })).registry.hostFromStack, value);
            }
            for (const value of ["a/b/c/d", "/dev", "dev/", "a b"]) {
                assert.deepStrictEqual(problems(registry({ kind: "databricks", hostFromStack: value })), [
                    `mlflow-platform:registry.hostFromStack = ${JSON.stringify(value)} is not allowed: it must be a stack name: organization/project/stack`,
                ], value);
            }
            assert.strictEqual(stackReferenceName("organization/proj/dev", "acme"), "acme/proj/dev");
            assert.strictEqual(stackReferenceName("organization/proj/dev", undefined), "organization/proj/dev");
            assert.strictEqual(stackReferenceName("other/proj/dev", "acme"), "other/proj/dev");
            assert.strictEqual(stackReferenceName("organization/dev", "acme"), "organization/dev");
        });
        it("Unity Catalog keys only with unity-catalog; workspace keys only without another host", () => {
            for (const key of ["catalog", "devSchema", "prdSchema"]) {
                assert.deepStrictEqual(problems(registry({ kind: "databricks", [key]: "abc" })), [`mlflow-platform:registry.${key} = "abc" is not allowed: it only applies with registry.kind unity-catalog: remove it`]);
            }
            const workspaceOnly = "only applies in the stack whose own workspace holds a unity-catalog registry (no host, no hostFromStack): remove it";
            assert.deepStrictEqual(problems(registry({ kind: "databricks", databricksAccountId: GUID })), [`mlflow-platform:registry.databricksAccountId = "${GUID}" is not allowed: it ${workspaceOnly}`]);
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", hostFromStack: "a/b/c", registrationRunAs: GUID })), [`mlflow-platform:registry.registrationRunAs = "${GUID}" is not allowed: it ${workspaceOnly}`]);
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", host: "https://adb-1.7.azuredatabricks.net", databricksAccountId: GUID })), [`mlflow-platform:registry.databricksAccountId = "${GUID}" is not allowed: it ${workspaceOnly}`]);
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", databricksAccountId: GUID, registrationRunAs: "ann@example.com" })), []);
        });
        it("catalog and schema names: 1-255 of letters, digits, '_' and '-', lowercase, not the metastore's own", () => {
            const rule = (what: string) => `must be a Unity Catalog ${what} name: 1-255 lowercase letters, digits, '_' or '-' (no '.', space or '/')`;
            for (const name of ["a", "_x", "9-lives", "a".repeat(255)]) assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", catalog: name })), [], name);
            for (const name of ["", "-a", "a b", "a/b", "a".repeat(256)]) {
                assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", catalog: name })), [`mlflow-platform:registry.catalog = ${displayValue(name)} is not allowed: it ${rule("catalog")}`], name);
            }
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", devSchema: "a.b" })), [`mlflow-platform:registry.devSchema = "a.b" is not allowed: it ${rule("schema")}`]);
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", prdSchema: "Live" })), ['mlflow-platform:registry.prdSchema = "Live" is not allowed: it must be lowercase: Unity Catalog stores names in lowercase, so write live']);
            for (const name of ["hive_metastore", "system", "samples", "__databricks_internal"]) {
                assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", catalog: name })), [
                    `mlflow-platform:registry.catalog = "${name}" is not allowed: it is a catalog Unity Catalog keeps for itself (hive_metastore, system, samples, __databricks_internal): choose another name`,
                ]);
            }
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", devSchema: "system" })), [], "a schema may be called system");
        });
        it("the two schemas must differ, written or by default", () => {
            const same = "is the prd schema too: data scientists register in the dev schema and only deployers own the prd schema, so they must differ";
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", devSchema: "prd" })), [`mlflow-platform:registry.devSchema = "prd" is not allowed: it ${same}`]);
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", devSchema: "x", prdSchema: "x" })), [`mlflow-platform:registry.devSchema = "x" is not allowed: it ${same}`]);
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", prdSchema: "dev" })), ['mlflow-platform:registry.prdSchema = "dev" is not allowed: it is the dev schema\'s default name: the two schemas must differ']);
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", devSchema: "sandbox", prdSchema: "dev" })), [], "dev is free once devSchema is another name");
            assert.deepStrictEqual(problems(registry({ kind: "unity-catalog", devSchema: "dev", prdSchema: "live" })), []);
            const config = parsed(registry({ kind: "unity-catalog", devSchema: "sandbox", prdSchema: "live" }));
            assert.deepStrictEqual([config.registry.devSchema, config.registry.prdSchema], ["sandbox", "live"]);
        });
    });

    describe("models", () => {
        it("service names: 1-24 characters, a letter first, no '-' last, no '--'", () => {
            for (const name of ["a", "a1", "a-b", `a${"b".repeat(23)}`]) assert.deepStrictEqual(problems({ models: [model({ name })] }), [], name);
            const rule = "must be 1-24 lowercase letters, digits or '-', starting with a letter and not ending with '-'";
            for (const name of ["", "1a", "a-", `a${"b".repeat(24)}`, "A", "a_b"]) {
                assert.deepStrictEqual(problems({ models: [model({ name })] }), [`mlflow-platform:models[0].name = ${JSON.stringify(name)} is not allowed: it ${rule}`], name);
            }
            assert.deepStrictEqual(problems({ models: [model({ name: "a--b" })] }), [
                'mlflow-platform:models[0].name = "a--b" is not allowed: it must not contain "--": Azure Container Apps reserves it to separate an app\'s name from a revision\'s suffix',
            ]);
        });
        it("a duplicate service name is named at its second use", () => {
            assert.deepStrictEqual(problems({ models: [model(), model({ name: "churn" }), model({ memoryGb: 3 })] }), ['mlflow-platform:models[2].name = "fraud" is not allowed: it is used by another model entry: service names must be unique']);
        });
        it("models of another catalog than registry.catalog are refused with the fix", () => {
            assert.deepStrictEqual(problems({ models: [model({ model: "other.risk.fraud" })] }), [
                'mlflow-platform:models[0].model = "other.risk.fraud" is not allowed: it is in catalog other, but registry.catalog is main: write it as main.risk.fraud, or change registry.catalog',
            ]);
        });
        it("prd serves models of registry.prdSchema only", () => {
            const prd = (m: string, registry: Record<string, unknown> = { kind: "unity-catalog", catalog: "main" }) => ({ environment: "prd", registry, serving: apps, models: [model({ model: m })] });
            assert.deepStrictEqual(problems(prd("main.prd.fraud")), []);
            assert.deepStrictEqual(problems(prd("main.risk.fraud")), [
                "mlflow-platform:models[0].model = \"main.risk.fraud\" is not allowed: it is in schema risk, but prd serves only models in the deployers' schema registry.prdSchema (prd), where only a promotion puts versions: write it as main.prd.fraud",
            ]);
            assert.deepStrictEqual(problems(prd("main.live.fraud", { kind: "unity-catalog", catalog: "main", prdSchema: "live" })), []);
            assert.deepStrictEqual(problems({ ...prd("fraud", { kind: "mlflow" }) }), [], "other registries have no schemas");
        });
        it("Unity Catalog needs a catalog once models are listed, and premium", () => {
            assert.deepStrictEqual(problems({ registry: { kind: "unity-catalog" } }), [
                "mlflow-platform:registry.catalog is not set: it must name the Unity Catalog catalog the models live in (models are catalog.schema.model), such as mlplatform: there is no default catalog to assume",
            ]);
            assert.deepStrictEqual(problems({ databricksSku: "trial" }), [
                'mlflow-platform:databricksSku = "trial" is not allowed: it cannot hold a Unity Catalog registry (registry.kind unity-catalog needs premium): use premium',
            ]);
            assert.deepStrictEqual(problems({ databricksSku: "trial", registry: { kind: "databricks" }, models: [model({ model: "fraud", alias: undefined, version: "3" })] }), []);
        });
        it("a canary: another selector than the stable one, on Container Apps only", () => {
            assert.deepStrictEqual(parsed(onApps({ canary: { version: "9", weight: "10" } })).models[0].canary, { selector: { version: "9" }, weight: 10 });
            assert.strictEqual(parsed(onApps()).models[0].canary, undefined);
            assert.deepStrictEqual(problems(onApps({ canary: { alias: "champion", weight: 10 } })), [
                'mlflow-platform:models[0].canary = {"alias":"champion","weight":10} is not allowed: it selects the same as the model\'s own selector: a canary needs another version',
            ]);
            assert.deepStrictEqual(problems({ models: [model({ canary: { version: "9", weight: 10 } })] }), [
                'mlflow-platform:models[0].canary = {"version":"9","weight":10} is not allowed: it only applies with serving.platform containerapp (this stack serves on aci): remove it, or set serving.platform: containerapp',
            ]);
        });
        it("a pinned version up to 2^53-1 is exact; beyond, it must be quoted", () => {
            assert.deepStrictEqual(parsed({ models: [model({ alias: undefined, version: Number.MAX_SAFE_INTEGER })] }).models[0].selector, { version: String(Number.MAX_SAFE_INTEGER) });
            assert.deepStrictEqual(problems({ models: [model({ alias: undefined, version: 2 ** 53 })] }), [
                "mlflow-platform:models[0].version = 9007199254740992 is not allowed: it is larger than 9007199254740991, the largest whole number a stack file passes to the program exactly: check the version, and write it in quotes",
            ]);
            assert.ok(problems(onApps({ canary: { version: 2 ** 60, weight: 5 } }))[0].startsWith("mlflow-platform:models[0].canary.version = 1152921504606847000 is not allowed: it is larger than 9007199254740991"));
        });
        it("Container Apps-only model keys are refused on ACI, each named", () => {
            assert.deepStrictEqual(problems({ models: [model({ minReplicas: 1, maxReplicas: 2, concurrentRequests: 5 })] }), [
                "mlflow-platform:models[0].minReplicas = 1 is not allowed: it only applies with serving.platform containerapp (this stack serves on aci): remove it, or set serving.platform: containerapp",
                "mlflow-platform:models[0].maxReplicas = 2 is not allowed: it only applies with serving.platform containerapp (this stack serves on aci): remove it, or set serving.platform: containerapp",
                "mlflow-platform:models[0].concurrentRequests = 5 is not allowed: it only applies with serving.platform containerapp (this stack serves on aci): remove it, or set serving.platform: containerapp",
            ]);
        });
    });

    describe("serving", () => {
        it("IPv4 addresses and CIDR ranges: each octet 0-255, a prefix 0-32", () => {
            const list = (entry: string) => onApps({}, { ipAllowList: [entry] });
            for (const entry of ["0.0.0.0/0", "255.255.255.255", "20.50.0.0/16", "20.50.1.1/32", "199.249.200.0/9"]) assert.deepStrictEqual(problems(list(entry)), [], entry);
            for (const entry of ["256.0.0.1", "1.2.3", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4 ", "::1", "1.2.3.4/24x"]) {
                assert.deepStrictEqual(problems(list(entry)), [`mlflow-platform:serving.ipAllowList[0] = ${JSON.stringify(entry)} is not allowed: it must be an IPv4 address or CIDR range, such as 203.0.113.0/24`], entry);
            }
        });
        it("warnings: ACI with models is anonymous; placeholders only in an external prd allow-list", () => {
            // The registry stack's notice about access.readers is pinned in tests/unityCatalog.test.ts.
            const others = (w: readonly string[]) => w.filter((x) => !x.startsWith("mlflow-platform:access.readers is empty"));
            assert.strictEqual(others(parsed().warnings).length, 1);
            assert.match(others(parsed().warnings)[0], /^mlflow-platform:serving\.platform = "aci": its endpoints are anonymous plain HTTP/);
            assert.deepStrictEqual(others(parsed({ models: [] }).warnings), [], "nothing served, nothing exposed");
            assert.deepStrictEqual(others(parsed(onApps({}, { ipAllowList: ["10.0.0.0/8"] })).warnings), [], "dev allow-lists are not checked for placeholders");
        });
        it("Container Apps-only serving keys on ACI are refused each with the fix", () => {
            assert.deepStrictEqual(problems({ serving: { platform: "aci", containerRegistrySku: "Basic", ingress: "internal", maxInactiveRevisions: 2 } }), [
                'mlflow-platform:serving.ingress = "internal" is not allowed: it only applies with serving.platform containerapp (this stack serves on aci, which has no access control, revisions or logs workspace): remove it, or set serving.platform: containerapp',
                "mlflow-platform:serving.maxInactiveRevisions = 2 is not allowed: it only applies with serving.platform containerapp (this stack serves on aci, which has no access control, revisions or logs workspace): remove it, or set serving.platform: containerapp",
            ]);
        });
        it("prd on ACI is refused", () => {
            assert.deepStrictEqual(problems({ environment: "prd", models: [model({ model: "main.prd.fraud" })] }), [
                'mlflow-platform:serving.platform = "aci" is not allowed: it would serve prd anonymously over plain HTTP (Azure Container Instances has no authentication): use containerapp, which accepts only Entra tokens with the Scoring.Invoke role',
            ]);
        });
    });

    describe("the stack's name decides its environment", () => {
        it("prd and names ending in -prd are prd; any other name is dev", () => {
            const prd = { environment: "prd", models: [model({ model: "main.prd.fraud" })], serving: apps };
            assert.deepStrictEqual(problems(prd, "eu-prd"), []);
            assert.strictEqual(problems(prd, "prd-eu").length, 1);
            assert.strictEqual(problems(prd, "prod").length, 1);
            assert.deepStrictEqual(problems({}, "staging"), []);
            assert.strictEqual(problems({}, "eu-prd").length, 1);
        });
    });

    describe("keys nothing reads", () => {
        it("a key in the wrong map says where it belongs", () => {
            assert.deepStrictEqual(problems({ models: [model({ storageSku: "Standard_LRS" })] }), ["mlflow-platform:models[0].storageSku is not read here: storageSku belongs in the top level, as mlflow-platform:storageSku"]);
            assert.deepStrictEqual(problems({ serving: { platform: "aci", containerRegistrySku: "Basic", catalog: "main" } }), ["mlflow-platform:serving.catalog is not read here: catalog belongs in mlflow-platform:registry"]);
            assert.deepStrictEqual(problems({ memoryGb: 2 }), ["mlflow-platform:memoryGb is not read here: memoryGb belongs in each entry of models"]);
            assert.deepStrictEqual(problems({ models: [model({ canary: { version: "9", weight: 5, cpu: 2 } })], serving: apps }), ["mlflow-platform:models[0].canary.cpu is not read here: cpu belongs in each entry of models"]);
            assert.deepStrictEqual(problems({ access: { dataScientists: [principal({ deployers: [] })] } }), ["mlflow-platform:access.dataScientists[0].deployers is not read here: deployers belongs in mlflow-platform:access"]);
        });
        it("a key close to one of its map's is a probable typo, in any case", () => {
            assert.deepStrictEqual(problems({ models: [model({ Workers: 2 })] }), ["mlflow-platform:models[0].Workers is not a setting this program reads (probable typo): did you mean mlflow-platform:models[0].workers?"]);
            assert.deepStrictEqual(problems({ access: { dataScientists: [principal({ objectID: GUID, objectId: undefined })] } }).filter((p) => p.includes("objectID")), [
                "mlflow-platform:access.dataScientists[0].objectID is not a setting this program reads (probable typo): did you mean mlflow-platform:access.dataScientists[0].objectId?",
            ]);
        });
        it("a key far from all lists what its map takes", () => {
            assert.deepStrictEqual(problems({ serving: { platform: "aci", containerRegistrySku: "Basic", zzz: 1 } }), [
                "mlflow-platform:serving.zzz is not a setting this program reads: serving takes platform, containerRegistrySku, ingress, ipAllowList, logRetentionDays, maxInactiveRevisions, payloadLog, requireGuardedRollout",
            ]);
            const top = problems({ zzzzzz: 1 });
            assert.strictEqual(top.length, 1);
            assert.ok(top[0].startsWith("mlflow-platform:zzzzzz is not a setting this program reads: the project's keys are azure-native:location, environment,") || top[0].startsWith("mlflow-platform:zzzzzz is not a setting this program reads: the project's keys are environment,"), top[0]);
            assert.ok(!top[0].includes("registryToken"), "secret keys are not offered as settings");
        });
        it("a key that looks like a secret is pointed to the secret it probably is", () => {
            assert.deepStrictEqual(problems({ registry: { kind: "unity-catalog", catalog: "main", password: "x" } }), [
                "mlflow-platform:registry.password is not a setting this program reads, and a secret never belongs in a stack file: remove it and set it with `pulumi config set --secret registryPassword <value>`",
            ]);
            assert.deepStrictEqual(problems({ models: [model({ apiKey: "x" })] }), [
                "mlflow-platform:models[0].apiKey is not a setting this program reads, and a secret never belongs in a stack file: remove it and set it with `pulumi config set --secret registryToken <value>`",
            ]);
            assert.deepStrictEqual(problems({ registry: { kind: "unity-catalog", catalog: "main", registryUsername: "x" } }), [
                "mlflow-platform:registry.registryUsername is not a setting this program reads, and a secret never belongs in a stack file: remove it and set it with `pulumi config set --secret registryUsername <value>`",
            ]);
        });
        it("secret keys must be encrypted, and are never shown", () => {
            assert.deepStrictEqual(problems({ registryUsername: "ann", registryPassword: "hunter22" }, undefined, (k) => k === "mlflow-platform:registryUsername"), [
                "mlflow-platform:registryPassword is stored in plain text: remove it from the stack file and set it with `pulumi config set --secret registryPassword <value>`",
            ]);
            const config = parsePlatformConfig(raw({ registryToken: "tok", registryUsername: "" }), "dev", "mlflow-platform", () => true);
            assert.ok(config.registryCredentials.token, "a set secret becomes an output");
            assert.strictEqual(config.registryCredentials.username, undefined, "an empty one is unset");
            assert.strictEqual(config.registryCredentials.password, undefined);
        });
        it("other namespaces: provider keys checked, the engine's skipped, typos named", () => {
            assert.deepStrictEqual(problems({ "pulumi:tags": "{}", "azure-native:subscriptionId": "s", "docker-build:host": "h" }), []);
            assert.deepStrictEqual(problems({ "azure-native:subscriptionID": "s" }), ["azure-native:subscriptionID is not a setting of the azure-native provider (probable typo): did you mean azure-native:subscriptionId?"]);
            assert.deepStrictEqual(problems({ "docker-build:zzzzzz": "s" }), ["docker-build:zzzzzz is not a setting of the docker-build provider, so it would be ignored: it takes host, registries"]);
            assert.deepStrictEqual(problems({ "azure-natve:location": "westeurope" }), ["azure-natve:location has a misspelt namespace, so nothing reads it: did you mean azure-native:location?"]);
            assert.deepStrictEqual(problems({ "MLflow_Platform:protect": "true" }), ["MLflow_Platform:protect has a misspelt namespace, so nothing reads it: did you mean mlflow-platform:protect?"]);
            assert.deepStrictEqual(problems({ "mlflow-platfrom:apiToken": "x" }), [
                "mlflow-platfrom:apiToken has a misspelt namespace (mlflow-platfrom), and a secret never belongs in a stack file: remove it and set it with `pulumi config set --secret registryToken <value>`",
            ]);
            assert.deepStrictEqual(problems({ "kubernetes:context": "x" }), [
                "kubernetes:context is under the namespace kubernetes, which nothing in this program reads (it reads mlflow-platform, azure-native, docker-build, azuread, pulumi): remove it",
            ]);
            assert.deepStrictEqual(problems({ "azure-native:clientSecret": "s" }, undefined, (k) => k === "azure-native:clientSecret"), []);
        });
    });

    describe("the error", () => {
        it("counts its problems, one per line", () => {
            const one = new ConfigError("dev", ["a"]);
            assert.strictEqual(one.message, 'Invalid configuration for stack "dev" (1 problem):\n  - a');
            assert.strictEqual(one.name, "ConfigError");
            assert.strictEqual(new ConfigError("prd", ["a", "b"]).message, 'Invalid configuration for stack "prd" (2 problems):\n  - a\n  - b');
        });
        it("reports a problem found by two checks once", () => {
            const found = problems({ environment: "qa" });
            assert.deepStrictEqual(found, ['mlflow-platform:environment = "qa" is not allowed: it must be one of: dev, prd']);
        });
    });
});

describe("config message texts", () => {
    it("finds credentials in URLs, every time it is asked, and hides every one", () => {
        const text = "see https://ann:tok@a.example.com/x and git+ssh://bob@b.example.com";
        assert.strictEqual(hasUrlCredentials(text), true);
        assert.strictEqual(hasUrlCredentials(text), true, "a second look finds them too");
        assert.strictEqual(hasUrlCredentials("HTTPS://ANN:TOK@A.EXAMPLE.COM"), true);
        assert.strictEqual(hasUrlCredentials("https://a.example.com/x@y"), false, "an @ in the path is not a credential");
        assert.strictEqual(hasUrlCredentials("mail ann@example.com"), false);
        assert.strictEqual(redactUrlCredentials(text), "see https://***@a.example.com/x and git+ssh://***@b.example.com");
        assert.strictEqual(redactUrlCredentials("https://a.example.com/x@y"), "https://a.example.com/x@y");
    });

    it("shows a URL in a text as scheme and host only, and a value that is one URL cut at its host even with a space in it", () => {
        assert.strictEqual(
            redactUrls("see https://ann:tok@h.example.com/p?q=1 and git+ssh://x.example.com or http://y.example.com/"),
            "see https://…@h.example.com/… and git+ssh://x.example.com or http://y.example.com/",
        );
        assert.strictEqual(redactUrls('a "https://h.example.com/x?t=1" b'), 'a "https://h.example.com/…" b', "a quote ends a URL");
        assert.strictEqual(redactUrls("https://a b.example.com/?t=abc"), "https://a b.example.com/…", "one URL with a space: the query is not shown");
        assert.strictEqual(redactUrls("  https://h.example.com/x?t=1"), "https://h.example.com/…", "leading blanks before the one URL");
        assert.strictEqual(redactUrls("no URL here: a/b?c"), "no URL here: a/b?c");
    });

    // Each rule of looksLikeSecret on its own: every value below is caught (or let through) by one rule only.
    it("tells credentials from names and ids, by one rule each", () => {
        const secrets: [string, string][] = [
            ["dapi0123456789abcdef0123456789abcdef", "a Databricks token (no capital, so only its prefix says so)"],
            ["  dapi0123456789abcdef  ", "blanks around it are not part of it"],
            ["ghp_abcdefghijklmnop", "a GitHub token"],
            ["xoxb-1234567890ab", "a Slack token"],
            ["AKIAABCDEFGHIJKL", "an AWS key id, 16 characters"],
            ["eyJabcdefghij.klm", "a JWT's start"],
            ["eyJabcdefghijkl.+", "a JWT's header and a dot"],
            ["abc8Q~abcdefghijklmnopqrst", "an Entra client secret's shape, shorter than the tilde rule"],
            ["some~thing~that~is~thirty~char", "a tilde in 30 characters"],
            ["Abcdefghijklmnopqrstuvwxyz012345", "32 letters and digits of three kinds"],
            ["x0f8fAD5b-d9cb-469f-a165-70867728950e", "a GUID with more in front is no GUID"],
            ["0f8fAD5b-d9cb-469f-a165-70867728950eX", "a GUID with more behind is no GUID"],
            ["dapiuser12345@x@example.com", "two @ make no e-mail address"],
            ["dapiuser12345@example.com@x", "an address ends the text"],
        ];
        for (const [text, why] of secrets) assert.strictEqual(looksLikeSecret(text), true, `${text}: ${why}`);
        const plain: [string, string][] = [
            ["ghp_abcdefghijk", "15 characters are too short for anything"],
            ["ghp_abcdefgh ijklmnop", "a blank: a phrase"],
            ["ghp_abc!defghijklmnop", "a prefix needs 8 token characters after it"],
            ["mydapi0123456789abcdef", "a prefix counts only at the start"],
            ["xoxz-1234567890abc", "not a Slack token kind"],
            ["xeyJabcdefghij.klm", "a JWT starts the text"],
            ["eyJabcdefghijklmnop", "a JWT has a dot"],
            ["eyJabcdefg!.klmnopq", "a JWT's header is token characters"],
            ["abcdQ~abcdefghijklmnopqrst", "no digit before Q~, and under 30 characters"],
            ["xabc8Q~abcdefghijklmnopqrst", "an Entra secret starts the text"],
            ["abc8Q~abcdefghijklmnopqrst!", "an Entra secret is token characters to its end"],
            ["abc8Q~abcdefghijklmn!pqrst", "an Entra secret is token characters after Q~"],
            ["some~thing~that~is~thirty~ch", "a tilde in 29 characters"],
            ["Abcdefghijklmnopqrstuvwxyz01234", "31 characters of three kinds"],
            ["ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "no small letter: two kinds"],
            ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", "no digit: two kinds"],
            ["abcdefghijklmnopqrstuvwxyz012345", "no capital: two kinds"],
            ["Abcdefghijklmnopqrstuvwxyz01234!", "a character no token has"],
            ["!Abcdefghijklmnopqrstuvwxyz01234", "a character no token has, in front"],
            ["0f8fAD5b-d9cb-469f-a165-70867728950e", "a GUID in mixed case"],
            ["dapiuser12345@example.com", "an e-mail address"],
        ];
        for (const [text, why] of plain) assert.strictEqual(looksLikeSecret(text), false, `${text}: ${why}`);
    });

    it("finds a secret anywhere in a value and shows it as a fixed text", () => {
        assert.strictEqual(holdsSecret({ a: ["x", { b: "dapi0123456789abcdef" }] }), true);
        assert.strictEqual(holdsSecret({ a: ["x", { b: "a-name" }], c: 1 }), false);
        assert.strictEqual(HIDDEN_SECRET, "(not shown: it looks like a secret)");
        assert.strictEqual(displayValue(["ok", "dapi0123456789abcdef"]), '["ok",(not shown: it looks like a secret)]');
    });

    it("lists every string with its path", () => {
        assert.deepStrictEqual(stringLeaves({ a: "x", b: [1, "y", { c: "z" }], d: null, e: true }), [
            { path: ["a"], text: "x" },
            { path: ["b", 1], text: "y" },
            { path: ["b", 2, "c"], text: "z" },
        ]);
        assert.deepStrictEqual(stringLeaves("top"), [{ path: [], text: "top" }]);
    });

    it("shows values as YAML and JSON write them, secrets hidden, long ones cut at 160 characters", () => {
        assert.strictEqual(displayValue(Number.NaN), ".nan");
        assert.strictEqual(displayValue(Infinity), ".inf");
        assert.strictEqual(displayValue(-Infinity), "-.inf");
        assert.strictEqual(displayValue(1.5), "1.5");
        assert.strictEqual(displayValue(BigInt(12)), "12");
        assert.strictEqual(displayValue(undefined), "(unset)");
        assert.strictEqual(displayValue(null), "null");
        assert.strictEqual(displayValue(false), "false");
        assert.strictEqual(displayValue({ a: [1, "https://u:p@h"], b: { c: Number.NaN } }), '{"a":[1,"https://…@h"],"b":{"c":.nan}}');
        const exact = "x".repeat(158);
        assert.strictEqual(displayValue(exact), `"${exact}"`, "160 characters are shown whole");
        const long = displayValue("x".repeat(159));
        assert.strictEqual(long, `"${"x".repeat(158)}…`);
        assert.strictEqual(long.length, 160);
    });

    it("edit distance counts inserts, deletes, changes and swaps of neighbours as one each", () => {
        assert.strictEqual(editDistance("", ""), 0);
        assert.strictEqual(editDistance("abc", ""), 3);
        assert.strictEqual(editDistance("", "abc"), 3);
        assert.strictEqual(editDistance("abc", "abc"), 0);
        assert.strictEqual(editDistance("abc", "abd"), 1);
        assert.strictEqual(editDistance("abc", "acb"), 1, "a swap");
        assert.strictEqual(editDistance("abcd", "badc"), 2, "two swaps");
        assert.strictEqual(editDistance("ca", "abc"), 3, "optimal string alignment, not full Damerau");
        assert.strictEqual(editDistance("kitten", "sitting"), 3);
        assert.strictEqual(editDistance("ab", "ba"), 1);
        assert.strictEqual(editDistance("a", "ab"), 1);
    });

    it("suggests a candidate only within 1 edit up to 4 letters, 2 up to 10, 3 beyond; the closest; any case", () => {
        assert.strictEqual(closeMatch("spu", ["sku"]), "sku");
        assert.strictEqual(closeMatch("sxx", ["sku"]), undefined);
        assert.strictEqual(closeMatch("abcd", ["abxy"]), undefined, "4 letters: one edit only");
        assert.strictEqual(closeMatch("abcde", ["abxye"]), "abxye", "5 letters: two edits");
        assert.strictEqual(closeMatch("abcdefghij", ["abcdefgxyz"]), undefined, "10 letters: not three");
        assert.strictEqual(closeMatch("abcdefghij", ["abcdefghxy"]), "abcdefghxy");
        assert.strictEqual(closeMatch("abcdefghijk", ["abcdefghxyz"]), "abcdefghxyz", "11 letters: three");
        assert.strictEqual(closeMatch("abcdefghijk", ["abcdefgwxyz"]), undefined);
        assert.strictEqual(closeMatch("PROTECT", ["protect"]), "protect");
        assert.strictEqual(closeMatch("protekt", ["Protect"]), "Protect", "the candidate as written");
        assert.strictEqual(closeMatch("workerz", ["workersx", "workers"]), "workers", "the closest, not the first");
        assert.strictEqual(closeMatch("worker", ["workers", "workerz"]), "workers", "the first of equally close ones");
        assert.strictEqual(closeMatch("x", []), undefined);
    });
    // serving.payloadLog and models[].payloadLog (serving/payload_log.py reads what they become).
    describe("the payload log", () => {
        it("defaults: every request in dev, a tenth in prd; 30 and 90 days; a model takes the stack's rate", () => {
            const dev = parsed(onApps());
            assert.deepStrictEqual(dev.serving.payloadLog, { sampleRate: 1, retentionDays: 30 });
            assert.deepStrictEqual(dev.models[0].payloadLog, { sampleRate: 1, excludeColumns: [] });
            const prd = parsed({ environment: "prd", registry: { kind: "unity-catalog", catalog: "main", prdSchema: "risk" }, ...onApps({ minReplicas: 1 }) }, "prd");
            assert.deepStrictEqual(prd.serving.payloadLog, { sampleRate: 0.1, retentionDays: 90 });
            assert.deepStrictEqual(prd.models[0].payloadLog, { sampleRate: 0.1, excludeColumns: [] });
        });

        it("a model's own rate and deny-list win; Pulumi's strings are read as numbers", () => {
            const config = parsed(onApps({ payloadLog: { sampleRate: "0.25", excludeColumns: ["email", "iban"] } }, { payloadLog: { sampleRate: 0.5, retentionDays: "7" } }));
            assert.deepStrictEqual(config.serving.payloadLog, { sampleRate: 0.5, retentionDays: 7 });
            assert.deepStrictEqual(config.models[0].payloadLog, { sampleRate: 0.25, excludeColumns: ["email", "iban"] });
            assert.deepStrictEqual(parsed(onApps({ payloadLog: { sampleRate: 0 } })).models[0].payloadLog, { sampleRate: 0, excludeColumns: [] }, "0 is off");
            assert.strictEqual(parsed(onApps({}, { payloadLog: { sampleRate: 1 } })).serving.payloadLog.sampleRate, 1, "bound included");
        });

        it("a rate outside 0-1, a bad retention, a bad deny-list: each names its key", () => {
            const rate = "must be a number from 0 to 1 (the share of requests logged: 0 is none, 1 is every request)";
            for (const value of [1.5, -0.1, "-0.1", "half", "1e-1"]) {
                assert.deepStrictEqual(problems(onApps({}, { payloadLog: { sampleRate: value } })), [`mlflow-platform:serving.payloadLog.sampleRate = ${JSON.stringify(value)} is not allowed: it ${rate}`], String(value));
                assert.deepStrictEqual(problems(onApps({ payloadLog: { sampleRate: value } })), [`mlflow-platform:models[0].payloadLog.sampleRate = ${JSON.stringify(value)} is not allowed: it ${rate}`], String(value));
            }
            assert.deepStrictEqual(problems(onApps({}, { payloadLog: { retentionDays: 0 } })), ["mlflow-platform:serving.payloadLog.retentionDays = 0 is not allowed: it must be a whole number from 1 to 3650"]);
            assert.deepStrictEqual(problems(onApps({ payloadLog: { excludeColumns: "email" } })), [
                'mlflow-platform:models[0].payloadLog.excludeColumns = "email" is not allowed: it must be a list of input column names never to log (personal data), such as [email, iban]',
            ]);
            assert.deepStrictEqual(problems(onApps({ payloadLog: { excludeColumns: ["email", ""] } })), ['mlflow-platform:models[0].payloadLog.excludeColumns[1] = "" is not allowed: it must be an input column name, not empty']);
            assert.deepStrictEqual(problems(onApps({ payloadLog: { excludeColumns: ["email", "iban", "email"] } })), ['mlflow-platform:models[0].payloadLog.excludeColumns[2] = "email" is not allowed: it is listed twice: name each column once']);
            assert.strictEqual(problems(onApps({ payloadLog: { exclude: ["email"] } })).length, 1);
            assert.match(problems(onApps({ payloadLog: { exclude: ["email"] } }))[0], /^mlflow-platform:models\[0\]\.payloadLog\.exclude is not a setting this program reads/);
        });
    });
});
