// `npm run bench`'s payload log section (issue 21, point 8): what the request-records middleware and
// the payload log cost together, measured against the real scoring app. Side by side on the same
// machine, all running at once and measured in short alternating slices: MLflow's bare scoring app
// (bench/bare_scoring.py, twice, as a control) and serve_model.py with the request records, alone
// and with the payload log on, every request logged, writing to Azurite (started here on loopback,
// in memory). Each with one worker, on the demo model.
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

type Variant = "bare" | "bare again" | "records" | "logged";
const VARIANTS: readonly Variant[] = ["bare", "bare again", "records", "logged"];

/** The median of per-slice ratios `of / to`: each slice's pair ran back to back, so a slow spell of the machine cancels out. */
export function pairedRatio(of: number[], to: number[]): number {
    return median(of.map((value, i) => value / to[i]));
}

export async function payloadLogBench(projectDir: string, options: { slices: number; requests: number; latencySamples: number; port: number }): Promise<Row[]> {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "bench-payload-"));
    let azurite: ChildProcess | undefined;
    const servers = new Map<Variant, { url: string; stop: () => Promise<unknown> }>();
    try {
        const { paths, venv, fetched } = await preparedDemo(projectDir, folder);
        const store = await startAzurite(projectDir);
        azurite = store.process;
        const body = fs.readFileSync(path.join(projectDir, "serving", "sample-input.json"), "utf8");
        const env = { PAYLOAD_LOG_SAMPLE_RATE: "1", PAYLOAD_LOG_CONNECTION_STRING: store.connectionString };
        // All four servers run at once (each idle while another is measured), so the machine's slow
        // spells fall on all of them alike. "bare again" is a second bare server: the gap between the
        // two bare ones is the method's noise, printed beside the verdicts.
        const started = await Promise.all(
            VARIANTS.map((variant, i) =>
                variant.startsWith("bare")
                    ? serveBare(projectDir, venv, fetched.modelDir, options.port + i)
                    : serveModel(paths, venv, fetched.modelDir, { port: options.port + i, workers: 1, stdio: "ignore", identity: { model: "demo", version: "1" }, env: variant === "logged" ? env : {} }),
            ),
        );
        VARIANTS.forEach((variant, i) => servers.set(variant, started[i]));
        const url = (variant: Variant) => servers.get(variant)!.url;
        for (const variant of VARIANTS) await throughput(url(variant), body, 100, 8); // warm-up
        const rps = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
        const ms = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
        const perSlice = Math.max(20, Math.round(options.requests / options.slices));
        for (let slice = 0; slice < options.slices; slice++) {
            // Short slices in a rotating order: each variant's slice runs next to the others'.
            for (const variant of [...VARIANTS.slice(slice % 4), ...VARIANTS.slice(0, slice % 4)]) rps.get(variant)!.push(await throughput(url(variant), body, perSlice, 16));
        }
        // One request at a time, to each server in turn.
        for (let i = 0; i < options.latencySamples; i++) for (const variant of VARIANTS) ms.get(variant)!.push(...(await latencies(url(variant), body, 1)));
        const dropped = counterSum(await (await fetch(`${url("logged")}/metrics`)).text(), "payload_log_dropped_total");
        const total = (variant: Variant) => (perSlice * options.slices) / rps.get(variant)!.reduce((sum, r) => sum + perSlice / r, 0);
        const ratio = (variant: Variant) => pairedRatio(rps.get(variant)!, rps.get("bare")!);
        const noise = Math.abs(1 - ratio("bare again"));
        const noiseMs = Math.abs(median(ms.get("bare again")!) - median(ms.get("bare")!));
        const detail =
            `every request logged to Azurite, one-row request, 1 worker each, four servers side by side, ${options.slices} rotating slices of ${perSlice} requests at 16 in flight ` +
            `and ${options.latencySamples} one at a time to each in turn, ${os.cpus().length} CPUs; median per-slice ratio to bare; two bare servers differ by ${(noise * 100).toFixed(1)}% and ${noiseMs.toFixed(2)} ms (the method's noise); ${dropped} dropped`;
        // The ratio of paired slices, not of totals: throughput as the median slice ratio times bare's total.
        const rows = payloadRows({ rps: total("bare"), medianMs: median(ms.get("bare")!) }, { rps: total("bare") * ratio("logged"), medianMs: median(ms.get("logged")!) }, detail);
        const recordsLoss = 1 - ratio("records");
        rows.push({
            measure: "request records alone (serve_model.py without the payload log), same slices",
            result: `${Math.round(total("bare") * ratio("records"))}/s (${Math.abs(recordsLoss * 100).toFixed(1)}% ${recordsLoss >= 0 ? "fewer" : "more"} than bare), median ${median(ms.get("records")!).toFixed(2)} ms`,
            target: "none: shows which layer the throughput row's loss comes from",
            met: true,
        });
        // The same cost without HTTP in the way: MLflow's app called in process, bare and wrapped.
        const { stdout } = await promisify(execFile)(
            path.join(venv, "bin", "python"),
            [path.join(projectDir, "bench", "middleware_cost.py"), "--model-dir", fetched.modelDir, "--requests", String(Math.max(200, options.requests)), "--body", path.join(projectDir, "serving", "sample-input.json")],
            { maxBuffer: 1024 * 1024 },
        );
        const cost = JSON.parse(stdout.trim().split("\n").pop()!) as { bare_ms: number; bare_again_ms: number; records_ms: number; wrapped_ms: number; requests: number; logged: number; dropped: number };
        const added = cost.wrapped_ms - cost.bare_ms;
        rows.push({
            measure: `middleware + payload log, median time per request in process (MLflow's app called over ASGI, no HTTP; ${cost.requests} requests each, one at a time to each app in turn; ${cost.logged} logged, ${cost.dropped} dropped; two bare apps differ by ${Math.abs(cost.bare_again_ms - cost.bare_ms).toFixed(3)} ms)`,
            result: `bare ${cost.bare_ms.toFixed(3)} ms, request records only ${cost.records_ms.toFixed(3)} ms, wrapped ${cost.wrapped_ms.toFixed(3)} ms: +${added.toFixed(3)} ms (${((added / cost.bare_ms) * 100).toFixed(1)}%)`,
            target: `<= ${PAYLOAD_TARGETS.medianLatencyMs} ms more, <= ${PAYLOAD_TARGETS.throughputLoss * 100}% of the request`,
            met: added <= PAYLOAD_TARGETS.medianLatencyMs + 1e-9 && added / cost.bare_ms <= PAYLOAD_TARGETS.throughputLoss + 1e-9,
        });
        return rows;
    } finally {
        await Promise.all([...servers.values()].map((server) => server.stop()));
        azurite?.kill();
        fs.rmSync(folder, { recursive: true, force: true });
    }
}
