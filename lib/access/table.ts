// "Who can do what", read from what a stack declares (its planned resources): role assignments,
// app role assignments, Unity Catalog grants and owners. Shown by `npm run plan` for a reviewer,
// and compared between stacks by `npm run plan -- --compare dev prd`.
import { AZURE_ROLES, DATA_ROLES, roleNameOf, WRITE_ROLES, type DeclaredAssignment, type DeclaredRoles } from "./roles";

/** The capabilities a row answers for, in the table's order. */
export const CAPABILITIES = ["read data", "register models", "promote", "deploy", "call scoring API"] as const;
export type Capability = (typeof CAPABILITIES)[number];

export interface AccessRow {
    principal: string;
    /** Role(s) the principal has in config. */
    roles: string;
    can: Record<Capability, string>;
}

/** A declared resource, as the plan records it. */
interface Declared {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}

export const DEPLOYING_IDENTITY = "deploying identity";
export const REGISTRATION_ROLE = "registration job (runs as)";
const NO = "-";
/** How the plan shows a value known only after deploy (lib/plan's UNKNOWN_DISPLAY). */
const UNKNOWN_NAME = "(known after deploy)";

function str(value: unknown): string {
    return typeof value === "string" ? value : "";
}

function grantsOf(resource: Declared): { principal: string; privileges: string[] }[] {
    const grants = Array.isArray(resource.inputs.grants) ? resource.inputs.grants : [];
    return grants.map((g) => ({ principal: str((g as Record<string, unknown>).principal), privileges: ((g as Record<string, unknown>).privileges as string[]) ?? [] }));
}

