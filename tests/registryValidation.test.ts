// The model reference checks every entry point shares (the ModelVersion provider's check, promote,
// rollback, the plan): which names and selectors are refused before any request, and the reason
// given. Config validation refuses most of these earlier, so these tests call the checks directly.
import * as assert from "assert";
import { checkModelName, parseSelector, type SelectorFields } from "../lib/registry/validation";
import { modelUri, REGISTRY_KINDS, type RegistryKind } from "../lib/registry/types";

const EMPTY = [{ field: "model", reason: "the registered model name is empty" }];
const unusable = (name: string) => [
    { field: "model", reason: `"${name}" is not a usable MLflow model name: 1-256 characters without '/', quotes, control characters or surrounding spaces` },
];
const notUnityCatalog = (name: string) => [
    { field: "model", reason: `"${name}" is not a Unity Catalog model name: use three parts, catalog.schema.model, each of letters, digits, '_' or '-'` },
];

describe("registry kinds and model URIs", () => {
    it("the registry kinds are mlflow, databricks and unity-catalog, in that order (as messages list them)", () => {
        assert.deepStrictEqual(REGISTRY_KINDS, ["mlflow", "databricks", "unity-catalog"]);
    });

    it("a registered version's URI is models:/<name>/<version>, as MLflow loads it", () => {
        assert.strictEqual(modelUri("main.risk.fraud", "3"), "models:/main.risk.fraud/3");
    });
});

describe("registry reference checks: model names", () => {
    for (const kind of ["mlflow", "databricks", "unity-catalog"] as RegistryKind[]) {
        it(`${kind}: a missing, empty or blank name is "empty"`, () => {
            for (const name of [undefined, 42, "", "   ", "\t"]) assert.deepStrictEqual(checkModelName(kind, name), EMPTY, JSON.stringify(name));
        });
    }

    for (const kind of ["mlflow", "databricks"] as RegistryKind[]) {
        it(`${kind}: accepts names up to 256 characters with dots, dashes and spaces inside`, () => {
            for (const name of ["fraud", "fraud-model_1.v2", "fraud model", "a".repeat(256)]) assert.deepStrictEqual(checkModelName(kind, name), [], name);
        });

        it(`${kind}: refuses surrounding spaces, over 256 characters, '/', quotes and control characters`, () => {
            for (const name of [" fraud", "fraud ", "a".repeat(257), "team/fraud", "it's", "a\u0000b", "a\u0001b", "a\u001fb", "line\nbreak"]) {
                assert.deepStrictEqual(checkModelName(kind, name), unusable(name), JSON.stringify(name));
            }
        });
    }

    it("unity-catalog: accepts catalog.schema.model of letters, digits, '_' and '-' (not leading '-')", () => {
        for (const name of ["main.ml.fraud", "ml_prod.models_2.fraud-v2", "_c.s.m", "1.2.3"]) assert.deepStrictEqual(checkModelName("unity-catalog", name), [], name);
    });

    it("unity-catalog: refuses two or four parts, an empty part, and any one part with other characters", () => {
        for (const name of ["main.fraud", "a.b.c.d", "main..fraud", "main.ml.fr aud", "main.ml.-fraud", "ma/in.ml.fraud", "main.m'l.fraud", "fraud"]) {
            assert.deepStrictEqual(checkModelName("unity-catalog", name), notUnityCatalog(name), name);
        }
    });
});

