// `npm run register -- --upload`: the upload against Azurite, Microsoft's Azure Storage emulator,
// started by the test on loopback and stopped after. Azurite takes the emulator's well-known
// development account key (public, documented; not a secret), so the test signs with it; the
// command signs with the user's Entra login instead.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from "@azure/storage-blob";
import { RegisterError } from "../lib/registration/jobs";
import { checkLocalFile, fileBlocks, replacementNotice, uploadWhole } from "../lib/registration/upload";
import { AZURITE_ACCOUNT as ACCOUNT, AZURITE_KEY as EMULATOR_KEY, startAzurite, type Azurite } from "./helpers/azuriteBlob";

describe("upload to Blob Storage (Azurite)", function () {
    this.timeout(30_000);
    let azurite: Azurite | undefined;
    let models: ContainerClient;
    let local: string;
    const content = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));

    before(async () => {
        azurite = await startAzurite();
        const service = new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(ACCOUNT, EMULATOR_KEY));
        models = service.getContainerClient("models");
        await models.create();
        local = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "upload-")), "model.pkl");
        fs.writeFileSync(local, content);
    });
    after(async () => {
        await azurite?.stop();
    });

    it("stages the file in blocks and commits it under the blob name the job reads", async () => {
        const bytes = await uploadWhole(models, "fraud/model.pkl", local, { blockSize: 4096 });
        assert.strictEqual(bytes, content.length);
        const blob = models.getBlockBlobClient("fraud/model.pkl");
        assert.deepStrictEqual(await blob.downloadToBuffer(), content);
        const blocks = await blob.getBlockList("committed");
        assert.strictEqual(blocks.committedBlocks!.length, 3, "10,000 bytes in 4,096-byte blocks");
        const names: string[] = [];
        for await (const item of models.listBlobsFlat()) names.push(item.name);
        assert.deepStrictEqual(names, ["fraud/model.pkl"]);
    });

    it("a failure half-way leaves no blob, and an existing blob keeps its content", async () => {
        async function* failing(file: string, size: number): AsyncIterable<Buffer> {
            let count = 0;
            for await (const block of fileBlocks(file, size)) {
                if (++count === 2) throw new Error("EIO: i/o error, read");
                yield block;
            }
        }
        await assert.rejects(uploadWhole(models, "fraud/new.pkl", local, { blockSize: 4096, blocks: failing }), (err: unknown) => {
            assert.ok(err instanceof RegisterError);
            assert.strictEqual(err.message, `uploading ${local} to models/fraud/new.pkl failed, and nothing was written there: EIO: i/o error, read`);
            return true;
        });
        assert.strictEqual(await models.getBlockBlobClient("fraud/new.pkl").exists(), false, "no half-written blob");

        // The same failure while replacing (--overwrite) the blob of the first test: it stays whole.
        await assert.rejects(uploadWhole(models, "fraud/model.pkl", local, { blockSize: 4096, blocks: failing, overwrite: true }), /EIO: i\/o error, read/);
        assert.deepStrictEqual(await models.getBlockBlobClient("fraud/model.pkl").downloadToBuffer(), content);
    });

    it("refuses to replace an existing blob, before uploading anything, and says why (issue 19, point 25)", async () => {
        const other = path.join(path.dirname(local), "other.pkl");
        fs.writeFileSync(other, Buffer.from("a different model"));
        const blob = models.getBlockBlobClient("fraud/model.pkl");
        const before = await blob.getProperties();
        let read = 0;
        async function* counted(file: string, size: number): AsyncIterable<Buffer> {
            for await (const block of fileBlocks(file, size)) {
                read += 1;
                yield block;
            }
        }
        await assert.rejects(uploadWhole(models, "fraud/model.pkl", other, { blocks: counted }), (err: unknown) => {
            assert.ok(err instanceof RegisterError);
            assert.strictEqual(
                err.message,
                `models/fraud/model.pkl already exists (${content.length} bytes, last modified ${before.lastModified!.toISOString()}), and nothing was written there: a version registered from it may still need it. ` +
                    "Upload to a new path (such as a folder per version, models/fraud/v2/model.pkl), or give --overwrite to replace it; its content is then lost for good",
            );
            return true;
        });
        assert.strictEqual(read, 0, "no byte was read or staged");
        assert.deepStrictEqual(await blob.downloadToBuffer(), content);
        assert.strictEqual((await blob.getProperties()).etag, before.etag);
    });

    it("the commit itself is conditional: a blob created after the look-up is not replaced (409 BlobAlreadyExists)", async () => {
        const other = path.join(path.dirname(local), "race.pkl");
        fs.writeFileSync(other, Buffer.from("mine"));
        // Another upload commits the blob while this one is staging its blocks.
        async function* racing(file: string, size: number): AsyncIterable<Buffer> {
            for await (const block of fileBlocks(file, size)) yield block;
            await models.getBlockBlobClient("fraud/race.pkl").upload("theirs", 6);
        }
        await assert.rejects(uploadWhole(models, "fraud/race.pkl", other, { blocks: racing }), /^RegisterError: models\/fraud\/race\.pkl already exists, and nothing was written there/);
        assert.strictEqual((await models.getBlockBlobClient("fraud/race.pkl").downloadToBuffer()).toString(), "theirs");
    });

    it("--overwrite replaces it, telling first what is lost; a blob changed meanwhile is not replaced (412)", async () => {
        const other = path.join(path.dirname(local), "v2.pkl");
        fs.writeFileSync(other, Buffer.from("version two"));
        const notices: string[] = [];
        const bytes = await uploadWhole(models, "fraud/model.pkl", other, { overwrite: true, onReplace: (existing) => notices.push(replacementNotice("models", "fraud/model.pkl", existing)) });
        assert.strictEqual(bytes, 11);
        assert.strictEqual(notices.length, 1);
        assert.match(notices[0], new RegExp(`^overwriting models/fraud/model\\.pkl \\(${content.length} bytes, last modified \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\): its content is lost for good \\(with a hierarchical namespace, soft delete does not recover an overwritten blob\\)$`));
        assert.strictEqual((await models.getBlockBlobClient("fraud/model.pkl").downloadToBuffer()).toString(), "version two");

        async function* changing(file: string, size: number): AsyncIterable<Buffer> {
            for await (const block of fileBlocks(file, size)) yield block;
            await models.getBlockBlobClient("fraud/model.pkl").upload("someone else", 12);
        }
        await assert.rejects(uploadWhole(models, "fraud/model.pkl", local, { overwrite: true, blocks: changing }), /models\/fraud\/model\.pkl changed while it was being replaced \(another upload\?\), and nothing was written there/);
        assert.strictEqual((await models.getBlockBlobClient("fraud/model.pkl").downloadToBuffer()).toString(), "someone else");
    });

    it("names a container that does not exist", async () => {
        const missing = models.getBlobClient("x").url.replace(/\/models\/x$/, "");
        const service = new BlobServiceClient(missing, new StorageSharedKeyCredential(ACCOUNT, EMULATOR_KEY));
        await assert.rejects(uploadWhole(service.getContainerClient("modles"), "fraud/model.pkl", local), /failed, and nothing was written there: the container modles does not exist: run `pulumi up` for the stack/);
    });

    it("refuses a missing, empty or folder path before uploading", () => {
        assert.throws(() => checkLocalFile("upload", "/nonexistent/model.pkl"), /--upload \/nonexistent\/model\.pkl: no such file here/);
        assert.throws(() => checkLocalFile("upload", os.tmpdir()), /is not a file/);
        const empty = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "upload-")), "empty.pkl");
        fs.writeFileSync(empty, "");
        assert.throws(() => checkLocalFile("upload", empty), /is empty/);
        assert.strictEqual(checkLocalFile("upload", local), content.length);
    });
});
