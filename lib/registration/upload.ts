// Uploads a local file to Blob Storage so that the blob either appears whole or not at all.
//
// A block blob's content changes only when its block list is committed: staged blocks are
// invisible to readers, and the service discards uncommitted blocks (after at most seven days).
// So the file is staged block by block and committed with one Put Block List at the end; if
// reading or any stage fails, nothing is committed, no blob (or a half-written one) appears, and
// an existing blob keeps its content. (Storage documentation: "Understanding block blobs", Put
// Block / Put Block List.)
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
    try {
        for await (const block of (options.blocks ?? fileBlocks)(localPath, blockSize)) {
            const id = Buffer.from(`${upload}-${String(ids.length).padStart(6, "0")}`).toString("base64");
            await blob.stageBlock(id, block, block.length);
            ids.push(id);
            bytes += block.length;
        }
        await blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentType: "application/octet-stream" } });
    } catch (err) {
        const e = err as { statusCode?: number; code?: string; message?: string };
        const reason = e.statusCode === 403
            ? "your Entra login may not write to it (403): it needs Storage Blob Data Contributor on the container"
            : e.statusCode === 404 && e.code === "ContainerNotFound"
              ? `the container ${container.containerName} does not exist: run \`pulumi up\` for the stack`
              : (e.code ?? e.message ?? String(err)).split("\n")[0];
        throw new RegisterError(`uploading ${localPath} to ${container.containerName}/${blobName} failed, and nothing was written there: ${reason}`);
    }
    return bytes;
}
