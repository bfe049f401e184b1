// Reads Pulumi.yaml and Pulumi.<stack>.yaml the way the Pulumi CLI does for a program: the stack's
// values, with the project's declared defaults filled in, flattened to `namespace:key -> string`.
// This lets the credential-free plan and the tests run the real program without the CLI.
import * as fs from "fs";
import * as path from "path";
import { parseDocument } from "yaml";

export interface StackConfig {
    project: string;
    stack: string;
    /** `namespace:key -> value` as the Pulumi language host passes it (objects as JSON text). */
    config: Record<string, string>;
    /** Keys whose values are encrypted in the stack file; the plan sees a placeholder. */
    secretKeys: string[];
}

/** A stack or project file that cannot be read; the message says which file and why. */
export class StackFileError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "StackFileError";
    }
}

/** Value the plan hands to the program for a `secure:` stack value it cannot decrypt. */
export const SECRET_PLACEHOLDER = "[secret]";

function readYaml(file: string): unknown {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new StackFileError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) {
        const [first] = doc.errors;
        const where = first.linePos?.[0] ? `${path.basename(file)}:${first.linePos[0].line}:${first.linePos[0].col}` : path.basename(file);
        throw new StackFileError(`${where}: invalid YAML: ${first.message.split("\n")[0]}`);
    }
    return doc.toJS() ?? {};
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asConfigString(value: unknown): string {
    return typeof value === "string" ? value : JSON.stringify(value);
}

/** The stacks that have a Pulumi.<stack>.yaml beside Pulumi.yaml. */
export function listStacks(projectDir: string): string[] {
    return fs
        .readdirSync(projectDir)
        .map((file) => /^Pulumi\.(.+)\.ya?ml$/.exec(file)?.[1])
        .filter((stack): stack is string => stack !== undefined)
        .sort();
}

export function readStackConfig(projectDir: string, stack: string): StackConfig {
    const projectFile = path.join(projectDir, "Pulumi.yaml");
    const project = readYaml(projectFile);
    if (!isRecord(project) || typeof project.name !== "string") {
        throw new StackFileError(`${projectFile}: missing the project "name"`);
    }
    const projectName = project.name;

    const stackFile = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackFile)) {
        const known = listStacks(projectDir);
        throw new StackFileError(
            `no stack file Pulumi.${stack}.yaml in ${projectDir}; known stacks: ${known.length ? known.join(", ") : "none"}`,
        );
    }
    const stackDoc = readYaml(stackFile);
    const stackValues = isRecord(stackDoc) && stackDoc.config !== undefined ? stackDoc.config : {};
    if (!isRecord(stackValues)) throw new StackFileError(`${path.basename(stackFile)}: "config" must be a map of key: value`);

    const config: Record<string, string> = {};
    const secretKeys: string[] = [];

    // Project-level defaults first; stack values override them.
    const declared = isRecord(project.config) ? project.config : {};
    for (const [key, entry] of Object.entries(declared)) {
        const fullKey = key.includes(":") ? key : `${projectName}:${key}`;
        const value = isRecord(entry) ? (key.includes(":") ? entry.value : entry.default) : entry;
        if (value !== undefined) config[fullKey] = asConfigString(value);
    }

    for (const [key, value] of Object.entries(stackValues)) {
        const fullKey = key.includes(":") ? key : `${projectName}:${key}`;
        if (isRecord(value) && typeof value.secure === "string" && Object.keys(value).length === 1) {
            config[fullKey] = SECRET_PLACEHOLDER;
            secretKeys.push(fullKey);
        } else if (value === null || value === undefined) {
            // `key:` with nothing after it: treat as unset so validation reports it by name.
            delete config[fullKey];
        } else {
            config[fullKey] = asConfigString(value);
        }
    }
    return { project: projectName, stack, config, secretKeys };
}
