// The scheduled drift job of one served model: an Azure Container Apps job on a cron schedule in
// the stack's Container Apps environment, running the model's serving image with
// serving/drift_job.py, under its own user-assigned identity that may read the payloads container
// and write only the model's drift reports (lib/drift/job.ts says why this shape).
import * as pulumi from "@pulumi/pulumi";
import * as app from "@pulumi/azure-native/app";
import * as authorization from "@pulumi/azure-native/authorization";
import * as managedidentity from "@pulumi/azure-native/managedidentity";
import * as monitor from "@pulumi/azure-native/monitor";
import { AZURE_ROLES } from "../../lib/access/roles";
import { roleAssignmentNameOf, roleDefinitionId } from "../../lib/azure/ids";
import type { DriftConfig } from "../../lib/config/drift";
import { REGISTERED_SAMPLE } from "../../lib/config/drift";
import { driftAlertRule } from "../../lib/drift/alert";
import { DRIFT_CONTAINER_NAME, driftJobCommand, driftJobName, driftWriteCondition, PAYLOAD_CONTAINER } from "../../lib/drift/job";

/** A run that takes longer is stopped: a day of payloads of a busy model is read in minutes. */
export const DRIFT_REPLICA_TIMEOUT_SECONDS = 1800;

export interface DriftJobArgs {
    resourceGroupName: pulumi.Input<string>;
    location: string;
    /** The stack's Container Apps environment: the job's console lines go to its Log Analytics workspace. */
    environmentId: pulumi.Input<string>;
    /** The served model and the version whose payloads are compared (the stable revision's). */
    model: string;
    version: pulumi.Input<string>;
    /** That version's serving image: it holds the registered sample, numpy and drift_job.py. */
    image: pulumi.Input<string>;
    /** The container registry and the identity that may pull from it (the serving identity, AcrPull). */
    loginServer: pulumi.Input<string>;
    pullIdentityId: pulumi.Input<string>;
    /** The model store: its ARM id (role scopes) and blob endpoint (what the job calls). */
    storageAccountId: pulumi.Input<string>;
    blobEndpoint: pulumi.Input<string>;
    drift: DriftConfig;
    /** The environment's Log Analytics workspace: the drift alert reads the job's lines there. Absent: no alert. */
    logsWorkspaceId?: pulumi.Input<string>;
    /** Who the drift alert tells (the stack's action group); absent: it fires in the portal only. */
    actionGroupId?: pulumi.Input<string>;
    tags: Record<string, string>;
}

/**
 * Children (names from the component's): `-identity` (user-assigned), `-payloads-reader` (Storage
 * Blob Data Reader on the payloads container), `-reports-writer` (Storage Blob Data Contributor on
 * it, conditioned to `<model>/*\/drift/*`), `-baseline-reader` when the baseline is a dataset in
 * another container, and `-job` (the Container Apps job, schedule trigger).
 */
export class DriftJob extends pulumi.ComponentResource {
    readonly jobName: string;
    readonly principalId: pulumi.Output<string>;

