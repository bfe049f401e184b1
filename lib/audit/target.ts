// Where the audit records of a stack are: its model store's blob endpoint and audit container, from
// `--audit-store`/AUDIT_STORE or the stack's outputs (`blobEndpoint`, `containerNames.audit`).
import { AUDIT_CONTAINER, AuditError } from "./record";

export interface AuditStoreLocation {
    /** `https://<account>.blob.core.windows.net/` */
    blobEndpoint: string;
    container: string;
}

/** A blob endpoint given by hand: https, or http on loopback (Azurite); never one with a credential in it. */
export function checkBlobEndpoint(value: string, what: string): string {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        throw new AuditError(`${what} ${JSON.stringify(value.slice(0, 200))} is not a URL: give the stack's blob endpoint, such as https://<account>.blob.core.windows.net/ (\`pulumi stack output blobEndpoint --stack prd\`), or print`);
    }
    if (url.username || url.password || url.search) throw new AuditError(`${what} holds a user name, password or query (a SAS token?): remove it (the value is not shown); the store is reached with your Entra sign-in`);
    if (url.protocol !== "https:" && !(url.protocol === "http:" && ["127.0.0.1", "localhost"].includes(url.hostname))) throw new AuditError(`${what} must use https:// (got ${url.protocol})`);
    return url.toString();
}

/** The audit store from `pulumi stack output --json` of `stack`. */
export function auditStoreFromOutputs(outputs: unknown, stack: string): AuditStoreLocation {
    const o = (outputs && typeof outputs === "object" && !Array.isArray(outputs) ? outputs : {}) as Record<string, unknown>;
    if (typeof o.blobEndpoint !== "string" || !o.blobEndpoint) throw new AuditError(`stack ${stack} has no blobEndpoint output: run \`pulumi up --stack ${stack}\`, or give --audit-store <blob endpoint>`);
    const names = o.containerNames as Record<string, unknown> | undefined;
    const container = typeof names?.audit === "string" && names.audit ? names.audit : AUDIT_CONTAINER;
    return { blobEndpoint: checkBlobEndpoint(o.blobEndpoint, `stack ${stack}'s blobEndpoint`), container };
}
