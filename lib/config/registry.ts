// mlflow-platform:registry, where the model registry is (kind, host or hostFromStack, the Unity
// Catalog catalog and schemas, the registration principal's account and identity), and the
// registry credentials (secret keys): schema, defaults and rules.
import { z } from "zod";
import { GUID, guid, matching, oneOf, PROJECT_NAME, ZERO_GUID, ZERO_GUID_RULE, type Issue } from "./common";
import { REGISTRY_KINDS, type RegistryKind } from "../registry/types";

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
 * lowercase and the model names in the stack file must match them. This program also keeps to letters,
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

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const RUN_AS = new RegExp(`^(?:${GUID.source.slice(1, -1)}|${EMAIL.source.slice(1, -1)})$`, "i");

export const registryFields = z.object(
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
export const registrySchema = registryFields.strict().superRefine((registry, ctx) => {
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

/** Every model is `catalog.schema.model` in Unity Catalog: with models to serve, the catalog must be named. */
export function registryIssues(registry: z.infer<typeof registrySchema>, modelCount: number): Issue[] {
    if (registry.kind === "unity-catalog" && modelCount > 0 && registry.catalog === undefined) {
        return [{ path: ["registry", "catalog"], input: undefined, message: "must name the Unity Catalog catalog the models live in (models are catalog.schema.model), such as mlplatform: there is no default catalog to assume" }];
    }
    return [];
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

/** A Databricks workspace answers API calls at its root: keep only the scheme and host. */
export function registryOrigin(kind: RegistryKind, host: string): { host: string; warning?: string } {
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

/** The registry section of the typed config, with the host as registryOrigin reduced it. */
export function registryConfig(registry: z.infer<typeof registrySchema>, host: string | undefined): RegistryConfig {
    return {
        kind: registry.kind,
        catalog: registry.catalog,
        host,
        hostFromStack: registry.hostFromStack,
        devSchema: registry.devSchema ?? DEFAULT_SCHEMAS.dev,
        prdSchema: registry.prdSchema ?? DEFAULT_SCHEMAS.prd,
        databricksAccountId: registry.databricksAccountId,
        registrationRunAs: registry.registrationRunAs === undefined ? undefined : GUID.test(registry.registrationRunAs) ? { servicePrincipalName: registry.registrationRunAs } : { userName: registry.registrationRunAs },
    };
}
