// How a problem reads to an operator: the key in full (`mlflow-platform:serving.ipAllowList[0]`),
// the value unless it may be a secret, and what is allowed; "did you mean" for unknown keys and
// misspelt namespaces; never a raw zod text.
import type { z } from "zod";
import { PROJECT_NAME, type Issue } from "./common";
import { closeMatch, displayValue, hasUrlCredentials, holdsSecret, stringLeaves } from "./text";
import { ENGINE_NAMESPACES, PROVIDER_KEYS, PROVIDER_SECRET_KEYS } from "./providerConfig";
import { configSchema } from "./schema";
import { registryFields, SECRET_ONLY_KEYS } from "./registry";
import { canaryFields, modelEntryFields } from "./models";
import { replayFields, rolloutFields } from "./rollout";
import { servingFields } from "./serving";
import { actionGroupFields, alertFields, observabilityFields } from "./observability";
import { driftFields } from "./drift";
import { accessFields, principalFields, PRINCIPAL_SECRET } from "./access";

/** `serving.models[0].cpu` style path, prefixed with the project namespace where it has none. */
export function configKey(path: readonly PropertyKey[]): string {
    const [head, ...rest] = path.map(String);
    const top = head.includes(":") ? head : `${PROJECT_NAME}:${head}`;
    return rest.reduce((key, part) => (/^\d+$/.test(part) ? `${key}[${part}]` : `${key}.${part}`), top);
}

/** Where each key of each map lives, for "did you mean" and "belongs under". */
const KEYS_BY_MAP: Record<string, readonly string[]> = {
    [PROJECT_NAME]: [...Object.keys(configSchema.shape).filter((k) => !k.includes(":")), ...SECRET_ONLY_KEYS],
    registry: Object.keys(registryFields.shape),
    "each entry of models": Object.keys(modelEntryFields.shape),
    "a model's canary": Object.keys(canaryFields.shape),
    "a model's rollout": Object.keys(rolloutFields.shape),
    "a model's rollout.replay": Object.keys(replayFields.shape),
    serving: Object.keys(servingFields.shape).filter((k) => k !== "entra"),
    access: Object.keys(accessFields.shape),
    "each principal": Object.keys(principalFields.shape),
    observability: Object.keys(observabilityFields.shape),
    "observability.alerts": Object.keys(alertFields.shape),
    "observability.actionGroup": Object.keys(actionGroupFields.shape),
    "observability.drift": Object.keys(driftFields.shape),
};

function mapOfPath(path: readonly PropertyKey[]): string {
    if (path.length === 0) return PROJECT_NAME;
    if (path[0] === "registry") return "registry";
    if (path[0] === "models") return path[2] === "canary" ? "a model's canary" : path[2] === "rollout" ? (path[3] === "replay" ? "a model's rollout.replay" : "a model's rollout") : "each entry of models";
    if (path[0] === "serving") return "serving";
    if (path[0] === "access") return path.length >= 3 ? "each principal" : "access";
    if (path[0] === "observability") return path[1] === "alerts" || path[1] === "actionGroup" || path[1] === "drift" ? `observability.${path[1]}` : "observability";
    return PROJECT_NAME;
}

const SECRET_WORDS = /token|passw|secret|credential|api[-_]?key|private[-_]?key/i;

function secretAdvice(key: string): string {
    const secretKey = closeMatch(key, SECRET_ONLY_KEYS) ?? (/passw/i.test(key) ? "registryPassword" : "registryToken");
    return `a secret never belongs in a stack file: remove it and set it with \`pulumi config set --secret ${secretKey} <value>\``;
}

/** The message for a key this program does not read at `path`. */
function unknownKeyProblem(path: readonly PropertyKey[], key: string): string {
    const full = configKey([...path, key]);
    const map = mapOfPath(path);
    const here = KEYS_BY_MAP[map];
    const exact = here.find((k) => k.toLowerCase() === key.toLowerCase());
    const close = exact ?? closeMatch(key, here);
    const isSecretKey = (k: string) => (SECRET_ONLY_KEYS as readonly string[]).includes(k);
    if (close && isSecretKey(close)) {
        return `${full} is not a setting this program reads: did you mean ${configKey([...path, close])}? It is a secret: remove it from the stack file and set it with \`pulumi config set --secret ${close} <value>\``;
    }
    if (map === "each principal" && SECRET_WORDS.test(key)) {
        return `${full} is not a setting of a principal (it takes ${here.join(", ")}), and a principal needs no secret: the platform gives it roles by its object id. Remove it from the stack file, and rotate that secret (\`az ad app credential reset\`), since it was written there`;
    }
    if (SECRET_WORDS.test(key) || (path.length > 0 && closeMatch(key, SECRET_ONLY_KEYS))) {
        return `${full} is not a setting this program reads, and ${secretAdvice(key)}`;
    }
    if (close) return `${full} is not a setting this program reads (probable typo): did you mean ${configKey([...path, close])}?`;
    const elsewhere = Object.entries(KEYS_BY_MAP).find(([other, keys]) => other !== map && keys.includes(key));
    if (elsewhere) {
        const [other] = elsewhere;
        const where = other === PROJECT_NAME ? `the top level, as ${PROJECT_NAME}:${key}` : other.startsWith("each") || other.startsWith("a ") ? other : `${PROJECT_NAME}:${other}`;
        return `${full} is not read here: ${key} belongs in ${where}`;
    }
    const level = map === PROJECT_NAME ? `the project's keys are` : `${map} takes`;
    return `${full} is not a setting this program reads: ${level} ${here.filter((k) => !isSecretKey(k)).join(", ")}`;
}

