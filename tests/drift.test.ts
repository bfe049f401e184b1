// `npm run drift` and the scheduled drift job (serving/drift_job.py) end to end against Azurite,
// Microsoft's Azure Storage emulator, started on loopback and stopped after: payload files seeded in
// the payload log's format, the command run as a user runs it, its table, report and chart checked;
// the job run against the same files writes the same report beside the payloads. Azurite takes the
// emulator's well-known development account key (public, documented; not a secret).
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential, type ContainerClient } from "@azure/storage-blob";
import { runScript } from "./helpers/cli";
import { fakePulumi } from "./helpers/fakePulumi";
import { PROJECT_DIR } from "./helpers/fixtures";
import { PYTHON } from "./helpers/python";
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, type Azurite } from "./helpers/azuriteBlob";

// The emulator's one account and its published development key (tests/helpers/azuriteBlob.ts).
const ACCOUNT = AZURITE_ACCOUNT;
const EMULATOR_KEY = AZURITE_KEY;

function record(time: string, inputs: Record<string, unknown>[], outputs: unknown[] | null, status = 200) {
    return { time, request_id: `r-${time}`, model: "fraud", version: "3", revision: "fraud--abc", status, inputs, outputs };
}

/** The seeded log: the window 10:00-12:00 and the window before it, plus a request just outside. */
const PAYLOADS: Record<string, object[]> = {
    "fraud/3/date=2026-12-02/hour=09/fraud--abc-7-1.jsonl": [record("2026-12-02T09:15:00.000Z", [{ amount: 1, country: "NL" }, { amount: 2, country: "DE" }], [0, 0])],
    "fraud/3/date=2026-12-02/hour=10/fraud--abc-7-2.jsonl": [
        record("2026-12-02T10:00:00.000Z", [{ amount: 1, country: "NL" }, { amount: 1, country: "NL" }], [0, 1]),
        record("2026-12-02T10:30:00.000Z", [{ amount: 99, country: "US" }], null, 400),
    ],
    "fraud/3/date=2026-12-02/hour=11/fraud--abc-8-1.jsonl": [record("2026-12-02T11:59:59.999Z", [{ amount: 1, country: "NL" }, { amount: 4, country: "FR" }], [1, 1])],
    "fraud/3/date=2026-12-02/hour=12/fraud--abc-8-2.jsonl": [record("2026-12-02T12:00:00.000Z", [{ amount: 500, country: "US" }], [1])],
};
const BASELINE_CSV = "amount,country\n1,NL\n2,NL\n3,DE\n4,DE\n";
const WINDOW = ["--window", "2h", "--end", "2026-12-02T12:00:00Z"];

