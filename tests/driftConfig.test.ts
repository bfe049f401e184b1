// mlflow-platform:observability.drift (lib/config/drift.ts) and the drift job's plain decisions
// (lib/drift): every rule at its edges, the messages an operator reads, the alert's query.
import * as assert from "assert";
import { configKey } from "../lib/config/problems";
import { cronProblem, DRIFT_DEFAULTS, driftConfig, driftFields, driftIssues, driftWarnings, windowHours } from "../lib/config/drift";
import { driftAlertRule } from "../lib/drift/alert";
import { driftJobCommand, driftJobName, driftReportBlob, driftWriteCondition } from "../lib/drift/job";
import { driftChart, driftTable, type DriftReport } from "../lib/drift/report";
import { driftWindow, hourPrefixes, isoSeconds } from "../lib/drift/window";

function problem(value: unknown): string | undefined {
    const result = driftFields.safeParse(value);
    return result.success ? undefined : result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
}

describe("observability.drift config", () => {
    it("takes an empty map with the defaults: 24h daily at 00:15 UTC against the registered sample", () => {
        assert.strictEqual(problem({}), undefined);
        assert.deepStrictEqual(driftConfig({}), { window: "24h", windowHours: 24, schedule: "15 0 * * *", baseline: "registered-sample" });
        assert.strictEqual(driftConfig(undefined), undefined, "no key, no drift job");
        assert.strictEqual(DRIFT_DEFAULTS.window, "24h");
    });

    it("windows are whole hours or days from 1h to 90d", () => {
        assert.deepStrictEqual(["1h", "24h", "7d", "90d", "2160h"].map(windowHours), [1, 24, 168, 2160, 2160]);
        for (const ok of ["1h", "90d", "2160h"]) assert.strictEqual(problem({ window: ok }), undefined, ok);
        for (const bad of ["0h", "91d", "2161h", "24", "1.5h", "24m", " 24h", "", 24]) {
            assert.match(problem({ window: bad }) ?? "", /^window: must be a whole number of hours or days from 1h to 90d, such as 24h or 7d$/, String(bad));
        }
    });

    it("a schedule is 5 cron fields in their ranges", () => {
        for (const ok of ["15 0 * * *", "*/30 * * * *", "0 6 * * 1-5", "0 0,12 1 1 0", "  0 3 * * *  "]) assert.strictEqual(cronProblem(ok), undefined, ok);
        assert.match(cronProblem("0 3 * *")!, /^has 4 fields: a schedule is 5 cron fields/);
        assert.match(cronProblem("60 * * * *")!, /^field 1 \(minute\) "60" is not allowed: use \*, a number from 0 to 59/);
        assert.match(cronProblem("0 24 * * *")!, /^field 2 \(hour\) "24"/);
        assert.match(cronProblem("0 0 0 * *")!, /^field 3 \(day of month\) "0"/);
        assert.match(cronProblem("0 0 * 13 *")!, /^field 4 \(month\) "13"/);
        assert.match(cronProblem("0 0 * * 7")!, /^field 5 \(day of week\) "7"/);
        assert.match(cronProblem("0 5-3 * * *")!, /field 2 \(hour\) "5-3"/, "a backwards range");
        assert.match(cronProblem("*/0 * * * *")!, /field 1 \(minute\) "\*\/0"/, "a zero step");
        assert.match(cronProblem("@daily")!, /has 1 field:/);
        assert.match(problem({ schedule: "0 3 * *" }) ?? "", /^schedule: has 4 fields/);
        assert.strictEqual(driftConfig({ schedule: "  0   3 * * * " })!.schedule, "0 3 * * *");
    });

    it("the baseline is registered-sample or <container>/<path>.csv|.json|.jsonl", () => {
        for (const ok of ["registered-sample", "data/fraud/baseline.csv", "data/b.json", "models/x/y.jsonl"]) assert.strictEqual(problem({ baseline: ok }), undefined, ok);
        for (const bad of ["registered", "baseline.csv", "data/fraud/baseline.parquet", "/data/x.csv", "Data Store/x.csv", "data/"]) {
            assert.match(problem({ baseline: bad }) ?? "", /^baseline: must be "registered-sample" \(the sample registered with the served version\) or a dataset in the model store/, bad);
        }
    });

    it("must be a map; mounted with .strict(), a misspelt key is refused", () => {
        assert.match(problem("24h") ?? "", /must be a map with optionally window, schedule and baseline/);
        assert.strictEqual(driftFields.strict().safeParse({ windw: "1h" }).error!.issues[0].code, "unrecognized_keys");
    });

    it("a window longer than the payload retention is refused, naming both keys", () => {
        assert.deepStrictEqual(driftIssues({ window: "7d" }, 7), [], "equal is allowed");
        assert.deepStrictEqual(driftIssues({ window: "168h" }, 7), []);
        const [issue] = driftIssues({ window: "169h" }, 7);
        assert.strictEqual(configKey(issue.path), "mlflow-platform:observability.drift.window");
        assert.strictEqual(issue.input, "169h");
        assert.strictEqual(
            issue.message,
            "is longer than the payload retention (mlflow-platform:serving.payloadLog.retentionDays = 7 days): the payloads of the window's start are deleted before it is compared. Use a window of at most 7d (168h), or keep payloads longer",
        );
        assert.deepStrictEqual(driftIssues({}, 1), [], "the default 24h window fits in one day");
        assert.match(driftIssues({ window: "2d" }, 1)[0].message, /= 1 day\)/);
        assert.deepStrictEqual(driftIssues(undefined, 1), [], "no drift job, nothing to check");
        assert.deepStrictEqual(driftIssues({ window: "90d" }, undefined), [], "no retention limit");
    });

    it("warns when the retention keeps one window but not two (no previous window for the predictions)", () => {
        assert.deepStrictEqual(driftWarnings({ window: "24h" }, 2), []);
        assert.match(driftWarnings({ window: "36h" }, 2)[0], /^mlflow-platform:observability.drift.window = "36h": prediction drift compares the window with the one before it/);
        assert.deepStrictEqual(driftWarnings({ window: "3d" }, 2), [], "too long is an issue, not also a warning");
    });
});

