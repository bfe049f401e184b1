// Reads the stack configuration once into a typed, validated object.
//
// Every problem is collected and reported together, each naming the key, the value given and
// what is allowed, so a broken stack file is fixed in one pass instead of one error per run.
import * as pulumi from "@pulumi/pulumi";
import { closest } from "fastest-levenshtein";
import { z } from "zod";
import { REGISTRY_KINDS, type RegistryKind, type Selector } from "./registry/types";
import { checkModelName, parseSelector } from "./registry/validation";
import { aciSizeProblems, CONTAINER_APP_LIMITS, containerAppSizeProblems, WORKER_LIMITS } from "./serving/limits";

export const PROJECT_NAME = "mlflow-platform";
export const LOCATION_KEY = "azure-native:location";

export const ENVIRONMENTS = ["dev", "prd"] as const;
// StorageV2 accepts only the Standard SKUs; Premium_LRS on StorageV2 serves page blobs only and
// premium block blobs need a different account kind (BlockBlobStorage).
export const STORAGE_SKUS = [
    "Standard_LRS",
    "Standard_ZRS",
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
] as const;
export const DATABRICKS_SKUS = ["standard", "premium", "trial"] as const;
export const CONTAINER_REGISTRY_SKUS = ["Basic", "Standard", "Premium"] as const;
export const SERVING_PLATFORMS = ["aci", "containerapp"] as const;
export const INGRESS_MODES = ["external", "internal"] as const;
export const RETENTION_DAYS = { min: 1, max: 365 } as const;

export type Environment = (typeof ENVIRONMENTS)[number];
export type StorageSku = (typeof STORAGE_SKUS)[number];
export type DatabricksSku = (typeof DATABRICKS_SKUS)[number];
export type ContainerRegistrySku = (typeof CONTAINER_REGISTRY_SKUS)[number];
export type ServingPlatform = (typeof SERVING_PLATFORMS)[number];
export type IngressMode = (typeof INGRESS_MODES)[number];

/** A model this stack serves: a short service name, the registry model and which version. */
export interface ServedModel {
    /** Service name: lowercase letters, digits and '-', used in resource names and DNS labels. */
    name: string;
    /** Registered model name (`catalog.schema.model` in Unity Catalog). */
    model: string;
    selector: Selector;
    /** CPU cores and memory (GB) for the serving container. */
    cpu: number;
    memoryGb: number;
    /** Scoring server worker processes. */
    workers: number;
    /** Container Apps only: replica bounds and the HTTP concurrency that scales out. */
    scale: { minReplicas: number; maxReplicas: number; concurrentRequests: number };
    /** Container Apps only: a candidate version that gets `weight` percent of the traffic. */
    canary?: { selector: Selector; weight: number };
}

/** Who may call the Container Apps endpoints. */
export interface AccessConfig {
    ingress: IngressMode;
    /** IPv4 addresses or CIDR ranges allowed to call; empty allows any address. */
    ipAllowList: string[];
    /** Microsoft Entra authentication on the app: tokens for one of `audiences` from `tenantId`. */
    entra?: { tenantId: string; clientId: string; audiences: string[] };
}

/** Where the model registry is. Exactly one of `host`, `hostFromStack`, or neither (this stack's workspace). */
export interface RegistryConfig {
    kind: RegistryKind;
    host?: string;
    /** `organization/project/stack` whose `workspaceUrl` output is the registry host. */
    hostFromStack?: string;
}

/** Stack config keys only the ModelVersion provider reads; they must be Pulumi secrets. */
export const SECRET_ONLY_KEYS = ["registryToken", "registryUsername", "registryPassword"] as const;

