// The platform's guardrails as plain functions over resources, so the same rules run in the
// policy pack (`pulumi preview --policy-pack policy`) and in the credential-free `npm run plan`.
//
// A rule has a scope. "resource" rules judge one resource from its own inputs: the pack runs them
// as `validateResource` policies, which the engine applies before it creates or updates that
// resource, so a mandatory violation stops the change. "stack" rules need other resources (an app
// and its auth config, a component's summary): they run as `validateStack` policies, after the
// resources changed, so they report rather than prevent.
import { aciSizeProblems, CONTAINER_APP_LIMITS, containerAppSizeProblems } from "../config/serving";
import { allowListReach } from "./network";
import { PRD_WRITE_PRIVILEGES, roleNameOf, WRITE_ROLES, type DeclaredRoles } from "../access/roles";

export type EnforcementLevel = "mandatory" | "advisory" | "off";
export type Environment = "dev" | "prd";

/** A resource as a rule sees it: its type, logical name, properties and protection. */
export interface PolicyResource {
    type: string;
    name: string;
    props: Record<string, unknown>;
    protect: boolean;
    /** A component's registered outputs, where known (the plan has them). */
    outputs?: Record<string, unknown>;
}

export interface PolicyContext {
    environment: Environment;
    resources: readonly PolicyResource[];
}

interface RuleBase {
    name: string;
    description: string;
    enforcement: Record<Environment, EnforcementLevel>;
}

/** Judged from one resource's own inputs and options: a `validateResource` policy. */
export interface ResourceRule extends RuleBase {
    scope: "resource";
    /** Violation messages for the resource; empty when it complies or the rule does not apply. */
    check(resource: PolicyResource, environment: Environment): string[];
}

/** Needs the other resources of the stack: a `validateStack` policy. */
export interface StackRule extends RuleBase {
    scope: "stack";
    check(resource: PolicyResource, context: PolicyContext): string[];
}

export type PolicyRule = ResourceRule | StackRule;

export interface Violation {
    rule: string;
    level: Exclude<EnforcementLevel, "off">;
    resource: string;
    message: string;
}

/** Markers the plan uses for values a preview does not know yet. */
const UNKNOWN_MARKERS = new Set(["(known after deploy)", "04da6b54-80e4-46f7-96ec-b56ff0331ba9"]);

export function isUnknown(value: unknown): boolean {
    return typeof value === "string" && UNKNOWN_MARKERS.has(value);
}

function get(value: unknown, path: string): unknown {
    return path.split(".").reduce<unknown>((v, key) => (v && typeof v === "object" && !isUnknown(v) ? (v as Record<string, unknown>)[key] : isUnknown(v) ? v : undefined), value);
}

function list(value: unknown): unknown[] {
    return Array.isArray(value) ? value : [];
}

/** `expected` unless unknown; an unset value counts as wrong: these are set explicitly. */
function expect(resource: PolicyResource, path: string, expected: unknown, why: string): string[] {
    const actual = get(resource.props, path);
    if (isUnknown(actual) || actual === expected) return [];
    return [`${path} is ${actual === undefined ? "not set" : JSON.stringify(actual)}, must be ${JSON.stringify(expected)}: ${why}`];
}

const T = {
    storageAccount: "azure-native:storage:StorageAccount",
    blobService: "azure-native:storage:BlobServiceProperties",
    blobContainer: "azure-native:storage:BlobContainer",
    workspace: "azure-native:databricks:Workspace",
    registry: "azure-native:containerregistry:Registry",
    containerGroup: "azure-native:containerinstance:ContainerGroup",
    containerApp: "azure-native:app:ContainerApp",
    authConfig: "azure-native:app:ContainerAppsAuthConfig",
    servingComponent: "mlflow-platform:serving:ModelServing",
    accessComponent: "mlflow-platform:access:AzureAccess",
    roleAssignment: "azure-native:authorization:RoleAssignment",
    ucGrants: "databricks:index/grants:Grants",
    ucCatalog: "databricks:index/catalog:Catalog",
    ucSchema: "databricks:index/schema:Schema",
    ucModel: "databricks:index/registeredModel:RegisteredModel",
} as const;

/** The roles the access component declared (plan: its outputs; pack: its props), if any. */
export function declaredRoles(context: PolicyContext): DeclaredRoles | undefined {
    const component = context.resources.find((r) => r.type === T.accessComponent);
    const roles = (component?.outputs?.roles ?? component?.props?.roles) as DeclaredRoles | undefined;
    return roles && Array.isArray(roles.dataScientists) ? roles : undefined;
}

