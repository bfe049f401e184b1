// Reads the stack configuration once into a typed, validated object.
//
// Every problem is collected and reported together, each naming the key, the value given and
// what is allowed, so a broken stack file is fixed in one pass instead of one error per run.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { AZURE_REGIONS } from "./regions";
import { closeMatch, displayValue, hasUrlCredentials, holdsSecret, looksLikeSecret, stringLeaves } from "./text";
import { placeholderKind } from "../policy/network";
import { environmentOfStack } from "../policy/rules";
import { ENGINE_NAMESPACES, PROVIDER_KEYS, PROVIDER_SECRET_KEYS } from "./providerConfig";
import { REGISTRY_KINDS, type RegistryKind, type Selector } from "../registry/types";
import { checkModelName, parseSelector } from "../registry/validation";
import { aciSizeProblems, CONTAINER_APP_LIMITS, containerAppSizeProblems, WORKER_LIMITS } from "../serving/limits";

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
// Azure creates no Standard workspaces since 2026-04-01 and moved the remaining ones to Premium on
// 2026-10-01; Unity Catalog needs Premium. `trial` is the 14-day Premium trial.
export const DATABRICKS_SKUS = ["premium", "trial"] as const;
export const CONTAINER_REGISTRY_SKUS = ["Basic", "Standard", "Premium"] as const;
export const SERVING_PLATFORMS = ["aci", "containerapp"] as const;
export const INGRESS_MODES = ["external", "internal"] as const;
export const RETENTION_DAYS = { min: 1, max: 365 } as const;
/** Inactive Container Apps revisions kept for a quick roll back (Azure keeps up to 100). */
export const MAX_INACTIVE_REVISIONS = { min: 0, max: 20, default: 3 } as const;

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

/**
 * Who may call the Container Apps endpoints. Microsoft Entra authentication is always on: the
 * stack creates the scoring API's app registration and accepts only tokens with its app role.
 */
export interface AccessConfig {
    ingress: IngressMode;
    /** An optional extra: IPv4 addresses or CIDR ranges allowed to call; empty allows any address. */
    ipAllowList: string[];
}

/** Kinds of Microsoft Entra principals a role may name (a managed identity is a service principal). */
export const PRINCIPAL_TYPES = ["group", "user", "servicePrincipal"] as const;
export type PrincipalType = (typeof PRINCIPAL_TYPES)[number];

/** A Microsoft Entra principal named in config. */
export interface Principal {
    /** Its object id in Entra ID (what Azure RBAC and app role assignments name). */
    objectId: string;
    type: PrincipalType;
    /**
     * Its name in Databricks (what Unity Catalog grants name): a group's display name, a user's
     * e-mail address, a service principal's application (client) id. Required for data scientists
     * and deployers.
     */
    name?: string;
}

/** The three roles of the platform, from `mlflow-platform:access`. */
export interface AccessRoles {
    /** Read and write training data and model files; register models and set candidate aliases in the dev schema. */
    dataScientists: Principal[];
    /** Deploy the stacks, promote versions into the prd schema (its owner). The deploying identity is one too. */
    deployers: Principal[];
    /** May call the scoring API (they get its `Scoring.Invoke` app role). */
    scoringClients: Principal[];
    /**
     * Read-only: the pull-request preview identity (AZURE_PREVIEW_CLIENT_ID). Unity Catalog gives
     * them what resolving model versions and aliases needs (USE_CATALOG, USE_SCHEMA, EXECUTE).
     */
    readers?: Principal[];
    /** prd only: a principal may be both a data scientist and a deployer only when this is true. */
    acceptDataScientistAsDeployer: boolean;
}

/** Where the model registry is. Exactly one of `host`, `hostFromStack`, or neither (this stack's workspace). */
export interface RegistryConfig {
    kind: RegistryKind;
    /** Unity Catalog: the catalog the served models live in (`<catalog>.<schema>.<model>`). */
    catalog?: string;
    host?: string;
    /** `organization/project/stack` whose `workspaceUrl` output is the registry host. */
    hostFromStack?: string;
    /** Unity Catalog: where data scientists register candidates (`<catalog>.<devSchema>.<model>`). */
    devSchema: string;
    /** Unity Catalog: what prd serves, managed by the deployers (MANAGE) (`<catalog>.<prdSchema>.<model>`). */
    prdSchema: string;
    /**
     * The Databricks account (a GUID) of the registry's workspace: the registration principal's
     * role rule set is named after it (`accounts/<id>/servicePrincipals/<application id>/ruleSets/default`).
     */
    databricksAccountId?: string;
    /**
     * Who the registration job runs as instead of the service principal the stack declares: a
     * service principal's application id, or a user's e-mail address. It gets the same grants.
     */
    registrationRunAs?: { servicePrincipalName: string } | { userName: string };
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
    /** Who reads data, registers, promotes, deploys and calls the scoring API. */
    access: AccessRoles;
    models: ServedModel[];
    serving: {
        platform: ServingPlatform;
        containerRegistrySku: ContainerRegistrySku;
        access: AccessConfig;
        logRetentionDays: number;
        /** Container Apps only: inactive revisions kept for rolling back. */
        maxInactiveRevisions: number;
    };
    /** Things that are allowed but look wrong (placeholder ranges, a shortened registry URL). */
    warnings: string[];
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
const HOST_EXAMPLE = "https://adb-1234567890123456.7.azuredatabricks.net";

const registryHost = z.string({ error: `must be a URL such as ${HOST_EXAMPLE}` }).superRefine((value, ctx) => {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        ctx.addIssue({ code: "custom", message: `must be a URL such as ${HOST_EXAMPLE}` });
        return;
    }
    if (url.username || url.password) {
        // Reported once for every string with credentials, without the value; see urlCredentialProblems.
        return;
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname))) {
        ctx.addIssue({ code: "custom", message: "must use https:// (plain http:// only for localhost, so tokens never cross a network in clear text)" });
    }
});