    constructor(name: string, args: DriftJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:drift:DriftJob", name, {}, opts);
        const child = { parent: this };
        const identity = new managedidentity.UserAssignedIdentity(`${name}-identity`, { resourceGroupName: args.resourceGroupName, location: args.location, tags: args.tags }, child);
        const containerScope = (container: string) => pulumi.interpolate`${args.storageAccountId}/blobServices/default/containers/${container}`;
        const assign = (logical: string, role: string, scope: pulumi.Output<string>, description: string, condition?: string) => {
            const definition = roleDefinitionId(args.storageAccountId, role);
            return new authorization.RoleAssignment(
                `${name}-${logical}`,
                {
                    roleAssignmentName: roleAssignmentNameOf(identity.principalId, definition, scope),
                    principalId: identity.principalId,
                    principalType: "ServicePrincipal",
                    roleDefinitionId: definition,
                    scope,
                    description,
                    ...(condition ? { condition, conditionVersion: "2.0" } : {}),
                },
                { ...child, deleteBeforeReplace: true },
            );
        };
        const payloads = containerScope(PAYLOAD_CONTAINER);
        const grants = [
            assign("payloads-reader", AZURE_ROLES.storageBlobDataReader, payloads, `The drift job of ${args.model} reads the payload log`),
            assign("reports-writer", AZURE_ROLES.storageBlobDataContributor, payloads, `The drift job of ${args.model} writes its reports, ${args.model}/<version>/drift/, and nothing else`, driftWriteCondition(args.model)),
        ];
        const baselineContainer = args.drift.baseline === REGISTERED_SAMPLE ? undefined : args.drift.baseline.split("/")[0];
        if (baselineContainer && baselineContainer !== PAYLOAD_CONTAINER) {
            grants.push(assign("baseline-reader", AZURE_ROLES.storageBlobDataReader, containerScope(baselineContainer), `The drift job of ${args.model} reads its baseline dataset`));
        }

        this.jobName = driftJobName(args.model);
        new app.Job(
            `${name}-job`,
            {
                jobName: this.jobName,
                resourceGroupName: args.resourceGroupName,
                location: args.location,
                environmentId: args.environmentId,
                identity: { type: "UserAssigned", userAssignedIdentities: [identity.id, args.pullIdentityId] },
                configuration: {
                    triggerType: "Schedule",
                    // Cron in UTC; one replica per run (learn.microsoft.com/azure/container-apps/jobs).
                    scheduleTriggerConfig: { cronExpression: args.drift.schedule, parallelism: 1, replicaCompletionCount: 1 },
                    replicaTimeout: DRIFT_REPLICA_TIMEOUT_SECONDS,
                    replicaRetryLimit: 1,
                    registries: [{ server: args.loginServer, identity: args.pullIdentityId }],
                },
                template: {
                    containers: [
                        {
                            name: DRIFT_CONTAINER_NAME,
                            image: args.image,
                            command: pulumi.output(args.version).apply((version) => driftJobCommand({ model: args.model, version, window: args.drift.window, baseline: args.drift.baseline })),
                            resources: { cpu: 0.5, memory: "1Gi" },
                            env: [
                                { name: "DRIFT_BLOB_ENDPOINT", value: args.blobEndpoint },
                                // Which of the job's two identities the token is for (serving/drift_job.py).
                                { name: "AZURE_CLIENT_ID", value: identity.clientId },
                            ],
                        },
                    ],
                },
                tags: args.tags,
            },
            // The first scheduled run is hours away: the role assignments have propagated by then.
            { ...child, dependsOn: grants },
        );
        if (args.logsWorkspaceId) {
            // A scheduled query rule over the job's own console line (lib/drift/alert.ts).
            const rule = driftAlertRule({ model: args.model });
            new monitor.ScheduledQueryRule(
                `${name}-alert`,
                {
                    ruleName: `${this.jobName}-significant`,
                    displayName: `Significant drift: ${args.model}`,
                    description: rule.description,
                    resourceGroupName: args.resourceGroupName,
                    location: args.location,
                    kind: "LogAlert",
                    scopes: [args.logsWorkspaceId],
                    severity: rule.severity,
                    enabled: true,
                    evaluationFrequency: rule.evaluationFrequency,
                    windowSize: rule.windowSize,
                    criteria: {
                        allOf: [
                            {
                                query: rule.query,
                                timeAggregation: rule.timeAggregation,
                                operator: rule.operator,
                                threshold: rule.threshold,
                                failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 },
                            },
                        ],
                    },
                    autoMitigate: true,
                    actions: { actionGroups: args.actionGroupId ? [args.actionGroupId] : [] },
                    tags: args.tags,
                },
                child,
            );
        }
        this.principalId = identity.principalId;
        this.registerOutputs({ jobName: this.jobName, principalId: this.principalId });
    }
}