/** The table for one stack; empty when the stack declares no access component. */
export function accessTable(resources: readonly Declared[]): AccessRow[] {
    const access = resources.find((r) => r.type === "mlflow-platform:access:AzureAccess");
    const roles = access?.outputs?.roles as DeclaredRoles | undefined;
    if (!roles) return [];
    const assignments = resources.filter((r) => r.type === "azure-native:authorization:RoleAssignment");
    const appRoles = resources.filter((r) => r.type === "azuread:index/appRoleAssignment:AppRoleAssignment");
    const grants = resources.filter((r) => r.type === "databricks:index/grants:Grants");
    const schemas = resources.filter((r) => r.type === "databricks:index/schema:Schema");
    const holdsRegistry = roles.prdSchema !== undefined && schemas.length > 0;
    const prdSchemaResource = schemas.find((s) => `${str(s.inputs.catalogName)}.${str(s.inputs.name)}` === roles.prdSchema);
    const dataContainer = (scope: string) => scope.replace(/^container /, "");

    const byPrincipal = new Map<string, { objectId?: string; name?: string; roles: string[] }>();
    const add = (p: { objectId: string; name?: string }, role: string) => {
        const key = p.objectId.toLowerCase();
        const entry = byPrincipal.get(key) ?? { objectId: p.objectId, name: p.name, roles: [] };
        entry.roles.push(role);
        byPrincipal.set(key, entry);
    };
    roles.dataScientists.forEach((p) => add(p, "data scientist"));
    roles.deployers.forEach((p) => add(p, "deployer"));
    roles.scoringClients.forEach((p) => add(p, "scoring client"));

    // The access component's own assignments as it declared them, then any other assignment whose
    // role is known (a preview does not know role definition ids: they hold the subscription).
    const declared = (access?.outputs?.assignments ?? []) as DeclaredAssignment[];
    const declaredNames = new Set(declared.map((d) => d.name));
    const azureRoles = (objectId: string) => [
        ...declared.filter((d) => d.principalId.toLowerCase() === objectId.toLowerCase()).map((d) => ({ role: d.role, scope: d.scope, conditioned: d.conditioned })),
        ...assignments
            .filter((a) => !declaredNames.has(a.name) && str(a.inputs.principalId).toLowerCase() === objectId.toLowerCase() && /roleDefinitions\/[0-9a-f-]{36}$/i.test(str(a.inputs.roleDefinitionId)))
            .map((a) => ({ role: str(a.inputs.roleDefinitionId).split("/").pop()!.toLowerCase(), scope: str(a.inputs.scope).split("/").slice(-2).join(" "), conditioned: a.inputs.condition !== undefined })),
    ];
    const ucPrivileges = (name: string | undefined, target: (g: Declared) => boolean) =>
        name === undefined ? [] : grants.filter(target).flatMap((g) => grantsOf(g).filter((x) => x.principal.toLowerCase() === name.toLowerCase()).flatMap((x) => x.privileges));
    const onSchema = (schema: string | undefined) => (g: Declared) => schema !== undefined && str(g.inputs.schema) === schema;
    const onDataLocation = (g: Declared) => str(g.inputs.externalLocation).endsWith("-data");

    const rows: AccessRow[] = [];
    for (const entry of byPrincipal.values()) {
        const objectId = entry.objectId!;
        const azure = azureRoles(objectId);
        const dataRoles = azure.filter((a) => DATA_ROLES.includes(a.role));
        const containers = dataRoles.map((a) => `${dataContainer(a.scope)}${!a.conditioned ? "" : dataContainer(a.scope) === "audit" ? " (audit records: no deletes)" : " (not the prd schema's files)"}`);
        const files = ucPrivileges(entry.name, onDataLocation);
        const readData = [containers.length ? `blobs: ${containers.join(", ")}` : "", files.length ? `Unity Catalog: ${files.join(", ")} on data` : ""].filter(Boolean).join("; ");
        const devPrivileges = ucPrivileges(entry.name, onSchema(roles.devSchema));
        const prdPrivileges = ucPrivileges(entry.name, onSchema(roles.prdSchema));
        const ownsPrd = entry.name !== undefined && str(prdSchemaResource?.inputs.owner).toLowerCase() === entry.name.toLowerCase();
        const register = !holdsRegistry ? "declared by the registry's stack" : devPrivileges.includes("CREATE_MODEL") ? `yes, in ${roles.devSchema} (${devPrivileges.filter((p) => p !== "USE_SCHEMA").join(", ")})` : NO;
        const promote = !holdsRegistry
            ? "declared by the registry's stack"
            : ownsPrd
              ? `yes: owner of ${roles.prdSchema}`
              : prdPrivileges.some((p) => ["MANAGE", "ALL_PRIVILEGES"].includes(p))
                ? `yes, ${roles.prdSchema} (${prdPrivileges.filter((p) => p !== "USE_SCHEMA").join(", ")})`
                : prdPrivileges.length
                  ? `no (${roles.prdSchema}: ${prdPrivileges.join(", ")})`
                  : NO;
        const writes = azure.filter((a) => WRITE_ROLES.includes(a.role)).map((a) => `${roleNameOf(a.role)} on ${a.scope}`).sort();
        const reads = azure.filter((a) => a.role === AZURE_ROLES.reader).length ? " (Reader)" : "";
        const deploy = writes.length ? `yes: ${writes.join(", ")}` : `${NO}${reads}`;
        const callApi = appRoles.some((a) => str(a.inputs.principalObjectId).toLowerCase() === objectId.toLowerCase()) ? "yes (Scoring.Invoke)" : NO;
        rows.push({
            principal: entry.name && entry.name !== objectId ? `${entry.name} (${objectId})` : objectId,
            roles: entry.roles.join(", "),
            can: { "read data": readData || NO, "register models": register, promote, deploy, "call scoring API": callApi },
        });
    }
    // Who the registration job runs as: its grants are folded into the same Grants as the roles'.
    for (const principal of registrationPrincipals(resources)) {
        const files = grants.filter((g) => str(g.inputs.externalLocation) !== "").flatMap((g) =>
            grantsOf(g).filter((x) => x.principal === principal.name).map((x) => `${x.privileges.join(", ")} on ${str(g.inputs.externalLocation).split("-").pop()}`),
        );
        const devPrivileges = ucPrivileges(principal.name, onSchema(roles.devSchema));
        const prdPrivileges = ucPrivileges(principal.name, onSchema(roles.prdSchema));
        rows.push({
            principal: principal.label,
            roles: REGISTRATION_ROLE,
            can: {
                "read data": files.length ? `Unity Catalog: ${files.join("; ")}` : NO,
                "register models": devPrivileges.includes("CREATE_MODEL") ? `yes, in ${roles.devSchema} (${devPrivileges.filter((p) => p !== "USE_SCHEMA").join(", ")}; owns what it creates)` : NO,
                promote: prdPrivileges.length ? `no (${roles.prdSchema}: ${prdPrivileges.join(", ")})` : NO,
                deploy: NO,
                "call scoring API": NO,
            },
        });
    }
    // The identity that runs `pulumi up` changes everything and owns what it creates without an owner.
    const deployerAssigned = appRoles.some((a) => a.name.endsWith("-deployer"));
    rows.push({
        principal: DEPLOYING_IDENTITY,
        roles: "deployer (found at deploy)",
        can: {
            "read data": "through the access connector only",
            "register models": holdsRegistry ? "yes (creates the schemas)" : "declared by the registry's stack",
            promote: !holdsRegistry ? "declared by the registry's stack" : prdSchemaResource?.inputs.owner ? `yes, as a member of ${str(prdSchemaResource.inputs.owner)} if it is one` : `yes: owner of ${roles.prdSchema} (its creator)`,
            deploy: "yes: runs pulumi up",
            "call scoring API": deployerAssigned ? "yes (Scoring.Invoke)" : NO,
        },
    });
    return rows;
}

