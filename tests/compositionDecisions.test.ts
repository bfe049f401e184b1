// Issue 20: the decisions index.ts used to make inline, as named functions with their own tests:
// which stack holds the registry, where its URL comes from, where registration goes and who runs
// it, and the checks made before any resource.
import * as assert from "assert";
import type { Principal, RegistryConfig } from "../lib/config";
import { missingPrdDeployerProblem } from "../lib/access/deployers";
import { holdsRegistry, registrySchemas, registrySource } from "../lib/registry/placement";
import { databricksPrincipals, missingDatabricksAccountIdProblem, registrationExperiment, registrationJobTarget } from "../lib/registration/placement";

const ACCOUNT = "3f2b8c1e-5d4a-4e6f-9b7c-2a1d0e9f8c7b";
const registry = (overrides: Partial<RegistryConfig> = {}): RegistryConfig => ({ kind: "unity-catalog", catalog: "mlplatform", devSchema: "dev", prdSchema: "prd", ...overrides });
const model = (name: string) => ({ model: name });

describe("which stack holds the registry (lib/registry/placement.ts)", () => {
    it("a unity-catalog registry with a catalog and neither host nor hostFromStack is this stack's own", () => {
        assert.strictEqual(holdsRegistry(registry()), true);
        assert.deepStrictEqual(registrySchemas(registry({ devSchema: "candidates", prdSchema: "served" })), { catalog: "mlplatform", devSchema: "candidates", prdSchema: "served" });
    });

    it("a host, another stack's workspace, another registry kind or no catalog: this stack declares no catalog objects", () => {
        for (const other of [
            registry({ host: "https://adb-1.2.azuredatabricks.net" }),
            registry({ hostFromStack: "organization/mlflow-platform/dev" }),
            registry({ kind: "databricks", catalog: undefined }),
            registry({ kind: "mlflow", catalog: undefined }),
            registry({ kind: "databricks" }),
            registry({ kind: "mlflow" }),
            registry({ catalog: undefined }),
        ]) {
            assert.strictEqual(holdsRegistry(other), false, JSON.stringify(other));
            assert.strictEqual(registrySchemas(other), undefined);
        }
    });

    it("the registry's URL comes from the host, else another stack's output (named for the organization), else this workspace", () => {
        assert.deepStrictEqual(registrySource(registry({ host: "https://adb-1.2.azuredatabricks.net" }), "acme"), { from: "host", host: "https://adb-1.2.azuredatabricks.net" });
        assert.deepStrictEqual(registrySource(registry({ hostFromStack: "organization/mlflow-platform/dev" }), "acme"), { from: "stack", stackName: "acme/mlflow-platform/dev" });
        // Self-managed backends have no organization: the literal word stays.
        assert.deepStrictEqual(registrySource(registry({ hostFromStack: "organization/mlflow-platform/dev" }), undefined), { from: "stack", stackName: "organization/mlflow-platform/dev" });
        assert.deepStrictEqual(registrySource(registry(), "acme"), { from: "own-workspace" });
    });
});

