// The platform's roles as plain data: the built-in Azure roles it assigns, the Unity Catalog
// privileges it grants, and the Scoring.Invoke app role. Shared by the components (what they
// declare), the policy rule (what it refuses) and the plan (the "who can do what" table).
import { createHash } from "crypto";

/** Built-in Azure role definition ids (the same GUID in every tenant). */
export const AZURE_ROLES = {
    owner: "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    contributor: "b24988ac-6180-42a0-ab88-20f7382dd24c",
    reader: "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    userAccessAdministrator: "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    roleBasedAccessControlAdministrator: "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    storageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    storageBlobDataReader: "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    acrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    acrPush: "8311e382-0749-4cb8-b61a-304f252e45ec",
    containerAppsContributor: "358470bc-b998-42bd-ab17-a7e34c199c0f",
} as const;

const NAME_OF_ROLE = new Map<string, string>(Object.entries(AZURE_ROLES).map(([name, id]) => [id, name]));

/** `…/roleDefinitions/<guid>` → the role's name in AZURE_ROLES, or the GUID when it is not one of them. */
export function roleNameOf(roleDefinitionId: string): string {
    const guid = roleDefinitionId.split("/").pop() ?? roleDefinitionId;
    return NAME_OF_ROLE.get(guid.toLowerCase()) ?? guid;
}

/** Roles that change resources or who may access them: only deployers hold these on serving. */
export const WRITE_ROLES: readonly string[] = [
    AZURE_ROLES.owner,
    AZURE_ROLES.contributor,
    AZURE_ROLES.userAccessAdministrator,
    AZURE_ROLES.roleBasedAccessControlAdministrator,
    AZURE_ROLES.acrPush,
    AZURE_ROLES.containerAppsContributor,
];
/** Roles that read or write blobs: what "read data" means. */
export const DATA_ROLES: readonly string[] = [AZURE_ROLES.storageBlobDataContributor, AZURE_ROLES.storageBlobDataReader];

/** The app role callers of the scoring API need. */
export const SCORING_ROLE_VALUE = "Scoring.Invoke";

/**
 * A stable GUID from text (SHA-256, formatted as a version-5-style UUID), so an app role keeps its
 * id across runs and machines: Entra refuses to change a role's id while assignments use it.
 */
export function stableGuid(text: string): string {
    const hex = createHash("sha256").update(text).digest("hex").slice(0, 32).split("");
    hex[12] = "5";
    hex[16] = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
    const h = hex.join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Unity Catalog privileges (Databricks provider spelling) that let a principal write or administer. */
export const UC_PRIVILEGES = {
    /** On the catalog and schemas, to reach anything inside. */
    use: ["USE_CATALOG", "USE_SCHEMA"],
    /** Register models (create registered models and versions) in a schema. */
    register: ["CREATE_MODEL", "CREATE_MODEL_VERSION"],
    /** Administer an object: set aliases, grant, change owner. */
    manage: ["MANAGE", "ALL_PRIVILEGES"],
    /** Read and write files through an external location. */
    files: ["READ_FILES", "WRITE_FILES"],
} as const;

/** Privileges on the prd schema (or the catalog above it) that would let someone change what prd serves. */
export const PRD_WRITE_PRIVILEGES: readonly string[] = ["MANAGE", "ALL_PRIVILEGES", "CREATE_MODEL", "CREATE_MODEL_VERSION", "APPLY_TAG", "MODIFY"];

/** What the access component tells the plan and the policy pack about the roles it was given. */
export interface DeclaredRoles {
    dataScientists: { objectId: string; name?: string }[];
    deployers: { objectId: string; name?: string }[];
    scoringClients: { objectId: string; name?: string }[];
    acceptDataScientistAsDeployer: boolean;
    /** `<catalog>.<schema>` names, when this stack declares the Unity Catalog objects. */
    devSchema?: string;
    prdSchema?: string;
    catalog?: string;
}

/** A role assignment the access component declared, in plain values (its ids hold the subscription). */
export interface DeclaredAssignment {
    /** The RoleAssignment's logical name. */
    name: string;
    principalId: string;
    /** The built-in role's GUID. */
    role: string;
    /** What it is scoped to, in words: "container data", "resource group", "container registry". */
    scope: string;
    /** Carries an ABAC condition. */
    conditioned: boolean;
}