describe("drift job decisions (lib/drift)", () => {
    it("job names are drift-<model>, within Container Apps' 32 characters, lowercase, no '--'", () => {
        assert.strictEqual(driftJobName("fraud"), "drift-fraud");
        assert.strictEqual(driftJobName("Fraud_Scorer.v2"), "drift-fraud-scorer-v2");
        const long = driftJobName("a-very-long-model-name-for-credit-risk");
        assert.ok(long.length <= 32, long);
        assert.match(long, /^drift-a-very-long-model-n[a-z-]*-[0-9a-f]{6}$/);
        assert.notStrictEqual(long, driftJobName("a-very-long-model-name-for-credit-risk-2"), "two long names stay apart");
        for (const name of [long, driftJobName("x--y"), driftJobName("-x-")]) assert.match(name, /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/), assert.doesNotMatch(name, /--/);
        assert.strictEqual(driftJobName("fraud"), driftJobName("fraud"), "a pure function");
    });

    it("the write condition confines writes, creations and deletes to the model's drift folders of the payloads container", () => {
        const condition = driftWriteCondition("fraud");
        for (const action of ["blobs/write", "blobs/add/action", "blobs/delete", "blobs/move/action"]) assert.ok(condition.includes(`!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/${action}'})`), action);
        assert.ok(condition.includes("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'payloads'"));
        assert.ok(condition.includes("@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringLike 'fraud/*/drift/*'"));
        assert.doesNotMatch(condition, /blobs\/read/, "reads are the Reader assignment's");
        assert.strictEqual(driftReportBlob("fraud", "3", "2026-12-02T00:00:00Z"), "fraud/3/drift/2026-12-02T00:00:00Z.json");
    });

    it("the command runs drift_job.py with the model, version, window and baseline", () => {
        assert.deepStrictEqual(driftJobCommand({ model: "fraud", version: "3", window: "24h", baseline: "registered-sample" }), [
            "python", "/opt/serving/drift_job.py", "--model", "fraud", "--version", "3", "--window", "24h", "--baseline", "registered-sample",
        ]);
    });

    it("windows end on the hour and read every overlapping hour folder", () => {
        const window = driftWindow(2, undefined, new Date("2026-12-02T12:34:56.789Z"));
        assert.deepStrictEqual([isoSeconds(window.start), isoSeconds(window.end)], ["2026-12-02T10:00:00Z", "2026-12-02T12:00:00Z"]);
        assert.deepStrictEqual(hourPrefixes("fraud", "3", window), ["fraud/3/date=2026-12-02/hour=10/", "fraud/3/date=2026-12-02/hour=11/"]);
        const overMidnight = driftWindow(2, new Date("2027-01-01T01:00:00Z"));
        assert.deepStrictEqual(hourPrefixes("m", "1", overMidnight), ["m/1/date=2026-12-31/hour=23/", "m/1/date=2027-01-01/hour=00/"]);
    });

    it("the alert counts the job's significant runs in ContainerAppConsoleLogs, per model when named", () => {
        const rule = driftAlertRule({ model: "fraud" });
        assert.deepStrictEqual([rule.threshold, rule.operator, rule.timeAggregation, rule.evaluationFrequency, rule.windowSize, rule.severity], [0, "GreaterThan", "Count", "PT1H", "P1D", 2]);
        const lines = rule.query.split("\n");
        assert.strictEqual(lines[0], "ContainerAppConsoleLogs");
        assert.strictEqual(lines[1], '| where ContainerName == "drift" and Log startswith "{\\"event\\":\\"drift\\""');
        assert.ok(lines.includes('| where tostring(d.model) == "fraud"'));
        assert.ok(lines.includes('| where tostring(d.level) == "significant"'));
        assert.ok(!driftAlertRule().query.includes("d.model) =="), "every model without one");
        assert.ok(driftAlertRule({ model: 'a"b' }).query.includes('== "a\\"b"'), "quotes escaped");
    });
});

