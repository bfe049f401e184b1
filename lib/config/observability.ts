// mlflow-platform:observability, what watches the served models: alert thresholds, who is told
// (an action group's e-mail addresses and webhook), and whether the stack's dashboard is declared.
// Its schema, defaults and rules; lib/observability decides what the alerts and dashboard are.
//
// Blocks: `alerts`, `actionGroup` and `dashboard` belong to the alerts work; `drift` (issue 21,
// drift detection) is added by its own block below them and validated there.
import { z } from "zod";
import * as pulumi from "@pulumi/pulumi";
import { boolean, numberFromString, PROJECT_NAME, wholeNumber, type Issue } from "./common";
import { SECRET_PLACEHOLDER } from "./stackFiles";
import { driftConfig, driftFields, type DriftConfig } from "./drift";

/** Alert thresholds: the allowed ranges and the defaults a stack gets without the key. */
export const ALERT_LIMITS = {
    /** Share of answers that are 5xx, over the window: above 0 (always firing) and at most 1. */
    errorShare: { default: 0.05 },
    /** p95 latency in ms; Container Apps ends a request after 240 s, so no p95 is above it. */
    p95LatencyMs: { min: 1, max: 240_000, default: 1000 },
    /** Container restarts of one model's replicas within the window. */
    replicaRestarts: { min: 1, max: 100, default: 3 },
} as const;

/** Windows both metric alerts and scheduled query rules accept (ISO 8601 durations PT5M … PT1H). */
export const ALERT_WINDOWS_MINUTES = [5, 15, 30, 60] as const;
export const DEFAULT_WINDOW_MINUTES = 15;

export interface AlertThresholds {
    errorShare: number;
    p95LatencyMs: number;
    replicaRestarts: number;
    windowMinutes: (typeof ALERT_WINDOWS_MINUTES)[number];
}

/** Who an alert tells. The webhook URL may carry a token: a Pulumi secret, never shown. */
export interface ActionGroupConfig {
    emails: string[];
    webhook?: pulumi.Output<string>;
}

export interface ObservabilityConfig {
    alerts: AlertThresholds;
    /** Undefined: no action group; the alerts fire in the portal and tell nobody. */
    actionGroup?: ActionGroupConfig;
    /** A portal dashboard in the stack's resource group. */
    dashboard: boolean;
    /** The scheduled drift job per served model; undefined: none (lib/config/drift.ts). */
    drift?: DriftConfig;
}

const share = z.preprocess(
    numberFromString,
    z
        .number({ error: "must be a share of answers above 0 and at most 1, such as 0.05 (5%)" })
        .gt(0, { error: "must be a share of answers above 0 and at most 1, such as 0.05 (5%): 0 would fire on every evaluation" })
        .lte(1, { error: "must be a share of answers above 0 and at most 1, such as 0.05 (5%): no share of answers is above 1, so the alert could never fire" }),
);

const { min: latencyMin, max: latencyMax } = ALERT_LIMITS.p95LatencyMs;
const latency = z.preprocess(
    numberFromString,
    z
        .number({ error: `must be a number of milliseconds from ${latencyMin} to ${latencyMax}, such as 1000` })
        .gte(latencyMin, { error: `must be a number of milliseconds from ${latencyMin} to ${latencyMax}: the request records measure whole milliseconds, so a p95 below ${latencyMin} ms is never met` })
        .lte(latencyMax, { error: `must be a number of milliseconds from ${latencyMin} to ${latencyMax}: Container Apps ends a request after 240 s, so a higher p95 is never reached` }),
);

const windowMinutes = z.preprocess(
    (v) => (typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v),
    z.union(
        ALERT_WINDOWS_MINUTES.map((m) => z.literal(m)),
        { error: `must be one of ${ALERT_WINDOWS_MINUTES.join(", ")} (minutes)` },
    ),
);

const EMAIL = /^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$/;

export const alertFields = z.object(
    {
        errorShare: share.optional(),
        p95LatencyMs: latency.optional(),
        replicaRestarts: wholeNumber(ALERT_LIMITS.replicaRestarts.min, ALERT_LIMITS.replicaRestarts.max).optional(),
        windowMinutes: windowMinutes.optional(),
    },
    { error: "must be a map with any of errorShare, p95LatencyMs, replicaRestarts, windowMinutes" },
);

