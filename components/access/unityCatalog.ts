// Unity Catalog objects of the registry: the storage credential from the workspace's access
// connector, external locations for the `data` and `models` containers, the catalog, a dev
// schema where data scientists register models and set candidate aliases, and a prd schema the
// deployers manage, into which only a promotion copies versions. Declared only by the stack whose
// workspace holds the registry, through the `databricks` provider configured from that workspace.
// Who gets what is decided in lib/access/unityCatalogGrants.ts; this file only declares it.
//
// Ownership: nothing is handed over. The deploying identity creates every object and stays its
// owner; the deployers get MANAGE on each object instead (Databricks: MANAGE manages privileges,
// renames, drops and transfers ownership like an owner, and can be held by several principals). An
// owner set at creation would move each object away from the deploying identity right after it is
// created: unless that identity is in the group or a metastore admin, the next object (a location on
// the credential, a schema in the catalog) and every Grants would then fail with PERMISSION_DENIED.
// Owners already set on a deployed stack stay as they are: the provider computes `owner` when it is
// not declared.
//
// Relied on (Databricks documentation): only a registered model's owner or a principal with MANAGE
// on it (or on its schema or catalog) can set its aliases; data scientists get no privilege on the
// prd schema beyond USE_SCHEMA and EXECUTE. `databricks.Grants` is authoritative (privileges not
// declared here are revoked at the next `pulumi up`) and needs at least one grant, so a securable
// with nobody to grant to gets no Grants.
//
// The registration job runs as a principal of its own (declared here, or configured), which holds
// only what registering needs and appears in the same Grants as the roles: one Grants per securable.
import * as pulumi from "@pulumi/pulumi";
import * as databricks from "@pulumi/databricks";
import type { AccessRoles, Principal } from "../../lib/config";
import { unknownValue } from "../../lib/deployment/outputs";
import { catalogGrantSets, databricksNames, type Securable } from "../../lib/access/unityCatalogGrants";
import { Delay } from "../serving/delay";

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
    /**
     * The access connector's Storage Blob Data Contributor assignment on the storage account
     * (MlflowWorkspace.storageAccess). Unity Catalog validates a location's access when it is
     * created, so the credential and the locations wait for it and for its propagation.
     */
    storageAccess?: pulumi.Resource;
    /**
     * Read-only principals by Databricks name (a service principal's application id): the
     * pull-request preview identity (AZURE_PREVIEW_CLIENT_ID), which resolves model versions and
     * aliases. They get USE_CATALOG, and USE_SCHEMA + EXECUTE on both schemas.
     */
    readers?: string[];
}

/**
 * A role assignment takes up to about ten minutes to propagate (facts file). `Delay` waits once, on
 * creation, in parallel with the serving side's AcrPull wait on a first run.
 */
export const STORAGE_ROLE_PROPAGATION_SECONDS = 600;

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

export class UnityCatalogAccess extends pulumi.ComponentResource {
    readonly catalogName: pulumi.Output<string>;
    readonly prdSchemaName: pulumi.Output<string>;
    /** The `databricks` provider of this workspace, for other workspace resources (the registration job). */
    readonly provider: databricks.Provider;
    /** Who the registration job runs as: the declared service principal (by application id), or the given `registrar`. */
    readonly registrationPrincipal: { servicePrincipalName: pulumi.Output<string> } | { userName: pulumi.Output<string> };
    /** What must exist before the job may name `registrationPrincipal` in run_as (its rule set). */
    readonly registrationPrincipalReady: pulumi.Resource[];
    /** The declared Grants, one per securable that has someone to grant to. */
    readonly grants: databricks.Grants[];

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
        const abfss = (container: string, path = "") =>
            pulumi.all([args.storageAccountName, args.containerNames]).apply(([account, c]) => `abfss://${(c as Record<string, string>)[container]}@${account}.dfs.core.windows.net/${path}`);

