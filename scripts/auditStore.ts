// What `npm run promote`, `npm run rollback` and `npm run audit` share about the audit store: where it
// is (a flag, AUDIT_STORE, or the stack's outputs), the signed-in client for it, and the tool's version.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { ContainerClient } from "@azure/storage-blob";
import { AUDIT_CONTAINER, AuditError } from "../lib/audit/record";
import { auditStoreFromOutputs, checkBlobEndpoint, type AuditStoreLocation } from "../lib/audit/target";
import type { AuditContext } from "../lib/audit/record";
import type { AuditSink } from "../lib/audit/trail";
import { pulumiStackOutputs } from "./stackOutputs";

const PROJECT_DIR = path.resolve(__dirname, "..");
/** Entra scope of Azure Storage (data plane). */
export const STORAGE_SCOPE = "https://storage.azure.com/.default";

export const AUDIT_STORE_USAGE = `  --audit-store  where the audit record goes: the prd stack's blob endpoint (default: AUDIT_STORE, else
                 \`pulumi stack output blobEndpoint --stack prd\`), or print: write none and print it
                 (then write it with npm run audit -- --write)`;

/** The store for `stack`: an explicit endpoint, or the stack's outputs through the Pulumi CLI. */
export async function auditStoreLocation(stack: string, explicit: string | undefined, what = "--audit-store"): Promise<AuditStoreLocation> {
    if (explicit) return { blobEndpoint: checkBlobEndpoint(explicit, what), container: AUDIT_CONTAINER };
    let outputs: unknown;
    try {
        outputs = await pulumiStackOutputs(stack, "give --audit-store <blob endpoint>, or set AUDIT_STORE");
    } catch (err) {
        throw new AuditError(`cannot find the audit store: ${(err as Error).message}`);
    }
    return auditStoreFromOutputs(outputs, stack);
}

/** The audit container, signed in with the deployer's Entra login (lib/azure/signIn). */
export async function signedInContainer(location: AuditStoreLocation): Promise<{ container: ContainerClient; entraToken: () => Promise<string | undefined> }> {
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const { azureSignIn } = await import("../lib/azure/signIn");
    const credential = azureSignIn();
    const container = new BlobServiceClient(location.blobEndpoint, credential).getContainerClient(location.container);
    return { container, entraToken: async () => (await credential.getToken(STORAGE_SCOPE))?.token };
}

/** The project's version and commit (GITHUB_SHA in Actions, else git's HEAD when there is one). */
export function toolVersion(env: NodeJS.ProcessEnv): AuditContext["tool"] {
    const version = String((JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")) as { version?: unknown }).version ?? "unknown");
    let commit = env.GITHUB_SHA;
    if (!commit) {
        try {
            commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: PROJECT_DIR, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || undefined;
        } catch {
            commit = undefined;
        }
    }
    return { name: "mlflow-platform", version, ...(commit ? { commit } : {}) };
}

/** The sink a promote or rollback writes to, and how to learn who signed in to it. */
export async function auditSinkFor(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<{ sink: AuditSink; entraToken?: () => Promise<string | undefined> }> {
    const value = flag ?? (env.AUDIT_STORE || undefined);
    if (value === "print") return { sink: { kind: "print" } };
    const location = await auditStoreLocation("prd", value, flag !== undefined ? "--audit-store" : "AUDIT_STORE");
    const { container, entraToken } = await signedInContainer(location);
    return { sink: { kind: "store", container, where: `${location.blobEndpoint.replace(/\/+$/, "")}/${location.container}` }, entraToken };
}
