// Issue 20: the layout's one rule, kept by a test. Pulumi resources live in components/<feature>/,
// their plain logic in lib/<feature>/ under the same name; lib/ never imports components/ or the
// policy pack; nothing imports back up a layer (scripts and index.ts sit on top); no import cycles.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "./helpers/fixtures";

/** Component folders whose plain logic is only their config section, with where it is. */
const COMPONENTS_WITHOUT_LIB: Record<string, string> = {
    workspace: "the Databricks workspace's only setting is its tier: lib/config/databricks.ts",
};

const SOURCE_FOLDERS = ["lib", "components", "scripts", "policy", "bench"];

function tsFiles(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) return entry.name === "node_modules" ? [] : tsFiles(full);
        return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : [];
    });
}

/**
 * The project files a file imports (static, `import type`, `export ... from`, dynamic import,
 * require), resolved. `runtime`: leave out `import type` statements, which TypeScript erases.
 */
export function projectImports(file: string, text = fs.readFileSync(file, "utf8"), runtime = false): string[] {
    if (runtime) text = text.replace(/^\s*import\s+type\s[^;]*?\bfrom\s*["'][^"']+["'];?/gms, "");
    const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)["'](\.{1,2}(?:\/[^"']*)?)["']/gm)].map((m) => m[1]);
    return specifiers.flatMap((spec) => {
        const base = path.resolve(path.dirname(file), spec);
        const found = [`${base}.ts`, path.join(base, "index.ts"), base].find((candidate) => fs.existsSync(candidate) && fs.statSync(candidate).isFile());
        return found ? [found] : [];
    });
}

const relative = (file: string) => path.relative(PROJECT_DIR, file);
const top = (file: string) => relative(file).split(path.sep)[0];
const allFiles = [path.join(PROJECT_DIR, "index.ts"), ...SOURCE_FOLDERS.flatMap((folder) => tsFiles(path.join(PROJECT_DIR, folder)))];
const graph = new Map(allFiles.map((file) => [file, projectImports(file)]));
const runtimeGraph = new Map(allFiles.map((file) => [file, projectImports(file, undefined, true)]));

describe("how the code is laid out (issue 20)", () => {
    it("the import reader finds every kind of import, and only the project's", () => {
        const file = path.join(PROJECT_DIR, "lib", "plan", "report.ts");
        const text = `import { a } from "../config";\nimport type { B } from "./index";\nexport { c } from "../access/table";\nconst d = require("../deployment/outputs");\nconst e = await import("../config/serving");\nimport * as fs from "fs";\nimport "../missing/file";`;
        assert.deepStrictEqual(projectImports(file, text).map(relative), ["lib/config/index.ts", "lib/plan/index.ts", "lib/access/table.ts", "lib/deployment/outputs.ts", "lib/config/serving.ts"]);
        assert.deepStrictEqual(projectImports(file, text, true).map(relative), ["lib/config/index.ts", "lib/access/table.ts", "lib/deployment/outputs.ts", "lib/config/serving.ts"], "at run time, without import type");
    });

    it("lib/ imports nothing from components/, the policy pack, scripts/ or index.ts", () => {
        const wrong = [...graph].filter(([file]) => top(file) === "lib").flatMap(([file, imports]) => imports.filter((i) => top(i) !== "lib").map((i) => `${relative(file)} imports ${relative(i)}`));
        assert.deepStrictEqual(wrong, []);
    });

    it("components/ import only lib/ and components/; nothing imports index.ts, and only scripts/ and bench/ import scripts/", () => {
        const componentsWrong = [...graph].filter(([file]) => top(file) === "components").flatMap(([file, imports]) => imports.filter((i) => !["lib", "components"].includes(top(i))).map((i) => `${relative(file)} imports ${relative(i)}`));
        assert.deepStrictEqual(componentsWrong, []);
        const intoTop = [...graph].flatMap(([file, imports]) => imports.filter((i) => relative(i) === "index.ts" || (top(i) === "scripts" && top(file) !== "scripts" && top(file) !== "bench")).map((i) => `${relative(file)} imports ${relative(i)}`));
        assert.deepStrictEqual(intoTop, []);
    });

    // A type-only import is erased before anything runs (bench/serving.ts names bench/run.ts's Row type).
    it("no import cycles at run time", () => {
        const cycles: string[] = [];
        const state = new Map<string, "visiting" | "done">();
        const visit = (file: string, trail: string[]) => {
            if (state.get(file) === "done") return;
            if (state.get(file) === "visiting") {
                cycles.push([...trail.slice(trail.indexOf(file)), file].map(relative).join(" -> "));
                return;
            }
            state.set(file, "visiting");
            for (const next of runtimeGraph.get(file) ?? []) visit(next, [...trail, file]);
            state.set(file, "done");
        };
        for (const file of runtimeGraph.keys()) visit(file, []);
        assert.deepStrictEqual(cycles, []);
    });

    it("every file of lib/ and components/ is in a feature folder, and each component folder has its lib/ folder of the same name", () => {
        const loose = ["lib", "components"].flatMap((folder) =>
            fs.readdirSync(path.join(PROJECT_DIR, folder), { withFileTypes: true }).filter((e) => e.isFile()).map((e) => `${folder}/${e.name}`),
        );
        assert.deepStrictEqual(loose, []);
        const features = fs.readdirSync(path.join(PROJECT_DIR, "components"), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
        assert.ok(features.includes("serving") && features.includes("storage"), `found the component folders: ${features.join(", ")}`);
        const missing = features.filter((feature) => !fs.existsSync(path.join(PROJECT_DIR, "lib", feature)) && !(feature in COMPONENTS_WITHOUT_LIB));
        assert.deepStrictEqual(missing, [], "a components/<feature>/ folder without lib/<feature>/ (or a reason in COMPONENTS_WITHOUT_LIB)");
        const stale = Object.keys(COMPONENTS_WITHOUT_LIB).filter((feature) => !features.includes(feature) || fs.existsSync(path.join(PROJECT_DIR, "lib", feature)));
        assert.deepStrictEqual(stale, [], "an exception that no longer applies");
    });

    it("Pulumi resources are declared in components/ and index.ts only: lib/ creates none", () => {
        const declaring = tsFiles(path.join(PROJECT_DIR, "lib")).filter((file) => /\bnew\s+(?:[a-z]\w*\.)+[A-Z]\w*\s*\(\s*`|extends\s+pulumi\.(?:ComponentResource|CustomResource|dynamic\.Resource)\b/.test(fs.readFileSync(file, "utf8")));
        assert.deepStrictEqual(declaring.map(relative), []);
    });

    it("the README's map names every folder of lib/ and components/, and none that is gone", () => {
        const readme = fs.readFileSync(path.join(PROJECT_DIR, "README.md"), "utf8");
        const section = readme.split("## How the code is laid out")[1]?.split("\n## ")[0] ?? "";
        assert.ok(section.length > 0, 'README has a section "How the code is laid out"');
        const folders = ["lib", "components"].flatMap((top) =>
            fs.readdirSync(path.join(PROJECT_DIR, top), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${top}/${e.name}/`),
        );
        assert.deepStrictEqual(folders.filter((folder) => !section.includes(`\`${folder}\``)), []);
        const named = [...section.matchAll(/`((?:lib|components)\/[\w-]+\/)`/g)].map((m) => m[1]);
        assert.deepStrictEqual(named.filter((folder) => !fs.existsSync(path.join(PROJECT_DIR, folder))), [], "the map names no folder that is gone");
    });
});
