// mlflow-platform:observability: defaults, every bad input issue 21 names (a threshold that cannot be
// met, an action group without a receiver), the webhook as a secret that no message repeats.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parsePlatformConfig, type PlatformConfig } from "../lib/config";
import { SECRET_PLACEHOLDER } from "../lib/config/stackFiles";
import { validRawConfig } from "./helpers/fixtures";

const apps = { platform: "containerapp", containerRegistrySku: "Basic" };
const WEBHOOK = "https://hooks.example.com/services/T000/B000/notArealTokenButLong0123456789";
const secretObservability = (key: string) => key === "mlflow-platform:observability";

function raw(observability: unknown, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return validRawConfig({ serving: apps, registry: { kind: "unity-catalog", catalog: "main" }, ...(observability === undefined ? {} : { observability }), ...overrides });
}

function parsed(observability: unknown, isSecret?: (key: string) => boolean, overrides: Record<string, unknown> = {}): PlatformConfig {
    const r = raw(observability, overrides);
    return parsePlatformConfig(r, r.environment === "prd" ? "prd" : "dev", "mlflow-platform", isSecret);
}

function problems(observability: unknown, isSecret?: (key: string) => boolean): readonly string[] {
    try {
        parsed(observability, isSecret);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
        return err.problems;
    }
    return [];
}

async function valueOf(output: pulumi.Output<string> | undefined): Promise<{ value: string | undefined; secret: boolean }> {
    if (!output) return { value: undefined, secret: false };
    const o = output as unknown as { isSecret: Promise<boolean>; promise(): Promise<string> };
    return { value: await o.promise(), secret: await o.isSecret };
}