        // Unity Catalog checks the credential's access to the URL when a location is created
        // (skipValidation would hide a missing role until the first read): wait for the connector's
        // role assignment, then for its propagation. Later runs do not wait again.
        const storageReady = args.storageAccess
            ? [new Delay(`${name}-storage-access-propagation`, { seconds: STORAGE_ROLE_PROPAGATION_SECONDS, reason: "the access connector's Storage Blob Data Contributor assignment propagating before Unity Catalog validates the locations" }, { parent: this, dependsOn: [args.storageAccess] })]
            : [];

        // No `owner` on any object: the creator (the deploying identity) keeps it; see the header.
        const credential = new databricks.StorageCredential(
            `${name}-storage-credential`,
            {
                name: `${args.namePrefix}-access-connector`,
                azureManagedIdentity: { accessConnectorId: args.accessConnectorId },
                comment: "The workspace's access connector: Storage Blob Data Contributor on the model store",
            },
            { ...child, dependsOn: storageReady },
        );
        const location = (key: "data" | "models") =>
            new databricks.ExternalLocation(
                `${name}-${key}-location`,
                {
                    name: `${args.namePrefix}-${key}`,
                    url: abfss(key),
                    credentialName: credential.name,
                    comment: `The model store's ${key} container`,
                },
                { ...child, dependsOn: storageReady },
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
            },
            { ...child, dependsOn: [modelsLocation] },
        );
        const devSchema = new databricks.Schema(
            `${name}-dev-schema`,
            { catalogName: args.catalog, name: args.devSchema, comment: "Candidates: data scientists register models and set candidate aliases here" },
            // The catalog by its name (a plain value the plan and the policy pack can read), after it exists.
            { ...child, dependsOn: [catalog] },
        );
        const prdSchema = new databricks.Schema(
            `${name}-prd-schema`,
            {
                catalogName: args.catalog,
                name: args.prdSchema,
                comment: "What prd serves: managed by the deployers; versions arrive only by promotion",
                // Its own path, which the data scientists' storage role cannot write (AzureAccess).
                storageRoot: abfss("models", MANAGED_STORAGE.prdSchema),
            },
            { ...child, dependsOn: [catalog] },
        );

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
        const devName = `${args.catalog}.${args.devSchema}`;
        const prdName = `${args.catalog}.${args.prdSchema}`;
        // Securables by their names (plain values, so the plan and the policy pack see them), each
        // after its object exists. The registration principal joins each securable's one
        // (authoritative) Grants: it reads the staged pickle and sample, and creates models in the
        // dev schema; it owns the models it creates, so it can add versions and set their aliases.
        const securables: Record<Securable, { logical: string; target: Record<string, string>; on: pulumi.Resource }> = {
            storageCredential: { logical: "storage-credential", target: { storageCredential: `${args.namePrefix}-access-connector` }, on: credential },
            dataLocation: { logical: "data-location", target: { externalLocation: `${args.namePrefix}-data` }, on: dataLocation },
            modelsLocation: { logical: "models-location", target: { externalLocation: `${args.namePrefix}-models` }, on: modelsLocation },
            catalog: { logical: "catalog", target: { catalog: args.catalog }, on: catalog },
            devSchema: { logical: "dev-schema", target: { schema: devName }, on: devSchema },
            prdSchema: { logical: "prd-schema", target: { schema: prdName }, on: prdSchema },
        };
        const sets = catalogGrantSets<pulumi.Input<string>>({
            dataScientists: databricksNames(args.roles.dataScientists),
            deployers: databricksNames(args.roles.deployers),
            registrar,
            readers: args.readers ?? [],
        });
        this.grants = sets.map(({ securable, grants }) => {
            const s = securables[securable];
            return new databricks.Grants(`${name}-${s.logical}-grants`, { ...s.target, grants }, { ...child, dependsOn: [s.on] });
        });

        this.catalogName = catalog.name;
        this.prdSchemaName = prdSchema.name;
        this.registerOutputs({
            catalog: args.catalog,
            devSchema: devName,
            prdSchema: prdName,
        });
    }
}
