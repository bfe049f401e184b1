// Unity Catalog objects of the registry: the storage credential from the workspace's access
// connector, external locations for the `data` and `models` containers, the catalog, a dev
// schema where data scientists register models and set candidate aliases, and a prd schema owned
// by the deployers, into which only a promotion copies versions. Declared only by the stack whose
// workspace holds the registry, through the `databricks` provider configured from that workspace.
//
// Relied on (Databricks documentation): only a registered model's owner or a principal with
// MANAGE on it (or on its schema or catalog) can set its aliases; the owner of a schema owns what
// a principal creates there only if it created it, so data scientists get no privilege on the prd
// schema beyond USE_SCHEMA and EXECUTE. `databricks.Grants` is authoritative: privileges on these
// objects that are not declared here are revoked at the next `pulumi up`.
//
// The registration job runs as a principal of its own (declared here, or configured), which holds
// only what registering needs and appears in the same Grants as the roles: one Grants per securable.
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { AccessRoles, Principal } from "../../lib/config";
import { unknownValue } from "../../lib/outputs";

export interface UnityCatalogAccessArgs {
    /** `https://adb-….azuredatabricks.net` */
    workspaceUrl: pulumi.Input<string>;
    /** The workspace's ARM id: the provider signs in with Entra and adds the management token header. */
    workspaceResourceId: pulumi.Input<string>;
    accessConnectorId: pulumi.Input<string>;
    storageAccountName: pulumi.Input<string>;
    containerNames: pulumi.Input<{ data: string; models: string }>;
    catalog: string;
    devSchema: string;
    prdSchema: string;
    roles: AccessRoles;
    /** Metastore-unique names start with it (the storage account name is globally unique). */
    namePrefix: string;
    /**
     * Who the registration job runs as. Absent: a Databricks-managed service principal declared
     * here (see `registrationPrincipal`). Either way that principal alone gets what registration
     * needs: USE_CATALOG, USE_SCHEMA and CREATE_MODEL on the dev schema, READ_FILES on both locations.
     */
    registrar?: { servicePrincipalName: string } | { userName: string };
    /**
     * The Databricks account id, for the declared principal's rule set (Service Principal User for
     * the deploying identity and the deployers). Absent: a placeholder the plan shows (index.ts
     * refuses a deploy without it).
     */
    databricksAccountId?: string;
    /** The credential-free plan: the deploying identity's Databricks name is not asked for. */
    offline: boolean;
}

/** How a principal named in config appears in an account rule set (`users/…`, `groups/…`, `servicePrincipals/<application id>`). */
export function aclPrincipalOf(p: Principal): string | undefined {
    if (!p.name) return undefined;
    return `${p.type === "group" ? "groups" : p.type === "user" ? "users" : "servicePrincipals"}/${p.name}`;
}

/** Shown in the rule set's name by a plan of a stack that does not name its Databricks account yet. */
export const ACCOUNT_ID_PLACEHOLDER = "<registry.databricksAccountId>";

/** The roles the registration principal's rule set gives (Databricks account-level service principal roles). */
export const SERVICE_PRINCIPAL_ROLES = { manager: "roles/servicePrincipal.manager", user: "roles/servicePrincipal.user" } as const;

/** Paths in the models container: the catalog's managed storage, and the prd schema's. */
export const MANAGED_STORAGE = { catalog: "unity-catalog", prdSchema: "unity-catalog-prd" } as const;

const names = (principals: Principal[]) => principals.map((p) => p.name).filter((n): n is string => n !== undefined);

export class UnityCatalogAccess extends pulumi.ComponentResource {
    readonly catalogName: pulumi.Output<string>;
    readonly prdSchemaName: pulumi.Output<string>;
    /** The `databricks` provider of this workspace, for other workspace resources (the registration job). */
    readonly provider: databricks.Provider;
    /** Who the registration job runs as: the declared service principal (by application id), or the given `registrar`. */
    readonly registrationPrincipal: { servicePrincipalName: pulumi.Output<string> } | { userName: pulumi.Output<string> };
    /** What must exist before the job may name `registrationPrincipal` in run_as (its rule set). */
    readonly registrationPrincipalReady: pulumi.Resource[];