/**
 * The identities declared jobs run as (`runAs`), each by the name its grants use and a label: a
 * service principal the stack declares shows its display name (its application id may be known
 * only after deploy).
 */
export function registrationPrincipals(resources: readonly Declared[]): { name: string; label: string }[] {
    const declared = resources.filter((r) => r.type === "databricks:index/servicePrincipal:ServicePrincipal");
    const found = new Map<string, string>();
    for (const job of resources.filter((r) => r.type === "databricks:index/job:Job")) {
        const runAs = job.inputs.runAs as Record<string, unknown> | undefined;
        const name = str(runAs?.servicePrincipalName) || str(runAs?.userName);
        if (!name) continue;
        // Its application id shows in its rule set's name (accounts/<id>/servicePrincipals/<application id>/ruleSets/default).
        const ruleSet = resources.find((r) => r.type === "databricks:index/accessControlRuleSet:AccessControlRuleSet" && str(r.inputs.name).includes(`/servicePrincipals/${name}/`));
        const sp = declared.find((d) => ruleSet?.name === `${d.name}-roles`) ?? (declared.length === 1 && name === UNKNOWN_NAME ? declared[0] : undefined);
        const label = sp ? `${str(sp.inputs.displayName)} (${name === UNKNOWN_NAME ? "service principal" : name})` : name;
        found.set(name, label);
    }
    return [...found].map(([name, label]) => ({ name, label }));
}

function pad(cells: string[][]): string[] {
    const widths = cells[0].map((_, i) => Math.min(70, Math.max(...cells.map((c) => c[i].length))));
    return cells.map((c) => c.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd());
}

export function renderAccessText(stack: string, rows: readonly AccessRow[]): string {
    if (rows.length === 0) return "";
    const header = ["principal", "roles", ...CAPABILITIES];
    const cells = [header, header.map((h) => "-".repeat(h.length)), ...rows.map((r) => [r.principal, r.roles, ...CAPABILITIES.map((c) => r.can[c])])];
    return [`Who can do what in "${stack}" (from the declared role assignments, app role assignments and grants):`, ...pad(cells).map((l) => `  ${l}`)].join("\n");
}

export function renderAccessMarkdown(rows: readonly AccessRow[]): string[] {
    if (rows.length === 0) return [];
    const esc = (v: string) => v.replace(/\|/g, "\\|");
    return [
        "**Who can do what**",
        "",
        `| principal | roles | ${CAPABILITIES.join(" | ")} |`,
        `|${["", "", ...CAPABILITIES].map(() => "---").join("|")}|`,
        ...rows.map((r) => `| ${esc(r.principal)} | ${esc(r.roles)} | ${CAPABILITIES.map((c) => esc(r.can[c])).join(" | ")} |`),
        "",
    ];
}

export interface AccessDifference {
    principal: string;
    capability: Capability;
    values: [string, string];
}

/** Per principal and capability, where two stacks' tables differ ("(absent)" for a missing principal). */
export function compareAccess(a: readonly AccessRow[], b: readonly AccessRow[]): AccessDifference[] {
    const left = new Map(a.map((r) => [r.principal, r]));
    const right = new Map(b.map((r) => [r.principal, r]));
    const differences: AccessDifference[] = [];
    for (const principal of [...new Set([...left.keys(), ...right.keys()])]) {
        for (const capability of CAPABILITIES) {
            const l = left.get(principal)?.can[capability] ?? "(absent)";
            const r = right.get(principal)?.can[capability] ?? "(absent)";
            if (l !== r) differences.push({ principal, capability, values: [l, r] });
        }
    }
    return differences;
}

