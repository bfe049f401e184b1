// Reads the stack configuration once into a typed, validated object.
//
// Every problem is collected and reported together, each naming the key, the value given and
// what is allowed, so a broken stack file is fixed in one pass instead of one error per run.
import * as pulumi from "@pulumi/pulumi";
import { closest } from "fastest-levenshtein";
import { z } from "zod";

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
export const RETENTION_DAYS = { min: 1, max: 365 } as const;

export type Environment = (typeof ENVIRONMENTS)[number];
export type StorageSku = (typeof STORAGE_SKUS)[number];
export type DatabricksSku = (typeof DATABRICKS_SKUS)[number];

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
    };
    databricks: {
        sku: DatabricksSku;
    };
}

// Pulumi hands every top-level config value to the program as a string ("7", "true").
// These turn such strings into numbers and booleans and leave anything else untouched, so the
// schema reports the value exactly as it was written.
function integerFromString(value: unknown): unknown {
    return typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
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

/**
 * The project keys this program reads, exactly as they appear after the `mlflow-platform:` prefix,
 * plus the provider key `azure-native:location`. Pulumi.yaml declares the same project keys with
 * their types and defaults; a test keeps the two in step.
 */
export const configSchema = z
    .object({
        [LOCATION_KEY]: matching(/^[a-z][a-z0-9]+$/, "an Azure region name in lowercase without spaces, such as westeurope"),
        environment: oneOf(ENVIRONMENTS),
        resourceGroupName: matching(
            /^[-\w.()]{1,89}[-\w()]$/,
            "an existing resource group name: 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
        ).optional(),
        storageAccountName: matching(/^[a-z0-9]{3,24}$/, "3-24 lowercase letters or digits (globally unique in Azure)"),
        storageSku: oneOf(STORAGE_SKUS),
        blobSoftDeleteDays: wholeNumber(RETENTION_DAYS.min, RETENTION_DAYS.max),
        containerSoftDeleteDays: wholeNumber(RETENTION_DAYS.min, RETENTION_DAYS.max),
        databricksSku: oneOf(DATABRICKS_SKUS),
        protect: boolean(),
    })
    .strict();

export type RawConfig = z.input<typeof configSchema>;

/** The project keys the program reads (without the project prefix). */
export const PROJECT_CONFIG_KEYS: readonly string[] = Object.keys(configSchema.shape).filter((key) => !key.includes(":"));

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

function describeIssue(issue: z.core.$ZodIssue, knownKeys: readonly string[]): string[] {
    if (issue.code === "unrecognized_keys") {
        return issue.keys.map((key) => {
            const full = configKey([...issue.path, key]);
            const suggestion = closest(key, [...knownKeys]);
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
export function parsePlatformConfig(raw: Record<string, unknown>, stack: string, project = PROJECT_NAME): PlatformConfig {
    const result = configSchema.safeParse(raw, { reportInput: true });
    if (!result.success) {
        const knownKeys = Object.keys(configSchema.shape);
        throw new ConfigError(
            stack,
            result.error.issues.flatMap((issue) => describeIssue(issue, knownKeys)),
        );
    }
    const c = result.data;
    return {
        project,
        stack,
        environment: c.environment,
        location: c[LOCATION_KEY],
        protect: c.protect,
        tags: { environment: c.environment, project, "managed-by": "pulumi" },
        storage: {
            existingResourceGroupName: c.resourceGroupName,
            accountName: c.storageAccountName,
            sku: c.storageSku,
            blobSoftDeleteDays: c.blobSoftDeleteDays,
            containerSoftDeleteDays: c.containerSoftDeleteDays,
        },
        databricks: { sku: c.databricksSku },
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

/** Reads the current stack's configuration once. Call before declaring any resource. */
export function loadPlatformConfig(): PlatformConfig {
    return parsePlatformConfig(
        rawConfigFrom(pulumi.runtime.allConfig(), pulumi.getProject()),
        pulumi.getStack(),
        pulumi.getProject(),
    );
}