    constructor(name: string, args: UnityCatalogAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:access:UnityCatalogAccess", name, {}, opts);
        // Auth: the deployer's Azure CLI sign-in locally, GitHub OIDC in the workflows
        // (auth type github-oidc-azure from ARM_CLIENT_ID/ARM_TENANT_ID), never a stored token.
        const provider = new databricks.Provider(
            `${name}-provider`,
            { host: args.workspaceUrl, azureWorkspaceResourceId: args.workspaceResourceId },
            { parent: this },
        );
        this.provider = provider;
        const child = { parent: this, provider };
        const scientists = names(args.roles.dataScientists);
        const deployers = names(args.roles.deployers);
        // A single owner: the first deployer named (a group, ideally). Without one, the creator
        // (the deploying identity, itself a deployer) stays the owner.
        const owner = deployers[0];
        const abfss = (container: string, path = "") =>
            pulumi.all([args.storageAccountName, args.containerNames]).apply(([account, c]) => `abfss://${(c as Record<string, string>)[container]}@${account}.dfs.core.windows.net/${path}`);

        const credential = new databricks.StorageCredential(
            `${name}-storage-credential`,
            {
                name: `${args.namePrefix}-access-connector`,
                azureManagedIdentity: { accessConnectorId: args.accessConnectorId },
                comment: "The workspace's access connector: Storage Blob Data Contributor on the model store",
                ...(owner ? { owner } : {}),
            },
            child,
        );
        const location = (key: "data" | "models") =>
            new databricks.ExternalLocation(
                `${name}-${key}-location`,
                {
                    name: `${args.namePrefix}-${key}`,
                    url: abfss(key),
                    credentialName: credential.name,
                    comment: `The model store's ${key} container`,
                    ...(owner ? { owner } : {}),
                },
                child,
            );
        const dataLocation = location("data");
        const modelsLocation = location("models");

        const catalog = new databricks.Catalog(
            `${name}-catalog`,
            {
                name: args.catalog,
                comment: "MLflow models: candidates in the dev schema, what prd serves in the prd schema",
                // Managed storage inside the models location (new metastores have no root storage).
                storageRoot: abfss("models", MANAGED_STORAGE.catalog),
                ...(owner ? { owner } : {}),
            },
            { ...child, dependsOn: [modelsLocation] },
        );
        const devSchema = new databricks.Schema(
            `${name}-dev-schema`,
            { catalogName: args.catalog, name: args.devSchema, comment: "Candidates: data scientists register models and set candidate aliases here", ...(owner ? { owner } : {}) },
            // The catalog by its name (a plain value the plan and the policy pack can read), after it exists.
            { ...child, dependsOn: [catalog] },
        );
        const prdSchema = new databricks.Schema(
            `${name}-prd-schema`,
            {
                catalogName: args.catalog,
                name: args.prdSchema,
                comment: "What prd serves: owned by the deployers; versions arrive only by promotion",
                // Its own path, which the data scientists' storage role cannot write (AzureAccess).
                storageRoot: abfss("models", MANAGED_STORAGE.prdSchema),
                ...(owner ? { owner } : {}),
            },
            { ...child, dependsOn: [catalog] },
        );

        // Securables by their names (plain values, so the plan and the policy pack see them), after
        // the objects exist.
        // The registration job's principal. Databricks-managed (displayName only): it only runs the
        // job inside Databricks, where storage is reached through Unity Catalog's external locations
        // (the access connector's identity), so it needs no Entra application, secret or Azure role.
        let registrar: pulumi.Input<string>;
        this.registrationPrincipalReady = [];
        if (args.registrar) {
            const configured = "servicePrincipalName" in args.registrar ? args.registrar.servicePrincipalName : args.registrar.userName;
            registrar = configured;
            this.registrationPrincipal = "servicePrincipalName" in args.registrar ? { servicePrincipalName: pulumi.output(configured) } : { userName: pulumi.output(configured) };
        } else {
            const principal = new databricks.ServicePrincipal(`${name}-registration-principal`, { displayName: `${args.namePrefix}-registration` }, child);
            registrar = principal.applicationId;
            this.registrationPrincipal = { servicePrincipalName: principal.applicationId };
            // Setting a job's run_as to a service principal needs its Service Principal User role, which
            // its creator (Manager) does not inherit (Databricks "Roles for managing service principals").
            // The rule set is authoritative, so it keeps the creator's Manager role too. Data scientists
            // get neither: CAN_MANAGE_RUN starts runs as the job's run_as identity without it.
            const deployerAcl = args.offline ? unknownValue() : databricks.getCurrentUserOutput({}, { provider, parent: this }).aclPrincipalId;
            const deployerAcls = args.roles.deployers.map(aclPrincipalOf).filter((a): a is string => a !== undefined);
            const accountId = args.databricksAccountId ?? ACCOUNT_ID_PLACEHOLDER;
            const ruleSet = new databricks.AccessControlRuleSet(
                `${name}-registration-principal-roles`,
                {
                    name: pulumi.interpolate`accounts/${accountId}/servicePrincipals/${principal.applicationId}/ruleSets/default`,
                    grantRules: [
                        { role: SERVICE_PRINCIPAL_ROLES.manager, principals: [deployerAcl] },
                        { role: SERVICE_PRINCIPAL_ROLES.user, principals: pulumi.output(deployerAcl).apply((me) => [...new Set([me, ...deployerAcls])]) },
                    ],
                },
                child,
            );
            this.registrationPrincipalReady.push(ruleSet);
        }
        const registration = (privileges: string[]) => [{ principal: registrar, privileges }];

        // One entry per principal: a configured registrar that is also named in a role has its privileges merged.
        const merged = (grants: { principal: pulumi.Input<string>; privileges: string[] }[]) =>
            grants.reduce<{ principal: pulumi.Input<string>; privileges: string[] }[]>((out, g) => {
                const same = typeof g.principal === "string" ? out.find((o) => o.principal === g.principal) : undefined;
                if (same) same.privileges = [...new Set([...same.privileges, ...g.privileges])];
                else out.push({ principal: g.principal, privileges: [...g.privileges] });
                return out;
            }, []);
        const grant = (logical: string, target: Record<string, string>, on: pulumi.Resource, grants: { principal: pulumi.Input<string>; privileges: string[] }[]) =>
            new databricks.Grants(`${name}-${logical}-grants`, { ...target, grants: merged(grants) }, { ...child, dependsOn: [on] });
        const each = (principals: string[], privileges: string[]) => principals.map((principal) => ({ principal, privileges }));
        const devName = `${args.catalog}.${args.devSchema}`;
        const prdName = `${args.catalog}.${args.prdSchema}`;
        // The registration principal joins each securable's one (authoritative) Grants: it reads the
        // staged pickle (models container) and sample (data or models container), and creates models
        // in the dev schema. It owns the models it creates, so it can add versions and set their
        // aliases (MLflow's Unity Catalog registration needs USE CATALOG, USE SCHEMA, CREATE MODEL).
        grant("data-location", { externalLocation: `${args.namePrefix}-data` }, dataLocation, [...each(scientists, ["READ_FILES", "WRITE_FILES"]), ...each(deployers, ["READ_FILES"]), ...registration(["READ_FILES"])]);
        grant("models-location", { externalLocation: `${args.namePrefix}-models` }, modelsLocation, [...each(scientists, ["READ_FILES"]), ...each(deployers, ["READ_FILES", "WRITE_FILES"]), ...registration(["READ_FILES"])]);
        grant("catalog", { catalog: args.catalog }, catalog, [...each(scientists, ["USE_CATALOG", "BROWSE"]), ...each(deployers, ["USE_CATALOG", "BROWSE"]), ...registration(["USE_CATALOG"])]);
        // MANAGE on the dev schema: data scientists set aliases on candidates any of them registered.
        grant("dev-schema", { schema: devName }, devSchema, [...each(scientists, ["USE_SCHEMA", "CREATE_MODEL", "EXECUTE", "MANAGE"]), ...each(deployers, ["USE_SCHEMA", "EXECUTE"]), ...registration(["USE_SCHEMA", "CREATE_MODEL"])]);
        // Data scientists may load what prd serves; nothing else there.
        grant("prd-schema", { schema: prdName }, prdSchema, [...each(scientists, ["USE_SCHEMA", "EXECUTE"]), ...each(deployers, ["USE_SCHEMA", "CREATE_MODEL", "EXECUTE", "MANAGE"])]);

        this.catalogName = catalog.name;
        this.prdSchemaName = prdSchema.name;
        this.registerOutputs({
            catalog: args.catalog,
            devSchema: devName,
            prdSchema: prdName,
        });
    }
}
