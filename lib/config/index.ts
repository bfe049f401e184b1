// Reads the stack configuration once into a typed, validated object: the loader. Each section's
// schema, defaults and rules live in its own file (storage.ts, databricks.ts, registry.ts,
// models.ts, serving.ts, access.ts); this file combines them.
//
// Every problem is collected and reported together, each naming the key, the value given and
// what is allowed, so a broken stack file is fixed in one pass instead of one error per run.
import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { PROJECT_NAME, type Environment, type Issue } from "./common";
import { environmentOfStack } from "../policy/rules";
import { storageConfig, type StorageConfig } from "./storage";
import { databricksIssues, type DatabricksConfig } from "./databricks";
import { registryConfig, registryIssues, registryOrigin, SECRET_ONLY_KEYS, type RegistryConfig } from "./registry";
import { accessIssues, accessRoles, accessWarnings, type AccessRoles } from "./access";
import { modelIssues, servedModels, type ServedModel } from "./models";
import { payloadRetentionDays, servingConfig, servingIssues, servingPlatformOf, servingWarnings, type ServingConfig } from "./serving";
import { observabilityConfig, observabilityIssues, type ObservabilityConfig } from "./observability";
import { driftIssues, driftWarnings } from "./drift";
import { configSchema, crossFieldSchema, LOCATION_KEY } from "./schema";
import { describe, foreignKeyProblems, secretKeyProblems, urlCredentialProblems, zodProblems } from "./problems";

export * from "./common";
export * from "./storage";
export * from "./databricks";
export * from "./registry";
export * from "./models";
export * from "./serving";
export * from "./access";
export * from "./observability";
export { configSchema, LOCATION_KEY, PROJECT_CONFIG_KEYS } from "./schema";

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
    storage: StorageConfig;
    databricks: DatabricksConfig;
    registry: RegistryConfig;
    /** Who reads data, registers, promotes, deploys and calls the scoring API. */
    access: AccessRoles;
    models: ServedModel[];
    serving: ServingConfig;
    /** Alert thresholds, who is told, the dashboard (mlflow-platform:observability). */
    observability: ObservabilityConfig;
    /** Things that are allowed but look wrong (placeholder ranges, a shortened registry URL). */
    warnings: string[];
    /** Registry credentials from secret config, for the serving containers; absent when unset. */
    registryCredentials: {
        token?: pulumi.Output<string>;
        username?: pulumi.Output<string>;
        password?: pulumi.Output<string>;
    };
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

/**
 * Rules across keys, over the parsed values of just the keys they need, so they are reported even
 * when an unrelated key is wrong: the stack's environment here, then each section's own rules.
 */
function crossFieldIssues(stack: string, c: z.infer<typeof crossFieldSchema>, isSecret: (key: string) => boolean): Issue[] {
    const issues: Issue[] = [];
    const platform = servingPlatformOf(c.environment, c.serving.platform);
    const stackEnvironment = environmentOfStack(stack);
    if (c.environment !== stackEnvironment) {
        issues.push({
            path: ["environment"],
            input: c.environment,
            message: `does not match the stack "${stack}", which is a ${stackEnvironment} stack by its name (prd, or a name ending in -prd, is prd; any other name is dev) and gets ${stackEnvironment}'s policy rules: set environment: ${stackEnvironment}, or use a stack named for ${c.environment}`,
        });
    }
    // The stack whose own workspace holds the Unity Catalog registry declares the prd schema and
    // makes its deployers the owners: its roles decide what prd serves, as prd's own do.
    const holdsPrdSchema = c.registry.kind === "unity-catalog" && !c.registry.host && !c.registry.hostFromStack;
    return [
        ...issues,
        ...databricksIssues(c.databricksSku, c.registry.kind),
        ...registryIssues(c.registry, c.models.length),
        ...servingIssues(c.environment, c.serving, platform),
        ...accessIssues(c.environment, c.access, holdsPrdSchema),
        ...modelIssues(c.environment, c.models, c.registry, platform),
        ...observabilityIssues(c.observability, isSecret),
        // The drift window must fit in what the payload log keeps (its default per environment included).
        ...driftIssues(c.observability?.drift, payloadRetentionDays(c.environment, c.serving)),
    ];
}

