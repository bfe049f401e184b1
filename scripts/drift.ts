// `npm run drift -- --stack <stack> --model <name> [--window 24h] [--out <dir>]`: the drift report of
// a served model from its logged payloads, computed on this machine by the same code as the
// scheduled drift job (serving/drift.py), printed as a table and written as JSON and an SVG chart.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import type { ContainerClient } from "@azure/storage-blob";
import { parseStringFlags, wantsHelp } from "./flags";
import { pulumiStackOutputs } from "./stackOutputs";
import { azureSignIn } from "../lib/azure/signIn";
import { DATASET_PATTERN, WINDOW_LIMITS, windowHours } from "../lib/config/drift";
import { PAYLOAD_CONTAINER, driftReportBlob } from "../lib/drift/job";
import { driftChart, driftTable, type DriftReport } from "../lib/drift/report";
import { driftWindow, hourPrefixes, isoSeconds } from "../lib/drift/window";
import { ensurePythonEnvironment } from "../lib/python/environment";

const PROJECT_DIR = path.resolve(__dirname, "..");

const USAGE = `usage: npm run drift -- (--stack <stack> | --account-url <blob endpoint>) --model <name> [--version <v>] [--window <24h|7d>]
                       [--end <ISO time>] [--baseline <local file | container/path>] [--out <dir>]
  --stack        read the model store's blob endpoint from \`pulumi stack output --json --stack <stack>\` (blobEndpoint)
  --account-url  use this blob endpoint instead (https://<account>.blob.core.windows.net/, or an emulator's)
  --model        the served model whose payloads are compared
  --version      only this version (default: every version with payloads in the window, one report each)
  --window       how much of the payload log to compare, whole hours or days (default 24h, at most ${WINDOW_LIMITS.maxHours / 24}d)
  --end          the window's end, an ISO-8601 UTC time on the hour (default: the start of the current hour)
  --baseline     a local .csv/.json/.jsonl file or a dataset in the store (<container>/<path>); default: the baseline
                 the scheduled drift job keeps beside its reports (payloads/<model>/<version>/drift/baseline.json)
  --out          folder for <model>-<version>-<window end>.json and .svg (default ./drift-reports)
Signs in with your Azure login (az login, managed identity, GitHub OIDC in CI): you need Storage Blob Data Reader on the
payloads container. AZURE_STORAGE_CONNECTION_STRING, when set, is used instead (an emulator, tests).
Exit status: 0 with or without drift, 1 when the report could not be made, 2 for bad flags.`;

class UsageError extends Error {}
class DriftCommandError extends Error {}

interface Flags {
    stack?: string;
    accountUrl?: string;
    model: string;
    version?: string;
    window: string;
    windowHours: number;
    end?: Date;
    baseline?: string;
    out: string;
}

function parseFlags(argv: string[]): Flags {
    const values = parseStringFlags(argv, ["stack", "account-url", "model", "version", "window", "end", "baseline", "out"]);
    if (Boolean(values.stack) === Boolean(values["account-url"])) throw new UsageError("give exactly one of --stack or --account-url");
    if (values["account-url"] !== undefined && !/^https?:\/\/[^/\s]+/.test(values["account-url"])) throw new UsageError(`--account-url ${JSON.stringify(values["account-url"])} is not an http(s) URL`);
    if (!values.model) throw new UsageError("--model is required: the served model whose payloads are compared");
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(values.model)) throw new UsageError(`--model ${JSON.stringify(values.model)} is not a model name (letters, digits, '.', '_', '-')`);
    if (values.version !== undefined && !/^\d+$/.test(values.version)) throw new UsageError(`--version ${JSON.stringify(values.version)} is not a model version: use a whole number, such as 3`);
    const window = values.window ?? "24h";
    const hours = windowHours(window);
    if (hours === undefined || hours < WINDOW_LIMITS.minHours || hours > WINDOW_LIMITS.maxHours) {
        throw new UsageError(`--window ${JSON.stringify(window)} is not allowed: use a whole number of hours or days from 1h to ${WINDOW_LIMITS.maxHours / 24}d, such as 24h or 7d`);
    }
    let end: Date | undefined;
    if (values.end !== undefined) {
        end = /(Z|[+-]00:00)$/.test(values.end) ? new Date(values.end) : new Date(NaN);
        if (Number.isNaN(end.getTime())) throw new UsageError(`--end ${JSON.stringify(values.end)} is not an ISO-8601 UTC time: write it such as 2026-12-02T12:00:00Z`);
        if (end.getTime() % 3_600_000 !== 0) throw new UsageError(`--end ${values.end} is not on the hour: the payload log is kept in hour folders, so windows end on the hour (such as 2026-12-02T12:00:00Z)`);
    }
    if (values.baseline !== undefined && !/\.(csv|json|jsonl)$/i.test(values.baseline)) throw new UsageError(`--baseline ${values.baseline}: use a .csv (with a header row), .json or .jsonl file`);
    return { stack: values.stack, accountUrl: values["account-url"], model: values.model, version: values.version, window, windowHours: hours, end, baseline: values.baseline, out: values.out ?? "drift-reports" };
}

