// components/observability: what ServingObservability declares under Pulumi's mocks, wired to
// the serving workspace, the apps and the action group; the webhook only ever as a secret.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ServingObservability, type ServingObservabilityArgs } from "../components/observability/servingObservability";
import { BUILT_IN_ROLES } from "../lib/azure/ids";
import { recordProgram, SECRET_DISPLAY, type Plan } from "../lib/plan";
import { deployedAzureMocks, TEST_SUBSCRIPTION } from "./helpers/azureMocks";
import { byType, onlyOfType } from "./helpers/fixtures";

const WORKSPACE = `${TEST_SUBSCRIPTION}/resourceGroups/rg-test/providers/Microsoft.OperationalInsights/workspaces/logs`;
const appId = (app: string) => `${TEST_SUBSCRIPTION}/resourceGroups/rg-test/providers/Microsoft.App/containerApps/${app}`;
const WEBHOOK = "https://hooks.example.com/services/notArealTokenButLong0123456789";

function args(overrides: Partial<ServingObservabilityArgs> = {}): ServingObservabilityArgs {
    return {
        environment: "prd",
        project: "mlflow-platform",
        location: "westeurope",
        resourceGroupName: "rg-test",
        namePrefix: "prd",
        logsWorkspaceId: WORKSPACE,
        servingPrincipalId: "principal-of-serving",
        models: [{ name: "fraud", appName: "prd-fraud", appId: appId("prd-fraud") }],
        alerts: { errorShare: 0.02, p95LatencyMs: 800, replicaRestarts: 4, windowMinutes: 30 },
        actionGroup: { emails: ["oncall@example.com"], webhook: pulumi.secret(WEBHOOK) },
        dashboard: true,
        tags: { environment: "prd" },
        ...overrides,
    };
}

function deployed(a: ServingObservabilityArgs, preview = false): Promise<Plan> {
    return recordProgram(() => {
        new ServingObservability("prd-observability", a);
    }, { project: "mlflow-platform", stack: "prd", mocks: deployedAzureMocks, preview });
}