/**
 * Data scientists the rule protects prd from: by object id (Azure) and Databricks name. One that
 * is a deployer too is left out when `exemptDeployers`: the config accepted it
 * (access.acceptDataScientistAsDeployer), or the check is about a dev stack's own Azure roles,
 * which config validation lets one principal hold in both lists (dev does not separate them).
 */
function dataScientistsOf(roles: DeclaredRoles, exemptDeployers: boolean): { ids: Set<string>; names: Set<string> } {
    const deployerIds = new Set(roles.deployers.map((d) => d.objectId.toLowerCase()));
    const kept = roles.dataScientists.filter((p) => !(exemptDeployers && deployerIds.has(p.objectId.toLowerCase())));
    return { ids: new Set(kept.map((p) => p.objectId.toLowerCase())), names: new Set(kept.map((p) => (p.name ?? "").toLowerCase()).filter(Boolean)) };
}

const SENSITIVE_NAME = /TOKEN|PASSWORD|SECRET|KEY|CREDENTIAL/i;
const everywhere: Record<Environment, EnforcementLevel> = { dev: "mandatory", prd: "mandatory" };

/** The serving summary a ModelServing component registered for a model, if any (plan only). */
function servingSummaries(context: PolicyContext): Record<string, Record<string, unknown>> {
    const summaries: Record<string, Record<string, unknown>> = {};
    for (const r of context.resources.filter((r) => r.type === T.servingComponent)) {
        Object.assign(summaries, (r.outputs?.summary ?? {}) as Record<string, Record<string, unknown>>);
    }
    return summaries;
}