/** The stack configuration the components are built from. */
export interface PlatformConfig {
    project: string;
    stack: string;
    environment: Environment;
    location: string;
    /** Pulumi `protect` for stateful resources (storage account, containers, workspace). */
    protect: boolean;
    /** Tags every resource carries. */
    tags: Record<string, string>;
    storage: {
        /** An existing resource group to deploy into; a new one is created when absent. */
        existingResourceGroupName?: string;
        accountName: string;
        sku: StorageSku;
        blobSoftDeleteDays: number;
        containerSoftDeleteDays: number;
        /** On by default; the policy pack refuses it off, in every stack. */
        softDeleteEnabled: boolean;
        /** Off by default; the policy pack refuses it on, in every stack. */
        allowBlobPublicAccess: boolean;
    };
    databricks: {
        sku: DatabricksSku;
    };
    registry: RegistryConfig;
    models: ServedModel[];
    serving: {
        platform: ServingPlatform;
        containerRegistrySku: ContainerRegistrySku;
        access: AccessConfig;
        logRetentionDays: number;
    };
    /** Registry credentials from secret config, for the serving containers; absent when unset. */
    registryCredentials: {
        token?: pulumi.Output<string>;
        username?: pulumi.Output<string>;
        password?: pulumi.Output<string>;
    };
}

// Pulumi hands every top-level config value to the program as a string ("7", "true").
// These turn such strings into numbers and booleans and leave anything else untouched, so the
// schema reports the value exactly as it was written.
function integerFromString(value: unknown): unknown {
    return typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
}

function numberFromString(value: unknown): unknown {
    return typeof value === "string" && /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}

function booleanFromString(value: unknown): unknown {
    if (typeof value !== "string") return value;
    const lowered = value.trim().toLowerCase();
    return lowered === "true" ? true : lowered === "false" ? false : value;
}

export function wholeNumber(min: number, max: number) {
    const allowed = `a whole number from ${min} to ${max}`;
    return z.preprocess(
        integerFromString,
        z
            .number({ error: `must be ${allowed}` })
            .int({ error: `must be ${allowed}` })
            .min(min, { error: `must be ${allowed}` })
            .max(max, { error: `must be ${allowed}` }),
    );
}

export function boolean() {
    return z.preprocess(booleanFromString, z.boolean({ error: "must be true or false" }));
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
    return z.enum(values, { error: `must be one of: ${values.join(", ")}` });
}

export function matching(pattern: RegExp, rule: string) {
    return z.string({ error: `must be ${rule}` }).regex(pattern, { error: `must be ${rule}` });
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

const registryHost = z.string({ error: "must be a URL such as https://adb-1234567890123456.7.azuredatabricks.net" }).superRefine((value, ctx) => {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        ctx.addIssue({ code: "custom", message: "must be a URL such as https://adb-1234567890123456.7.azuredatabricks.net" });
        return;
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname))) {
        ctx.addIssue({ code: "custom", message: "must use https:// (plain http:// only for localhost, so tokens never cross a network in clear text)" });
    }
});

const registryFields = z.object(
        {
        kind: oneOf(REGISTRY_KINDS as unknown as readonly [RegistryKind, ...RegistryKind[]]),
        host: registryHost.optional(),
        hostFromStack: matching(/^([\w.-]+\/){0,2}[\w.-]+$/, "a stack name: organization/project/stack").optional(),
        },
        { error: "must be a map with kind (mlflow, databricks or unity-catalog) and optionally host or hostFromStack" },
    );
const registrySchema = registryFields
    .strict()
    .superRefine((registry, ctx) => {
        if (registry.host && registry.hostFromStack) {
            ctx.addIssue({
                code: "custom",
                path: ["hostFromStack"],
                input: registry.hostFromStack,
                message: "cannot be set together with host: set one, or neither to use this stack's workspace",
            });
        }
    });

