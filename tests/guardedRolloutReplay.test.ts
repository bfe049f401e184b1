// Replay before a guarded rollout moves any traffic: logged requests of the stable version, read
// from the payloads container (Azurite, laid out as serving/payload_log.py writes it), sent to the
// new revision, which here is MLflow's real scoring server on the demo model, and compared with
// what stable answered. Agreeing answers let the steps start; disagreeing ones stop the rollout
// before any weight moves; no logged request skips the replay and says so. Also the comparison
// rules on their own (classifiers, regressors, bad lines).
import * as assert from "assert";
import type { RevisionTrafficState, TrafficGuard } from "../components/serving/revisionTraffic";
import { rolloutConfig } from "../lib/config/rollout";
import { score } from "../lib/scoring/client";
import { readAuditHistory, whoPutVersion } from "../lib/audit/store";
import { parseAuditFlags, runAudit } from "../scripts/audit";
import { comparePredictions, loggedRequests, replayProblems, replaySummary } from "../lib/serving/replay";
import { startAzurite, type Azurite } from "./helpers/azuriteBlob";
import type { FakeContainerApps } from "./helpers/fakeContainerApps";
import { FAKE_WORKSPACE, type FakeLogAnalytics } from "./helpers/fakeLogAnalytics";
import { GuardedRolloutRig } from "./helpers/guardedRolloutRig";
import { startRealScoring, type RealScoring } from "./helpers/realScoring";

const APP = "prd-fraud";
const V2 = `${APP}--v2-bbbb`;
const FOLDER = "mlplatform.prd.fraud";

describe("replay before a guarded rollout: the comparison", () => {
    const pair = (expected: unknown[], actual: unknown[] | undefined, latencyMs = 10) => ({ expected, actual, latencyMs });

    it("a classifier: the share of rows with the same label; a request without a prediction per row is counted", () => {
        const c = comparePredictions([pair([1, 0, 0], [1, 0, 1]), pair(["a"], ["a"]), pair([0], undefined, 40), pair([1, 1], [1])]);
        assert.deepStrictEqual([c.kind, c.requests, c.rows, c.agreement, c.failed], ["classifier", 4, 4, 0.75, 2]);
        assert.deepStrictEqual(replayProblems(c, { requests: 10, minAgreement: 0.7, hours: 24 }), ["2 of 4 replayed requests got no prediction per row"]);
        assert.deepStrictEqual(replayProblems(comparePredictions([pair([1, 0, 0, 1], [1, 0, 1, 1])]), { requests: 10, minAgreement: 0.8, hours: 24 }), ["75% of predictions agree, below replay.minAgreement 80%"]);
        assert.deepStrictEqual(replayProblems(comparePredictions([pair([1, 0, 0, 1], [1, 0, 1, 1])]), { requests: 10, minAgreement: 0.75, hours: 24 }), [], "at the bound");
    });

    it("a regressor: the largest and the median difference, judged by maxDifference when set", () => {
        const c = comparePredictions([pair([1.5, 2.25], [1.5, 2.5]), pair([10.5], [10.0])]);
        assert.deepStrictEqual([c.kind, c.maxDifference, c.medianDifference], ["regressor", 0.5, 0.25]);
        assert.deepStrictEqual(replayProblems(c, { requests: 10, minAgreement: 1, maxDifference: 0.5, hours: 24 }), [], "agreement is not judged for a regressor; at the bound");
        assert.deepStrictEqual(replayProblems(c, { requests: 10, minAgreement: 1, maxDifference: 0.4, hours: 24 }), ["the largest difference 0.5 is above replay.maxDifference 0.4"]);
        assert.strictEqual(
            replaySummary(c, "v2", "v1"),
            "replay of 2 logged requests (3 rows) against v2: largest difference from v1's predictions 0.5, typical (median) 0.25, 33.33% identical; latency p50 10 ms, p95 10 ms",
        );
        // A prediction that is not a number is as far off as can be.
        assert.strictEqual(comparePredictions([pair([1.5], ["x"])]).maxDifference, Infinity);
    });

    it("reads the log's usable lines newest first: answered 200, a prediction per row; anything else is skipped and counted", () => {
        const line = (time: string, extra: Record<string, unknown> = {}) => JSON.stringify({ time, request_id: time, status: 200, inputs: [{ a: 1 }], outputs: [0], ...extra });
        const { requests, skipped } = loggedRequests(
            [
                [line("2026-12-02T09:00:00.000Z"), line("2026-12-02T09:30:00.000Z"), "not json", line("2026-12-02T09:40:00.000Z", { status: 400 })].join("\n"),
                [line("2026-12-02T09:50:00.000Z", { outputs: [] }), line("2026-12-02T09:10:00.000Z", { inputs: [] }), line("2026-12-02T09:20:00.000Z"), ""].join("\n"),
            ],
            2,
        );
        assert.deepStrictEqual(requests.map((r) => r.requestId), ["2026-12-02T09:30:00.000Z", "2026-12-02T09:20:00.000Z"]);
        assert.strictEqual(skipped, 4);
    });
});