export const RULES: readonly PolicyRule[] = [
    {
        name: "data-scientists-cannot-change-prd",
        scope: "stack",
        description:
            "No role assignment or grant gives a data scientist a write role on serving, the container registry or role assignments, ownership of the prd catalog, schema or models, or a privilege on the prd schema that sets aliases or adds versions.",
        enforcement: everywhere,
        check: (r, context) => {
            const roles = declaredRoles(context);
            if (!roles) return [];
            // Azure roles in a dev stack are on dev's own resources; the prd schema's grants and
            // owners (in the stack that holds the registry, dev included) decide what prd serves, so
            // there only prd's acknowledgement exempts a principal that holds both roles.
            const { ids } = dataScientistsOf(roles, roles.acceptDataScientistAsDeployer || context.environment === "dev");
            const { names } = dataScientistsOf(roles, roles.acceptDataScientistAsDeployer);
            const isScientistName = (value: unknown) => typeof value === "string" && names.has(value.toLowerCase());
            if (r.type === T.roleAssignment) {
                const principal = get(r.props, "principalId");
                const role = String(get(r.props, "roleDefinitionId") ?? "");
                if (typeof principal !== "string" || !ids.has(principal.toLowerCase())) return [];
                const guid = role.split("/").pop()?.toLowerCase() ?? "";
                return WRITE_ROLES.includes(guid)
                    ? [`gives data scientist ${principal} the write role ${roleNameOf(role)} on ${String(get(r.props, "scope"))}: only deployers change serving, the registry and role assignments`]
                    : [];
            }
            const prd = roles.prdSchema?.toLowerCase();
            const catalog = roles.catalog?.toLowerCase();
            if (r.type === T.ucGrants) {
                const schema = String(get(r.props, "schema") ?? "").toLowerCase();
                const onCatalog = String(get(r.props, "catalog") ?? "").toLowerCase();
                const onPrd = prd !== undefined && schema === prd;
                const onCatalogAbovePrd = catalog !== undefined && onCatalog === catalog;
                if (!onPrd && !onCatalogAbovePrd) return [];
                return list(get(r.props, "grants")).flatMap((g) => {
                    if (!isScientistName(get(g, "principal"))) return [];
                    const privileges = list(get(g, "privileges")).map(String);
                    // On the catalog, only privileges that reach the prd schema's models count.
                    const bad = privileges.filter((p) => (onPrd ? PRD_WRITE_PRIVILEGES : ["MANAGE", "ALL_PRIVILEGES"]).includes(p));
                    return bad.length
                        ? [`grants data scientist ${String(get(g, "principal"))} ${bad.join(", ")} on ${onPrd ? `the prd schema ${roles.prdSchema}` : `the catalog ${roles.catalog}, above the prd schema`}: that would let them add versions or set the aliases prd serves`]
                        : [];
                });
            }
            const owner = get(r.props, "owner");
            if (!isScientistName(owner)) return [];
            if (r.type === T.ucCatalog && catalog !== undefined && String(get(r.props, "name")).toLowerCase() === catalog) {
                return [`makes data scientist ${String(owner)} the owner of the catalog ${roles.catalog}, which holds the prd schema`];
            }
            if (r.type === T.ucSchema && prd !== undefined && `${get(r.props, "catalogName")}.${get(r.props, "name")}`.toLowerCase() === prd) {
                return [`makes data scientist ${String(owner)} the owner of the prd schema ${roles.prdSchema}`];
            }
            if (r.type === T.ucModel && prd !== undefined && `${get(r.props, "catalogName")}.${get(r.props, "schemaName")}`.toLowerCase() === prd) {
                return [`makes data scientist ${String(owner)} the owner of the prd model ${String(get(r.props, "name"))}: an owner sets its aliases`];
            }
            return [];
        },
    },
    {
        name: "storage-secure-transport-and-auth",
        scope: "resource",
        description: "Storage accounts are StorageV2 with HTTPS only, TLS 1.2, Entra ID by default, no shared keys and no cross-tenant replication.",
        enforcement: everywhere,
        check: (r) =>
            r.type !== T.storageAccount
                ? []
                : [
                      ...expect(r, "kind", "StorageV2", "the platform's account kind"),
                      ...expect(r, "isHnsEnabled", true, "Unity Catalog external locations and abfss:// paths need a hierarchical namespace"),
                      ...expect(r, "enableHttpsTrafficOnly", true, "data must not travel unencrypted"),
                      ...expect(r, "minimumTlsVersion", "TLS1_2", "older TLS versions are broken"),
                      ...expect(r, "defaultToOAuthAuthentication", true, "Entra ID, not account keys, is the default"),
                      ...expect(r, "allowSharedKeyAccess", false, "account keys and SAS tokens leak and never expire"),
                      ...expect(r, "allowCrossTenantReplication", false, "data must not be replicated to other tenants"),
                  ],
    },
    {
        name: "storage-recoverable",
        scope: "resource",
        description: "Blob and container soft delete are on, so a deleted model file or container can be recovered (blob versioning is not available with a hierarchical namespace).",
        enforcement: everywhere,
        check: (r) => {
            if (r.type !== T.blobService) return [];
            // Named by the stack config key the operator sets (the property in parentheses).
            const KEYS = {
                deleteRetentionPolicy: { enabled: "softDeleteEnabled", days: "blobSoftDeleteDays", what: "deleted blobs must be recoverable" },
                containerDeleteRetentionPolicy: { enabled: "softDeleteEnabled", days: "containerSoftDeleteDays", what: "deleted containers must be recoverable" },
            } as const;
            const problems: string[] = [];
            for (const [policy, key] of Object.entries(KEYS)) {
                const enabled = get(r.props, `${policy}.enabled`);
                if (!isUnknown(enabled) && enabled !== true) {
                    problems.push(`mlflow-platform:${key.enabled} is ${enabled === undefined ? "not set" : JSON.stringify(enabled)} (${policy}.enabled), must be true: ${key.what}`);
                }
            }
            for (const [policy, key] of Object.entries(KEYS)) {
                const days = get(r.props, `${policy}.days`);
                if (!isUnknown(days) && get(r.props, `${policy}.enabled`) === true && !(typeof days === "number" && days >= 1)) {
                    problems.push(`mlflow-platform:${key.days} is ${JSON.stringify(days)} (${policy}.days), must be at least 1: ${key.what} for that many days`);
                }
            }
            return problems;
        },
    },
    {
        name: "no-public-blob-access",
        scope: "resource",
        description: "Neither storage accounts nor containers allow anonymous reads.",
        enforcement: everywhere,
        check: (r) => {
            if (r.type === T.storageAccount) return expect(r, "allowBlobPublicAccess", false, "training data and models are private: set mlflow-platform:allowBlobPublicAccess to false");
            if (r.type === T.blobContainer) return expect(r, "publicAccess", "None", "training data and models are private");
            return [];
        },
    },
    {
        name: "container-registry-admin-disabled",
        scope: "resource",
        description: "Container registries have the admin user (a shared password) disabled.",
        enforcement: everywhere,
        check: (r) => (r.type === T.registry ? expect(r, "adminUserEnabled", false, "pulls use managed identities, pushes Entra logins") : []),
    },
    {
        name: "images-pulled-by-identity",
        scope: "resource",
        description: "Serving containers pull images with a managed identity, never a registry password.",
        enforcement: everywhere,
        check: (r) => {
            const credentials =
                r.type === T.containerGroup ? get(r.props, "imageRegistryCredentials") : r.type === T.containerApp ? get(r.props, "configuration.registries") : undefined;
            if (isUnknown(credentials)) return [];
            return list(credentials).flatMap((c, i) => {
                const entry = (c ?? {}) as Record<string, unknown>;
                const password = entry.password ?? entry.passwordReference ?? entry.passwordSecretRef;
                if (password !== undefined) return [`registry credential ${i} uses a password: pull with the managed identity instead`];
                if (entry.identity === undefined) return [`registry credential ${i} has no managed identity`];
                return [];
            });
        },
    },
    {
        name: "secrets-in-secret-stores",
        scope: "resource",
        description: "Sensitive values reach containers only as ACI secure environment variables or Container Apps secrets.",
        enforcement: everywhere,
        check: (r) => {
            const [containersPath, envKey, remedy] =
                r.type === T.containerGroup
                    ? ["containers", "environmentVariables", "use secureValue"]
                    : r.type === T.containerApp
                      ? ["template.containers", "env", "use a Container Apps secret (secretRef)"]
                      : [];
            if (!containersPath || !envKey) return [];
            const containers = get(r.props, containersPath);
            if (isUnknown(containers)) return [];
            return list(containers).flatMap((c) =>
                list(get(c, envKey))
                    .filter((v) => SENSITIVE_NAME.test(String(get(v, "name"))) && get(v, "value") !== undefined)
                    .map((v) => `environment variable ${get(v, "name")} is a plain value: ${remedy}`),
            );
        },
    },
    {
        name: "prd-stateful-resources-protected",
        scope: "resource",
        description: "In prd, the storage account, its containers and the Databricks workspace are protected against deletion.",
        enforcement: { dev: "off", prd: "mandatory" },
        check: (r) =>
            [T.storageAccount, T.blobContainer, T.workspace].includes(r.type as never) && !r.protect
                ? ["is not protected: set mlflow-platform:protect to true, so pulumi up or destroy cannot delete it"]
                : [],
    },
    {
        name: "serving-size-within-platform-bounds",
        scope: "resource",
        description: "Serving CPU, memory and replicas are within what the platform accepts.",
        enforcement: everywhere,
        check: (r) => {
            if (r.type === T.containerGroup) {
                const containers = get(r.props, "containers");
                if (isUnknown(containers)) return [];
                return list(containers).flatMap((c) => {
                    const cpu = get(c, "resources.requests.cpu");
                    const memory = get(c, "resources.requests.memoryInGB");
                    if (typeof cpu !== "number" || typeof memory !== "number") return [`container ${get(c, "name")} has no CPU and memory request`];
                    return aciSizeProblems(cpu, memory).map((p) => `${p.field} ${p.value} ${p.reason}`);
                });
            }
            if (r.type === T.containerApp) {
                const template = get(r.props, "template");
                if (isUnknown(template)) return [];
                const problems = list(get(template, "containers")).flatMap((c) => {
                    const cpu = get(c, "resources.cpu");
                    const memory = String(get(c, "resources.memory") ?? "");
                    if (typeof cpu !== "number" || !/^\d+(\.\d+)?Gi$/.test(memory)) return [`container ${get(c, "name")} has no CPU and memory`];
                    return containerAppSizeProblems(cpu, parseFloat(memory)).map((p) => `${p.field} ${p.value} ${p.reason}`);
                });
                const min = get(template, "scale.minReplicas");
                const max = get(template, "scale.maxReplicas");
                const { replicas } = CONTAINER_APP_LIMITS;
                if (typeof min !== "number" || typeof max !== "number" || min < replicas.min || max > replicas.max || max < Math.max(1, min)) {
                    problems.push(`replicas ${min}-${max} must be within ${replicas.min}-${replicas.max}, with at least one and max >= min`);
                }
                return problems;
            }
            return [];
        },
    },
    {
        name: "prd-no-public-container-groups",
        scope: "resource",
        description: "In prd, no Azure Container Instances group serves on a public IP: ACI has no access control and no HTTPS.",
        enforcement: { dev: "advisory", prd: "mandatory" },
        check: (r) => {
            if (r.type !== T.containerGroup) return [];
            const type = get(r.props, "ipAddress.type");
            return isUnknown(type) || type === "Private" ? [] : ["serves on a public IP with no access control (Azure Container Instances): use Container Apps with an IP allow-list or Entra authentication"];
        },
    },
    {
        name: "prd-endpoints-not-anonymous",
        scope: "stack",
        description:
            "prd scoring endpoints are not open to anonymous internet traffic: internal ingress, an IP allow-list that is not most of the internet, or Entra authentication.",
        enforcement: { dev: "advisory", prd: "mandatory" },
        check: (r, context) => {
            if (r.type === T.containerApp) {
                const ingress = get(r.props, "configuration.ingress");
                if (isUnknown(ingress) || ingress === undefined) return [];
                const appName = get(r.props, "containerAppName");
                const hasAuth = context.resources.some((a) => a.type === T.authConfig && (get(a.props, "containerAppName") === appName || isUnknown(get(a.props, "containerAppName"))));
                if (get(ingress, "external") !== true || hasAuth) return [];
                const restrictions = get(ingress, "ipSecurityRestrictions");
                if (isUnknown(restrictions)) return [];
                const entries = list(restrictions);
                // A deny-list lets everyone else in; an allow-list is only a gate if it is narrow.
                if (entries.some((e) => get(e, "action") === "Deny")) return ["uses a deny-list of IP ranges, so everyone else on the internet can call it: list the allowed ranges instead"];
                const reach = allowListReach(entries.map((e) => String(get(e, "ipAddressRange"))));
                if (entries.length === 0) return ["accepts requests from anyone on the internet: set serving.ipAllowList, serving.entra, or serving.ingress: internal"];
                return reach.open ? [`allows ${reach.describe}, which is as good as anyone: narrow serving.ipAllowList, or set serving.entra`] : [];
            }
            if (r.type === T.servingComponent) {
                return Object.entries(servingSummaries({ ...context, resources: [r] })).flatMap(([model, s]) => {
                    if (s.platform !== "containerapp" || !String(s.ingress).startsWith("external") || s.entra !== "off") return [];
                    if (s.ipAllowList === "any address") return [`model ${model} accepts requests from anyone on the internet: set serving.ipAllowList, serving.entra, or serving.ingress: internal`];
                    const reach = allowListReach(String(s.ipAllowList).split(/,\s*/));
                    return reach.open ? [`model ${model} allows ${reach.describe}, which is as good as anyone: narrow serving.ipAllowList, or set serving.entra`] : [];
                });
            }
            return [];
        },
    },
    ...guardedRolloutRules(),
];

