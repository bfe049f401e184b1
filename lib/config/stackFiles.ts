// Reads Pulumi.yaml and Pulumi.<stack>.yaml the way the Pulumi CLI does for a program: the stack's
// values, with the project's declared defaults filled in, flattened to `namespace:key -> string`.
// This lets the credential-free plan and the tests run the real program without the CLI.
//
// Whatever the CLI would refuse (a key without a namespace, a value whose type contradicts the
// type Pulumi.yaml declares, a broken YAML file) is refused here too, each problem with its line
// and in words an operator can act on; so is what the CLI would accept but nothing would read
// (keys outside the `config:` block, a second YAML document).
import * as fs from "fs";
import * as path from "path";
import { displayValue } from "./text";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node, type YAMLError } from "yaml";

export interface StackConfig {
    project: string;
    stack: string;
    /** `namespace:key -> value` as the Pulumi language host passes it (objects as JSON text). */
    config: Record<string, string>;
    /** Keys whose values are encrypted in the stack file; the plan sees a placeholder. */
    secretKeys: string[];
}

/** A stack or project file that cannot be read; the message says which file, where and why. */
export class StackFileError extends Error {
    readonly problems: readonly string[];

    constructor(file: string, problems: string | readonly string[]) {
        const list = typeof problems === "string" ? [problems] : problems;
        super(
            list.length === 1
                ? `${file}: ${list[0]}`
                : `${file} has ${list.length} problems:\n${list.map((problem) => `  - ${problem}`).join("\n")}`,
        );
        this.name = "StackFileError";
        this.problems = list;
    }
}

/** Value the plan hands to the program for a `secure:` stack value it cannot decrypt. */
export const SECRET_PLACEHOLDER = "[secret]";

/** Keys a Pulumi stack file holds besides `config`. */
const STACK_FILE_KEYS = ["config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"];

