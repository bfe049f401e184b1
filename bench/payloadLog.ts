// `npm run bench`'s payload log section (issue 21, point 8): what the request-records middleware and
// the payload log cost together, measured against the real scoring app. Side by side, in
// alternating rounds on the same machine: MLflow's bare scoring app (bench/bare_scoring.py) and
// serve_model.py with the middleware and the payload log on, every request logged, writing to
// Azurite (started here on loopback, in memory). Both with one worker, on the demo model.
import { execFile, spawn, type ChildProcess } from "child_process";
import { promisify } from "util";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { serveModel } from "../lib/local/model";
import type { Row } from "./run";
import { preparedDemo, throughput } from "./serving";

const ACCOUNT = "devstoreaccount1";
// Azurite's well-known development account key (public, documented; not a secret).
const EMULATOR_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
export const PAYLOAD_TARGETS = { throughputLoss: 0.05, medianLatencyMs: 0.5 } as const;

async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
}

async function startAzurite(projectDir: string): Promise<{ process: ChildProcess; connectionString: string }> {
    const port = await freePort();
    const child = spawn(
        process.execPath,
        [path.join(projectDir, "node_modules/azurite/dist/src/blob/main.js"), "--blobHost", "127.0.0.1", "--blobPort", String(port), "--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck"],
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
    const endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
    await new BlobServiceClient(endpoint, new StorageSharedKeyCredential(ACCOUNT, EMULATOR_KEY)).getContainerClient("payloads").create();
    return { process: child, connectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${EMULATOR_KEY};BlobEndpoint=${endpoint};` };
}

/** The bare app under uvicorn, ready when /ping answers. */
async function serveBare(projectDir: string, venv: string, modelDir: string, port: number): Promise<{ url: string; stop: () => Promise<void> }> {
    const child = spawn(path.join(venv, "bin", "python"), [path.join(projectDir, "bench", "bare_scoring.py"), "--model-dir", modelDir, "--port", String(port)], { stdio: "ignore" });
    const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    for (;;) {
        try {
            if ((await fetch(`${url}/ping`, { signal: AbortSignal.timeout(5_000) })).status === 200) break;
        } catch {
            // not listening yet
        }
        if (child.exitCode !== null || Date.now() > deadline) throw new Error("bench/bare_scoring.py did not answer /ping");
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return {
        url,
        stop: async () => {
            child.kill("SIGTERM");
            await exit;
        },
    };
}

/** Latencies (ms) of `count` POSTs sent one after another. */
async function latencies(url: string, body: string, count: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
        const started = performance.now();
        const answer = await fetch(`${url}/invocations`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
        await answer.arrayBuffer();
        if (answer.status !== 200) throw new Error(`scoring answered ${answer.status}`);
        out.push(performance.now() - started);
    }
    return out;
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The sum of a counter's samples in a Prometheus text exposition. */
function counterSum(text: string, name: string): number {
    return text
        .split("\n")
        .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
        .reduce((sum, line) => sum + Number(line.trim().split(/\s+/).pop()), 0);
}

/** The two targets as verdicts, from measured numbers (separate so the rule is tested without servers). */
export function payloadRows(bare: { rps: number; medianMs: number }, logged: { rps: number; medianMs: number }, detail: string): Row[] {
    const loss = 1 - logged.rps / bare.rps;
    const added = logged.medianMs - bare.medianMs;
    return [
        {
            measure: `middleware + payload log, throughput (${detail})`,
            result: `bare ${Math.round(bare.rps)}/s, with ${Math.round(logged.rps)}/s: ratio ${(logged.rps / bare.rps).toFixed(3)} (${Math.abs(loss * 100).toFixed(1)}% ${loss >= 0 ? "fewer" : "more"})`,
            target: `<= ${PAYLOAD_TARGETS.throughputLoss * 100}% fewer requests per second`,
            met: loss <= PAYLOAD_TARGETS.throughputLoss + 1e-9, // 1 - 950/1000 is 0.05000000000000004
        },
        {
            measure: `middleware + payload log, median latency (${detail})`,
            result: `bare ${bare.medianMs.toFixed(2)} ms, with ${logged.medianMs.toFixed(2)} ms: ${added >= 0 ? "+" : ""}${added.toFixed(2)} ms`,
            target: `<= ${PAYLOAD_TARGETS.medianLatencyMs} ms more`,
            met: added <= PAYLOAD_TARGETS.medianLatencyMs + 1e-9,
        },
    ];
}

export async function payloadLogBench(projectDir: string, options: { rounds: number; requests: number; latencySamples: number; port: number }): Promise<Row[]> {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "bench-payload-"));
    let azurite: ChildProcess | undefined;
    try {
        const { paths, venv, fetched } = await preparedDemo(projectDir, folder);
        const store = await startAzurite(projectDir);
        azurite = store.process;
        const body = fs.readFileSync(path.join(projectDir, "serving", "sample-input.json"), "utf8");
        const env = { PAYLOAD_LOG_SAMPLE_RATE: "1", PAYLOAD_LOG_CONNECTION_STRING: store.connectionString };
        const result = {
            bare: { rps: [] as number[], ms: [] as number[] },
            records: { rps: [] as number[], ms: [] as number[] },
            logged: { rps: [] as number[], ms: [] as number[] },
        };
        let dropped = 0;
        const variants = ["bare", "records", "logged"] as const;
        for (let round = 0; round < options.rounds; round++) {
            // Rotating, so a slow spell of this shared machine falls on each in turn.
            for (const variant of [...variants.slice(round % 3), ...variants.slice(0, round % 3)]) {
                const server =
                    variant === "bare"
                        ? await serveBare(projectDir, venv, fetched.modelDir, options.port)
                        : await serveModel(paths, venv, fetched.modelDir, { port: options.port, workers: 1, stdio: "ignore", identity: { model: "demo", version: "1" }, env: variant === "logged" ? env : {} });
                try {
                    await throughput(server.url, body, Math.min(100, options.requests), 8); // warm-up
                    result[variant].rps.push(await throughput(server.url, body, options.requests, 16));
                    result[variant].ms.push(...(await latencies(server.url, body, options.latencySamples)));
                    if (variant === "logged") dropped += counterSum(await (await fetch(`${server.url}/metrics`)).text(), "payload_log_dropped_total");
                } finally {
                    await server.stop();
                }
            }
        }
        const perRound = (values: number[]) => values.map((v) => Math.round(v)).join("/");
        const detail =
            `every request logged to Azurite, one-row request, 1 worker, ${options.rounds} rotating rounds of ${options.requests} requests at 16 in flight ` +
            `and ${options.latencySamples} one at a time, ${os.cpus().length} CPUs; per round bare ${perRound(result.bare.rps)}/s, with ${perRound(result.logged.rps)}/s; ${dropped} dropped`;
        const recordsLoss = 1 - median(result.records.rps) / median(result.bare.rps);
        const rows = payloadRows({ rps: median(result.bare.rps), medianMs: median(result.bare.ms) }, { rps: median(result.logged.rps), medianMs: median(result.logged.ms) }, detail);
        // The split: serve_model.py with its request records and metrics but no payload log.
        rows.push({
            measure: `request records alone (serve_model.py without the payload log), same rounds; per round ${perRound(result.records.rps)}/s`,
            result: `${Math.round(median(result.records.rps))}/s (${Math.abs(recordsLoss * 100).toFixed(1)}% ${recordsLoss >= 0 ? "fewer" : "more"} than bare), median ${median(result.records.ms).toFixed(2)} ms`,
            target: "none: shows which layer the throughput row's loss comes from",
            met: true,
        });
        // The same cost without HTTP in the way (a loaded machine moves the numbers above by more
        // than the 5% they are judged by): MLflow's app called in process, bare and wrapped.
        const { stdout } = await promisify(execFile)(
            path.join(venv, "bin", "python"),
            [path.join(projectDir, "bench", "middleware_cost.py"), "--model-dir", fetched.modelDir, "--requests", String(Math.max(200, options.requests * 2)), "--body", path.join(projectDir, "serving", "sample-input.json")],
            { maxBuffer: 1024 * 1024 },
        );
        const cost = JSON.parse(stdout.trim().split("\n").pop()!) as { bare_ms: number; records_ms: number; wrapped_ms: number; requests: number; logged: number; dropped: number };
        const added = cost.wrapped_ms - cost.bare_ms;
        rows.push({
            measure: `middleware + payload log, median time per request in process (MLflow's app called over ASGI, no HTTP; ${cost.requests} requests each, rotating batches; ${cost.logged} logged, ${cost.dropped} dropped)`,
            result: `bare ${cost.bare_ms.toFixed(3)} ms, request records only ${cost.records_ms.toFixed(3)} ms, wrapped ${cost.wrapped_ms.toFixed(3)} ms: +${added.toFixed(3)} ms (${((added / cost.bare_ms) * 100).toFixed(1)}%)`,
            target: `<= ${PAYLOAD_TARGETS.medianLatencyMs} ms more, <= ${PAYLOAD_TARGETS.throughputLoss * 100}% of the request`,
            met: added <= PAYLOAD_TARGETS.medianLatencyMs + 1e-9 && added / cost.bare_ms <= PAYLOAD_TARGETS.throughputLoss + 1e-9,
        });
        return rows;
    } finally {
        azurite?.kill();
        fs.rmSync(folder, { recursive: true, force: true });
    }
}