const UC_IDENTIFIER = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$/;
/** Catalog names the metastore already uses for its own catalogs: creating one fails. */
export const RESERVED_CATALOGS = ["hive_metastore", "system", "samples", "__databricks_internal"] as const;
export const DEFAULT_SCHEMAS = { dev: "dev", prd: "prd" } as const;

/**
 * A catalog or schema name Unity Catalog accepts and keeps as written: at most 255 characters, no
 * period, space or slash (refused even quoted), and lowercase, since Unity Catalog stores names in
 * lowercase and the model names in this file must match them. This program also keeps to letters,
 * digits, '_' and '-' so names need no quoting anywhere.
 */
function ucName(what: "catalog" | "schema") {
    const rule = `a Unity Catalog ${what} name: 1-255 lowercase letters, digits, '_' or '-' (no '.', space or '/')`;
    return z.string({ error: `must be ${rule}` }).superRefine((value, ctx) => {
        if (!UC_IDENTIFIER.test(value)) {
            ctx.addIssue({ code: "custom", message: `must be ${rule}` });
        } else if (value !== value.toLowerCase()) {
            ctx.addIssue({ code: "custom", message: `must be lowercase: Unity Catalog stores names in lowercase, so write ${value.toLowerCase()}` });
        } else if (what === "catalog" && (RESERVED_CATALOGS as readonly string[]).includes(value)) {
            ctx.addIssue({ code: "custom", message: `is a catalog Unity Catalog keeps for itself (${RESERVED_CATALOGS.join(", ")}): choose another name` });
        }
    });
}

// Anchored at both ends (no `m` flag): a GUID with anything before or after it is refused.
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ZERO_GUID = "00000000-0000-0000-0000-000000000000";
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const RUN_AS = new RegExp(`^(?:${GUID.source.slice(1, -1)}|${EMAIL.source.slice(1, -1)})$`, "i");
const ZERO_GUID_RULE = "is the all-zero GUID, a placeholder no real principal or account has: write the real id";

/** A GUID key: the format, and never the all-zero placeholder. */
function guid(rule: string) {
    return matching(GUID, rule).refine((value) => value !== ZERO_GUID, { error: ZERO_GUID_RULE });
}

const registryFields = z.object(
    {
        kind: oneOf(REGISTRY_KINDS as unknown as readonly [RegistryKind, ...RegistryKind[]]),
        catalog: ucName("catalog").optional(),
        devSchema: ucName("schema").optional(),
        prdSchema: ucName("schema").optional(),
        host: registryHost.optional(),
        hostFromStack: matching(/^([\w.-]+\/){0,2}[\w.-]+$/, "a stack name: organization/project/stack").optional(),
        databricksAccountId: guid("the Databricks account id of the registry's workspace (a GUID, shown in the Databricks account console)").optional(),
        registrationRunAs: matching(RUN_AS, "a service principal's application id (a GUID) or a user's e-mail address in Databricks")
            .refine((value) => value !== ZERO_GUID, { error: ZERO_GUID_RULE })
            .optional(),
    },
    { error: "must be a map with kind (mlflow, databricks or unity-catalog) and optionally catalog, devSchema, prdSchema, host, hostFromStack, databricksAccountId or registrationRunAs" },
);
const registrySchema = registryFields.strict().superRefine((registry, ctx) => {
    if (registry.host && registry.hostFromStack) {
        ctx.addIssue({
            code: "custom",
            path: ["hostFromStack"],
            input: registry.hostFromStack,
            message: "cannot be set together with host: set one, or neither to use this stack's workspace",
        });
    }
    for (const key of ["catalog", "devSchema", "prdSchema"] as const) {
        if (registry[key] !== undefined && registry.kind !== "unity-catalog") {
            ctx.addIssue({ code: "custom", path: [key], input: registry[key], message: "only applies with registry.kind unity-catalog: remove it" });
        }
    }
    for (const key of ["databricksAccountId", "registrationRunAs"] as const) {
        if (registry[key] !== undefined && (registry.kind !== "unity-catalog" || registry.host || registry.hostFromStack)) {
            ctx.addIssue({
                code: "custom",
                path: [key],
                input: registry[key],
                message: "only applies in the stack whose own workspace holds a unity-catalog registry (no host, no hostFromStack): remove it",
            });
        }
    }
    if (registry.devSchema !== undefined && registry.devSchema === (registry.prdSchema ?? DEFAULT_SCHEMAS.prd)) {
        ctx.addIssue({
            code: "custom",
            path: ["devSchema"],
            input: registry.devSchema,
            message: "is the prd schema too: data scientists register in the dev schema and only deployers own the prd schema, so they must differ",
        });
    } else if (registry.prdSchema !== undefined && registry.prdSchema === DEFAULT_SCHEMAS.dev && registry.devSchema === undefined) {
        ctx.addIssue({ code: "custom", path: ["prdSchema"], input: registry.prdSchema, message: "is the dev schema's default name: the two schemas must differ" });
    }
});