export const actionGroupFields = z.object(
    {
        emails: z
            .array(z.string({ error: "must be an e-mail address" }).regex(EMAIL, { error: "must be one e-mail address, such as ml-oncall@example.com" }), { error: "must be a list of e-mail addresses" })
            .optional(),
        // Checked in observabilityIssues, which never repeats it: the URL may carry a token.
        webhook: z.unknown().optional(),
    },
    { error: "must be a map with emails (a list of e-mail addresses) and/or webhook (an https URL, set as a secret)" },
);

const OBSERVABILITY_MAP = "must be a map with any of alerts, actionGroup, dashboard, drift";

export const observabilityFields = z.object(
    {
        alerts: alertFields.strict().optional(),
        actionGroup: actionGroupFields.strict().optional(),
        dashboard: boolean().optional(),
        drift: driftFields.strict().optional(),
    },
    { error: OBSERVABILITY_MAP },
);

/** What the cross-field rules read: the action group alone, so its rules run when a threshold is wrong. */
export const observabilityCrossFields = z.object({ actionGroup: actionGroupFields.optional(), drift: driftFields.optional() }, { error: OBSERVABILITY_MAP });

export type ObservabilityFields = z.infer<typeof observabilityFields>;

const WEBHOOK_SECRET_COMMAND = `pulumi config set --secret --path observability.actionGroup.webhook <https URL>`;

/** True when `text` is an https URL with a host (its value is never shown in a message). */
function isHttpsUrl(text: string): boolean {
    try {
        const url = new URL(text.trim());
        return url.protocol === "https:" && url.hostname !== "" && !/\s/.test(text.trim());
    } catch {
        return false;
    }
}

/**
 * The rules zod cannot say alone: an action group needs a receiver; the webhook is an https URL
 * and a secret. `isSecret` tells whether the stack file holds `observability` encrypted (Pulumi
 * marks a map secret when any value inside it is).
 */
export function observabilityIssues(observability: z.infer<typeof observabilityCrossFields> | undefined, isSecret: (key: string) => boolean): Issue[] {
    const group = observability?.actionGroup;
    if (!group) return [];
    const issues: Issue[] = [];
    const webhook = group.webhook;
    const secret = isSecret(`${PROJECT_NAME}:observability`);
    if ((group.emails ?? []).length === 0 && (webhook === undefined || webhook === "")) {
        issues.push({
            path: ["observability", "actionGroup"],
            message: "has no receiver, so an alert would tell nobody: add emails (a list of e-mail addresses) or a webhook (`" + WEBHOOK_SECRET_COMMAND + "`), or remove actionGroup",
            hideValue: true,
        });
    }
    if (webhook !== undefined && webhook !== "") {
        // The plan reads an encrypted value as the placeholder; `pulumi up` gets the decrypted URL.
        const placeholder = secret && webhook === SECRET_PLACEHOLDER;
        if (!placeholder && (typeof webhook !== "string" || !isHttpsUrl(webhook))) {
            issues.push({ path: ["observability", "actionGroup", "webhook"], message: "must be an https URL (the value is not shown: a webhook URL may carry a token)", hideValue: true });
        }
        if (!secret) {
            issues.push({
                path: ["observability", "actionGroup", "webhook"],
                message: `is stored in plain text (the value is not shown): a webhook URL may carry a token. Remove it from the stack file and set it with \`${WEBHOOK_SECRET_COMMAND}\`, then rotate the webhook's token, since it was written there`,
                hideValue: true,
            });
        }
    }
    return issues;
}

/** The observability section of the typed config, with its defaults; the webhook as a Pulumi secret. */
export function observabilityConfig(observability: ObservabilityFields | undefined): ObservabilityConfig {
    const alerts = observability?.alerts ?? {};
    const group = observability?.actionGroup;
    const webhook = typeof group?.webhook === "string" && group.webhook !== "" ? pulumi.secret(group.webhook.trim()) : undefined;
    return {
        alerts: {
            errorShare: alerts.errorShare ?? ALERT_LIMITS.errorShare.default,
            p95LatencyMs: alerts.p95LatencyMs ?? ALERT_LIMITS.p95LatencyMs.default,
            replicaRestarts: alerts.replicaRestarts ?? ALERT_LIMITS.replicaRestarts.default,
            windowMinutes: (alerts.windowMinutes ?? DEFAULT_WINDOW_MINUTES) as AlertThresholds["windowMinutes"],
        },
        actionGroup: group ? { emails: group.emails ?? [], ...(webhook ? { webhook } : {}) } : undefined,
        dashboard: observability?.dashboard ?? true,
        drift: driftConfig(observability?.drift),
    };
}