/**
 * Validates a raw configuration map (this project's keys without the prefix, values as Pulumi
 * hands them over; other namespaces' keys with theirs) and builds the typed config. Throws a
 * ConfigError listing every problem.
 */
export function parsePlatformConfig(
    raw: Record<string, unknown>,
    stack: string,
    project = PROJECT_NAME,
    isSecret: (key: string) => boolean = () => false,
): PlatformConfig {
    const secretKeys = SECRET_ONLY_KEYS as readonly string[];
    const projectValues = Object.fromEntries(Object.entries(raw).filter(([key]) => !secretKeys.includes(key) && (!key.includes(":") || key === LOCATION_KEY)));
    const credentialProblems = urlCredentialProblems(Object.fromEntries(Object.entries(raw).filter(([key]) => !secretKeys.includes(key))));
    const result = configSchema.safeParse(projectValues, { reportInput: true });
    const cross = crossFieldSchema.safeParse(projectValues, { reportInput: true });
    const problems = [...secretKeyProblems(raw, isSecret), ...credentialProblems, ...foreignKeyProblems(raw, project, isSecret)];
    const issues = [...(result.error?.issues ?? []).flatMap(zodProblems), ...(cross.success ? crossFieldIssues(stack, cross.data, isSecret).map(describe) : cross.error.issues.flatMap(zodProblems))];
    for (const problem of issues) if (!problems.includes(problem)) problems.push(problem);
    if (problems.length > 0 || !result.success) throw new ConfigError(stack, problems);
    const c = result.data;
    const platform = servingPlatformOf(c.environment, c.serving.platform);
    // Allowed, but almost certainly not what an operator wants in prd.
    const holdsRegistry = (c.registry.kind ?? "unity-catalog") === "unity-catalog" && !c.registry.host && !c.registry.hostFromStack;
    const warnings = [
        ...servingWarnings(c.environment, c.serving, platform, c.models.length),
        ...accessWarnings(c.access, holdsRegistry),
        ...driftWarnings(c.observability?.drift, payloadRetentionDays(c.environment, c.serving)),
    ];
    const serving = servingConfig(c.serving, platform, c.environment);
    let host = c.registry.host;
    if (host) {
        const origin = registryOrigin(c.registry.kind, host);
        host = origin.host;
        if (origin.warning) warnings.push(origin.warning);
    }
    return {
        project,
        stack,
        environment: c.environment,
        location: c[LOCATION_KEY],
        protect: c.protect,
        tags: { environment: c.environment, project, "managed-by": "pulumi" },
        storage: storageConfig(c),
        databricks: { sku: c.databricksSku },
        registry: registryConfig(c.registry, host),
        access: accessRoles(c.access),
        models: servedModels(c.models, c.registry.kind, c.environment, serving.payloadLog.sampleRate),
        serving,
        observability: observabilityConfig(c.observability),
        warnings,
        registryCredentials: {
            token: secretValue(raw.registryToken),
            username: secretValue(raw.registryUsername),
            password: secretValue(raw.registryPassword),
        },
    };
}

/**
 * Turns Pulumi's flat `namespace:key -> string` map into the raw shape `parsePlatformConfig` reads:
 * this project's keys (prefix removed, JSON objects and lists decoded), every other key as it is.
 */
export function rawConfigFrom(all: Record<string, string>, project = PROJECT_NAME): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    const prefix = `${project}:`;
    for (const [key, value] of Object.entries(all)) {
        if (key.startsWith(prefix)) raw[key.slice(prefix.length)] = decodeStructured(value);
        else raw[key] = value;
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