// Zod's own texts ("Invalid input: expected object, received string") never reach an operator:
// every section's schema carries its own message, and these cover any that slips through.
const ZOD_TEXT = /^(Invalid|Too (small|big)|Unrecognized|Expected|Required)/;
const TYPE_WORDS: Record<string, string> = {
    object: "a map of settings",
    array: "a list",
    string: "text",
    number: "a number",
    boolean: "true or false",
};

function plainMessage(issue: z.core.$ZodIssue): string {
    if (!ZOD_TEXT.test(issue.message)) return issue.message;
    if (issue.code === "invalid_type") return `must be ${TYPE_WORDS[issue.expected] ?? issue.expected}`;
    if (issue.code === "too_small") return "must not be empty";
    if (issue.code === "too_big") return "is too long";
    return "is not an accepted value";
}

export function describe(issue: Issue): string {
    const key = configKey(issue.path);
    if (issue.hideValue) return `${key} is not allowed: it ${issue.message}`;
    if (holdsSecret(issue.input)) {
        // Never repeated; under access the advice is the principal's, elsewhere the stack file's.
        if (issue.path[0] === "access") return `${key} is not allowed: it ${issue.message}; it also ${PRINCIPAL_SECRET}`;
        return `${key} is not allowed: it ${issue.message} (the value is not shown: it looks like a secret, which never belongs in a stack file; set registry credentials with \`pulumi config set --secret registryToken <value>\`)`;
    }
    if (issue.input === undefined) return `${key} is not set: it ${issue.message}`;
    return `${key} = ${displayValue(issue.input)} is not allowed: it ${issue.message}`;
}

export function zodProblems(issue: z.core.$ZodIssue): string[] {
    if (issue.code === "unrecognized_keys") return issue.keys.map((key) => unknownKeyProblem(issue.path, key));
    return [describe({ path: issue.path as (string | number)[], input: issue.input, message: plainMessage(issue) })];
}

/**
 * Credentials written into a URL anywhere in the stack's values: refused, and never shown, so
 * they cannot reach a log, an environment variable or an output.
 */
export function urlCredentialProblems(raw: Record<string, unknown>): string[] {
    return stringLeaves(raw)
        .filter((leaf) => hasUrlCredentials(leaf.text))
        .map((leaf) =>
            leaf.path[0] === "access"
                ? `${configKey(leaf.path)} is not allowed: it holds a user name or password inside a URL (scheme://user:secret@host); the value is not shown. A principal is named by its object id and its name in Databricks and needs no secret: remove it from the stack file, and rotate that password, since it was written there`
                : `${configKey(leaf.path)} is not allowed: it holds a user name or password inside a URL (scheme://user:secret@host); the value is not shown. Remove them from the stack file; registry credentials go in \`pulumi config set --secret registryToken <value>\``,
        );
}

/** Secret-only keys must be encrypted in the stack file; no message ever repeats them. */
export function secretKeyProblems(raw: Record<string, unknown>, isSecret: (key: string) => boolean): string[] {
    return SECRET_ONLY_KEYS.filter((key) => raw[key] !== undefined && !isSecret(`${PROJECT_NAME}:${key}`)).map(
        (key) =>
            `${PROJECT_NAME}:${key} is stored in plain text: remove it from the stack file and set it with \`pulumi config set --secret ${key} <value>\``,
    );
}

/** Keys under another namespace than the project's: a provider's, the engine's, or a typo. */
export function foreignKeyProblems(raw: Record<string, unknown>, project: string, isSecret: (key: string) => boolean): string[] {
    const problems: string[] = [];
    const namespaces = [project, ...Object.keys(PROVIDER_KEYS), ...ENGINE_NAMESPACES];
    for (const fullKey of Object.keys(raw).filter((k) => k.includes(":"))) {
        const [namespace, ...rest] = fullKey.split(":");
        const key = rest.join(":");
        if (ENGINE_NAMESPACES.includes(namespace)) continue;
        const providerKeys = PROVIDER_KEYS[namespace];
        if (providerKeys) {
            if (!providerKeys.includes(key)) {
                const close = closeMatch(key, providerKeys);
                problems.push(
                    close
                        ? `${fullKey} is not a setting of the ${namespace} provider (probable typo): did you mean ${namespace}:${close}?`
                        : `${fullKey} is not a setting of the ${namespace} provider, so it would be ignored: it takes ${providerKeys.join(", ")}`,
                );
            } else if (PROVIDER_SECRET_KEYS.includes(fullKey) && !isSecret(fullKey)) {
                problems.push(`${fullKey} is stored in plain text: remove it from the stack file and set it with \`pulumi config set --secret ${fullKey} <value>\``);
            }
            continue;
        }
        const meant = closeMatch(namespace, namespaces) ?? (namespace.toLowerCase().replace(/[^a-z]/g, "") === project.replace(/[^a-z]/g, "") ? project : undefined);
        if (meant === project && ((SECRET_ONLY_KEYS as readonly string[]).includes(key) || SECRET_WORDS.test(key))) {
            problems.push(`${fullKey} has a misspelt namespace (${namespace}), and ${secretAdvice(key)}`);
        } else if (meant) {
            problems.push(`${fullKey} has a misspelt namespace, so nothing reads it: did you mean ${meant}:${key}?`);
        } else {
            problems.push(`${fullKey} is under the namespace ${namespace}, which nothing in this program reads (it reads ${namespaces.join(", ")}): remove it`);
        }
    }
    return problems;
}
