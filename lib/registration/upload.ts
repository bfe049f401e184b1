// Uploads a local file to Blob Storage so that the blob either appears whole or not at all.
//
// A block blob's content changes only when its block list is committed: staged blocks are
// invisible to readers, and the service discards uncommitted blocks (after at most seven days).
// So the file is staged block by block and committed with one Put Block List at the end; if
// reading or any stage fails, nothing is committed, no blob (or a half-written one) appears, and
// an existing blob keeps its content. (Storage documentation: "Understanding block blobs", Put
// Block / Put Block List.)
//
// An existing blob is never replaced silently: the storage account has a hierarchical namespace,
// where there is no blob versioning and soft delete recovers deleted blobs, not overwritten ones,
// so an overwrite loses the old content for good. The commit is conditional: `If-None-Match: *`
// (the service answers 409 BlobAlreadyExists when the blob exists), or with `overwrite`,
// `If-Match: <the ETag of the blob the caller was told about>` (412 ConditionNotMet when it changed
// since). Blob service "Specifying conditional headers for Blob service operations".
import { randomBytes } from "crypto";
import * as fs from "fs";
import type { ContainerClient } from "@azure/storage-blob";
import { RegisterError } from "./jobs";

export const DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024;

/** The file's content in blocks of `blockSize` bytes. */
export async function* fileBlocks(localPath: string, blockSize: number): AsyncIterable<Buffer> {
    const handle = await fs.promises.open(localPath, "r");
    try {
        for (;;) {
            const buffer = Buffer.alloc(blockSize);
            const { bytesRead } = await handle.read(buffer, 0, blockSize, null);
            if (bytesRead === 0) return;
            yield buffer.subarray(0, bytesRead);
        }
    } finally {
        await handle.close();
    }
}

export interface UploadOptions {
    blockSize?: number;
    /** Where the bytes come from; the file at localPath by default. */
    blocks?: (localPath: string, blockSize: number) => AsyncIterable<Buffer>;
    /** Replace an existing blob (`--overwrite`); `onReplace` is told what is lost before anything is written. */
    overwrite?: boolean;
    onReplace?: (existing: ExistingBlob) => void;
}

export interface ExistingBlob {
    bytes: number;
    lastModified?: Date;
    etag: string;
}

/** What `--overwrite` loses, for the user to read before it happens. */
export function replacementNotice(container: string, blobName: string, existing: ExistingBlob): string {
    const when = existing.lastModified ? `, last modified ${existing.lastModified.toISOString()}` : "";
    return `overwriting ${container}/${blobName} (${existing.bytes} bytes${when}): its content is lost for good (with a hierarchical namespace, soft delete does not recover an overwritten blob)`;
}

function refusal(container: string, blobName: string, existing?: ExistingBlob): RegisterError {
    const what = existing ? ` (${existing.bytes} bytes${existing.lastModified ? `, last modified ${existing.lastModified.toISOString()}` : ""})` : "";
    return new RegisterError(
        `${container}/${blobName} already exists${what}, and nothing was written there: a version registered from it may still need it. ` +
            "Upload to a new path (such as a folder per version, models/fraud/v2/model.pkl), or give --overwrite to replace it; its content is then lost for good",
    );
}

/** Checks a local file before anything is uploaded. */
export function checkLocalFile(flag: string, localPath: string): number {
    let stat: fs.Stats;
    try {
        stat = fs.statSync(localPath);
    } catch {
        throw new RegisterError(`--${flag} ${localPath}: no such file here`);
    }
    if (!stat.isFile()) throw new RegisterError(`--${flag} ${localPath} is not a file`);
    if (stat.size === 0) throw new RegisterError(`--${flag} ${localPath} is empty`);
    return stat.size;
}

/** Stages `localPath` in blocks and commits them as `blobName`; returns the bytes written. */
export async function uploadWhole(container: ContainerClient, blobName: string, localPath: string, options: UploadOptions = {}): Promise<number> {
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    const blob = container.getBlockBlobClient(blobName);
    // Block ids must have one length per blob; a random prefix keeps two uploads' blocks apart.
    const upload = randomBytes(6).toString("hex");
    const ids: string[] = [];
    let bytes = 0;
    let existing: ExistingBlob | undefined;
    try {
        // Asked first so that a refusal costs no upload; the commit's condition is the real guard.
        try {
            const properties = await blob.getProperties();
            existing = { bytes: properties.contentLength ?? 0, lastModified: properties.lastModified, etag: properties.etag ?? "" };
        } catch (err) {
            if ((err as { statusCode?: number }).statusCode !== 404) throw err;
        }
        if (existing && !options.overwrite) throw refusal(container.containerName, blobName, existing);
        if (existing) options.onReplace?.(existing);
        for await (const block of (options.blocks ?? fileBlocks)(localPath, blockSize)) {
            const id = Buffer.from(`${upload}-${String(ids.length).padStart(6, "0")}`).toString("base64");
            await blob.stageBlock(id, block, block.length);
            ids.push(id);
            bytes += block.length;
        }
        const conditions = existing ? { ifMatch: existing.etag } : { ifNoneMatch: "*" };
        await blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentType: "application/octet-stream" }, conditions });
    } catch (err) {
        if (err instanceof RegisterError) throw err;
        const e = err as { statusCode?: number; code?: string; message?: string };
        // Another upload created the blob after it was looked at: still not replaced.
        if (e.statusCode === 409 && e.code === "BlobAlreadyExists") throw refusal(container.containerName, blobName);
        if (e.statusCode === 412) {
            throw new RegisterError(`${container.containerName}/${blobName} changed while it was being replaced (another upload?), and nothing was written there: look at it, then run the command again`);
        }
        const reason = e.statusCode === 403
            ? "your Entra login may not write to it (403): it needs Storage Blob Data Contributor on the container"
            : e.statusCode === 404 && e.code === "ContainerNotFound"
              ? `the container ${container.containerName} does not exist: run \`pulumi up\` for the stack`
              : (e.code ?? e.message ?? String(err)).split("\n")[0];
        throw new RegisterError(`uploading ${localPath} to ${container.containerName}/${blobName} failed, and nothing was written there: ${reason}`);
    }
    return bytes;
}