const selectorFields = {
    alias: z.unknown().optional(),
    stage: z.unknown().optional(),
    version: z.unknown().optional(),
    latest: z.unknown().optional(),
};

const canaryFields = z.object(
    { ...selectorFields, weight: wholeNumber(0, 100) },
    { error: "must be a map with one of alias, stage, version, latest and a weight (0-100)" },
);

const SERVICE_NAME_RULE = "1-24 lowercase letters, digits or '-', starting with a letter and not ending with '-'";
const modelEntryFields = z.object(
    {
        name: matching(/^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$/, SERVICE_NAME_RULE).refine((name) => !name.includes("--"), {
            error: "must not contain \"--\": Azure Container Apps reserves it to separate an app's name from a revision's suffix",
        }),
        model: z.string({ error: "must be the registered model name" }),
        ...selectorFields,
        cpu: z.preprocess(numberFromString, z.number({ error: "must be a number of CPU cores, such as 1 or 0.5" })),
        memoryGb: z.preprocess(numberFromString, z.number({ error: "must be a number of GB, such as 2 or 1.5" })),
        workers: wholeNumber(WORKER_LIMITS.min, WORKER_LIMITS.max).optional(),
        minReplicas: wholeNumber(CONTAINER_APP_LIMITS.replicas.min, CONTAINER_APP_LIMITS.replicas.max).optional(),
        maxReplicas: wholeNumber(Math.max(1, CONTAINER_APP_LIMITS.replicas.min), CONTAINER_APP_LIMITS.replicas.max).optional(),
        concurrentRequests: wholeNumber(CONTAINER_APP_LIMITS.concurrentRequests.min, CONTAINER_APP_LIMITS.concurrentRequests.max).optional(),
        canary: canaryFields.strict().optional(),
    },
    { error: "must be a map with name, model, cpu, memoryGb and one of alias, stage, version or latest" },
);
const modelEntrySchema = modelEntryFields.strict();

const modelsSchema = z.array(modelEntrySchema, {
    error: "must be a list of models to serve (name, model, cpu, memoryGb and one of alias, stage, version, latest)",
});

const IPV4_CIDR = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)(\/(3[0-2]|[12]?\d))?$/;

const principalFields = z.object(
    {
        objectId: guid("the principal's object id in Microsoft Entra ID (a GUID such as 3f2b8c1e-5d4a-4e6f-9b7c-2a1d0e9f8c7b; `az ad group show -g <name> --query id`)"),
        type: oneOf(PRINCIPAL_TYPES),
        name: z.string({ error: "must be the principal's name in Databricks" }).optional(),
    },
    { error: "must be a map with objectId (a GUID), type (group, user or servicePrincipal) and name (its name in Databricks)" },
);
const principalList = z.array(principalFields.strict(), { error: "must be a list of principals, each with objectId, type and name" });

const accessFields = z.object(
    {
        dataScientists: principalList.optional(),
        deployers: principalList.optional(),
        scoringClients: principalList.optional(),
        readers: principalList.optional(),
        acceptDataScientistAsDeployer: boolean().optional(),
    },
    { error: "must be a map with dataScientists, deployers and scoringClients (lists of principals) and optionally readers (a list of principals) and acceptDataScientistAsDeployer" },
);

const servingFields = z.object(
    {
        platform: oneOf(SERVING_PLATFORMS).optional(),
        containerRegistrySku: oneOf(CONTAINER_REGISTRY_SKUS),
        ingress: oneOf(INGRESS_MODES).optional(),
        ipAllowList: z.array(matching(IPV4_CIDR, "an IPv4 address or CIDR range, such as 203.0.113.0/24"), { error: "must be a list of IPv4 addresses or CIDR ranges" }).optional(),
        // Read only to say it is gone: the stack now creates the scoring API's app registration.
        entra: z.unknown().optional(),
        logRetentionDays: wholeNumber(30, 730).optional(),
        maxInactiveRevisions: wholeNumber(MAX_INACTIVE_REVISIONS.min, MAX_INACTIVE_REVISIONS.max).optional(),
    },
    { error: "must be a map with containerRegistrySku and optionally platform, ingress, ipAllowList, logRetentionDays, maxInactiveRevisions" },
);