describe("mlflow-platform:observability", () => {
    it("defaults: 5% errors, p95 1000 ms, 3 restarts, 15-minute window, no action group, a dashboard", () => {
        const config = parsed(undefined);
        assert.deepStrictEqual(config.observability, {
            alerts: { errorShare: 0.05, p95LatencyMs: 1000, replicaRestarts: 3, windowMinutes: 15 },
            actionGroup: undefined,
            dashboard: true,
            drift: undefined,
        });
        assert.deepStrictEqual(parsed({}).observability, config.observability, "an empty map is the defaults");
    });

    it("reads every threshold at its bounds, numbers given as Pulumi's strings too", () => {
        const at = (alerts: Record<string, unknown>) => parsed({ alerts }).observability.alerts;
        assert.deepStrictEqual(at({ errorShare: 1, p95LatencyMs: 1, replicaRestarts: 1, windowMinutes: 5 }), { errorShare: 1, p95LatencyMs: 1, replicaRestarts: 1, windowMinutes: 5 });
        assert.deepStrictEqual(at({ errorShare: "0.001", p95LatencyMs: "240000", replicaRestarts: "100", windowMinutes: "60" }), { errorShare: 0.001, p95LatencyMs: 240000, replicaRestarts: 100, windowMinutes: 60 });
        assert.strictEqual(parsed({ dashboard: "false" }).observability.dashboard, false);
    });

    describe("a threshold that cannot be met, naming the key", () => {
        it("an error share above 1, or 0 or below", () => {
            assert.deepStrictEqual(problems({ alerts: { errorShare: 1.5 } }), [
                "mlflow-platform:observability.alerts.errorShare = 1.5 is not allowed: it must be a share of answers above 0 and at most 1, such as 0.05 (5%): no share of answers is above 1, so the alert could never fire",
            ]);
            assert.deepStrictEqual(problems({ alerts: { errorShare: 0 } }), [
                "mlflow-platform:observability.alerts.errorShare = 0 is not allowed: it must be a share of answers above 0 and at most 1, such as 0.05 (5%): 0 would fire on every evaluation",
            ]);
            assert.deepStrictEqual(problems({ alerts: { errorShare: "5%" } }), ['mlflow-platform:observability.alerts.errorShare = "5%" is not allowed: it must be a share of answers above 0 and at most 1, such as 0.05 (5%)']);
        });

        it("a p95 below 1 ms, or above the request timeout", () => {
            assert.deepStrictEqual(problems({ alerts: { p95LatencyMs: 0.5 } }), [
                "mlflow-platform:observability.alerts.p95LatencyMs = 0.5 is not allowed: it must be a number of milliseconds from 1 to 240000: the request records measure whole milliseconds, so a p95 below 1 ms is never met",
            ]);
            assert.match(problems({ alerts: { p95LatencyMs: 300000 } })[0], /^mlflow-platform:observability\.alerts\.p95LatencyMs = 300000 is not allowed: .*240 s/);
            assert.match(problems({ alerts: { p95LatencyMs: "-5" } })[0], /^mlflow-platform:observability\.alerts\.p95LatencyMs = "-5" is not allowed/);
        });

        it("restarts that are not a whole number from 1, a window Azure Monitor does not take", () => {
            assert.deepStrictEqual(problems({ alerts: { replicaRestarts: 0 } }), ["mlflow-platform:observability.alerts.replicaRestarts = 0 is not allowed: it must be a whole number from 1 to 100"]);
            assert.deepStrictEqual(problems({ alerts: { replicaRestarts: 1.5 } }), ["mlflow-platform:observability.alerts.replicaRestarts = 1.5 is not allowed: it must be a whole number from 1 to 100"]);
            assert.deepStrictEqual(problems({ alerts: { windowMinutes: 10 } }), ["mlflow-platform:observability.alerts.windowMinutes = 10 is not allowed: it must be one of 5, 15, 30, 60 (minutes)"]);
        });

        it("every bad threshold at once, and a misspelt key with a suggestion", () => {
            const found = problems({ alerts: { errorShare: 2, p95LatencyMs: 0, replicaRestarts: 0, windowMinute: 5 } });
            assert.strictEqual(found.length, 4, found.join("\n"));
            assert.ok(found.includes("mlflow-platform:observability.alerts.windowMinute is not a setting this program reads (probable typo): did you mean mlflow-platform:observability.alerts.windowMinutes?"), found.join("\n"));
            assert.deepStrictEqual(problems({ alert: {} }), ["mlflow-platform:observability.alert is not a setting this program reads (probable typo): did you mean mlflow-platform:observability.alerts?"]);
        });
    });

    describe("the action group", () => {
        it("without a receiver is refused, naming the key", () => {
            const expected = [
                "mlflow-platform:observability.actionGroup is not allowed: it has no receiver, so an alert would tell nobody: add emails (a list of e-mail addresses) or a webhook (`pulumi config set --secret --path observability.actionGroup.webhook <https URL>`), or remove actionGroup",
            ];
            assert.deepStrictEqual(problems({ actionGroup: {} }), expected);
            assert.deepStrictEqual(problems({ actionGroup: { emails: [] } }), expected);
            assert.deepStrictEqual(problems({ actionGroup: { emails: [], webhook: "" } }, secretObservability), expected);
        });

        it("takes e-mail addresses, one per entry", async () => {
            const group = parsed({ actionGroup: { emails: ["ml-oncall@example.com", "a.b@example.org"] } }).observability.actionGroup;
            assert.deepStrictEqual(group, { emails: ["ml-oncall@example.com", "a.b@example.org"] });
            assert.deepStrictEqual(problems({ actionGroup: { emails: ["oncall"] } }), ['mlflow-platform:observability.actionGroup.emails[0] = "oncall" is not allowed: it must be one e-mail address, such as ml-oncall@example.com']);
            assert.deepStrictEqual(problems({ actionGroup: { emails: ["a@example.com, b@example.com"] } }), ['mlflow-platform:observability.actionGroup.emails[0] = "a@example.com, b@example.com" is not allowed: it must be one e-mail address, such as ml-oncall@example.com']);
            assert.deepStrictEqual(problems({ actionGroup: { emails: "a@example.com" } }), ['mlflow-platform:observability.actionGroup.emails = "a@example.com" is not allowed: it must be a list of e-mail addresses']);
        });

        it("takes a webhook only as a secret, as a Pulumi secret in the config", async () => {
            const config = parsed({ actionGroup: { webhook: WEBHOOK } }, secretObservability);
            assert.deepStrictEqual(config.observability.actionGroup?.emails, []);
            assert.deepStrictEqual(await valueOf(config.observability.actionGroup?.webhook), { value: WEBHOOK, secret: true });
            assert.ok(!JSON.stringify(config).includes("notArealToken"), "the typed config never shows the URL");
        });

        it("refuses a webhook in plain text, or not https, and never repeats it", () => {
            const plain = problems({ actionGroup: { emails: ["a@example.com"], webhook: WEBHOOK } });
            assert.deepStrictEqual(plain, [
                "mlflow-platform:observability.actionGroup.webhook is not allowed: it is stored in plain text (the value is not shown): a webhook URL may carry a token. Remove it from the stack file and set it with `pulumi config set --secret --path observability.actionGroup.webhook <https URL>`, then rotate the webhook's token, since it was written there",
            ]);
            for (const url of ["http://hooks.example.com/notArealToken", "hooks.example.com/notArealToken", "https://", 42]) {
                const found = problems({ actionGroup: { webhook: url } }, secretObservability);
                assert.deepStrictEqual(found, ["mlflow-platform:observability.actionGroup.webhook is not allowed: it must be an https URL (the value is not shown: a webhook URL may carry a token)"], String(url));
            }
            const both = problems({ actionGroup: { webhook: "http://hooks.example.com/notArealToken" }, alerts: { errorShare: 3 } });
            assert.strictEqual(both.length, 3, both.join("\n"));
            assert.ok(!both.join("\n").includes("notArealToken"), both.join("\n"));
        });

        it("accepts the plan's placeholder for an encrypted webhook", () => {
            assert.deepStrictEqual(problems({ actionGroup: { webhook: SECRET_PLACEHOLDER } }, secretObservability), []);
            assert.strictEqual(problems({ actionGroup: { webhook: SECRET_PLACEHOLDER } }).length, 2, "not when the key is in plain text");
        });
    });

    it("refuses a map that is not one, and unknown keys, by name", () => {
        assert.deepStrictEqual(problems("on"), ['mlflow-platform:observability = "on" is not allowed: it must be a map with any of alerts, actionGroup, dashboard, drift']);
        assert.deepStrictEqual(problems({ actionGroup: { emails: ["a@example.com"], webhok: "x" } }), [
            "mlflow-platform:observability.actionGroup.webhok is not a setting this program reads (probable typo): did you mean mlflow-platform:observability.actionGroup.webhook?",
        ]);
        assert.deepStrictEqual(problems({ actionGroup: { emails: ["a@example.com"], receivers: "x" } }), ["mlflow-platform:observability.actionGroup.receivers is not a setting this program reads: observability.actionGroup takes emails, webhook"]);
    });

    describe("drift, mounted at observability.drift", () => {
        it("declares no drift job without the key, the defaults with an empty map", () => {
            assert.strictEqual(parsed(undefined).observability.drift, undefined);
            assert.deepStrictEqual(parsed({ drift: {} }).observability.drift, { window: "24h", windowHours: 24, schedule: "15 0 * * *", baseline: "registered-sample" });
            assert.deepStrictEqual(parsed({ drift: { window: "7d", schedule: "0  3 * * 1", baseline: "data/baseline.csv" } }).observability.drift, { window: "7d", windowHours: 168, schedule: "0 3 * * 1", baseline: "data/baseline.csv" });
        });

        it("refuses a window longer than the payload retention, the environment's default included, naming both keys", () => {
            // dev keeps payloads 30 days unless serving.payloadLog.retentionDays says otherwise.
            const longer = problems({ drift: { window: "31d" } });
            assert.strictEqual(longer.length, 1, longer.join("\n"));
            assert.match(longer[0], /^mlflow-platform:observability\.drift\.window = "31d" is not allowed: it is longer than the payload retention \(mlflow-platform:serving\.payloadLog\.retentionDays = 30 days\)/);
            assert.strictEqual(parsed({ drift: { window: "30d" } }).observability.drift?.windowHours, 720);
            const r = raw({ drift: { window: "3d" } }, { serving: { ...apps, payloadLog: { retentionDays: 2 } } });
            assert.throws(() => parsePlatformConfig(r, "dev"), (e: Error) => e instanceof ConfigError && /retentionDays = 2 days/.test(e.problems.join("\n")));
        });

        it("refuses unknown drift keys and a bad window by name", () => {
            assert.ok(problems({ drift: { windw: "24h" } }).some((p) => p.startsWith("mlflow-platform:observability.drift.windw")), problems({ drift: { windw: "24h" } }).join("\n"));
            assert.ok(problems({ drift: { window: "90m" } }).some((p) => p.startsWith('mlflow-platform:observability.drift.window = "90m" is not allowed')), problems({ drift: { window: "90m" } }).join("\n"));
        });

        it("warns when the retention cannot keep two windows for the prediction comparison", () => {
            assert.ok(parsed({ drift: { window: "20d" } }).warnings.some((w) => w.startsWith('mlflow-platform:observability.drift.window = "20d"')));
            assert.ok(!parsed({ drift: { window: "24h" } }).warnings.some((w) => w.includes("observability.drift")));
        });
    });
});