describe("ServingObservability", () => {
    it("declares Application Insights on the serving workspace with local auth off, and the publisher role", async () => {
        const plan = await deployed(args());
        const insights = onlyOfType(plan, "azure-native:applicationinsights:Component");
        assert.strictEqual(insights.parent, "prd-observability");
        assert.deepStrictEqual(
            [insights.inputs.resourceName, insights.inputs.workspaceResourceId, insights.inputs.ingestionMode, insights.inputs.disableLocalAuth, insights.inputs.kind],
            ["prd-serving-insights", WORKSPACE, "LogAnalytics", true, "web"],
        );
        const role = onlyOfType(plan, "azure-native:authorization:RoleAssignment").inputs;
        assert.strictEqual(role.principalId, "principal-of-serving");
        assert.ok(String(role.roleDefinitionId).endsWith(`/roleDefinitions/${BUILT_IN_ROLES.monitoringMetricsPublisher}`), String(role.roleDefinitionId));
        assert.ok(String(role.scope).endsWith("/prd-observability-insights"), "scoped to the Application Insights resource");
    });

    it("per prd model: 5xx share and p95 as query rules on the workspace, restarts and no ready replica as metric alerts on its app", async () => {
        const plan = await deployed(args({ models: [{ name: "fraud", appName: "prd-fraud", appId: appId("prd-fraud") }, { name: "churn", appName: "prd-churn", appId: appId("prd-churn") }] }));
        const queries = byType(plan, "azure-native:monitor:ScheduledQueryRule");
        assert.deepStrictEqual(queries.map((q) => q.inputs.ruleName), ["prd-fraud-error-share", "prd-fraud-p95-latency", "prd-churn-error-share", "prd-churn-p95-latency"]);
        const share = queries[0].inputs as any;
        assert.deepStrictEqual(share.scopes, [WORKSPACE]);
        assert.deepStrictEqual([share.kind, share.severity, share.windowSize, share.evaluationFrequency], ["LogAlert", 1, "PT30M", "PT5M"]);
        const condition = share.criteria.allOf[0];
        assert.deepStrictEqual([condition.metricMeasureColumn, condition.operator, condition.threshold], ["errorShare", "GreaterThan", 0.02]);
        assert.match(condition.query, /ContainerAppName == "prd-fraud"/);
        assert.deepStrictEqual(condition.dimensions.map((d: any) => d.name), ["version", "revision"]);
        assert.strictEqual((queries[1].inputs as any).criteria.allOf[0].threshold, 800);
        assert.match((queries[2].inputs as any).criteria.allOf[0].query, /ContainerAppName == "prd-churn"/);

        const metrics = byType(plan, "azure-native:monitor:MetricAlert").map((m) => m.inputs as any);
        assert.deepStrictEqual(metrics.map((m) => [m.ruleName, m.scopes[0], m.criteria.allOf[0].metricName, m.criteria.allOf[0].threshold]), [
            ["prd-fraud-replica-restarts", appId("prd-fraud"), "RestartCount", 4],
            ["prd-fraud-no-ready-replica", appId("prd-fraud"), "Replicas", 1],
            ["prd-churn-replica-restarts", appId("prd-churn"), "RestartCount", 4],
            ["prd-churn-no-ready-replica", appId("prd-churn"), "Replicas", 1],
        ]);
        for (const m of metrics) {
            assert.strictEqual(m.criteria.odataType, "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria");
            assert.strictEqual(m.criteria.allOf[0].metricNamespace, "Microsoft.App/containerApps");
        }
    });

    it("dev has no no-ready-replica alert (it scales to zero)", async () => {
        const plan = await deployed(args({ environment: "dev", namePrefix: "dev", models: [{ name: "fraud", appName: "dev-fraud", appId: appId("dev-fraud") }] }));
        assert.deepStrictEqual(byType(plan, "azure-native:monitor:MetricAlert").map((m) => m.inputs.ruleName), ["dev-fraud-replica-restarts"]);
    });

    it("every alert tells the action group: e-mails, and the webhook only as a secret", async () => {
        const plan = await deployed(args());
        const group = onlyOfType(plan, "azure-native:monitor:ActionGroup");
        const inputs = group.inputs as any;
        assert.deepStrictEqual(inputs.emailReceivers, [{ name: "email-1", emailAddress: "oncall@example.com", useCommonAlertSchema: true }]);
        assert.deepStrictEqual(inputs.webhookReceivers, [{ name: "webhook", serviceUri: SECRET_DISPLAY, useCommonAlertSchema: true }]);
        assert.strictEqual(inputs.groupShortName.length <= 12, true);
        assert.ok(!JSON.stringify(plan).includes("notArealToken"), "the webhook URL appears nowhere in the recorded plan");
        const groupId = `${TEST_SUBSCRIPTION}/resourceGroups/rg-test/providers/Microsoft.monitor/ActionGroup/prd-observability-action-group`;
        for (const q of byType(plan, "azure-native:monitor:ScheduledQueryRule")) assert.deepStrictEqual((q.inputs as any).actions.actionGroups, [groupId]);
        for (const m of byType(plan, "azure-native:monitor:MetricAlert")) assert.deepStrictEqual((m.inputs as any).actions, [{ actionGroupId: groupId }]);
    });

    it("without an action group: no group, the alerts still declared, and the summary says nobody is told", async () => {
        const plan = await deployed(args({ actionGroup: undefined }));
        assert.strictEqual(byType(plan, "azure-native:monitor:ActionGroup").length, 0);
        assert.strictEqual(byType(plan, "azure-native:monitor:ScheduledQueryRule").length, 2);
        const summary = onlyOfType(plan, "mlflow-platform:observability:ServingObservability").outputs?.summary as any;
        assert.match(summary.actionGroup, /^none: .*tell nobody/);
    });

    it("a dashboard of Log Analytics charts over the serving workspace, unless turned off", async () => {
        const plan = await deployed(args());
        const dashboard = onlyOfType(plan, "azure-native:portal:Dashboard").inputs as any;
        assert.strictEqual(dashboard.dashboardName, "prd-serving-dashboard");
        const parts = dashboard.properties.lenses[0].parts;
        assert.strictEqual(parts.length, 7);
        for (const part of parts) {
            const input = (name: string) => part.metadata.inputs.find((i: any) => i.name === name)?.value;
            assert.deepStrictEqual(input("Scope"), { resourceIds: [WORKSPACE] });
            assert.ok(typeof input("Query") === "string" && typeof input("PartTitle") === "string");
        }
        const off = await deployed(args({ dashboard: false }));
        assert.strictEqual(byType(off, "azure-native:portal:Dashboard").length, 0);
    });

    it("summarises per model its Application Insights wiring and its alerts with thresholds, known in a preview", async () => {
        const plan = await deployed(args(), true);
        const summary = onlyOfType(plan, "mlflow-platform:observability:ServingObservability").outputs?.summary as any;
        assert.match(summary.fraud.applicationInsights, /^prd-serving-insights: workspace-based .*local auth off/);
        assert.deepStrictEqual(Object.keys(summary.fraud.alerts).sort(), ["error-share", "no-ready-replica", "p95-latency", "replica-restarts"]);
        assert.match(summary.fraud.alerts["error-share"], /^sev 1: 5xx share > 2% over 30 min/);
        assert.match(summary.fraud.alerts["p95-latency"], /p95 latency > 800 ms/);
        assert.strictEqual(summary.actionGroup, "e-mail oncall@example.com, webhook (secret, not shown)");
    });
});