/** Keys that only mean something on Container Apps, per map: refused on ACI, all alike. */
const CONTAINER_APP_ONLY = {
    serving: ["ingress", "ipAllowList", "logRetentionDays", "maxInactiveRevisions"],
    model: ["minReplicas", "maxReplicas", "concurrentRequests", "canary"],
} as const;

const databricksSku = z
    .string({ error: `must be one of: ${DATABRICKS_SKUS.join(", ")}` })
    .superRefine((value, ctx) => {
        if (value === "standard") {
            ctx.addIssue({
                code: "custom",
                message: "is no longer offered: Azure creates no Standard workspaces since 2026-04-01 and moved the rest to Premium on 2026-10-01: use premium",
            });
        } else if (!(DATABRICKS_SKUS as readonly string[]).includes(value)) {
            ctx.addIssue({ code: "custom", message: `must be one of: ${DATABRICKS_SKUS.join(", ")}` });
        }
    })
    .transform((value) => value as DatabricksSku);

const location = z.string({ error: "must be an Azure region name, such as westeurope" }).superRefine((value, ctx) => {
    if (AZURE_REGIONS.includes(value)) return;
    const squashed = value.toLowerCase().replace(/[\s_-]/g, "");
    const suggestion = AZURE_REGIONS.includes(squashed) ? squashed : closeMatch(squashed, AZURE_REGIONS);
    ctx.addIssue({
        code: "custom",
        message:
            `must be an Azure region name in lowercase without spaces, such as westeurope` +
            (suggestion ? `: did you mean ${suggestion}?` : ` (\`az account list-locations -o table\` lists them; lib/config/regions.ts says how to update the list)`),
    });
});

/**
 * The project keys this program reads, exactly as they appear after the `mlflow-platform:` prefix,
 * plus the provider key `azure-native:location`. Pulumi.yaml declares the same project keys with
 * their types and defaults; a test keeps the two in step.
 */
export const configSchema = z
    .object({
        [LOCATION_KEY]: location,
        environment: oneOf(ENVIRONMENTS),
        resourceGroupName: z
            .literal("", { error: "must be an existing resource group name" })
            .or(matching(/^[-\w.()]{1,89}[-\w()]$/, "an existing resource group name: 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'"))
            .optional(),
        storageAccountName: matching(/^[a-z0-9]{3,24}$/, "3-24 lowercase letters or digits (globally unique in Azure)"),
        storageSku: oneOf(STORAGE_SKUS),
        blobSoftDeleteDays: wholeNumber(RETENTION_DAYS.min, RETENTION_DAYS.max),
        containerSoftDeleteDays: wholeNumber(RETENTION_DAYS.min, RETENTION_DAYS.max),
        softDeleteEnabled: boolean(),
        allowBlobPublicAccess: boolean(),
        databricksSku,
        protect: boolean(),
        registry: registrySchema,
        access: accessFields.strict(),
        models: modelsSchema,
        serving: servingFields.strict(),
    })
    .strict();

type ModelEntry = z.infer<typeof modelEntryFields>;

/** A custom problem at a path, as the cross-field rules report them. */
interface Issue {
    path: (string | number)[];
    input?: unknown;
    message: string;
    /** Never show the value (it may be a credential). */
    hideValue?: boolean;
}

const MAX_SAFE_DIGITS = String(Number.MAX_SAFE_INTEGER);

/** A pinned version that a stack file cannot carry exactly (JavaScript numbers lose digits above 2^53). */
function unsafeVersion(value: unknown): boolean {
    return typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value);
}

function selectorIssues(kind: RegistryKind, fields: Record<string, unknown>, path: (string | number)[]): Issue[] {
    if (unsafeVersion(fields.version)) {
        return [
            {
                path: [...path, "version"],
                input: fields.version,
                message: `is larger than ${MAX_SAFE_DIGITS}, the largest whole number a stack file passes to the program exactly: check the version, and write it in quotes`,
            },
        ];
    }
    return parseSelector(kind, fields).problems.map((problem) => {
        const field = problem.field === "selector" ? undefined : problem.field;
        return { path: field ? [...path, field] : path, input: field ? fields[field] : fields, message: `cannot be used: ${problem.reason}` };
    });
}

/**
 * Rules across keys (selectors per registry kind, sizes and keys per platform, prd access, the
 * Databricks tier, the stack's environment), over the parsed values of just the keys they need, so
 * they are reported even when an unrelated key is wrong.
 */
