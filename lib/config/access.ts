// mlflow-platform:access, who reads data, registers, promotes, deploys and calls the scoring API:
// the principals of each role, their schema, defaults and rules (names Databricks can use, no
// secrets, data scientists kept apart from the deployers wherever the roles decide what prd serves).
import { z } from "zod";
import { boolean, GUID, guid, oneOf, PROJECT_NAME, ZERO_GUID, ZERO_GUID_RULE, type Environment, type Issue } from "./common";
import { looksLikeSecret } from "./text";

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

export const principalFields = z.object(
    {
        objectId: guid("the principal's object id in Microsoft Entra ID (a GUID such as 3f2b8c1e-5d4a-4e6f-9b7c-2a1d0e9f8c7b; `az ad group show -g <name> --query id`)"),
        type: oneOf(PRINCIPAL_TYPES),
        name: z.string({ error: "must be the principal's name in Databricks" }).optional(),
    },
    { error: "must be a map with objectId (a GUID), type (group, user or servicePrincipal) and name (its name in Databricks)" },
);
export const principalList = z.array(principalFields.strict(), { error: "must be a list of principals, each with objectId, type and name" });

export const accessFields = z.object(
    {
        dataScientists: principalList.optional(),
        deployers: principalList.optional(),
        scoringClients: principalList.optional(),
        readers: principalList.optional(),
        acceptDataScientistAsDeployer: boolean().optional(),
    },
    { error: "must be a map with dataScientists, deployers and scoringClients (lists of principals) and optionally readers (a list of principals) and acceptDataScientistAsDeployer" },
);

const APP_ID_RULE = "a service principal's name in Databricks is its application (client) id, a GUID";
/** For a secret written where a principal's id or name belongs: never repeated, and never to be stored. */
export const PRINCIPAL_SECRET =
    "holds what looks like a secret (a client secret or token), and the value is not shown: a principal is named by its object id and its name in Databricks, never by a secret, and the platform needs no secret of it. Remove it from the stack file, and rotate that secret (`az ad app credential reset`), since it was written there";

/**
 * Role lists: names Databricks can use, and the separation of data scientists and deployers
 * wherever the roles decide what prd serves: in prd, and in the stack that holds the prd schema
 * (`holdsPrdSchema`). The policy rule data-scientists-cannot-change-prd draws the same line.
 */
export function accessIssues(environment: Environment, access: z.infer<typeof accessFields>, holdsPrdSchema: boolean): Issue[] {
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

/**
 * The read-only preview identity reads Unity Catalog only through the (authoritative) grants of the
 * stack that holds the registry: without readers there, previews in pull requests cannot resolve versions.
 */
export function accessWarnings(access: z.infer<typeof accessFields>, holdsRegistry: boolean): string[] {
    if (!holdsRegistry || (access.readers ?? []).length > 0) return [];
    return [
        `${PROJECT_NAME}:access.readers is empty: the pull-request preview identity (AZURE_PREVIEW_CLIENT_ID) gets no Unity Catalog read grant, so \`pulumi preview\` in pull requests cannot resolve model versions (a grant added by hand is revoked by the next \`pulumi up\`). ` +
            "Add it as {objectId, type: servicePrincipal, name: <its application id>}",
    ];
}

/** The access section of the typed config: every role a list, none by default. */
export function accessRoles(access: z.infer<typeof accessFields>): AccessRoles {
    return {
        dataScientists: access.dataScientists ?? [],
        deployers: access.deployers ?? [],
        scoringClients: access.scoringClients ?? [],
        readers: access.readers ?? [],
        acceptDataScientistAsDeployer: access.acceptDataScientistAsDeployer ?? false,
    };
}
