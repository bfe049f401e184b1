import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { PROJECT_DIR } from "./helpers/fixtures";
import { pairedRatio, payloadRows } from "../bench/payloadLog";

describe("npm run bench (tiny counts)", () => {
    it("measures every section, reports one request per registry resolution, and leaves no temporary folder behind", async function () {
        this.timeout(60_000);
        // Its own TMPDIR (os.tmpdir() and Python's tempfile both honour it), empty again afterwards.
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-test-"));
        let stdout: string;
        try {
            ({ stdout } = await promisify(execFile)(process.execPath, ["-r", "./scripts/register-ts.js", "bench/run.ts", "--quick", "--json"], {
                cwd: PROJECT_DIR,
                env: { ...process.env, TMPDIR: tmp },
                maxBuffer: 16 * 1024 * 1024,
            }));
            assert.deepStrictEqual(fs.readdirSync(tmp), [], "bench removed what it made");
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
        const report = JSON.parse(stdout) as { machine: string; rows: { measure: string; result: string; target: string; met: boolean }[] };
        assert.match(report.machine, /^\d+ CPU .*Node\.js v\d+/);
        const measures = report.rows.map((r) => r.measure);
        for (const expected of [/^program start, dev/, /^npm run plan -- dev/, /^plan growth with served models \(1, 10\)/, /^HTTP requests per resolution/, /^client vs raw HTTP GET/, /^latest on a model with 10,000 versions/]) {
            assert.ok(measures.some((m) => expected.test(m)), `${expected} in ${measures.join("; ")}`);
        }
        const requests = report.rows.find((r) => r.measure.startsWith("HTTP requests per resolution"))!;
        assert.strictEqual(requests.result, "alias 1, stage 1, version 1, latest 1");
        assert.ok(requests.met);
        assert.match(report.rows.find((r) => r.measure.startsWith("latest on"))!.result, /^version 10000, 1 request;/);
    });

    it("refuses a section it does not have, naming the ones it has", async () => {
        await assert.rejects(
            promisify(execFile)(process.execPath, ["-r", "./scripts/register-ts.js", path.join("bench", "run.ts"), "--only", "servng"], { cwd: PROJECT_DIR }),
            (err: { code: number; stderr: string }) => err.code === 2 && /--only "servng" is not a section: use one of "program start", "plan", "plan growth", "registry", "serving", "payload log", "test suite"/.test(err.stderr),
        );
    });

    it("payload log: the targets are at most 5% fewer requests per second and 0.5 ms more median latency, bounds included", () => {
        const verdicts = (rps: number, ms: number) => payloadRows({ rps: 1000, medianMs: 4 }, { rps, medianMs: ms }, "d").map((r) => r.met);
        assert.deepStrictEqual(verdicts(950, 4.5), [true, true]);
        assert.deepStrictEqual(verdicts(949, 4.51), [false, false]);
        const [rps, latency] = payloadRows({ rps: 1000, medianMs: 4 }, { rps: 980, medianMs: 4.2 }, "d");
        assert.strictEqual(rps.result, "bare 1000/s, with 980/s: ratio 0.980 (2.0% fewer)");
        assert.strictEqual(latency.result, "bare 4.00 ms, with 4.20 ms: +0.20 ms");
    });

    it("payload log: throughput is judged by the median of paired slice ratios, so one slow slice of both does not move it", () => {
        // Slice 3 ran in a slow spell for both servers: its ratio is 0.95 like the others, the totals' is not.
        assert.strictEqual(pairedRatio([95, 190, 38, 95, 190], [100, 200, 40, 100, 200]).toFixed(3), "0.950");
        // A slice where only one side was slow is an outlier the median ignores.
        assert.strictEqual(pairedRatio([95, 95, 50, 95], [100, 100, 100, 100]).toFixed(3), "0.950");
        assert.strictEqual(pairedRatio([110, 120, 90], [100, 100, 100]).toFixed(3), "1.100");
    });

    it("refuses a --requests that is not a sane count, naming the flag", async () => {
        await assert.rejects(
            promisify(execFile)(process.execPath, ["-r", "./scripts/register-ts.js", path.join("bench", "run.ts"), "--requests", "5"], { cwd: PROJECT_DIR }),
            (err: { code: number; stderr: string }) => err.code === 2 && /--requests "5" must be a whole number from 10 to 1000000/.test(err.stderr),
        );
    });

    it("refuses unknown flags", async () => {
        await assert.rejects(
            promisify(execFile)(process.execPath, ["-r", "./scripts/register-ts.js", path.join("bench", "run.ts"), "--fast"], { cwd: PROJECT_DIR }),
            (err: { code: number; stderr: string }) => err.code === 2 && /Unknown option '--fast'/.test(err.stderr) && /usage: npm run bench/.test(err.stderr),
        );
    });
});
