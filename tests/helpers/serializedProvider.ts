// Loads a dynamic provider from its serialized `__provider` text the way Pulumi's dynamic provider
// host does (a module compiled from a string, resolving packages from the project), so tests run
// exactly the code that would be stored in state.
import Module = require("module");
import * as path from "path";
import type * as pulumi from "@pulumi/pulumi";

export function loadSerializedProvider(text: string, projectDir: string): pulumi.dynamic.ResourceProvider {
    const filename = path.join(projectDir, "__provider.js");
    const m = new Module(filename, module) as Module & { _compile(code: string, file: string): void; paths: string[] };
    m.filename = filename;
    m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(projectDir);
    m._compile(text, filename);
    return (m.exports as { handler(): pulumi.dynamic.ResourceProvider }).handler();
}

/** The `config` a dynamic provider's configure receives: the stack's config, secrets decrypted. */
export function providerConfig(values: Record<string, string>): pulumi.dynamic.Config {
    return {
        get: (key: string) => values[key.includes(":") ? key : `mlflow-platform:${key}`],
        require: (key: string) => {
            const value = values[key.includes(":") ? key : `mlflow-platform:${key}`];
            if (value === undefined) throw new Error(`Missing required configuration key: ${key}`);
            return value;
        },
    };
}