describe("where registration goes and who runs it (lib/registration/placement.ts)", () => {
    it("the stack holding a Unity Catalog registry registers into its dev schema, whatever it serves", () => {
        assert.deepStrictEqual(registrationJobTarget({ registry: registry({ devSchema: "candidates" }), models: [model("mlplatform.prd.fraud")] }), { schema: "mlplatform.candidates" });
    });

    it("a registry elsewhere: no job in this stack", () => {
        assert.strictEqual(registrationJobTarget({ registry: registry({ host: "https://adb-1.2.azuredatabricks.net" }), models: [] }), undefined);
        assert.strictEqual(registrationJobTarget({ registry: registry({ hostFromStack: "organization/mlflow-platform/dev" }), models: [] }), undefined);
    });

    it("this workspace's registry without a catalog: the one schema of the served models, or the reason there is none", () => {
        assert.deepStrictEqual(registrationJobTarget({ registry: registry({ catalog: undefined }), models: [model("main.risk.fraud"), model("main.risk.churn")] }), { schema: "main.risk" });
        assert.match(registrationJobTarget({ registry: registry({ catalog: undefined }), models: [model("main.a.x"), model("main.b.y")] })!.reason!, /several schemas \(main\.a, main\.b\)/);
        assert.match(registrationJobTarget({ registry: registry({ catalog: undefined }), models: [] })!.reason!, /list a model in mlflow-platform:models/);
        // The workspace registry (kind databricks) needs no schema.
        assert.deepStrictEqual(registrationJobTarget({ registry: registry({ kind: "databricks", catalog: undefined }), models: [model("fraud")] }), {});
    });

    it("data scientists run it by their Databricks names; one without a name is left out", () => {
        const principals: Principal[] = [
            { objectId: "a", type: "group", name: "data-scientists" },
            { objectId: "b", type: "user", name: "ana@example.com" },
            { objectId: "c", type: "servicePrincipal", name: ACCOUNT },
            { objectId: "d", type: "user" },
        ];
        assert.deepStrictEqual(databricksPrincipals(principals), [{ groupName: "data-scientists" }, { userName: "ana@example.com" }, { servicePrincipalName: ACCOUNT }]);
        assert.deepStrictEqual(databricksPrincipals([]), []);
    });

    it("runs as the registration principal go to a new experiment path; runs as the owner keep the old one", () => {
        assert.strictEqual(registrationExperiment(true), "/Shared/mlflow-platform/registration-runs");
        assert.strictEqual(registrationExperiment(false), "/Shared/mlflow-platform/registrations");
    });

    it("the registry's stack needs the Databricks account id before any resource, unless a principal is configured or the plan runs", () => {
        const problem = missingDatabricksAccountIdProblem({ project: "mlflow-platform", registry: registry() }, false);
        assert.ok(problem);
        assert.match(problem, /^mlflow-platform:registry\.databricksAccountId is not set: /);
        assert.match(problem, /rule set named after the Databricks account/);
        assert.match(problem, /or name the principal to run as in registry\.registrationRunAs$/);
        assert.strictEqual(missingDatabricksAccountIdProblem({ project: "mlflow-platform", registry: registry() }, true), undefined, "offline: the plan");
        assert.strictEqual(missingDatabricksAccountIdProblem({ project: "mlflow-platform", registry: registry({ databricksAccountId: ACCOUNT }) }, false), undefined);
        assert.strictEqual(missingDatabricksAccountIdProblem({ project: "mlflow-platform", registry: registry({ registrationRunAs: { userName: "ana@example.com" } }) }, false), undefined);
        assert.strictEqual(missingDatabricksAccountIdProblem({ project: "mlflow-platform", registry: registry({ hostFromStack: "organization/mlflow-platform/dev" }) }, false), undefined, "not the registry's stack");
    });
});

describe("prd needs a deployer (lib/access/deployers.ts)", () => {
    const access = (deployers: Principal[]) => ({ dataScientists: [], deployers, scoringClients: [], acceptDataScientistAsDeployer: false });

    it("prd with no deployer listed and a deploying identity Entra ID cannot report: refused, saying what to do", () => {
        const problem = missingPrdDeployerProblem({ project: "mlflow-platform", environment: "prd", access: access([]) }, { offline: false, found: false });
        assert.ok(problem);
        assert.match(problem, /^mlflow-platform:access\.deployers is empty and the deploying identity cannot be found/);
        assert.match(problem, /prd needs a deployer\. Name one \(objectId, type, name\), or deploy with an identity Entra ID reports$/);
    });

    it("a listed deployer, a found identity, dev or the plan: no problem", () => {
        const deployer: Principal = { objectId: ACCOUNT, type: "group", name: "deployers" };
        assert.strictEqual(missingPrdDeployerProblem({ project: "p", environment: "prd", access: access([deployer]) }, { offline: false, found: false }), undefined);
        assert.strictEqual(missingPrdDeployerProblem({ project: "p", environment: "prd", access: access([]) }, { offline: false, found: true }), undefined);
        assert.strictEqual(missingPrdDeployerProblem({ project: "p", environment: "dev", access: access([]) }, { offline: false, found: false }), undefined);
        assert.strictEqual(missingPrdDeployerProblem({ project: "p", environment: "prd", access: access([]) }, { offline: true, found: false }), undefined);
    });
});