function crossFieldIssues(stack: string, c: z.infer<typeof crossFieldSchema>): Issue[] {
    const issues: Issue[] = [];
    const add = (path: (string | number)[], input: unknown, message: string) => issues.push({ path, input, message });
    const kind = c.registry.kind;
    const platform = servingPlatformOf(c.environment, c.serving.platform);
    const serving = c.serving;

    const stackEnvironment = environmentOfStack(stack);
    if (c.environment !== stackEnvironment) {
        add(
            ["environment"],
            c.environment,
            `does not match the stack "${stack}", which is a ${stackEnvironment} stack by its name (prd, or a name ending in -prd, is prd; any other name is dev) and gets ${stackEnvironment}'s policy rules: set environment: ${stackEnvironment}, or use a stack named for ${c.environment}`,
        );
    }
    if (kind === "unity-catalog" && c.databricksSku === "trial") {
        add(["databricksSku"], c.databricksSku, "cannot hold a Unity Catalog registry (registry.kind unity-catalog needs premium): use premium");
    }
    if (kind === "unity-catalog" && c.models.length > 0 && c.registry.catalog === undefined) {
        add(["registry", "catalog"], undefined, "must name the Unity Catalog catalog the models live in (models are catalog.schema.model), such as mlplatform: there is no default catalog to assume");
    }

    if (platform === "aci") {
        for (const key of CONTAINER_APP_ONLY.serving.filter((k) => serving[k] !== undefined)) {
            add(["serving", key], serving[key], "only applies with serving.platform containerapp (this stack serves on aci, which has no access control, revisions or logs workspace): remove it, or set serving.platform: containerapp");
        }
    }
    if (serving.entra !== undefined) {
        add(
            ["serving", "entra"],
            serving.entra,
            "is no longer set by hand: the stack creates the scoring API's app registration (app role Scoring.Invoke) and Container Apps accepts only its tokens. Remove it; name callers in mlflow-platform:access.scoringClients",
        );
    }
    // prd is never anonymous: Container Apps always requires an Entra token with the app role; ACI cannot.
    if (c.environment === "prd" && platform === "aci") {
        add(["serving", "platform"], "aci", "would serve prd anonymously over plain HTTP (Azure Container Instances has no authentication): use containerapp, which accepts only Entra tokens with the Scoring.Invoke role");
    }
    // The stack whose own workspace holds the Unity Catalog registry declares the prd schema and
    // makes its deployers the owners: its roles decide what prd serves, as prd's own do.
    const holdsPrdSchema = kind === "unity-catalog" && !c.registry.host && !c.registry.hostFromStack;
    issues.push(...accessIssues(c.environment, c.access, holdsPrdSchema));

    const ucSchema = (model: string) => model.split(".")[1];
    const prdSchema = c.registry.prdSchema ?? DEFAULT_SCHEMAS.prd;
    const seen = new Set<string>();
    c.models.forEach((entry: ModelEntry, i) => {
        // prd serves only what a deployer promoted: models in the deployers' schema.
        if (c.environment === "prd" && kind === "unity-catalog" && checkModelName(kind, entry.model).length === 0 && ucSchema(entry.model) !== prdSchema) {
            add(
                ["models", i, "model"],
                entry.model,
                `is in schema ${ucSchema(entry.model)}, but prd serves only models in the deployers' schema registry.prdSchema (${prdSchema}), where only a promotion puts versions: write it as ${entry.model.split(".")[0]}.${prdSchema}.${entry.model.split(".")[2]}`,
            );
        }
        if (seen.has(entry.name)) add(["models", i, "name"], entry.name, "is used by another model entry: service names must be unique");
        seen.add(entry.name);
        const sizeProblems = platform === "aci" ? aciSizeProblems(entry.cpu, entry.memoryGb) : containerAppSizeProblems(entry.cpu, entry.memoryGb);
        for (const problem of sizeProblems) add(["models", i, problem.field], problem.value, problem.reason);
        if (platform === "aci") {
            for (const key of CONTAINER_APP_ONLY.model.filter((k) => entry[k] !== undefined)) {
                add(["models", i, key], entry[key], "only applies with serving.platform containerapp (this stack serves on aci): remove it, or set serving.platform: containerapp");
            }
        }
        if (entry.minReplicas !== undefined && entry.maxReplicas !== undefined && entry.maxReplicas < entry.minReplicas) {
            add(["models", i, "maxReplicas"], entry.maxReplicas, `must be at least minReplicas (${entry.minReplicas})`);
        }
        if (entry.canary) {
            const canaryIssues = selectorIssues(kind, entry.canary, ["models", i, "canary"]);
            issues.push(...canaryIssues);
            const canary = parseSelector(kind, entry.canary).selector;
            const stable = parseSelector(kind, entry).selector;
            if (canaryIssues.length === 0 && canary && stable && JSON.stringify(canary) === JSON.stringify(stable)) {
                add(["models", i, "canary"], entry.canary, "selects the same as the model's own selector: a canary needs another version");
            }
            if (entry.canary.weight === 100) {
                add(
                    ["models", i, "canary", "weight"],
                    entry.canary.weight,
                    "would leave the stable revision with no traffic: to serve only the candidate, promote it (point the model's selector at its version and remove canary)",
                );
            }
        }
        for (const problem of checkModelName(kind, entry.model)) add(["models", i, "model"], entry.model, `cannot be used: ${problem.reason}`);
        const catalog = c.registry.catalog;
        if (kind === "unity-catalog" && catalog !== undefined && checkModelName(kind, entry.model).length === 0 && entry.model.split(".")[0] !== catalog) {
            add(["models", i, "model"], entry.model, `is in catalog ${entry.model.split(".")[0]}, but registry.catalog is ${catalog}: write it as ${catalog}.${entry.model.split(".").slice(1).join(".")}, or change registry.catalog`);
        }
        issues.push(...selectorIssues(kind, entry, ["models", i]));
    });
    return issues;
}