const modelEntrySchema = z
    .object({
        name: matching(/^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$/, "1-24 lowercase letters, digits or '-', starting with a letter"),
        model: z.string({ error: "must be the registered model name" }),
        alias: z.unknown().optional(),
        stage: z.unknown().optional(),
        version: z.unknown().optional(),
        latest: z.unknown().optional(),
        cpu: z.preprocess(numberFromString, z.number({ error: "must be a number of CPU cores, such as 1 or 0.5" })),
        memoryGb: z.preprocess(numberFromString, z.number({ error: "must be a number of GB, such as 2 or 1.5" })),
        workers: wholeNumber(WORKER_LIMITS.min, WORKER_LIMITS.max).optional(),
        minReplicas: wholeNumber(CONTAINER_APP_LIMITS.replicas.min, CONTAINER_APP_LIMITS.replicas.max).optional(),
        maxReplicas: wholeNumber(Math.max(1, CONTAINER_APP_LIMITS.replicas.min), CONTAINER_APP_LIMITS.replicas.max).optional(),
        concurrentRequests: wholeNumber(CONTAINER_APP_LIMITS.concurrentRequests.min, CONTAINER_APP_LIMITS.concurrentRequests.max).optional(),
        canary: z
            .object(
                {
                    alias: z.unknown().optional(),
                    stage: z.unknown().optional(),
                    version: z.unknown().optional(),
                    latest: z.unknown().optional(),
                    weight: wholeNumber(0, 100),
                },
                { error: "must be a map with one of alias, stage, version, latest and a weight (0-100)" },
            )
            .strict()
            .optional(),
    })
    .strict();

const modelsSchema = z.array(modelEntrySchema, {
    error: "must be a list of models to serve (name, model, cpu, memoryGb and one of alias, stage, version, latest)",
});

/** Entry keys that only mean something on Container Apps. */
const CONTAINER_APP_ONLY_KEYS = ["minReplicas", "maxReplicas", "concurrentRequests", "canary"] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IPV4_CIDR = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)(\/(3[0-2]|[12]?\d))?$/;

const entraFields = z.object(
    {
        tenantId: matching(GUID, "the Microsoft Entra tenant id (a GUID)"),
        clientId: matching(GUID, "the application (client) id of the app registration that represents the scoring API (a GUID)"),
        audiences: z.array(z.string().min(1), { error: "must be a list of accepted token audiences, such as api://mlflow-scoring" }).min(1, { error: "must list at least one audience" }),
    },
    { error: "must be a map with tenantId, clientId and audiences" },
);

const servingFields = z.object(
    {
        platform: oneOf(SERVING_PLATFORMS).optional(),
        containerRegistrySku: oneOf(CONTAINER_REGISTRY_SKUS),
        ingress: oneOf(INGRESS_MODES).optional(),
        ipAllowList: z.array(matching(IPV4_CIDR, "an IPv4 address or CIDR range, such as 203.0.113.0/24"), { error: "must be a list of IPv4 addresses or CIDR ranges" }).optional(),
        entra: entraFields.strict().optional(),
        logRetentionDays: wholeNumber(30, 730).optional(),
    },
    { error: "must be a map with containerRegistrySku and optionally platform, ingress, ipAllowList, entra, logRetentionDays" },
);

/**
 * The project keys this program reads, exactly as they appear after the `mlflow-platform:` prefix,
 * plus the provider key `azure-native:location`. Pulumi.yaml declares the same project keys with
 * their types and defaults; a test keeps the two in step.
 */
export const configSchema = z
    .object({
        [LOCATION_KEY]: matching(/^[a-z][a-z0-9]+$/, "an Azure region name in lowercase without spaces, such as westeurope"),
        environment: oneOf(ENVIRONMENTS),
        resourceGroupName: z.literal("").or(matching(
            /^[-\w.()]{1,89}[-\w()]$/,
            "an existing resource group name: 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
        )).optional(),
        storageAccountName: matching(/^[a-z0-9]{3,24}$/, "3-24 lowercase letters or digits (globally unique in Azure)"),
        storageSku: oneOf(STORAGE_SKUS),
        blobSoftDeleteDays: wholeNumber(RETENTION_DAYS.min, RETENTION_DAYS.max),
        containerSoftDeleteDays: wholeNumber(RETENTION_DAYS.min, RETENTION_DAYS.max),
        softDeleteEnabled: boolean(),
        allowBlobPublicAccess: boolean(),
        databricksSku: oneOf(DATABRICKS_SKUS),
        protect: boolean(),
        registry: registrySchema,
        models: modelsSchema,
        serving: servingFields.strict(),
    })
    .strict();