describe("drift report rendering (lib/drift/report.ts)", () => {
    const report: DriftReport = {
        model: "fraud",
        version: "3",
        window: { start: "2026-12-01T00:00:00Z", end: "2026-12-02T00:00:00Z", length: "24h" },
        baseline: { kind: "registered-sample", source: "registered-sample", rows: 5 },
        requests: 10,
        rows: 40,
        thresholds: { psi: { moderate: 0.1, significant: 0.25 }, jensen_shannon: { moderate: 0.1, significant: 0.2 } },
        features: [
            { feature: "amount", kind: "numeric", statistic: "psi", value: 0.5, level: "significant" },
            { feature: "country", kind: "categorical", statistic: "jensen_shannon", value: 0.05, level: "stable", unseen: ["FR", "US"], unseen_count: 2 },
            { feature: "secret", kind: null, statistic: null, value: null, level: null, note: "not in the logged inputs" },
        ],
        prediction: { source: "previous-window", outputs: [{ output: "prediction", kind: "numeric", statistic: "psi", value: 0.12, level: "moderate" }] },
        drifted_features: ["amount"],
        level: "significant",
        status: "drift",
    };

    it("the table has a row per column and prediction, and names what drifted", () => {
        const text = driftTable(report);
        assert.match(text, /^model fraud version 3, window 2026-12-01T00:00:00Z to 2026-12-02T00:00:00Z \(24h\): 10 requests, 40 rows\nbaseline: the registered sample \(5 rows\)\n/);
        assert.match(text, /^amount      numeric      PSI          0\.5000  significant$/m);
        assert.match(text, /^country     categorical  JS distance  0\.0500  stable       2 new categories: FR, US$/m);
        assert.match(text, /^secret      -            -                 -  -            not in the logged inputs$/m);
        assert.match(text, /^prediction  numeric      PSI          0\.1200  moderate$/m);
        assert.match(text, /^DRIFT: significant in amount$/m);
        assert.match(driftTable({ ...report, status: "ok", level: "moderate" }), /^no significant drift \(worst level: moderate\)$/m);
    });

    it("the chart scales each bar by its statistic's significant threshold and escapes names", () => {
        const svg = driftChart({ ...report, features: [...report.features, { feature: "a<b", kind: "numeric", statistic: "psi", value: 0.25, level: "significant" }] });
        // Bars start at x=200 and reach 200 + share/2 * 400: PSI 0.5 is 2x the threshold (capped at 2) -> 400.
        assert.match(svg, /data-column="amount" data-level="significant" x="200" y="\d+" width="400.0"/);
        assert.match(svg, /data-column="country" data-level="stable" x="200" y="\d+" width="50.0"/, "JS 0.05 / 0.2 = 0.25 -> 50");
        assert.match(svg, /data-column="a&lt;b" data-level="significant" x="200" y="\d+" width="200.0"/);
        assert.match(svg, />not in the logged inputs</);
        assert.strictEqual((svg.match(/class="bar"/g) ?? []).length, 4);
    });
});
