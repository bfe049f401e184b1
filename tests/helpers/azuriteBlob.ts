// Azurite's Blob service on loopback for a test file (tests/upload.test.ts, tests/drift.test.ts): its own
// port and folder, stopped and removed after. Azurite takes the emulator's well-known development
// account key (public, documented; not a secret).
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { PROJECT_DIR } from "./fixtures";

export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

export async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

export interface Azurite {
    process: ChildProcess;
    endpoint: string;
    dir: string;
    /** A client signed with the emulator's key; `retries` 1 for tests of failures. */
    service(options?: { key?: string; tries?: number }): BlobServiceClient;
    stop(): Promise<void>;
}

export async function startAzurite(): Promise<Azurite> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "azurite-"));
    const child = spawn(
        process.execPath,
        [path.join(PROJECT_DIR, "node_modules/azurite/dist/src/blob/main.js"), "--blobHost", "127.0.0.1", "--blobPort", String(port), "--location", dir, "--silent", "--disableTelemetry", "--skipApiVersionCheck"],
        { stdio: ["ignore", "pipe", "pipe"] },
    );
    await new Promise<void>((resolve, reject) => {
        let output = "";
        const timer = setTimeout(() => reject(new Error(`Azurite did not start: ${output}`)), 20_000);
        const seen = (chunk: Buffer) => {
            output += chunk;
            if (/successfully listens on/.test(output)) {
                clearTimeout(timer);
                resolve();
            }
        };
        child.stdout!.on("data", seen);
        child.stderr!.on("data", seen);
        child.on("exit", (code) => reject(new Error(`Azurite exited (${code}): ${output}`)));
    });
    const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    return {
        process: child,
        endpoint,
        dir,
        service: (options = {}) => new BlobServiceClient(endpoint, new StorageSharedKeyCredential(AZURITE_ACCOUNT, options.key ?? AZURITE_KEY), { retryOptions: { maxTries: options.tries ?? 4, retryDelayInMs: 10, maxRetryDelayInMs: 20 } }),
        stop: async () => {
            if (child.exitCode === null) {
                child.kill();
                await new Promise((resolve) => child.once("exit", resolve));
            }
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