async function blobEndpoint(flags: Flags): Promise<string> {
    if (flags.accountUrl) return flags.accountUrl;
    const outputs = (await pulumiStackOutputs(flags.stack!, "install it, or pass --account-url <blob endpoint>")) as Record<string, unknown>;
    if (!outputs || typeof outputs.blobEndpoint !== "string") throw new DriftCommandError(`stack ${flags.stack} has no blobEndpoint output: run \`pulumi up --stack ${flags.stack}\` first, or pass --account-url`);
    return outputs.blobEndpoint;
}

async function serviceClient(endpoint: string) {
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const connection = process.env.AZURE_STORAGE_CONNECTION_STRING;
    return connection ? BlobServiceClient.fromConnectionString(connection) : new BlobServiceClient(endpoint, azureSignIn());
}

/** Storage errors as one line: no request ids, no headers. */
function storageProblem(err: unknown, what: string): DriftCommandError {
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode === 403) return new DriftCommandError(`${what}: the storage refused access (403 ${e.code ?? ""}): you need Storage Blob Data Reader on the ${PAYLOAD_CONTAINER} container`.replace(/ \)/, ")"));
    if (e.statusCode === 404) return new DriftCommandError(`${what}: not found (${e.code ?? "404"})`);
    return new DriftCommandError(`${what}: ${(e.code ?? e.message ?? String(err)).split("\n")[0]}`);
}

async function versionsWithPayloads(payloads: ContainerClient, model: string): Promise<string[]> {
    const versions: string[] = [];
    for await (const item of payloads.listBlobsByHierarchy("/", { prefix: `${model}/` })) {
        if (item.kind === "prefix") {
            const version = item.name.slice(model.length + 1).replace(/\/$/, "");
            if (/^\d+$/.test(version)) versions.push(version);
        }
    }
    return versions.sort((a, b) => Number(a) - Number(b));
}

/** Downloads the payload files of the window and the one before it into dir; the number of files. */
async function downloadWindow(payloads: ContainerClient, model: string, version: string, flags: Flags, dir: string): Promise<number> {
    const window = driftWindow(flags.windowHours, flags.end);
    // The window before too: predictions are compared with it when the baseline has none.
    const span = { start: new Date(window.start.getTime() - flags.windowHours * 3_600_000), end: window.end };
    let files = 0;
    for (const prefix of hourPrefixes(model, version, span)) {
        for await (const blob of payloads.listBlobsFlat({ prefix })) {
            if (!blob.name.endsWith(".jsonl")) continue;
            const local = path.join(dir, ...blob.name.split("/"));
            fs.mkdirSync(path.dirname(local), { recursive: true });
            await payloads.getBlobClient(blob.name).downloadToFile(local);
            files += 1;
        }
    }
    return files;
}

async function readBlob(container: ContainerClient, name: string): Promise<Buffer | undefined> {
    try {
        return await container.getBlobClient(name).downloadToBuffer();
    } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return undefined;
        throw storageProblem(err, `reading ${container.containerName}/${name}`);
    }
}

interface Baseline {
    file: string;
    kind: string;
    source: string;
}

async function baselineFor(service: Awaited<ReturnType<typeof serviceClient>>, flags: Flags, version: string, dir: string): Promise<Baseline> {
    if (flags.baseline && fs.existsSync(flags.baseline)) return { file: path.resolve(flags.baseline), kind: "dataset", source: flags.baseline };
    if (flags.baseline) {
        if (!DATASET_PATTERN.test(flags.baseline)) throw new UsageError(`--baseline ${flags.baseline}: no such local file, and not a dataset in the store written <container>/<path>`);
        const [container, ...rest] = flags.baseline.split("/");
        const data = await readBlob(service.getContainerClient(container), rest.join("/"));
        if (!data) throw new DriftCommandError(`--baseline ${flags.baseline}: no such local file, and no such blob in the model store`);
        const file = path.join(dir, `baseline${path.extname(flags.baseline)}`);
        fs.writeFileSync(file, data);
        return { file, kind: "dataset", source: flags.baseline };
    }
    const kept = `${flags.model}/${version}/drift/baseline.json`;
    const data = await readBlob(service.getContainerClient(PAYLOAD_CONTAINER), kept);
    if (!data) {
        throw new DriftCommandError(
            `no baseline for ${flags.model} version ${version}: the scheduled drift job keeps the one it uses at ${PAYLOAD_CONTAINER}/${kept} after its first run, and there is none yet. ` +
                "Give --baseline <local file | container/path> (the sample registered with the version, or a dataset)",
        );
    }
    let parsed: { kind?: unknown; source?: unknown };
    try {
        parsed = JSON.parse(data.toString("utf8"));
    } catch {
        throw new DriftCommandError(`${PAYLOAD_CONTAINER}/${kept} is not JSON: give --baseline <file>`);
    }
    const file = path.join(dir, "baseline.json");
    fs.writeFileSync(file, data);
    return { file, kind: parsed.kind === "dataset" ? "dataset" : "registered-sample", source: typeof parsed.source === "string" ? parsed.source : "registered-sample" };
}

