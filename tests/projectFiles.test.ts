import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { parsePlatformConfig, PROJECT_CONFIG_KEYS, rawConfigFrom } from "../lib/config";
import { readStackConfig } from "../lib/config/stackFiles";
import { PROJECT_DIR } from "./helpers/fixtures";

const project = parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), "utf8"));

describe("Pulumi.yaml", () => {
    it("names the project, the nodejs runtime and a description", () => {
        assert.strictEqual(project.name, "mlflow-platform");
        assert.strictEqual(project.runtime.name ?? project.runtime, "nodejs");
        assert.ok(project.description.length > 20);
    });

    it("starts the program through the project's cached loader, without type checking at start", () => {
        assert.strictEqual(project.runtime.options.typescript, false);
        assert.strictEqual(project.runtime.options.nodeargs, "--require ./scripts/register-ts.js");
        assert.ok(fs.existsSync(path.join(PROJECT_DIR, "scripts/register-ts.js")));
        assert.strictEqual(JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")).main, "index.ts", "the language host finds the program through package.json");
    });

    it("declares every project key the program reads, with a type and a description, and no other", () => {
        assert.deepStrictEqual(Object.keys(project.config).sort(), [...PROJECT_CONFIG_KEYS].sort());
        for (const [key, entry] of Object.entries<any>(project.config)) {
            assert.ok(["string", "integer", "boolean", "array", "object"].includes(entry.type), `${key} type`);
            assert.ok(typeof entry.description === "string" && entry.description.length > 10, `${key} description`);
        }
    });

    it("has defaults that pass validation", () => {
        const defaults: Record<string, string> = { "azure-native:location": "westeurope" };
        for (const [key, entry] of Object.entries<any>(project.config)) {
            if (entry.default !== undefined) {
                defaults[`mlflow-platform:${key}`] = typeof entry.default === "string" ? entry.default : JSON.stringify(entry.default);
            }
        }
        defaults["mlflow-platform:environment"] = "dev";
        defaults["mlflow-platform:storageAccountName"] = "valid01";
        const config = parsePlatformConfig(rawConfigFrom(defaults), "dev");
        assert.deepStrictEqual(config.models, [], "no models by default: the bootstrap deployment");
        assert.deepStrictEqual(config.registry, { kind: "unity-catalog", catalog: undefined, host: undefined, hostFromStack: undefined, devSchema: "dev", prdSchema: "prd", databricksAccountId: undefined, registrationRunAs: undefined });
        assert.deepStrictEqual(config.access, { dataScientists: [], deployers: [], scoringClients: [], readers: [], acceptDataScientistAsDeployer: false }, "no principal is assumed");
        assert.strictEqual(config.storage.existingResourceGroupName, undefined, '"" means create a group');
    });
});

describe("README", () => {
    const readme = fs.readFileSync(path.join(PROJECT_DIR, "README.md"), "utf8");

    it("documents every config key in its table, secret-only keys included", () => {
        for (const key of [...PROJECT_CONFIG_KEYS, "registryToken", "registryUsername"]) {
            assert.match(readme, new RegExp(`\\| \`mlflow-platform:${key}\`(,| \\|)`), key);
        }
        assert.match(readme, /\| `azure-native:location` \|/);
    });

    it("lists every dependency with its reason", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8"));
        const section = readme.slice(readme.indexOf("## Dependencies"));
        for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]) {
            assert.ok(section.includes(`\`${name}\``), `${name} is not in the README's dependency table`);
        }
    });

    it("gives the two set-up commands and the sections a new user needs", () => {
        assert.ok(readme.includes("npm ci && npm run plan -- dev"));
        assert.ok(readme.includes("npm test "));
        for (const heading of ["## Deploy a stack", "### Resize", "### Roll a model out and back", "## Serving on Azure Container Apps", "## Pull requests and deployments", "## Configuration", "## Performance", "## Dependencies"]) {
            assert.ok(readme.includes(`${heading}\n`), heading);
        }
        assert.match(readme, /```mermaid\n/);
    });
});

describe("stack files", () => {
    for (const stack of ["dev", "prd"]) {
        it(`Pulumi.${stack}.yaml is valid, sets its own environment and location, and holds no secret`, () => {
            const stackConfig = readStackConfig(PROJECT_DIR, stack);
            const config = parsePlatformConfig(rawConfigFrom(stackConfig.config), stack);
            assert.strictEqual(config.environment, stack);
            assert.ok(stackConfig.config["azure-native:location"], "location is set in the stack file");
            assert.deepStrictEqual(stackConfig.secretKeys, []);
            const text = fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8");
            assert.doesNotMatch(text, /secure:|token|password|dapi[0-9a-f]/i);
        });
    }
});

describe("provider settings the config check knows", () => {
    it("match the installed providers' config modules", () => {
        const { PROVIDER_KEYS } = require("../lib/config/providerConfig") as typeof import("../lib/config/providerConfig");
        for (const [namespace, pkg] of [["azure-native", "@pulumi/azure-native"], ["docker-build", "@pulumi/docker-build"], ["azuread", "@pulumi/azuread"]]) {
            const declared = fs.readFileSync(require.resolve(`${pkg}/config/vars.d.ts`), "utf8");
            const installed = [...declared.matchAll(/export declare const (\w+)/g)].map((m) => m[1]).sort();
            assert.deepStrictEqual([...PROVIDER_KEYS[namespace]].sort(), installed, namespace);
        }
    });
});