/**
 * Every prd model on Container Apps has a guarded rollout (models[].rollout): advisory, unless the
 * stack sets serving.requireGuardedRollout, which makes it mandatory. One rule per level, each
 * reporting only the models its level covers (the summary says which applies).
 */
function guardedRolloutRules(): StackRule[] {
    const rule = (required: boolean): StackRule => ({
        name: required ? "prd-guarded-rollout" : "prd-guarded-rollout-recommended",
        scope: "stack",
        description: required
            ? "In a prd stack with serving.requireGuardedRollout, every model on Container Apps has a guarded rollout (models[].rollout)."
            : "Every prd model on Container Apps should have a guarded rollout (models[].rollout); serving.requireGuardedRollout makes it mandatory.",
        enforcement: { dev: "off", prd: required ? "mandatory" : "advisory" },
        check: (r, context) => {
            if (r.type !== T.servingComponent) return [];
            return Object.entries(servingSummaries({ ...context, resources: [r] })).flatMap(([model, s]) => {
                if (s.platform !== "containerapp" || (s.guardedRolloutRequired === true) !== required) return [];
                const rollout = s.rollout;
                if (isUnknown(rollout) || (typeof rollout === "string" && !rollout.startsWith("one step"))) return [];
                return [`model ${model} moves a new revision to 100% in one step: add models[].rollout (steps, bake, thresholds) so each step is watched and a bad revision rolls back by itself`];
            });
        },
    });
    return [rule(true), rule(false)];
}

/** One rule's violations for one resource, whatever its scope. */
export function checkRule(rule: PolicyRule, resource: PolicyResource, context: PolicyContext): string[] {
    return rule.scope === "resource" ? rule.check(resource, context.environment) : rule.check(resource, context);
}

/** Applies every rule to every resource; violations in the order of the rules. */
export function evaluate(context: PolicyContext, rules: readonly PolicyRule[] = RULES): Violation[] {
    return rules.flatMap((rule) => {
        const level = rule.enforcement[context.environment];
        if (level === "off") return [];
        return context.resources.flatMap((resource) => checkRule(rule, resource, context).map((message) => ({ rule: rule.name, level, resource: resource.name, message })));
    });
}

/** `prd` for a stack named prd (or ending in -prd), `dev` otherwise. */
export function environmentOfStack(stack: string): Environment {
    return stack === "prd" || stack.endsWith("-prd") ? "prd" : "dev";
}
