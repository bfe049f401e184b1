// What watches the served models on Container Apps (issue 21): Application Insights on the serving
// Log Analytics workspace, an action group, per model its alert rules (lib/observability decides
// which), and the stack's dashboard.
import * as pulumi from "@pulumi/pulumi";
import * as applicationinsights from "@pulumi/azure-native/applicationinsights";
import * as authorization from "@pulumi/azure-native/authorization";
import * as monitor from "@pulumi/azure-native/monitor";
import * as portal from "@pulumi/azure-native/portal";
import type { ActionGroupConfig, AlertThresholds, Environment } from "../../lib/config";
import {
    actionGroupShortName,
    alertRules,
    CONTAINER_APP_METRIC_NAMESPACE,
    dashboardTiles,
    isoMinutes,
    receiverSummary,
    tilePosition,
    type AlertRule,
    type LogAlert,
    type MetricAlert,
} from "../../lib/observability";
import { BUILT_IN_ROLES, roleAssignmentNameOf, roleDefinitionId } from "../../lib/azure/ids";

/** A served model's container app, as ModelServing declared it. */
export interface ObservedModel {
    /** models[].name */
    name: string;
    appName: string;
    appId: pulumi.Input<string>;
}

export interface ServingObservabilityArgs {
    environment: Environment;
    project: string;
    location: string;
    resourceGroupName: pulumi.Input<string>;
    /** Start of every Azure name here (`<prefix>-serving-insights`, ...), unique in the resource group. */
    namePrefix: string;
    /** The Log Analytics workspace the Container Apps environment writes its logs to. */
    logsWorkspaceId: pulumi.Input<string>;
    /** The serving containers' identity: may publish metrics to Application Insights with Entra ID. */
    servingPrincipalId: pulumi.Input<string>;
    models: ObservedModel[];
    alerts: AlertThresholds;
    /** Who the alerts tell; undefined: nobody (they still fire in the portal). */
    actionGroup?: ActionGroupConfig;
    /** Declare the portal dashboard. */
    dashboard: boolean;
    tags: Record<string, string>;
}

export class ServingObservability extends pulumi.ComponentResource {
    /** The Application Insights resource id. */
    readonly applicationInsightsId: pulumi.Output<string>;
    /**
     * Where an OpenTelemetry exporter sends (not a key: with local auth off, ingestion needs an Entra
     * token of a principal with Monitoring Metrics Publisher).
     */
    readonly connectionString: pulumi.Output<string>;
    readonly actionGroupId?: pulumi.Output<string>;

    constructor(name: string, args: ServingObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:observability:ServingObservability", name, {}, opts);
        const parent = { parent: this };
        const insightsName = `${args.namePrefix}-serving-insights`;
        const insights = new applicationinsights.Component(
            `${name}-insights`,
            {
                resourceName: insightsName,
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                kind: "web",
                applicationType: "web",
                // Workspace-based: its tables (AppMetrics, AppRequests, ...) live in the serving workspace,
                // beside the request records, so one query can read both.
                workspaceResourceId: args.logsWorkspaceId,
                ingestionMode: "LogAnalytics",
                // No instrumentation key accepted: only Entra ID tokens can send telemetry.
                disableLocalAuth: true,
                tags: args.tags,
            },
            parent,
        );
        const publisherRole = roleDefinitionId(insights.id, BUILT_IN_ROLES.monitoringMetricsPublisher);
        new authorization.RoleAssignment(
            `${name}-metrics-publisher`,
            {
                roleAssignmentName: roleAssignmentNameOf(args.servingPrincipalId, publisherRole, insights.id),
                principalId: args.servingPrincipalId,
                principalType: "ServicePrincipal",
                roleDefinitionId: publisherRole,
                scope: insights.id,
                description: "Serving containers publish their metrics to Application Insights with Entra ID",
            },
            { ...parent, deleteBeforeReplace: true },
        );
        this.applicationInsightsId = insights.id;
        this.connectionString = insights.connectionString;

        const group = args.actionGroup ? this.declareActionGroup(name, args, args.actionGroup) : undefined;
        this.actionGroupId = group?.id;

        const summary: Record<string, unknown> = {};
        for (const model of args.models) {
            const rules = alertRules(args.environment, { name: model.name, appName: model.appName }, args.alerts);
            for (const rule of rules) this.declareAlert(name, args, model, rule, group?.id);
            summary[model.name] = {
                applicationInsights: `${insightsName}: workspace-based on the serving Log Analytics workspace, local auth off (Entra ID only); the serving identity may publish metrics (Monitoring Metrics Publisher)`,
                requestRecords: `ContainerAppConsoleLogs where ContainerAppName == "${model.appName}"`,
                alerts: Object.fromEntries(rules.map((r) => [r.kind, `sev ${r.severity}: ${r.condition}`])),
            };
        }
        summary.actionGroup = receiverSummary(args.actionGroup ? { emails: args.actionGroup.emails, hasWebhook: args.actionGroup.webhook !== undefined } : undefined);
        const tiles = dashboardTiles(args.models);
        if (args.dashboard && tiles.length > 0) {
            this.declareDashboard(name, args, tiles);
            summary.dashboard = `${args.namePrefix}-serving-dashboard: ${tiles.map((t) => t.title).join("; ")}`;
        } else {
            summary.dashboard = args.dashboard ? "none: no model is served" : "none: observability.dashboard is false";
        }
        this.registerOutputs({ applicationInsightsId: this.applicationInsightsId, summary });
    }