/**
 * Rules across keys (selectors per registry kind, sizes per platform, prd access). A separate
 * schema over just the keys they need, so they are reported even when an unrelated key is wrong.
 */
const crossFieldSchema = z
    .object({
        environment: oneOf(ENVIRONMENTS),
        registry: registrySchema,
        models: modelsSchema,
        serving: servingFields,
    })
    .superRefine((config, ctx) => {
        // Model names and selectors are checked by the same rules the ModelVersion provider applies.
        const kind = config.registry.kind;
        const platform = servingPlatformOf(config.environment, config.serving.platform);
        const serving = config.serving;
        if (platform === "aci") {
            for (const key of ["ingress", "ipAllowList", "entra"] as const) {
                if (serving[key] !== undefined) {
                    ctx.addIssue({ code: "custom", path: ["serving", key], input: serving[key], message: "only applies with serving.platform containerapp: Azure Container Instances has no access control" });
                }
            }
        }
        // prd is never anonymous: its endpoints need a network or identity restriction.
        if (config.environment === "prd") {
            if (platform === "aci") {
                ctx.addIssue({
                    code: "custom",
                    path: ["serving", "platform"],
                    input: "aci",
                    message: "would serve prd anonymously over plain HTTP: use containerapp with ipAllowList or entra",
                });
            } else if ((serving.ingress ?? "external") === "external" && !serving.ipAllowList?.length && !serving.entra) {
                ctx.addIssue({
                    code: "custom",
                    path: ["serving"],
                    input: serving,
                    message: "would let anyone on the internet call prd: set ipAllowList, entra, or ingress: internal",
                });
            }
        }
        const seen = new Set<string>();
        config.models.forEach((entry, i) => {
            if (seen.has(entry.name)) {
                ctx.addIssue({ code: "custom", path: ["models", i, "name"], input: entry.name, message: "is used by another model entry: service names must be unique" });
            }
            seen.add(entry.name);
            const sizeProblems = platform === "aci" ? aciSizeProblems(entry.cpu, entry.memoryGb) : containerAppSizeProblems(entry.cpu, entry.memoryGb);
            for (const problem of sizeProblems) {
                ctx.addIssue({ code: "custom", path: ["models", i, problem.field], input: problem.value, message: problem.reason });
            }
            if (platform === "aci") {
                for (const key of CONTAINER_APP_ONLY_KEYS.filter((k) => entry[k] !== undefined)) {
                    ctx.addIssue({ code: "custom", path: ["models", i, key], input: entry[key], message: "only applies with serving.platform containerapp" });
                }
            }
            if (entry.minReplicas !== undefined && entry.maxReplicas !== undefined && entry.maxReplicas < entry.minReplicas) {
                ctx.addIssue({ code: "custom", path: ["models", i, "maxReplicas"], input: entry.maxReplicas, message: `must be at least minReplicas (${entry.minReplicas})` });
            }
            if (entry.canary) {
                const canary = parseSelector(kind, entry.canary);
                for (const problem of canary.problems) {
                    const field = problem.field === "selector" ? undefined : problem.field;
                    ctx.addIssue({
                        code: "custom",
                        path: field ? ["models", i, "canary", field] : ["models", i, "canary"],
                        input: field ? (entry.canary as Record<string, unknown>)[field] : entry.canary,
                        message: `cannot be used: ${problem.reason}`,
                    });
                }
                const stable = parseSelector(kind, entry).selector;
                if (canary.selector && stable && JSON.stringify(canary.selector) === JSON.stringify(stable)) {
                    ctx.addIssue({ code: "custom", path: ["models", i, "canary"], input: entry.canary, message: "selects the same as the model's own selector: a canary needs another version" });
                }
            }
            for (const problem of [...checkModelName(kind, entry.model), ...parseSelector(kind, entry).problems]) {
                const field = problem.field === "selector" ? undefined : problem.field;
                ctx.addIssue({
                    code: "custom",
                    path: field ? ["models", i, field] : ["models", i],
                    input: field ? (entry as Record<string, unknown>)[field] : entry,
                    message: `cannot be used: ${problem.reason}`,
                });
            }
        });
    });