describe("the plan of the shipped prd stack shows observability", () => {
    it("per served model its Application Insights wiring and alerts with thresholds, who is told, the dashboard", async () => {
        const { planStack } = await import("../lib/plan");
        const { renderPlanMarkdown, observabilityLines } = await import("../lib/plan/report");
        const { PROJECT_DIR } = await import("./helpers/fixtures");
        const plan = await planStack(PROJECT_DIR, "prd");
        const lines = observabilityLines(plan);
        assert.strictEqual(lines[0], "**Observability**");
        const row = lines.find((l) => l.startsWith("- fraud: Application Insights "));
        assert.ok(row, lines.join("\n"));
        assert.match(row!, /prd-serving-insights: workspace-based/);
        for (const text of ["error-share (sev 1: 5xx share > 5% over 15 min", "p95-latency (sev 2: p95 latency > 1000 ms", "replica-restarts (sev 1: RestartCount (total) >= 3 in 15 min)", "no-ready-replica (sev 0: Replicas (maximum) < 1 over 5 min)"]) {
            assert.ok(row!.includes(text), `${text} in ${row}`);
        }
        assert.ok(lines.some((l) => /^- alerts tell: none: .*tell nobody.*; dashboard: prd-serving-dashboard$/.test(l)), lines.join("\n"));
        const markdown = renderPlanMarkdown(plan, [], []);
        assert.ok(markdown.includes(lines.join("\n")), "the PR comment carries the section");
        assert.ok(markdown.split("\n").length < 60, "still compact");
    });
});

describe("a stack file with an action group", () => {
    it("plans the encrypted webhook as [secret], shows the e-mails, and refuses it in plain text", async () => {
        const { planEditedStack } = await import("./helpers/fixtures");
        const { renderPlanText } = await import("../lib/plan");
        const plan = await planEditedStack("prd", (config) => {
            config["mlflow-platform:observability"] = {
                alerts: { errorShare: 0.1, p95LatencyMs: 500 },
                actionGroup: { emails: ["ml-oncall@example.com"], webhook: { secure: "v1:bm90QXJlYWxDaXBoZXJ0ZXh0" } },
            };
        });
        const group = onlyOfType(plan, "azure-native:monitor:ActionGroup").inputs as any;
        assert.deepStrictEqual(group.webhookReceivers, [{ name: "webhook", serviceUri: SECRET_DISPLAY, useCommonAlertSchema: true }]);
        assert.deepStrictEqual(group.emailReceivers.map((e: any) => e.emailAddress), ["ml-oncall@example.com"]);
        const text = renderPlanText(plan);
        assert.match(text, /actionGroup: e-mail ml-oncall@example\.com, webhook \(secret, not shown\)/);
        assert.match(text, /fraud\.alerts\.error-share: sev 1: 5xx share > 10% over 15 min/);
        assert.match(text, /fraud\.alerts\.p95-latency: sev 2: p95 latency > 500 ms/);
        await assert.rejects(
            planEditedStack("prd", (config) => {
                config["mlflow-platform:observability"] = { actionGroup: { webhook: "https://hooks.example.com/notArealTokenButLong0123456789" } };
            }),
            (err: Error) => /mlflow-platform:observability\.actionGroup\.webhook is not allowed: it is stored in plain text/.test(err.message) && !err.message.includes("notArealToken"),
        );
    });
});