async function computeReport(python: string, payloadDir: string, model: string, version: string, baseline: Baseline, flags: Flags): Promise<DriftReport> {
    const end = isoSeconds(driftWindow(flags.windowHours, flags.end).end);
    const args = [path.join(PROJECT_DIR, "serving", "drift.py"), "--payloads", payloadDir, "--model", model, "--version", version, "--baseline", baseline.file, "--baseline-kind", baseline.kind, "--baseline-source", baseline.source, "--window", flags.window, "--window-end", end];
    let stdout: string;
    try {
        ({ stdout } = await promisify(execFile)(python, args, { maxBuffer: 64 * 1024 * 1024 }));
    } catch (err) {
        const e = err as { stdout?: string; stderr?: string; message: string };
        let reason = (e.stderr || e.message).trim().split("\n").slice(-1)[0];
        try {
            reason = JSON.parse(e.stdout ?? "").error ?? reason;
        } catch {
            // not the script's JSON error: its last line of stderr says it
        }
        throw new DriftCommandError(`computing the drift of ${model} version ${version} failed: ${reason}`);
    }
    return JSON.parse(stdout) as DriftReport;
}

async function main(argv: string[]): Promise<number> {
    if (wantsHelp(argv)) {
        console.log(USAGE);
        return 0;
    }
    let flags: Flags;
    try {
        flags = parseFlags(argv);
    } catch (err) {
        console.error(`drift: ${(err as Error).message}\n${USAGE}`);
        return 2;
    }
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "drift-"));
    try {
        const service = await serviceClient(await blobEndpoint(flags));
        const payloads = service.getContainerClient(PAYLOAD_CONTAINER);
        let versions: string[];
        try {
            versions = flags.version ? [flags.version] : await versionsWithPayloads(payloads, flags.model);
        } catch (err) {
            throw storageProblem(err, `listing ${PAYLOAD_CONTAINER}/${flags.model}/`);
        }
        if (versions.length === 0) {
            console.log(`drift: no payloads of model ${flags.model} in the ${PAYLOAD_CONTAINER} container: is the payload log on (mlflow-platform:serving.payloadLog) and the model name right?`);
            return 0;
        }
        const python = (await ensurePythonEnvironment({ projectDir: PROJECT_DIR, log: (line) => console.error(line) })).python;
        fs.mkdirSync(flags.out, { recursive: true });
        let reported = 0;
        for (const version of versions) {
            const dir = path.join(work, version);
            let files: number;
            try {
                files = await downloadWindow(payloads, flags.model, version, flags, path.join(dir, "payloads"));
            } catch (err) {
                throw storageProblem(err, `reading ${PAYLOAD_CONTAINER}/${flags.model}/${version}/`);
            }
            if (files === 0 && !flags.version) continue; // a version that served nothing in this window
            const baseline = await baselineFor(service, flags, version, dir);
            const report = await computeReport(python, path.join(dir, "payloads"), flags.model, version, baseline, flags);
            const stem = path.join(flags.out, `${flags.model}-${version}-${report.window.end.replace(/:/g, "")}`);
            fs.writeFileSync(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`);
            fs.writeFileSync(`${stem}.svg`, `${driftChart(report)}\n`);
            if (reported > 0) console.log("");
            console.log(driftTable(report));
            console.log(`report: ${stem}.json, chart: ${stem}.svg (the scheduled job writes ${PAYLOAD_CONTAINER}/${driftReportBlob(flags.model, version, report.window.end)})`);
            reported += 1;
        }
        if (reported === 0) console.log(`drift: model ${flags.model} logged no payloads in the window ending ${isoSeconds(driftWindow(flags.windowHours, flags.end).end)} (${flags.window})`);
        return 0;
    } catch (err) {
        if (err instanceof UsageError) {
            console.error(`drift: ${err.message}\n${USAGE}`);
            return 2;
        }
        console.error(`drift: failed: ${(err as Error).message.split("\n")[0]}`);
        return 1;
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