describe("drift: npm run drift and the scheduled job (Azurite)", function () {
    this.timeout(120_000);
    let azurite: Azurite;
    let payloads: ContainerClient;
    let env: NodeJS.ProcessEnv;
    let out: string;

    before(async () => {
        azurite = await startAzurite();
        const service = new BlobServiceClient(azurite.endpoint, new StorageSharedKeyCredential(ACCOUNT, EMULATOR_KEY));
        payloads = service.getContainerClient("payloads");
        await payloads.create();
        const data = service.getContainerClient("data");
        await data.create();
        await data.getBlockBlobClient("fraud/baseline.csv").upload(BASELINE_CSV, BASELINE_CSV.length);
        for (const [name, records] of Object.entries(PAYLOADS)) {
            const text = records.map((r) => JSON.stringify(r)).join("\n") + "\n";
            await payloads.getBlockBlobClient(name).upload(text, Buffer.byteLength(text));
        }
        env = {
            ...process.env,
            AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${EMULATOR_KEY};BlobEndpoint=${azurite.endpoint};`,
        };
    });

    after(async () => {
        // Stopped (and waited for) before its folder is removed.
        await azurite?.stop();
    });

    beforeEach(() => {
        out = fs.mkdtempSync(path.join(os.tmpdir(), "drift-out-"));
    });

    const drift = (args: string[]) => runScript("scripts/drift.ts", args, { env });

    it("answers --help and -h with its usage, exit 0", async () => {
        for (const flag of ["--help", "-h"]) {
            const result = await drift([flag]);
            assert.strictEqual(result.code, 0);
            assert.match(result.stdout, /^usage: npm run drift -- \(--stack <stack> \| --account-url <blob endpoint>\) --model <name>/);
        }
    });

    it("refuses every bad flag with exit 2, naming the flag and what is allowed", async () => {
        const cases: [string[], RegExp][] = [
            [["--model", "fraud"], /give exactly one of --stack or --account-url/],
            [["--stack", "dev", "--account-url", azurite.endpoint, "--model", "fraud"], /give exactly one of --stack or --account-url/],
            [["--account-url", "ftp://x", "--model", "fraud"], /--account-url "ftp:\/\/x" is not an http\(s\) URL/],
            [["--account-url", azurite.endpoint], /--model is required/],
            [["--account-url", azurite.endpoint, "--model", "../etc"], /--model "..\/etc" is not a model name/],
            [["--account-url", azurite.endpoint, "--model", "fraud", "--version", "latest"], /--version "latest" is not a model version: use a whole number/],
            [["--account-url", azurite.endpoint, "--model", "fraud", "--window", "24m"], /--window "24m" is not allowed: use a whole number of hours or days from 1h to 90d/],
            [["--account-url", azurite.endpoint, "--model", "fraud", "--window", "91d"], /--window "91d" is not allowed/],
            [["--account-url", azurite.endpoint, "--model", "fraud", "--end", "2026-12-02T12:00:00"], /--end "2026-12-02T12:00:00" is not an ISO-8601 UTC time/],
            [["--account-url", azurite.endpoint, "--model", "fraud", "--end", "2026-12-02T12:30:00Z"], /--end 2026-12-02T12:30:00Z is not on the hour/],
            [["--account-url", azurite.endpoint, "--model", "fraud", "--baseline", "base.txt"], /--baseline base.txt: use a .csv \(with a header row\), .json or .jsonl file/],
            [["--account-url", azurite.endpoint, "--model", "fraud", "--colour", "red"], /Unknown option '--colour'/],
        ];
        for (const [args, expected] of cases) {
            const result = await drift(args);
            assert.strictEqual(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
            assert.match(result.stderr, expected, args.join(" "));
            assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
        }
    });

    it("--stack finds the store from the stack's blobEndpoint output (pulumi stack output), and says what is missing", async () => {
        const bin = fakePulumi({ dev: { blobEndpoint: azurite.endpoint }, prd: { scoringUris: {} } });
        try {
            const withPath = { env: { ...env, PATH: `${bin}${path.delimiter}${env.PATH}` } };
            const fromStack = await runScript("scripts/drift.ts", ["--stack", "dev", "--model", "fraud", "--baseline", "data/fraud/baseline.csv", ...WINDOW, "--out", out], withPath);
            assert.strictEqual(fromStack.code, 0, fromStack.stderr);
            const byUrl = await drift(["--account-url", azurite.endpoint, "--model", "fraud", "--baseline", "data/fraud/baseline.csv", ...WINDOW, "--out", out]);
            assert.strictEqual(fromStack.stdout.replace(/report: .*/, ""), byUrl.stdout.replace(/report: .*/, ""), "the same report as with --account-url");
            const noOutput = await runScript("scripts/drift.ts", ["--stack", "prd", "--model", "fraud"], withPath);
            assert.strictEqual(noOutput.code, 1);
            assert.match(noOutput.stderr, /stack prd has no blobEndpoint output: run `pulumi up --stack prd` first, or pass --account-url/);
            const unknown = await runScript("scripts/drift.ts", ["--stack", "staging", "--model", "fraud"], withPath);
            assert.strictEqual(unknown.code, 1);
            assert.match(unknown.stderr, /pulumi stack output --stack staging failed: error: no stack named 'staging' found/);
        } finally {
            fs.rmSync(bin, { recursive: true, force: true });
        }
    });

    it("prints the table, and writes the report and chart of the window, against a dataset in the store", async () => {
        const result = await drift(["--account-url", azurite.endpoint, "--model", "fraud", "--baseline", "data/fraud/baseline.csv", ...WINDOW, "--out", out]);
        assert.strictEqual(result.code, 0, result.stderr);
        const lines = result.stdout.split("\n");
        assert.strictEqual(lines[0], "model fraud version 3, window 2026-12-02T10:00:00Z to 2026-12-02T12:00:00Z (2h): 2 requests, 4 rows");
        assert.strictEqual(lines[1], "baseline: data/fraud/baseline.csv (4 rows)");
        assert.match(result.stdout, /^amount\s+numeric\s+PSI\s+\d+\.\d{4}\s+significant\s*$/m);
        assert.match(result.stdout, /^country\s+categorical\s+JS distance\s+\d+\.\d{4}\s+\w+\s+1 new category: FR$/m);
        assert.match(result.stdout, /^prediction\s+numeric\s+PSI\s+\d+\.\d{4}\s+\w+\s*$/m);
        assert.match(result.stdout, /^predictions compared with: previous-window$/m);
        assert.match(result.stdout, /^DRIFT: significant in amount/m);

        const report = JSON.parse(fs.readFileSync(path.join(out, "fraud-3-2026-12-02T120000Z.json"), "utf8"));
        assert.deepStrictEqual(report.window, { start: "2026-12-02T10:00:00Z", end: "2026-12-02T12:00:00Z", length: "2h" });
        assert.strictEqual(report.rows, 4, "the 400 answer and the request at 12:00 are not in the window");
        // The first decile bin of 1,2,3,4 is (-inf, 1.3]: one of four baseline rows, three of four window rows.
        assert.deepStrictEqual(report.features[0].bins[0], { bin: "(-inf, 1.3]", baseline: 0.25, window: 0.75 });
        const svg = fs.readFileSync(path.join(out, "fraud-3-2026-12-02T120000Z.svg"), "utf8");
        assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        assert.match(svg, /class="bar" data-column="amount" data-level="significant"/);
        assert.strictEqual((svg.match(/class="bar"/g) ?? []).length, 3, "amount, country, prediction");
    });

    it("the scheduled job writes the same report beside the payloads, keeps its baseline, and prints the alert's line; npm run drift then uses that baseline", async () => {
        const expiry = new Date(Date.now() + 3_600_000);
        const sas = generateBlobSASQueryParameters(
            { containerName: "payloads", permissions: ContainerSASPermissions.parse("rwl"), expiresOn: expiry },
            new StorageSharedKeyCredential(ACCOUNT, EMULATOR_KEY),
        ).toString();
        const dataSas = generateBlobSASQueryParameters({ containerName: "data", permissions: ContainerSASPermissions.parse("r"), expiresOn: expiry }, new StorageSharedKeyCredential(ACCOUNT, EMULATOR_KEY)).toString();
        // The job takes one SAS (in Azure: its managed identity's token) for every call.
        const job = (sasToken: string, extra: string[] = []) =>
            promisify(execFile)(PYTHON, ["-m", "serving.drift_job", "--model", "fraud", "--version", "3", "--window", "2h", "--window-end", "2026-12-02T12:00:00Z", "--blob-endpoint", azurite.endpoint, ...extra], {
                cwd: PROJECT_DIR,
                env: { ...process.env, DRIFT_BLOB_SAS: sasToken },
            }).catch((err) => err as { stdout: string; stderr: string; code: number });
        const refused = (await job(dataSas, ["--baseline", "data/fraud/baseline.csv"])) as { stdout: string; code?: number };
        // A SAS of the data container reads the dataset but not the payloads: the job's error line says so, exit 1.
        assert.strictEqual(refused.code, 1);
        assert.match(refused.stdout, /^\{"event": "drift-error", "model": "fraud", "version": "3", "error": "(listing|writing) payloads\/fraud\/3\//m);

        // A SAS of the payloads container only: the dataset is put where it can read it.
        await payloads.getBlockBlobClient("baselines/fraud.csv").upload(BASELINE_CSV, BASELINE_CSV.length);
        const ran = (await job(sas, ["--baseline", "payloads/baselines/fraud.csv"])) as { stdout: string; stderr: string; code?: number };
        assert.ok(!ran.code, `${ran.stdout}${ran.stderr}`);
        const line = JSON.parse(ran.stdout.trim().split("\n").pop()!);
        assert.strictEqual(line.event, "drift");
        assert.deepStrictEqual([line.model, line.version, line.window_end, line.level, line.rows], ["fraud", "3", "2026-12-02T12:00:00Z", "significant", 4]);

        const written = JSON.parse((await payloads.getBlobClient("fraud/3/drift/2026-12-02T12:00:00Z.json").downloadToBuffer()).toString("utf8"));
        const kept = JSON.parse((await payloads.getBlobClient("fraud/3/drift/baseline.json").downloadToBuffer()).toString("utf8"));
        assert.deepStrictEqual([kept.kind, kept.source, kept.rows.length], ["dataset", "payloads/baselines/fraud.csv", 4]);

        // npm run drift without --baseline: the kept baseline, and the same report as the job's.
        const result = await drift(["--account-url", azurite.endpoint, "--model", "fraud", "--version", "3", ...WINDOW, "--out", out]);
        assert.strictEqual(result.code, 0, result.stderr);
        assert.match(result.stdout, /^baseline: payloads\/baselines\/fraud.csv \(4 rows\)$/m);
        const local = JSON.parse(fs.readFileSync(path.join(out, "fraud-3-2026-12-02T120000Z.json"), "utf8"));
        assert.deepStrictEqual(local, written, "the command and the job give the same report");
    });

    it("says what to do when there is no baseline yet, exit 1", async () => {
        await payloads.getBlockBlobClient("other/1/date=2026-12-02/hour=11/x-1-1.jsonl").upload("{}\n", 3);
        const result = await drift(["--account-url", azurite.endpoint, "--model", "other", ...WINDOW, "--out", out]);
        assert.strictEqual(result.code, 1, result.stdout);
        assert.match(result.stderr, /^drift: failed: no baseline for other version 1: the scheduled drift job keeps the one it uses at payloads\/other\/1\/drift\/baseline.json after its first run/m);
    });

    it("a model without payloads is a notice, exit 0", async () => {
        const result = await drift(["--account-url", azurite.endpoint, "--model", "nothing", ...WINDOW, "--out", out]);
        assert.strictEqual(result.code, 0, result.stderr);
        assert.match(result.stdout, /^drift: no payloads of model nothing in the payloads container/);
    });
});
