// Which Unity Catalog grant sets the registry's stack declares, and who gets what: plain decisions,
// so they can be tested for every combination of empty and non-empty role lists.
//
// Relied on:
// - `databricks.Grants` is authoritative and needs at least one grant (facts file; @pulumi/databricks
//   grants.d.ts: "one or more `grant` blocks"), so a securable nobody is granted anything on gets
//   no Grants at all: its owner (the creator) keeps every privilege.
// - Ownership vs MANAGE (Databricks "Manage Unity Catalog object ownership"): the creator owns an
//   object and has all privileges on it; MANAGE lets a principal manage privileges, rename, drop and
//   transfer ownership (like ownership) but does not give the object's other privileges, and needs
//   USE CATALOG / USE SCHEMA on the parents; ALL PRIVILEGES does not include MANAGE. MANAGE applies
//   to storage credentials, external locations, catalogs and schemas (grants.d.ts).
// - Reading a registered model version or a version by alias needs EXECUTE on the model (inherited
//   from the schema) plus USE_CATALOG and USE_SCHEMA (Unity Catalog REST API, Get Model Version /
//   Get Model Version By Alias). Setting an alias needs ownership or MANAGE.

/** The securables of the registry, in the order the component declares them. */
export const SECURABLES = ["storageCredential", "dataLocation", "modelsLocation", "catalog", "devSchema", "prdSchema"] as const;
export type Securable = (typeof SECURABLES)[number];

export interface GrantEntry<P> {
    principal: P;
    privileges: string[];
}

export interface GrantSet<P> {
    securable: Securable;
    grants: GrantEntry<P>[];
}

/** Who the grants name, by their Databricks names (group display name, user e-mail, service principal application id). */
export interface CatalogPrincipals<P> {
    dataScientists: readonly string[];
    deployers: readonly string[];
    /** Who the registration job runs as (a declared principal's application id may be an output). */
    registrar?: P;
    /** Read-only principals: the pull-request preview identity, which resolves model versions. */
    readers: readonly string[];
}

/** What each role holds on each securable. `registrar` and `readers` get nothing where absent. */
export const PRIVILEGES: Record<Securable, { dataScientists: string[]; deployers: string[]; registrar: string[]; readers: string[] }> = {
    // The deployers manage the credential the creator owns; nobody else uses it directly.
    storageCredential: { dataScientists: [], deployers: ["MANAGE"], registrar: [], readers: [] },
    dataLocation: { dataScientists: ["READ_FILES", "WRITE_FILES"], deployers: ["READ_FILES", "MANAGE"], registrar: ["READ_FILES"], readers: [] },
    modelsLocation: { dataScientists: ["READ_FILES"], deployers: ["READ_FILES", "WRITE_FILES", "MANAGE"], registrar: ["READ_FILES"], readers: [] },
    catalog: { dataScientists: ["USE_CATALOG", "BROWSE"], deployers: ["USE_CATALOG", "BROWSE", "MANAGE"], registrar: ["USE_CATALOG"], readers: ["USE_CATALOG"] },
    // MANAGE on the dev schema: data scientists set aliases on candidates any of them registered.
    devSchema: { dataScientists: ["USE_SCHEMA", "CREATE_MODEL", "EXECUTE", "MANAGE"], deployers: ["USE_SCHEMA", "EXECUTE", "MANAGE"], registrar: ["USE_SCHEMA", "CREATE_MODEL"], readers: ["USE_SCHEMA", "EXECUTE"] },
    // Data scientists may load what prd serves; nothing else there. Deployers promote into it.
    prdSchema: { dataScientists: ["USE_SCHEMA", "EXECUTE"], deployers: ["USE_SCHEMA", "CREATE_MODEL", "EXECUTE", "MANAGE"], registrar: [], readers: ["USE_SCHEMA", "EXECUTE"] },
};

/**
 * One entry per principal: a principal named in several roles (or a configured registrar that is
 * also a deployer) has its privileges merged. Principals known only after deploy (outputs) are
 * kept apart: they cannot be compared.
 */
export function mergeGrants<P>(grants: readonly GrantEntry<P>[]): GrantEntry<P>[] {
    return grants.reduce<GrantEntry<P>[]>((out, g) => {
        if (g.privileges.length === 0) return out;
        const same = typeof g.principal === "string" ? out.find((o) => o.principal === g.principal) : undefined;
        if (same) same.privileges = [...new Set([...same.privileges, ...g.privileges])];
        else out.push({ principal: g.principal, privileges: [...new Set(g.privileges)] });
        return out;
    }, []);
}

/**
 * The grant sets to declare: one per securable that has at least one principal to grant to, in
 * `SECURABLES` order. A securable without any has none (its owner needs no grant).
 */
export function catalogGrantSets<P>(principals: CatalogPrincipals<P>): GrantSet<P | string>[] {
    const sets: GrantSet<P | string>[] = [];
    for (const securable of SECURABLES) {
        const p = PRIVILEGES[securable];
        const grants = mergeGrants<P | string>([
            ...principals.dataScientists.map((principal) => ({ principal, privileges: p.dataScientists })),
            ...principals.deployers.map((principal) => ({ principal, privileges: p.deployers })),
            ...(principals.registrar !== undefined ? [{ principal: principals.registrar, privileges: p.registrar }] : []),
            ...principals.readers.map((principal) => ({ principal, privileges: p.readers })),
        ]);
        if (grants.length > 0) sets.push({ securable, grants });
    }
    return sets;
}

/** Databricks names of principals named in config; entries without a name cannot be granted to. */
export function databricksNames(principals: readonly { name?: string }[]): string[] {
    return principals.map((p) => p.name).filter((n): n is string => n !== undefined && n !== "");
}