/** Pulumi stack names: letters, digits, '-', '_' and '.', never a path. */
export function checkStackName(stack: string): string | undefined {
    if (/^[A-Za-z0-9_.-]{1,100}$/.test(stack) && stack !== "." && stack !== "..") return undefined;
    const why = /[/\\]/.test(stack) ? " (no path separators: the plan reads Pulumi.<stack>.yaml beside Pulumi.yaml)" : "";
    return `stack name ${JSON.stringify(stack)} is not allowed: use 1-100 letters, digits, '-', '_' or '.'${why}, such as dev or prd`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The line (1-based) an opening quote or bracket that never closes is on, if any. */
function unclosedOpeningLine(text: string, before: number, opener: "quote" | "bracket"): number | undefined {
    const lines = text.slice(0, before).split("\n");
    let depth = 0;
    let openLine: number | undefined;
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i].replace(/(^|\s)#.*$/, "");
        if (opener === "quote") {
            const doubles = (line.replace(/\\"/g, "").match(/"/g) ?? []).length;
            const singles = (line.replace(/''/g, "").match(/(^|[\s:[{,-])'|'(?=\s*$|\s*[,\]}#])/g) ?? []).length;
            if (openLine === undefined && (doubles % 2 === 1 || singles % 2 === 1)) openLine = i + 1;
        } else {
            for (const ch of line) {
                if (ch === "[" || ch === "{") {
                    if (depth === 0) openLine = i + 1;
                    depth++;
                } else if (ch === "]" || ch === "}") depth = Math.max(0, depth - 1);
            }
        }
    }
    return opener === "bracket" && depth === 0 ? undefined : openLine;
}

/** A YAML syntax error as the line where the problem starts and what to do about it. */
function describeYamlError(error: YAMLError, text: string, lineCounter: LineCounter): string {
    const reported = lineCounter.linePos(error.pos[0]).line;
    const lineText = (n: number) => (text.split("\n")[n - 1] ?? "").trim();
    switch (error.code) {
        case "MISSING_CHAR": {
            if (/quote/i.test(error.message)) {
                const start = unclosedOpeningLine(text, error.pos[0], "quote") ?? reported;
                return `line ${start}: a quoted value is never closed (\`${lineText(start)}\`): add the closing quote on the same line`;
            }
            const start = unclosedOpeningLine(text, error.pos[0], "bracket") ?? reported;
            return `line ${start}: a [list] or {map} written on one line is never closed (\`${lineText(start)}\`): add the closing bracket`;
        }
        case "BAD_INDENT": {
            const start = unclosedOpeningLine(text, error.pos[0], "bracket") ?? reported;
            if (start !== reported) return `line ${start}: a [list] or {map} written on one line is never closed (\`${lineText(start)}\`): add the closing bracket`;
            return `line ${reported}: the indentation does not line up with the lines above (\`${lineText(reported)}\`): entries of one map or list start at the same column, and a list's "- " items are not mixed with "key: value" entries`;
        }
        case "TAB_AS_INDENT":
            return `line ${reported}: indented with a tab: YAML needs spaces`;
        case "DUPLICATE_KEY":
            return `line ${reported}: the key \`${/^(- )?(.+?):(\s|$)/.exec(lineText(reported))?.[2] ?? lineText(reported)}\` is written a second time in the same map: keep one`;
        case "BLOCK_AS_IMPLICIT_KEY":
        case "MULTILINE_IMPLICIT_KEY": {
            const here = lineText(reported);
            if (here.includes(":") && !here.includes(": ") && !here.endsWith(":") && !/:\/\//.test(here)) {
                return `line ${reported}: a key needs a space after its colon (\`${here}\` should read \`key: value\`)`;
            }
            const rawLines = text.split("\n");
            const indent = (n: number) => (rawLines[n - 1] ?? "").search(/\S/);
            if (/:\s+\S/.test(here) && indent(reported + 1) > indent(reported)) {
                return `line ${reported + 1}: indented deeper than line ${reported} (\`${lineText(reported + 1)}\`), whose key already has a value: line it up with the keys above it, or move the value of line ${reported} to start a map`;
            }
            return `line ${reported}: this line holds a second "key: value" or its value runs onto the next line (\`${here}\`): put each key on its own line, and quote a value that contains ": "`;
        }
        default:
            return `line ${reported}: this is not valid YAML (\`${lineText(reported)}\`): ${error.message.split(" at line")[0].toLowerCase()}`;
    }
}

interface ParsedFile {
    name: string;
    text: string;
    doc: Document;
    lineCounter: LineCounter;
}

/** Characters that look like a space but are not one to YAML (pasted from a web page or a chat). */
const ODD_SPACES: Record<string, string> = {
    "\u00a0": "a no-break space (U+00A0)",
    "\u2007": "a figure space (U+2007)",
    "\u202f": "a narrow no-break space (U+202F)",
    "\u3000": "an ideographic space (U+3000)",
    "\u2002": "an en space (U+2002)",
    "\u2003": "an em space (U+2003)",
};
const ODD_SPACE = new RegExp(`[${Object.keys(ODD_SPACES).join("")}]`);

/**
 * Lines whose indentation, or the gap after a `key:` or a list's `-`, holds a character that only
 * looks like a space: YAML reads it as text, so the line would land in the wrong map or its key
 * would not be the one written, with a parser message that never names the character.
 */
function oddSpaceProblems(text: string): string[] {
    return text.split("\n").flatMap((line, i) => {
        const indentation = /^[\s\u00a0\u2007\u202f\u3000\u2002\u2003]*/.exec(line)?.[0] ?? "";
        const oddIndent = ODD_SPACE.exec(indentation);
        if (oddIndent) return [`line ${i + 1} has ${ODD_SPACES[oddIndent[0]]} in its indentation; use plain spaces`];
        const gap = /^[^#"']*?(?::|^\s*-)([\s\u00a0\u2007\u202f\u3000\u2002\u2003]+)/.exec(line)?.[1] ?? "";
        const oddGap = ODD_SPACE.exec(gap);
        if (oddGap) return [`line ${i + 1} has ${ODD_SPACES[oddGap[0]]} after its \`:\` or \`-\`; use a plain space`];
        return [];
    });
}

function readYaml(file: string): ParsedFile {
    const name = path.basename(file);
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new StackFileError(name, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const oddSpaces = oddSpaceProblems(text);
    if (oddSpaces.length > 0) throw new StackFileError(name, oddSpaces);
    const lineCounter = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter });
    const list = Array.isArray(docs) ? docs : [];
    const errors = list.flatMap((d) => d.errors);
    if (errors.length > 0) throw new StackFileError(name, describeYamlError(errors[0], text, lineCounter));
    if (list.length > 1) {
        const second = lineCounter.linePos(list[1].range[0]).line;
        throw new StackFileError(name, `holds ${list.length} YAML documents (a second one starts near line ${second}, after "---"): a Pulumi file is one document; merge them or delete the extra`);
    }
    const doc = list[0] ?? parseAllDocuments("{}")[0];
    return { name, text, doc: doc as Document, lineCounter };
}

function lineOf(file: ParsedFile, node: { range?: [number, number, number] | null } | null | undefined): string {
    return node?.range ? `line ${file.lineCounter.linePos(node.range[0]).line}: ` : "";
}

function asConfigString(value: unknown): string {
    return typeof value === "string" ? value : JSON.stringify(value);
}

/** The text a scalar was written as, when its parsed value would show differently (`.nan`, huge integers). */
function numberAsWritten(node: Node): string | undefined {
    if (!isScalar(node) || typeof node.value !== "number") return undefined;
    const value = node.value;
    if (Number.isFinite(value) && !(Number.isInteger(value) && !Number.isSafeInteger(value))) return undefined;
    return node.source ?? String(value);
}

/** Numbers inside a structured value that JSON (and so the program) cannot carry as written. */
function inexactNumbers(file: ParsedFile, node: Node | null, keyPath: string): string[] {
    if (!node) return [];
    if (isMap(node)) {
        return node.items.flatMap((pair) => (isPair(pair) ? inexactNumbers(file, pair.value as Node, `${keyPath}.${String(isScalar(pair.key) ? pair.key.value : pair.key)}`) : []));
    }
    if (isSeq(node)) return node.items.flatMap((item, i) => inexactNumbers(file, item as Node, `${keyPath}[${i}]`));
    const written = numberAsWritten(node);
    if (written === undefined) return [];
    const problem = /nan/i.test(written)
        ? "is not a number: write a finite number"
        : /inf/i.test(written)
          ? "is infinite: write a finite number"
          : `has more digits than the program can receive exactly (above ${Number.MAX_SAFE_INTEGER}): check it, or write it in quotes if it is an identifier`;
    return [`${lineOf(file, node)}${keyPath} = ${written} ${problem}`];
}

/** Replaces `{secure: …}` anywhere in a value with the placeholder; true when one was found. */
function withoutSecureValues(value: unknown): { value: unknown; secret: boolean } {
    if (isRecord(value) && typeof value.secure === "string" && Object.keys(value).length === 1) return { value: SECRET_PLACEHOLDER, secret: true };
    if (Array.isArray(value)) {
        const items = value.map(withoutSecureValues);
        return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
    }
    if (isRecord(value)) {
        const entries = Object.entries(value).map(([k, v]) => [k, withoutSecureValues(v)] as const);
        return { value: Object.fromEntries(entries.map(([k, v]) => [k, v.value])), secret: entries.some(([, v]) => v.secret) };
    }
    return { value, secret: false };
}

function kindOf(value: unknown): string {
    if (Array.isArray(value)) return "lists";
    if (isRecord(value)) return "maps";
    return typeof value === "string" ? "text" : typeof value === "number" ? "numbers" : typeof value === "boolean" ? "true or false" : "empty";
}

/** What one entry of a list-of-maps key looks like, for messages. */
const LIST_ENTRY_EXAMPLES: Record<string, string> = {
    models: ["      - name: fraud", "        model: mlplatform.dev.fraud", "        latest: true", "        cpu: 1", "        memoryGb: 2"].join("\n"),
};

const TYPE_NAMES: Record<string, string> = { string: "text", integer: "a whole number", boolean: "true or false", object: "a map of settings", array: "a list" };

/**
 * Whether the Pulumi CLI accepts `value` for a key of the declared type: primitives reach it as
 * text (integers must parse as one, booleans as Go's ParseBool does), objects and lists as such.
 */
function matchesDeclaredType(type: string, items: unknown, value: unknown, text: string): boolean {
    switch (type) {
        case "string":
            return !isRecord(value) && !Array.isArray(value);
        case "integer":
            return !isRecord(value) && !Array.isArray(value) && /^[+-]?\d+$/.test(text);
        case "boolean":
            return ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"].includes(text);
        case "object":
            return isRecord(value);
        case "array": {
            if (!Array.isArray(value)) return false;
            const itemType = isRecord(items) && typeof items.type === "string" ? items.type : undefined;
            return itemType === undefined || value.every((item) => matchesDeclaredType(itemType, undefined, item, asConfigString(item)));
        }
        default:
            return true;
    }
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
    const badName = checkStackName(stack);
    if (badName) throw new StackFileError("plan", badName);
    const projectFile = readYaml(path.join(projectDir, "Pulumi.yaml"));
    const project = projectFile.doc.toJS();
    if (!isRecord(project) || typeof project.name !== "string") {
        throw new StackFileError("Pulumi.yaml", 'is missing the project "name"');
    }
    const projectName = project.name;

    const stackPath = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(stackPath)) {
        const known = listStacks(projectDir);
        throw new StackFileError(`stack "${stack}"`, `no stack file Pulumi.${stack}.yaml in ${projectDir}; known stacks: ${known.length ? known.join(", ") : "none"}`);
    }
    const file = readYaml(stackPath);
    const problems: string[] = [];
    const root = file.doc.contents as Node | null;
    if (root !== null && !isMap(root)) {
        const what = isSeq(root) ? "a list" : "a single value";
        throw new StackFileError(file.name, `is ${what}, not a map: a stack file is a map whose \`config:\` key holds the settings, one \`namespace:key: value\` per line`);
    }
    const declared = isRecord(project.config) ? project.config : {};
    let configNode: Node | null = null;
    for (const pair of root?.items ?? []) {
        const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
        if (key === "config") {
            configNode = pair.value as Node | null;
            continue;
        }
        if (STACK_FILE_KEYS.includes(key)) continue;
        const looksLikeConfig = key.includes(":") || key in declared;
        problems.push(
            `${lineOf(file, pair.key as Node)}\`${key}\` is outside the \`config:\` block, so Pulumi never reads it` +
                (looksLikeConfig ? `: indent it under \`config:\`${key.includes(":") ? "" : ` as ${projectName}:${key}`}` : `: a stack file holds ${STACK_FILE_KEYS.join(", ")}`),
        );
    }
    if (configNode !== null && !isMap(configNode) && !(isScalar(configNode) && configNode.value === null)) {
        throw new StackFileError(file.name, `${lineOf(file, configNode)}\`config\` must be a map of \`namespace:key: value\` lines, not ${isSeq(configNode) ? "a list" : "a single value"}`);
    }

    const config: Record<string, string> = {};
    const secretKeys: string[] = [];

    // Project-level defaults first; stack values override them.
    for (const [key, entry] of Object.entries(declared)) {
        const fullKey = key.includes(":") ? key : `${projectName}:${key}`;
        const value = isRecord(entry) ? (key.includes(":") ? entry.value : entry.default) : entry;
        if (value !== undefined) config[fullKey] = asConfigString(value);
    }

    for (const pair of isMap(configNode) ? configNode.items : []) {
        const keyNode = pair.key as Node;
        const key = String(isScalar(keyNode) ? keyNode.value : keyNode);
        const where = lineOf(file, keyNode);
        const parts = key.split(":");
        if (parts.length !== 2 || !parts[0] || !parts[1]) {
            const bare = parts[parts.length - 1];
            problems.push(
                parts.length === 1
                    ? `${where}\`${key}\` has no namespace, and the Pulumi CLI refuses such keys: write ${projectName}:${key} (or the provider's namespace, such as azure-native:${key})`
                    : `${where}\`${key}\` is not a key Pulumi understands: write one namespace and one name (${projectName}:${bare}), and nested settings as a map under it`,
            );
            continue;
        }
        const valueNode = pair.value as Node | null;
        const raw: unknown = valueNode ? valueNode.toJS(file.doc) : null;
        if (raw === null || raw === undefined) {
            // `key:` with nothing after it: treat as unset so validation reports it by name.
            delete config[key];
            continue;
        }
        const { value, secret } = withoutSecureValues(raw);
        if (secret) secretKeys.push(key);
        const written = valueNode ? numberAsWritten(valueNode) : undefined;
        const inexact = valueNode && (isMap(valueNode) || isSeq(valueNode)) ? inexactNumbers(file, valueNode, key) : [];
        problems.push(...inexact);
        const text = written ?? asConfigString(value);
        const [namespace, name] = parts;
        const declaration = namespace === projectName ? declared[name] : undefined;
        if (!secret && isRecord(declaration) && typeof declaration.type === "string" && !matchesDeclaredType(declaration.type, declaration.items, value, text)) {
            const shown = written ?? displayValue(value);
            const itemType = isRecord(declaration.items) && typeof declaration.items.type === "string" ? declaration.items.type : undefined;
            if (declaration.type === "array" && Array.isArray(value) && itemType) {
                // It is a list: say which entries are of the wrong kind, and what one looks like.
                const wrong = value.map((item, i) => [item, i] as const).filter(([item]) => !matchesDeclaredType(itemType, undefined, item, asConfigString(item)));
                const example = LIST_ENTRY_EXAMPLES[name];
                problems.push(
                    `${where}${key} = ${shown} is a list, but ${wrong.map(([item, i]) => `entry ${i} (${displayValue(item)})`).join(", ")} ${wrong.length === 1 ? "is" : "are"} ${kindOf(wrong[0][0])}: ` +
                        `each entry must be ${TYPE_NAMES[itemType] ?? itemType}${example ? `, such as\n${example}` : ""}`,
                );
                continue;
            }
            problems.push(
                `${where}${key} = ${shown} is not ${TYPE_NAMES[declaration.type] ?? declaration.type}, the type Pulumi.yaml declares for it (${declaration.type}): the Pulumi CLI refuses this stack file`,
            );
            continue;
        }
        config[key] = text;
    }
    if (problems.length > 0) throw new StackFileError(file.name, problems);
    return { project: projectName, stack, config, secretKeys };
}

const REGISTRY_NAMES = ["catalog", "devSchema", "prdSchema"] as const;
// As lib/config/registry.ts defaults them (DEFAULT_SCHEMAS); a name left unset means these.
const REGISTRY_NAME_DEFAULTS: Record<(typeof REGISTRY_NAMES)[number], string | undefined> = { catalog: undefined, devSchema: "dev", prdSchema: "prd" };

function registryOf(stack: StackConfig): Record<string, unknown> | undefined {
    const text = stack.config[`${stack.project}:registry`];
    if (text === undefined) return undefined;
    try {
        const value: unknown = JSON.parse(text);
        return isRecord(value) ? value : undefined;
    } catch {
        return undefined;
    }
}

/**
 * A stack that reads its Unity Catalog registry from another stack (`registry.hostFromStack`)
 * must name the catalog and schemas that stack's file declares: the registry's stack creates the
 * schemas and gives their grants and owners, so a schema renamed on one side only would be served
 * from (or promoted into) a schema nothing governs. Checked when the other stack's file is beside
 * this one (`organization/<project>/<stack>` of this project); returns one problem per name.
 */
export function registryStackProblems(projectDir: string, stack: StackConfig): string[] {
    const registry = registryOf(stack);
    if (!registry || registry.kind !== "unity-catalog" || typeof registry.hostFromStack !== "string") return [];
    const parts = registry.hostFromStack.split("/");
    const other = parts[parts.length - 1];
    if (parts.length === 3 && parts[1] !== stack.project) return [];
    if (parts.length === 2 && parts[0] !== stack.project) return [];
    if (other === stack.stack || checkStackName(other) !== undefined || !listStacks(projectDir).includes(other)) return [];
    let source: StackConfig;
    try {
        source = readStackConfig(projectDir, other);
    } catch (err) {
        const why = err instanceof StackFileError ? err.message : String(err);
        return [`registry.hostFromStack names the stack ${other}, whose file cannot be read to check the catalog and schema names: ${why}`];
    }
    const sourceRegistry = registryOf(source) ?? {};
    const name = (r: Record<string, unknown>, key: (typeof REGISTRY_NAMES)[number]) => (typeof r[key] === "string" ? (r[key] as string) : REGISTRY_NAME_DEFAULTS[key]);
    return REGISTRY_NAMES.flatMap((key) => {
        const here = name(registry, key);
        const there = name(sourceRegistry, key);
        if (here === there || there === undefined) return [];
        return [
            `${stack.project}:registry.${key} is ${JSON.stringify(here ?? "(unset)")}, but the registry's stack ${other} (Pulumi.${other}.yaml, named by registry.hostFromStack) declares ${key} ${JSON.stringify(there)}: ` +
                `${stack.stack} would ${key === "devSchema" ? "look for candidates in" : "serve from"} a ${key === "catalog" ? "catalog" : "schema"} that stack does not create or govern (no owner, no grants). ` +
                `Rename it in both files in one change, or write ${JSON.stringify(there)} here`,
        ];
    });
}