describe("registry reference checks: selectors", () => {
    const reason = (kind: RegistryKind, fields: SelectorFields) => {
        const result = parseSelector(kind, fields);
        assert.strictEqual(result.selector, undefined, `no selector when refused: ${JSON.stringify(fields)}`);
        assert.strictEqual(result.problems.length, 1);
        return result.problems[0];
    };
    const selector = (kind: RegistryKind, fields: SelectorFields) => {
        const result = parseSelector(kind, fields);
        assert.deepStrictEqual(result.problems, [], JSON.stringify(fields));
        return result.selector;
    };

    it("needs exactly one of alias, stage, version, latest; latest: false counts as unset", () => {
        assert.deepStrictEqual(reason("mlflow", {}), { field: "selector", reason: "no selector: set exactly one of alias, stage, version or latest: true" });
        assert.deepStrictEqual(reason("mlflow", { latest: false }), { field: "selector", reason: "no selector: set exactly one of alias, stage, version or latest: true" });
        assert.deepStrictEqual(reason("mlflow", { alias: "champion", version: 3 }), {
            field: "selector",
            reason: "alias and version are all set: set exactly one of alias, stage, version or latest: true",
        });
        assert.deepStrictEqual(reason("mlflow", { stage: "Production", version: 1, latest: true }).reason, "stage and version and latest are all set: set exactly one of alias, stage, version or latest: true");
        assert.deepStrictEqual(selector("mlflow", { alias: "champion", latest: false }), { alias: "champion" });
    });

    it("alias: 1-255 letters, digits, '_' or '-', checked over the whole text", () => {
        for (const alias of ["champion", "x-y_z", "A1", "a".repeat(255), "v1x", "xv1", "latest-2"]) assert.deepStrictEqual(selector("mlflow", { alias }), { alias }, alias);
        for (const alias of ["", "a".repeat(256), "champ ion", "!ok", "ok!", "caf\u00e9", 5, true]) {
            assert.deepStrictEqual(reason("mlflow", { alias }), { field: "alias", reason: `alias ${JSON.stringify(alias)} must be 1-255 letters, digits, '_' or '-'` }, String(alias));
        }
    });

    it("alias: 'latest' and v<number> are MLflow's own, in any case", () => {
        for (const alias of ["latest", "LATEST", "v1", "V12", "v007"]) {
            assert.deepStrictEqual(reason("unity-catalog", { alias }), {
                field: "alias",
                reason: `alias "${alias}" is reserved by MLflow ("latest" and v<number>): use latest: true for the newest version, version: <n> to pin one`,
            });
        }
    });

    it("alias: the Databricks workspace registry has none; MLflow and Unity Catalog do", () => {
        assert.deepStrictEqual(reason("databricks", { alias: "champion" }).field, "alias");
        assert.match(reason("databricks", { alias: "champion" }).reason, /^the Databricks workspace registry has no aliases \(they need Unity Catalog\)/);
        assert.deepStrictEqual(selector("unity-catalog", { alias: "champion" }), { alias: "champion" });
    });

    it("stage: one of MLflow's four in any case, written back as MLflow spells it; none in Unity Catalog", () => {
        assert.deepStrictEqual(selector("mlflow", { stage: "production" }), { stage: "Production" });
        assert.deepStrictEqual(selector("databricks", { stage: "STAGING" }), { stage: "Staging" });
        assert.deepStrictEqual(selector("mlflow", { stage: "None" }), { stage: "None" });
        assert.deepStrictEqual(selector("mlflow", { stage: "archived" }), { stage: "Archived" });
        for (const stage of ["prod", "", 5, "Production "]) {
            assert.deepStrictEqual(reason("mlflow", { stage }), { field: "stage", reason: `stage ${JSON.stringify(stage)} must be one of None, Staging, Production, Archived` });
        }
        assert.deepStrictEqual(reason("unity-catalog", { stage: "Production" }), {
            field: "stage",
            reason: "Unity Catalog has no stages: select by alias (for example alias: champion), version or latest: true",
        });
    });

    it("version: a whole number from 1 with up to 18 digits, as a number or text, kept as text", () => {
        assert.deepStrictEqual(selector("mlflow", { version: 3 }), { version: "3" });
        assert.deepStrictEqual(selector("unity-catalog", { version: "12" }), { version: "12" });
        assert.deepStrictEqual(selector("mlflow", { version: "9".repeat(18) }), { version: "9".repeat(18) });
        for (const version of [0, "0", "03", -1, 3.5, "3a", "a3", " 3", "1".repeat(19), true, [3], "v3"]) {
            assert.deepStrictEqual(reason("mlflow", { version }), { field: "version", reason: `version ${JSON.stringify(version)} must be a whole number from 1` }, JSON.stringify(version));
        }
    });

    it("latest: only true", () => {
        assert.deepStrictEqual(selector("mlflow", { latest: true }), { latest: true });
        for (const latest of ["true", 1, "yes"]) {
            assert.deepStrictEqual(reason("mlflow", { latest }), { field: "latest", reason: `latest must be true when set, got ${JSON.stringify(latest)}` });
        }
    });
});