    private declareActionGroup(name: string, args: ServingObservabilityArgs, config: ActionGroupConfig): monitor.ActionGroup {
        return new monitor.ActionGroup(
            `${name}-action-group`,
            {
                actionGroupName: `${args.namePrefix}-serving-alerts`,
                resourceGroupName: args.resourceGroupName,
                // Action groups are global resources.
                location: "global",
                groupShortName: actionGroupShortName(args.project, args.environment),
                enabled: true,
                emailReceivers: config.emails.map((emailAddress, i) => ({ name: `email-${i + 1}`, emailAddress, useCommonAlertSchema: true })),
                // The URL is a secret output: the engine stores it encrypted and the plan shows [secret].
                webhookReceivers: config.webhook ? [{ name: "webhook", serviceUri: config.webhook, useCommonAlertSchema: true }] : [],
                tags: args.tags,
            },
            { parent: this },
        );
    }

    private declareAlert(name: string, args: ServingObservabilityArgs, model: ObservedModel, rule: AlertRule, actionGroupId: pulumi.Output<string> | undefined): void {
        const resourceName = `${name}-${model.name}-${rule.kind}`;
        if (rule.source === "log") this.logAlert(resourceName, args, rule, actionGroupId);
        else this.metricAlert(resourceName, args, model, rule, actionGroupId);
    }

    /** A scheduled query rule over the request records in the serving workspace. */
    private logAlert(resourceName: string, args: ServingObservabilityArgs, rule: LogAlert, actionGroupId: pulumi.Output<string> | undefined): void {
        new monitor.ScheduledQueryRule(
            resourceName,
            {
                ruleName: rule.ruleName,
                displayName: rule.title,
                description: rule.description,
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                kind: "LogAlert",
                scopes: [args.logsWorkspaceId],
                severity: rule.severity,
                enabled: true,
                evaluationFrequency: isoMinutes(rule.evaluationMinutes),
                windowSize: isoMinutes(rule.windowMinutes),
                criteria: {
                    allOf: [
                        {
                            query: rule.query,
                            // One row per version and revision: its value is the measure.
                            timeAggregation: "Maximum",
                            metricMeasureColumn: rule.measureColumn,
                            operator: rule.operator,
                            threshold: rule.threshold,
                            dimensions: rule.dimensions.map((d) => ({ name: d, operator: "Include", values: ["*"] })),
                            failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 },
                        },
                    ],
                },
                autoMitigate: true,
                actions: { actionGroups: actionGroupId ? [actionGroupId] : [] },
                tags: args.tags,
            },
            { parent: this },
        );
    }

    /** A metric alert on the model's container app. */
    private metricAlert(resourceName: string, args: ServingObservabilityArgs, model: ObservedModel, rule: MetricAlert, actionGroupId: pulumi.Output<string> | undefined): void {
        new monitor.MetricAlert(
            resourceName,
            {
                ruleName: rule.ruleName,
                description: `${rule.title}. ${rule.description}`,
                resourceGroupName: args.resourceGroupName,
                // Metric alerts are global resources.
                location: "global",
                scopes: [model.appId],
                severity: rule.severity,
                enabled: true,
                evaluationFrequency: isoMinutes(rule.evaluationMinutes),
                windowSize: isoMinutes(rule.windowMinutes),
                criteria: {
                    odataType: "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    allOf: [
                        {
                            criterionType: "StaticThresholdCriterion",
                            name: rule.kind,
                            metricName: rule.metricName,
                            metricNamespace: CONTAINER_APP_METRIC_NAMESPACE,
                            operator: rule.operator,
                            threshold: rule.threshold,
                            timeAggregation: rule.aggregation,
                        },
                    ],
                },
                autoMitigate: true,
                actions: actionGroupId ? [{ actionGroupId }] : [],
                tags: args.tags,
            },
            { parent: this },
        );
    }

    /** A portal dashboard: one Log Analytics chart per tile, over the serving workspace. */
    private declareDashboard(name: string, args: ServingObservabilityArgs, tiles: ReturnType<typeof dashboardTiles>): void {
        // The part layout is the one the portal exports for a pinned Log Analytics chart
        // (LogsDashboardPart); see "Create a dashboard with Azure Resource Manager" in Microsoft's docs.
        const parts = tiles.map((tile, i) => ({
            position: tilePosition(i),
            metadata: {
                type: "Extension/Microsoft_OperationsManagementSuite_Workspace/PartType/LogsDashboardPart",
                inputs: [
                    { name: "Scope", value: { resourceIds: [args.logsWorkspaceId] }, isOptional: true },
                    { name: "PartId", value: `${args.namePrefix}-tile-${i + 1}`, isOptional: true },
                    { name: "Version", value: "2.0", isOptional: true },
                    { name: "TimeRange", value: "P1D", isOptional: true },
                    { name: "Query", value: tile.query, isOptional: true },
                    { name: "ControlType", value: "FrameControlChart", isOptional: true },
                    { name: "SpecificChart", value: tile.chart, isOptional: true },
                    { name: "PartTitle", value: tile.title, isOptional: true },
                ],
                settings: {},
            },
        }));
        new portal.Dashboard(
            `${name}-dashboard`,
            {
                dashboardName: `${args.namePrefix}-serving-dashboard`,
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                properties: { lenses: [{ order: 0, parts }] },
                tags: args.tags,
            },
            { parent: this },
        );
    }
}