describe("replay before a guarded rollout: logged requests against MLflow's real scoring server", function () {
    this.timeout(300_000);
    let scoring: RealScoring;
    let azurite: Azurite;
    let rows: Record<string, number>[];
    let rig: GuardedRolloutRig;
    let azure: FakeContainerApps;
    let queries: FakeLogAnalytics;
    let logs: string[];
    let container = "";
    let auditContainer = "";
    let scored = 0;

    before(async () => {
        [scoring, azurite] = await Promise.all([startRealScoring(), startAzurite()]);
        const [header, ...lines] = scoring.sampleCsv.trim().split("\n");
        const columns = header.split(",");
        rows = lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [columns[i], Number(v)])));
    });
    after(async () => {
        await scoring?.stop();
        await azurite?.stop();
    });
    beforeEach(async () => {
        rig = await GuardedRolloutRig.start();
        ({ azure, queries, logs } = rig);
        scored = 0;
        container = `payloads-${Math.random().toString(36).slice(2, 10)}`;
        await azurite.service().getContainerClient(container).create();
        auditContainer = `audit-${Math.random().toString(36).slice(2, 10)}`;
        await azurite.service().getContainerClient(auditContainer).create();
    });
    const auditHistory = () => readAuditHistory(azurite.service().getContainerClient(auditContainer));
    afterEach(() => rig.stop());

    /** Lines as the payload log writes them: stable's version 1, one request of 2 rows per line. */
    async function logged(outputs: (predictions: number[]) => number[]): Promise<number> {
        const lines: string[] = [];
        const expected = scoring.expected.sample_csv_predictions;
        for (let i = 0; i + 1 < rows.length && lines.length < 10; i += 2) {
            const time = new Date(Date.parse("2026-12-02T09:00:00Z") + i * 1000).toISOString();
            lines.push(JSON.stringify({ time, request_id: `r${i}`, model: FOLDER, version: "1", revision: `${APP}--v1-aaaa`, status: 200, inputs: rows.slice(i, i + 2), outputs: outputs(expected.slice(i, i + 2)) }));
        }
        const text = `${lines.join("\n")}\n`;
        await azurite.service().getContainerClient(container).getBlockBlobClient(`${FOLDER}/1/date=2026-12-02/hour=09/${APP}--v1-aaaa-1-1.jsonl`).upload(text, Buffer.byteLength(text));
        return lines.length;
    }

    const provider = () =>
        rig.provider({
            payloadContainer: async (source) => {
                assert.strictEqual(source.accountName, "mlplatprdmodels");
                return azurite.service().getContainerClient(container);
            },
            audit: async (accountName) => {
                assert.strictEqual(accountName, "mlplatprdmodels");
                return { container: azurite.service().getContainerClient(auditContainer), context: { who: { credential: "test identity", objectId: "00000000-0000-0000-0000-00000000abcd" }, tool: { name: "test", version: "1" } } };
            },
            // The new revision's own address reaches MLflow's real scoring server here.
            score: async (fqdn, body, scope) => {
                assert.strictEqual(fqdn, azure.fqdn(azure.revisions.get(V2)!));
                assert.strictEqual(scope, "api://scoring-client/.default");
                scored += 1;
                return score(scoring.scoringUri, JSON.parse(body));
            },
        });
    const guard: TrafficGuard = {
        workspaceId: FAKE_WORKSPACE,
        appName: APP,
        rollout: rolloutConfig({ steps: [50, 100], bake: "10m", minRequests: 100, replay: { requests: 4, minAgreement: 0.99 } }),
        modelKey: "models[fraud]",
        modelName: "mlplatform.prd.fraud",
        replay: { accountName: "mlplatprdmodels", folder: FOLDER, scope: "api://scoring-client/.default" },
        auditAccountName: "mlplatprdmodels",
    };
    const state = (suffix: string, g?: TrafficGuard) => rig.state(suffix, g);
    const deploy = (suffix: string, olds: RevisionTrafficState, news: RevisionTrafficState) => rig.deploy(suffix, olds, news, provider());
    const tables = () => rig.tables();
    const v1Serving = () => rig.v1Serving(guard, provider());

    it("answers that agree with what stable answered let the steps start, and the result is printed", async () => {
        await logged((predictions) => predictions);
        const olds = await v1Serving();
        await deploy("v2-bbbb", olds, state("v2-bbbb", guard));
        assert.strictEqual(scored, 4, "the newest 4 logged requests, each sent once");
        const line = logs.find((l) => l.includes("replay of"));
        assert.match(line ?? logs.join("\n"), /^rollout prd-fraud--v2-bbbb: replay of 4 logged requests \(8 rows\) against prd-fraud--v2-bbbb: 100% of predictions agree with what prd-fraud--v1-aaaa answered; latency p50 \d+ ms, p95 \d+ ms$/);
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "50% v2-bbbb + 50% v1-aaaa", "100% v2-bbbb"]);
        // Kept with the audit records: the outcome and the replay's line, listed by npm run audit, but not "who put version 2 in prd".
        const history = await auditHistory();
        assert.deepStrictEqual(history.unreadable, []);
        assert.strictEqual(history.entries.length, 1);
        const record = history.entries[0].record;
        assert.deepStrictEqual([record.action, record.model, record.version, record.from.version, record.rollout?.outcome, record.rollout?.candidate, record.rollout?.stable], ["rollout", FOLDER, "2", "1", "promoted", V2, `${APP}--v1-aaaa`]);
        assert.match(record.rollout!.replay!, /^replay of 4 logged requests \(8 rows\) against prd-fraud--v2-bbbb: 100% of predictions agree/);
        assert.strictEqual(record.registry, azure.appId);
        assert.ok(logs.some((l) => /^audit: rollout recorded at mlplatprdmodels\/audit\/mlplatform\.prd\.fraud\/2026\/12\/02\/\d{6}\.\d{3}Z-rollout-2\.json$/.test(l)), logs.join("\n"));
        assert.strictEqual(whoPutVersion(history, { version: "2" }).putBy, undefined, "a rollout does not answer who pointed prd at a version");
        // npm run audit's history lists it: the version with the outcome, from the stable version.
        const printed: string[] = [];
        assert.strictEqual(await runAudit(parseAuditFlags(["--stack", "prd", "--model", "fraud"]), azurite.service().getContainerClient(auditContainer), { log: (l) => printed.push(l), error: (l) => printed.push(l) }), 0, printed.join("\n"));
        const [header, row, ...more] = printed[0].split("\n");
        assert.match(header, /^WHEN \(UTC\)\s+ACTION\s+MODEL\s+VERSION\s+FROM\s+WHO\s+RUN$/);
        assert.match(row, /^2026-12-02 \d\d:\d\d:\d\dZ  rollout  mlplatform\.prd\.fraud  2 \(promoted\)  mlplatform\.prd\.fraud\/1  .*00000000-0000-0000-0000-00000000abcd.*  -$/);
        assert.deepStrictEqual(more, []);
    });

    it("answers that disagree stop the rollout before any weight moves: the candidate is deactivated and remembered", async () => {
        await logged((predictions) => predictions.map((p) => 1 - p)); // stable "answered" the opposite class
        const olds = await v1Serving();
        let failure: (Error & { properties?: RevisionTrafficState }) | undefined;
        await deploy("v2-bbbb", olds, state("v2-bbbb", guard)).catch((err) => (failure = err));
        assert.ok(failure, "the rollout stopped");
        assert.match(failure.message, /^rollout prd-fraud--v2-bbbb stopped before any traffic moved: 0% of predictions agree, below replay\.minAgreement 99%\. prd-fraud--v1-aaaa keeps 100% and prd-fraud--v2-bbbb is deactivated\.\nreplay of 4 logged requests \(8 rows\)/);
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "100% v1-aaaa"], "the app's PUT, then the rollback's: the candidate never had a weight");
        assert.strictEqual(azure.revisions.get(V2)!.active, false);
        assert.deepStrictEqual(failure.properties!.rejected!.map((r) => [r.revision, r.reason]), [[V2, "replay: 0% of predictions agree, below replay.minAgreement 99%"]]);
        assert.strictEqual(queries.queries.length, 0, "no step was baked");
        const [entry] = (await auditHistory()).entries;
        assert.deepStrictEqual([entry.record.rollout?.outcome, entry.record.rollout?.reason], ["rolled-back", "replay: 0% of predictions agree, below replay.minAgreement 99%"]);
        const printed: string[] = [];
        await runAudit(parseAuditFlags(["--stack", "prd"]), azurite.service().getContainerClient(auditContainer), { log: (l) => printed.push(l), error: (l) => printed.push(l) });
        assert.match(printed[0].split("\n")[1], /  rollout  mlplatform\.prd\.fraud  2 \(rolled-back\)  mlplatform\.prd\.fraud\/1  /);
    });

    it("no logged request of the stable version skips the replay, says so, and the steps run", async () => {
        const olds = await v1Serving();
        await deploy("v2-bbbb", olds, state("v2-bbbb", guard));
        assert.strictEqual(scored, 0);
        assert.ok(logs.includes("rollout prd-fraud--v2-bbbb: no replay: no request of version 1 was logged in the last 24 h"), logs.join("\n"));
        assert.deepStrictEqual(tables(), ["100% v1-aaaa", "50% v2-bbbb + 50% v1-aaaa", "100% v2-bbbb"]);
    });

    it("a model whose log leaves columns out is not replayed, and the output says why", async () => {
        await logged((predictions) => predictions);
        const olds = await v1Serving();
        await deploy("v2-bbbb", olds, state("v2-bbbb", { ...guard, replay: { off: "logged inputs lack the columns payloadLog.excludeColumns keeps out (email), so they cannot be replayed" } }));
        assert.strictEqual(scored, 0);
        assert.ok(logs.some((l) => /no replay: logged inputs lack the columns payloadLog\.excludeColumns keeps out \(email\)/.test(l)), logs.join("\n"));
    });
});