export function renderAccessComparison(a: string, b: string, differences: readonly AccessDifference[], format: "text" | "markdown"): string {
    const header = ["principal", "may", a, b];
    const rows = differences.map((d) => [d.principal, d.capability, d.values[0], d.values[1]]);
    if (format === "markdown") {
        const esc = (v: string) => v.replace(/\|/g, "\\|");
        return [`### Who can do what: \`${a}\` vs \`${b}\`, ${differences.length} differences`, "", `| ${header.join(" | ")} |`, "|---|---|---|---|", ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`)].join("\n");
    }
    return [`Who can do what, ${a} vs ${b}: ${differences.length} differences`, "", ...(rows.length ? pad([header, header.map((h) => "-".repeat(h.length)), ...rows]) : [])].join("\n");
}

/** One Unity Catalog securable the registry's stack declares, with its owner and grants. */
export interface CatalogGrant {
    securable: string;
    owner?: string;
    grants: { principal: string; privileges: string[] }[];
}

const SECURABLE_KEYS = ["catalog", "schema", "externalLocation", "storageCredential", "model"] as const;

const CREATOR = "the deploying identity (creator)";

/** The securable a declared Unity Catalog object is, by its name ("schema mlplatform.prd"). */
function securableOf(r: Declared): string | undefined {
    const props = r.inputs as Record<string, unknown>;
    const name = typeof props.name === "string" ? props.name : undefined;
    if (name === undefined) return undefined;
    switch (r.type) {
        case "databricks:index/schema:Schema":
            return typeof props.catalogName === "string" ? `schema ${props.catalogName}.${name}` : undefined;
        case "databricks:index/catalog:Catalog":
            return `catalog ${name}`;
        case "databricks:index/externalLocation:ExternalLocation":
            return `external location ${name}`;
        case "databricks:index/storageCredential:StorageCredential":
            return `storage credential ${name}`;
    }
    return undefined;
}

/**
 * The Unity Catalog objects and grants among a plan's resources (the registry's stack declares
 * them), in the order the objects are declared, each with its owner and grants: an object nobody is
 * granted anything on has no Grants (a Grants needs at least one grant) and shows none.
 */
export function catalogGrants(resources: readonly Declared[]): CatalogGrant[] {
    const labels = new Map(registrationPrincipals(resources).map((p) => [p.name, p.label]));
    const owners = new Map<string, string>();
    for (const r of resources) {
        const securable = securableOf(r);
        // No owner declared: the creator, the deploying identity, owns it.
        if (securable) owners.set(securable, typeof r.inputs.owner === "string" ? r.inputs.owner : CREATOR);
    }
    const granted = resources
        .filter((r) => r.type === "databricks:index/grants:Grants")
        .map((r) => {
            const props = r.inputs as Record<string, unknown>;
            const key = SECURABLE_KEYS.find((k) => typeof props[k] === "string");
            const securable = key ? `${key.replace(/([A-Z])/g, " $1").toLowerCase()} ${props[key]}` : r.name;
            const grants = Array.isArray(props.grants)
                ? (props.grants as { principal?: unknown; privileges?: unknown }[]).map((g) => ({
                      principal: labels.get(String(g.principal)) ?? String(g.principal),
                      privileges: Array.isArray(g.privileges) ? g.privileges.map(String) : [],
                  }))
                : [];
            return { securable, owner: owners.get(securable), grants };
        });
    // In the order the objects are declared; grants on anything else (a model) after them.
    const objects = [...owners].map(([securable, owner]) => granted.find((g) => g.securable === securable) ?? { securable, owner, grants: [] });
    return [...objects, ...granted.filter((g) => !owners.has(g.securable))];
}

export function renderCatalogGrantsText(registryStack: string, own: boolean, rows: readonly CatalogGrant[]): string {
    if (rows.length === 0) return "";
    const title = own
        ? `Unity Catalog grants declared by "${registryStack}" (its workspace holds the registry):`
        : `Unity Catalog grants that decide what this stack serves, declared by "${registryStack}" (its workspace holds the registry):`;
    const lines = rows.map((row) => {
        const grants = row.grants.length ? row.grants.map((g) => `${g.principal}: ${g.privileges.join(", ")}`).join("; ") : "none beyond the owner";
        return `  ${row.securable}${row.owner ? ` (owner: ${row.owner})` : ""}: ${grants}`;
    });
    return [title, ...lines].join("\n");
}