const crossFieldSchema = z.object({
    environment: oneOf(ENVIRONMENTS),
    databricksSku,
    access: accessFields,
    registry: registrySchema,
    models: modelsSchema,
    serving: servingFields,
});

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

/**
 * The StackReference name for `registry.hostFromStack`. Self-managed backends (local, azblob) name
 * every stack `organization/<project>/<stack>` with that literal word; Pulumi Cloud needs the real
 * organization, so a leading `organization/` means "this stack's organization" there.
 */
export function stackReferenceName(hostFromStack: string, organization: string | undefined): string {
    const parts = hostFromStack.split("/");
    if (parts.length === 3 && parts[0] === "organization" && organization) return [organization, ...parts.slice(1)].join("/");
    return hostFromStack;
}

/**
 * Both serve on Container Apps unless set: Entra-protected, HTTPS, and in dev scaled to zero when
 * idle (cheaper than an always-on ACI group). ACI stays selectable in dev; it is anonymous HTTP.
 */
export function servingPlatformOf(_environment: Environment, platform: ServingPlatform | undefined): ServingPlatform {
    return platform ?? "containerapp";
}

/** Replicas kept running when idle: none in dev (scale to zero), one in prd. */
export function defaultMinReplicas(environment: Environment): number {
    return environment === "prd" ? 1 : 0;
}

const APP_ID_RULE = "a service principal's name in Databricks is its application (client) id, a GUID";
/** For a secret written where a principal's id or name belongs: never repeated, and never to be stored. */
const PRINCIPAL_SECRET =
    "holds what looks like a secret (a client secret or token), and the value is not shown: a principal is named by its object id and its name in Databricks, never by a secret, and the platform needs no secret of it. Remove it from the stack file, and rotate that secret (`az ad app credential reset`), since it was written there";

/**
 * Role lists: names Databricks can use, and the separation of data scientists and deployers
 * wherever the roles decide what prd serves: in prd, and in the stack that holds the prd schema
 * (`holdsPrdSchema`). The policy rule data-scientists-cannot-change-prd draws the same line.
 */
function accessIssues(environment: Environment, access: z.infer<typeof accessFields>, holdsPrdSchema: boolean): Issue[] {
    const issues: Issue[] = [];
    const roles = ["dataScientists", "deployers", "scoringClients", "readers"] as const;
    for (const role of roles) {
        const seen = new Set<string>();
        (access[role] ?? []).forEach((p, i) => {
            const path = ["access", role, i];
            if (seen.has(p.objectId.toLowerCase())) issues.push({ path: [...path, "objectId"], input: p.objectId, message: `is listed twice in access.${role}` });
            seen.add(p.objectId.toLowerCase());
            // Unity Catalog grants name principals, so the roles that get grants need a name.
            if (p.name === undefined) {
                if (role !== "scoringClients") {
                    issues.push({
                        path: [...path, "name"],
                        message: "must be the principal's name in Databricks, which Unity Catalog grants use: a group's display name, a user's e-mail address, or a service principal's application (client) id",
                    });
                }
                return;
            }
            const name = p.name.trim();
            if (looksLikeSecret(p.name)) issues.push({ path: [...path, "name"], message: PRINCIPAL_SECRET, hideValue: true });
            else if (name === "" || /[\x00-\x1f\x7f]/.test(p.name)) issues.push({ path: [...path, "name"], input: p.name, message: "must be the principal's name in Databricks (not empty)" });
            else if (name !== p.name) issues.push({ path: [...path, "name"], input: p.name, message: `has spaces before or after it, which Databricks would not match: write ${JSON.stringify(name)}` });
            else if (p.type === "servicePrincipal" && !GUID.test(name)) issues.push({ path: [...path, "name"], input: p.name, message: `must be ${APP_ID_RULE} (not its display name)` });
            else if (p.type === "servicePrincipal" && name === ZERO_GUID) issues.push({ path: [...path, "name"], input: p.name, message: ZERO_GUID_RULE });
            else if (p.type === "servicePrincipal" && name.toLowerCase() === p.objectId.toLowerCase()) {
                issues.push({
                    path: [...path, "objectId"],
                    input: p.objectId,
                    message:
                        "is the same GUID as its name, the application (client) id: a service principal's object id is a different GUID. Look it up with `az ad sp show --id <application id> --query id -o tsv`",
                });
            }
            else if (p.type === "user" && !/^[^@\s]+@[^@\s]+$/.test(name)) issues.push({ path: [...path, "name"], input: p.name, message: "must be the user's e-mail address (user principal name), which Databricks uses as the user's name" });
        });
    }
    const deployers = new Set((access.deployers ?? []).map((p) => p.objectId.toLowerCase()));
    const separated = environment === "prd" || holdsPrdSchema;
    const why =
        environment === "prd"
            ? "in prd a data scientist must not decide what prd serves"
            : "this stack's workspace holds the Unity Catalog registry and its deployers manage the prd schema, so a data scientist here would decide what prd serves";
    if (separated && access.acceptDataScientistAsDeployer !== true) {
        (access.dataScientists ?? []).forEach((p, i) => {
            if (deployers.has(p.objectId.toLowerCase())) {
                issues.push({
                    path: ["access", "dataScientists", i, "objectId"],
                    input: p.objectId,
                    message: `is also in access.deployers: ${why}. Remove it from one list, or set access.acceptDataScientistAsDeployer: true to accept that this principal both registers and deploys`,
                });
            }
        });
    }
    if (!holdsPrdSchema && (access.readers ?? []).length > 0) {
        issues.push({
            path: ["access", "readers"],
            message: "only applies in the stack whose workspace holds the Unity Catalog registry (it declares the grants readers get); this stack's registry is elsewhere: list the readers in that stack's file",
        });
    }
    if (!separated && access.acceptDataScientistAsDeployer !== undefined) {
        issues.push({
            path: ["access", "acceptDataScientistAsDeployer"],
            input: access.acceptDataScientistAsDeployer,
            message: "only applies in prd and in the stack that holds the Unity Catalog registry (its deployers manage the prd schema); this dev stack does not separate the roles: remove it",
        });
    }
    return issues;
}