/** The project keys the program reads (without the project prefix). */
export const PROJECT_CONFIG_KEYS: readonly string[] = Object.keys(configSchema.shape).filter((key) => !key.includes(":"));

/**
 * Secret-only keys must be encrypted in the stack file; the program never reads their values,
 * and no message ever repeats them.
 */
function secretKeyProblems(raw: Record<string, unknown>, isSecret: (key: string) => boolean): string[] {
    return SECRET_ONLY_KEYS.filter((key) => raw[key] !== undefined && !isSecret(`${PROJECT_NAME}:${key}`)).map(
        (key) =>
            `${PROJECT_NAME}:${key} is stored in plain text: remove it from the stack file and set it with \`pulumi config set --secret ${key} <value>\``,
    );
}

/** A stack configuration that cannot be used; `problems` holds one line per bad key. */
export class ConfigError extends pulumi.RunError {
    constructor(
        readonly stack: string,
        readonly problems: readonly string[],
    ) {
        super(
            `Invalid configuration for stack "${stack}" (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
                problems.map((problem) => `  - ${problem}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

/** `serving.models[0].cpu` style path, prefixed with the project namespace where it has none. */
function configKey(path: readonly PropertyKey[]): string {
    const [head, ...rest] = path.map(String);
    const top = head.includes(":") ? head : `${PROJECT_NAME}:${head}`;
    return rest.reduce((key, part) => (/^\d+$/.test(part) ? `${key}[${part}]` : `${key}.${part}`), top);
}

/** dev serves on ACI (cheap), prd on Container Apps (no downtime, access control), unless set. */
export function servingPlatformOf(environment: Environment, platform: ServingPlatform | undefined): ServingPlatform {
    return platform ?? (environment === "prd" ? "containerapp" : "aci");
}

/** The keys allowed at a path, for suggesting the closest one to a misspelt key. */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
    if (path[0] === "registry") return Object.keys(registryFields.shape);
    if (path[0] === "models") return path[2] === "canary" ? ["alias", "stage", "version", "latest", "weight"] : Object.keys(modelEntrySchema.shape);
    if (path[0] === "serving") return path[1] === "entra" ? Object.keys(entraFields.shape) : Object.keys(servingFields.shape);
    return [...Object.keys(configSchema.shape), ...SECRET_ONLY_KEYS];
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
    if (issue.code === "unrecognized_keys") {
        return issue.keys.map((key) => {
            const full = configKey([...issue.path, key]);
            const suggestion = closest(key, knownKeysAt(issue.path));
            return `${full} is not a setting this program reads (probable typo): did you mean ${configKey([...issue.path, suggestion])}?`;
        });
    }
    const key = configKey(issue.path);
    if (issue.input === undefined) return [`${key} is not set: it ${issue.message}`];
    return [`${key} = ${JSON.stringify(issue.input)} is not allowed: it ${issue.message}`];
}

/**
 * Validates a raw configuration map (keys without the project prefix, values as Pulumi hands them
 * over) and builds the typed config. Throws a ConfigError listing every problem.
 */
export function parsePlatformConfig(
    raw: Record<string, unknown>,
    stack: string,
    project = PROJECT_NAME,
    isSecret: (key: string) => boolean = () => false,
): PlatformConfig {
    const publicValues = Object.fromEntries(Object.entries(raw).filter(([key]) => !(SECRET_ONLY_KEYS as readonly string[]).includes(key)));
    const result = configSchema.safeParse(publicValues, { reportInput: true });
    const cross = crossFieldSchema.safeParse(publicValues, { reportInput: true });
    const problems = secretKeyProblems(raw, isSecret);
    for (const issues of [result.error?.issues ?? [], cross.error?.issues ?? []]) {
        for (const problem of issues.flatMap(describeIssue)) if (!problems.includes(problem)) problems.push(problem);
    }
    if (problems.length > 0 || !result.success) throw new ConfigError(stack, problems);
    const c = result.data;
    return {
        project,
        stack,
        environment: c.environment,
        location: c[LOCATION_KEY],
        protect: c.protect,
        tags: { environment: c.environment, project, "managed-by": "pulumi" },
        storage: {
            // Pulumi.yaml defaults it to "" because the CLI requires a default for every optional key.
            existingResourceGroupName: c.resourceGroupName || undefined,
            accountName: c.storageAccountName,
            sku: c.storageSku,
            blobSoftDeleteDays: c.blobSoftDeleteDays,
            containerSoftDeleteDays: c.containerSoftDeleteDays,
            softDeleteEnabled: c.softDeleteEnabled,
            allowBlobPublicAccess: c.allowBlobPublicAccess,
        },
        databricks: { sku: c.databricksSku },
        registry: { kind: c.registry.kind, host: c.registry.host, hostFromStack: c.registry.hostFromStack },
        models: c.models.map((entry) => ({
            name: entry.name,
            model: entry.model,
            selector: parseSelector(c.registry.kind, entry).selector as Selector,
            cpu: entry.cpu,
            memoryGb: entry.memoryGb,
            // One worker per whole core by default: the scoring server is CPU-bound.
            workers: entry.workers ?? Math.max(1, Math.floor(entry.cpu)),
            scale: {
                minReplicas: entry.minReplicas ?? 1,
                maxReplicas: entry.maxReplicas ?? Math.max(3, entry.minReplicas ?? 1),
                concurrentRequests: entry.concurrentRequests ?? 20,
            },
            canary: entry.canary
                ? { selector: parseSelector(c.registry.kind, entry.canary).selector as Selector, weight: entry.canary.weight }
                : undefined,
        })),
        serving: {
            platform: servingPlatformOf(c.environment, c.serving.platform),
            containerRegistrySku: c.serving.containerRegistrySku,
            access: { ingress: c.serving.ingress ?? "external", ipAllowList: c.serving.ipAllowList ?? [], entra: c.serving.entra },
            logRetentionDays: c.serving.logRetentionDays ?? 30,
        },
        registryCredentials: {
            token: secretValue(raw.registryToken),
            username: secretValue(raw.registryUsername),
            password: secretValue(raw.registryPassword),
        },
    };
}

/**
 * Turns Pulumi's flat `namespace:key -> string` map into the raw shape `parsePlatformConfig` reads:
 * this project's keys (prefix removed, JSON objects and lists decoded) and `azure-native:location`.
 */
export function rawConfigFrom(all: Record<string, string>, project = PROJECT_NAME): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const prefix = `${project}:`;
    for (const [key, value] of Object.entries(all)) {
        if (key === LOCATION_KEY) raw[key] = value;
        else if (key.startsWith(prefix)) raw[key.slice(prefix.length)] = decodeStructured(value);
    }
    return raw;
}

// Pulumi passes objects and lists set with `--path` (or written as YAML maps) as JSON text.
function decodeStructured(value: string): unknown {
    const trimmed = value.trim();
    if (!trimmed.startsWith("{") && !trimmed.startsWith("[")) return value;
    try {
        return JSON.parse(trimmed);
    } catch {
        return value;
    }
}

/** A set, non-empty secret config value as a Pulumi secret; undefined otherwise. */
function secretValue(value: unknown): pulumi.Output<string> | undefined {
    return typeof value === "string" && value !== "" ? pulumi.secret(value) : undefined;
}

// Pulumi knows which config values were encrypted but does not type that function publicly.
const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;

/** Reads the current stack's configuration once. Call before declaring any resource. */
export function loadPlatformConfig(): PlatformConfig {
    return parsePlatformConfig(
        rawConfigFrom(pulumi.runtime.allConfig(), pulumi.getProject()),
        pulumi.getStack(),
        pulumi.getProject(),
        (key) => isConfigSecret?.(key) ?? false,
    );
}