/** Where each key of each map lives, for "did you mean" and "belongs under". */
const KEYS_BY_MAP: Record<string, readonly string[]> = {
    [PROJECT_NAME]: [...Object.keys(configSchema.shape).filter((k) => !k.includes(":")), ...SECRET_ONLY_KEYS],
    registry: Object.keys(registryFields.shape),
    "each entry of models": Object.keys(modelEntryFields.shape),
    "a model's canary": Object.keys(canaryFields.shape),
    serving: Object.keys(servingFields.shape).filter((k) => k !== "entra"),
    access: Object.keys(accessFields.shape),
    "each principal": Object.keys(principalFields.shape),
};

function mapOfPath(path: readonly PropertyKey[]): string {
    if (path.length === 0) return PROJECT_NAME;
    if (path[0] === "registry") return "registry";
    if (path[0] === "models") return path[2] === "canary" ? "a model's canary" : "each entry of models";
    if (path[0] === "serving") return "serving";
    if (path[0] === "access") return path.length >= 3 ? "each principal" : "access";
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
// every schema above carries its own message, and these cover any that slips through.
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

function describe(issue: Issue): string {
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

function zodProblems(issue: z.core.$ZodIssue): string[] {
    if (issue.code === "unrecognized_keys") return issue.keys.map((key) => unknownKeyProblem(issue.path, key));
    return [describe({ path: issue.path as (string | number)[], input: issue.input, message: plainMessage(issue) })];
}

/**
 * Credentials written into a URL anywhere in the stack's values: refused, and never shown, so
 * they cannot reach a log, an environment variable or an output.
 */
function urlCredentialProblems(raw: Record<string, unknown>): string[] {
    return stringLeaves(raw)
        .filter((leaf) => hasUrlCredentials(leaf.text))
        .map((leaf) =>
            leaf.path[0] === "access"
                ? `${configKey(leaf.path)} is not allowed: it holds a user name or password inside a URL (scheme://user:secret@host); the value is not shown. A principal is named by its object id and its name in Databricks and needs no secret: remove it from the stack file, and rotate that password, since it was written there`
                : `${configKey(leaf.path)} is not allowed: it holds a user name or password inside a URL (scheme://user:secret@host); the value is not shown. Remove them from the stack file; registry credentials go in \`pulumi config set --secret registryToken <value>\``,
        );
}

/** Secret-only keys must be encrypted in the stack file; no message ever repeats them. */
function secretKeyProblems(raw: Record<string, unknown>, isSecret: (key: string) => boolean): string[] {
    return SECRET_ONLY_KEYS.filter((key) => raw[key] !== undefined && !isSecret(`${PROJECT_NAME}:${key}`)).map(
        (key) =>
            `${PROJECT_NAME}:${key} is stored in plain text: remove it from the stack file and set it with \`pulumi config set --secret ${key} <value>\``,
    );
}

/** Keys under another namespace than the project's: a provider's, the engine's, or a typo. */
function foreignKeyProblems(raw: Record<string, unknown>, project: string, isSecret: (key: string) => boolean): string[] {
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

/** A Databricks workspace answers API calls at its root: keep only the scheme and host. */
function registryOrigin(kind: RegistryKind, host: string): { host: string; warning?: string } {
    const url = new URL(host);
    const keepPath = kind === "mlflow"; // a self-hosted MLflow server may sit under a path prefix
    const reduced = keepPath ? `${url.origin}${url.pathname.replace(/\/+$/, "")}` : url.origin;
    const trimmed = host.replace(/\/+$/, "");
    if (reduced === trimmed) return { host: reduced };
    return {
        host: reduced,
        // The rest is not repeated: a page address copied from the browser may carry a token in its path or query.
        warning: `${PROJECT_NAME}:registry.host: using ${reduced}; what was written after it (a path, query or fragment: a page address copied from the browser?) was left out and is not shown, since the registry's API answers at ${keepPath ? "the server's base URL" : "the workspace's root"}. Write just ${reduced} to silence this notice.`,
    };
}

/** Allowed, but almost certainly not what an operator wants in prd. */
function configWarnings(c: z.infer<typeof configSchema>, platform: ServingPlatform): string[] {
    const warnings: string[] = [];
    if (platform === "aci" && c.models.length > 0) {
        warnings.push(
            `${PROJECT_NAME}:serving.platform = "aci": its endpoints are anonymous plain HTTP (Azure Container Instances has no authentication and no HTTPS): anyone who finds the address can call the models. Container Apps (the default) accepts only Entra tokens and scales to zero in dev`,
        );
    }
    if (c.environment === "prd" && platform === "containerapp" && (c.serving.ingress ?? "external") === "external") {
        (c.serving.ipAllowList ?? []).forEach((entry, i) => {
            const kind = placeholderKind(entry);
            if (kind) {
                warnings.push(
                    `${PROJECT_NAME}:serving.ipAllowList[${i}] = ${JSON.stringify(entry)} looks like a placeholder: ` +
                        (kind === "documentation"
                            ? "it is a documentation-only range (RFC 5737) that no real client has"
                            : `it is a ${kind} range, from which no request reaches an external endpoint over the internet`) +
                        ": replace it with your clients' public ranges",
                );
            }
        });
    }
    // The read-only preview identity reads Unity Catalog only through this stack's (authoritative) grants.
    const holdsRegistry = (c.registry.kind ?? "unity-catalog") === "unity-catalog" && !c.registry.host && !c.registry.hostFromStack;
    if (holdsRegistry && (c.access.readers ?? []).length === 0) {
        warnings.push(
            `${PROJECT_NAME}:access.readers is empty: the pull-request preview identity (AZURE_PREVIEW_CLIENT_ID) gets no Unity Catalog read grant, so \`pulumi preview\` in pull requests cannot resolve model versions (a grant added by hand is revoked by the next \`pulumi up\`). ` +
                "Add it as {objectId, type: servicePrincipal, name: <its application id>}",
        );
    }
    return warnings;
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
    const issues = [...(result.error?.issues ?? []).flatMap(zodProblems), ...(cross.success ? crossFieldIssues(stack, cross.data).map(describe) : cross.error.issues.flatMap(zodProblems))];
    for (const problem of issues) if (!problems.includes(problem)) problems.push(problem);
    if (problems.length > 0 || !result.success) throw new ConfigError(stack, problems);
    const c = result.data;
    const platform = servingPlatformOf(c.environment, c.serving.platform);
    const warnings = configWarnings(c, platform);
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
        registry: {
            kind: c.registry.kind,
            catalog: c.registry.catalog,
            host,
            hostFromStack: c.registry.hostFromStack,
            devSchema: c.registry.devSchema ?? DEFAULT_SCHEMAS.dev,
            prdSchema: c.registry.prdSchema ?? DEFAULT_SCHEMAS.prd,
            databricksAccountId: c.registry.databricksAccountId,
            registrationRunAs: c.registry.registrationRunAs === undefined ? undefined : GUID.test(c.registry.registrationRunAs) ? { servicePrincipalName: c.registry.registrationRunAs } : { userName: c.registry.registrationRunAs },
        },
        access: {
            dataScientists: c.access.dataScientists ?? [],
            deployers: c.access.deployers ?? [],
            scoringClients: c.access.scoringClients ?? [],
            readers: c.access.readers ?? [],
            acceptDataScientistAsDeployer: c.access.acceptDataScientistAsDeployer ?? false,
        },
        models: c.models.map((entry) => ({
            name: entry.name,
            model: entry.model,
            selector: parseSelector(c.registry.kind, entry).selector as Selector,
            cpu: entry.cpu,
            memoryGb: entry.memoryGb,
            // One worker per vCPU, rounded up (0.5 vCPU: 1, 1.5: 2), by default: the scoring server
            // is CPU-bound, and a worker on a fractional core still uses its share.
            workers: entry.workers ?? Math.max(1, Math.ceil(entry.cpu)),
            scale: {
                // dev scales to zero when idle (a cold start costs about 22 s); prd keeps one replica warm.
                minReplicas: entry.minReplicas ?? defaultMinReplicas(c.environment),
                maxReplicas: entry.maxReplicas ?? Math.max(3, entry.minReplicas ?? defaultMinReplicas(c.environment)),
                concurrentRequests: entry.concurrentRequests ?? 20,
            },
            canary: entry.canary
                ? { selector: parseSelector(c.registry.kind, entry.canary).selector as Selector, weight: entry.canary.weight }
                : undefined,
        })),
        serving: {
            platform,
            containerRegistrySku: c.serving.containerRegistrySku,
            access: { ingress: c.serving.ingress ?? "external", ipAllowList: c.serving.ipAllowList ?? [] },
            logRetentionDays: c.serving.logRetentionDays ?? 30,
            maxInactiveRevisions: c.serving.maxInactiveRevisions ?? MAX_INACTIVE_REVISIONS.default,
        },
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
