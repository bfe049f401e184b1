// mlflow-platform:serving, how models are served (platform, container registry tier, who may call,
// logs and revisions kept): its schema, defaults, rules and warnings; and what each serving platform
// accepts for a model's size, in one place so config validation, the policy and the docs agree.
import { z } from "zod";
import { boolean, matching, numberFromString, oneOf, PROJECT_NAME, wholeNumber, type Environment, type Issue } from "./common";
import { placeholderKind } from "../policy/network";

export const CONTAINER_REGISTRY_SKUS = ["Basic", "Standard", "Premium"] as const;
export const SERVING_PLATFORMS = ["aci", "containerapp"] as const;
export const INGRESS_MODES = ["external", "internal"] as const;
/** Inactive Container Apps revisions kept for a quick roll back (Azure keeps up to 100). */
export const MAX_INACTIVE_REVISIONS = { min: 0, max: 20, default: 3 } as const;

export type ContainerRegistrySku = (typeof CONTAINER_REGISTRY_SKUS)[number];
export type ServingPlatform = (typeof SERVING_PLATFORMS)[number];
export type IngressMode = (typeof INGRESS_MODES)[number];

/**
 * Who may call the Container Apps endpoints. Microsoft Entra authentication is always on: the
 * stack creates the scoring API's app registration and accepts only tokens with its app role.
 */
export interface AccessConfig {
    ingress: IngressMode;
    /** An optional extra: IPv4 addresses or CIDR ranges allowed to call; empty allows any address. */
    ipAllowList: string[];
}

/**
 * The payload log (the "inference table", serving/payload_log.py): a sampled share of each served
 * model's requests and predictions, as JSON Lines in the model store's payloads container.
 */
export interface PayloadLogConfig {
    /** Share of requests logged, 0-1, unless a model sets its own; 0 turns the log off. */
    sampleRate: number;
    /** Days a payload blob is kept before the store's lifecycle rule deletes it. */
    retentionDays: number;
}

/** dev logs every request by default; prd a tenth (the log holds inputs, and prd's volume is larger). */
export const PAYLOAD_LOG_DEFAULTS = { sampleRate: { dev: 1, prd: 0.1 }, retentionDays: { dev: 30, prd: 90 } } as const;
export const PAYLOAD_LOG_RETENTION = { min: 1, max: 3650 } as const;

/** A share from 0 to 1 (Pulumi hands strings over: "0.25" is read as 0.25). */
export function sampleRate() {
    const allowed = "must be a number from 0 to 1 (the share of requests logged: 0 is none, 1 is every request)";
    return z.preprocess(numberFromString, z.number({ error: allowed }).min(0, { error: allowed }).max(1, { error: allowed }));
}

export const payloadLogFields = z
    .object(
        { sampleRate: sampleRate().optional(), retentionDays: wholeNumber(PAYLOAD_LOG_RETENTION.min, PAYLOAD_LOG_RETENTION.max).optional() },
        { error: "must be a map with optionally sampleRate (0-1) and retentionDays" },
    )
    .strict();

export interface ServingConfig {
    platform: ServingPlatform;
    containerRegistrySku: ContainerRegistrySku;
    access: AccessConfig;
    logRetentionDays: number;
    /** Container Apps only: inactive revisions kept for rolling back. */
    maxInactiveRevisions: number;
    payloadLog: PayloadLogConfig;
    /** prd's policy makes a model without models[].rollout a mandatory violation, not an advisory one. */
    requireGuardedRollout: boolean;
}

/** Azure Container Instances, Linux container group without GPU (the standard regional limits). */
export const ACI_LIMITS = {
    cpu: { min: 0.1, max: 4, step: 0.1 },
    memoryGb: { min: 0.1, max: 16, step: 0.1 },
} as const;

export const WORKER_LIMITS = { min: 1, max: 32 } as const;

/** True when `value` is a whole number of `step`s (0.1-steps compared without float noise). */
export function isMultipleOf(value: number, step: number): boolean {
    const scaled = value / step;
    return Math.abs(scaled - Math.round(scaled)) < 1e-9;
}

/** Problems with a size on ACI; empty when it fits. */
export function aciSizeProblems(cpu: number, memoryGb: number): { field: "cpu" | "memoryGb"; value: number; reason: string }[] {
    const problems: { field: "cpu" | "memoryGb"; value: number; reason: string }[] = [];
    const { cpu: c, memoryGb: m } = ACI_LIMITS;
    if (cpu < c.min || cpu > c.max || !isMultipleOf(cpu, c.step)) {
        problems.push({ field: "cpu", value: cpu, reason: `must be ${c.min}-${c.max} cores in steps of ${c.step} (Azure Container Instances, Linux)` });
    }
    if (memoryGb < m.min || memoryGb > m.max || !isMultipleOf(memoryGb, m.step)) {
        problems.push({ field: "memoryGb", value: memoryGb, reason: `must be ${m.min}-${m.max} GB in steps of ${m.step} (Azure Container Instances, Linux)` });
    }
    return problems;
}

/**
 * Azure Container Apps, Consumption workload profile: CPU in steps of 0.25 up to 4 cores, and
 * memory fixed at twice the CPU (0.25 cores / 0.5 GiB … 4 cores / 8 GiB).
 */
export const CONTAINER_APP_LIMITS = {
    cpu: { min: 0.25, max: 4, step: 0.25 },
    memoryPerCpuGb: 2,
    replicas: { min: 0, max: 30 },
    concurrentRequests: { min: 1, max: 1000 },
} as const;

export function containerAppSizeProblems(cpu: number, memoryGb: number): { field: "cpu" | "memoryGb"; value: number; reason: string }[] {
    const { cpu: c, memoryPerCpuGb } = CONTAINER_APP_LIMITS;
    if (cpu < c.min || cpu > c.max || !isMultipleOf(cpu, c.step)) {
        return [{ field: "cpu", value: cpu, reason: `must be ${c.min}-${c.max} cores in steps of ${c.step} (Azure Container Apps, Consumption)` }];
    }
    if (Math.abs(memoryGb - cpu * memoryPerCpuGb) > 1e-9) {
        return [
            {
                field: "memoryGb",
                value: memoryGb,
                reason: `must be ${cpu * memoryPerCpuGb} for cpu ${cpu}: Azure Container Apps pairs each 0.25 cores with 0.5 GB (0.25/0.5, 0.5/1, 1/2, 2/4, 4/8)`,
            },
        ];
    }
    return [];
}

const IPV4_CIDR = /^((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)(\/(3[0-2]|[12]?\d))?$/;

export const servingFields = z.object(
    {
        platform: oneOf(SERVING_PLATFORMS).optional(),
        containerRegistrySku: oneOf(CONTAINER_REGISTRY_SKUS),
        ingress: oneOf(INGRESS_MODES).optional(),
        ipAllowList: z.array(matching(IPV4_CIDR, "an IPv4 address or CIDR range, such as 203.0.113.0/24"), { error: "must be a list of IPv4 addresses or CIDR ranges" }).optional(),
        // Read only to say it is gone: the stack now creates the scoring API's app registration.
        entra: z.unknown().optional(),
        logRetentionDays: wholeNumber(30, 730).optional(),
        maxInactiveRevisions: wholeNumber(MAX_INACTIVE_REVISIONS.min, MAX_INACTIVE_REVISIONS.max).optional(),
        payloadLog: payloadLogFields.optional(),
        requireGuardedRollout: boolean().optional(),
    },
    { error: "must be a map with containerRegistrySku and optionally platform, ingress, ipAllowList, logRetentionDays, maxInactiveRevisions, payloadLog, requireGuardedRollout" },
);

/** Keys that only mean something on Container Apps, per map: refused on ACI, all alike. */
export const CONTAINER_APP_ONLY = {
    serving: ["ingress", "ipAllowList", "logRetentionDays", "maxInactiveRevisions", "requireGuardedRollout"],
    model: ["minReplicas", "maxReplicas", "concurrentRequests", "canary", "rollout"],
} as const;

/**
 * Both serve on Container Apps unless set: Entra-protected, HTTPS, and in dev scaled to zero when
 * idle (cheaper than an always-on ACI group). ACI stays selectable in dev; it is anonymous HTTP.
 */
export function servingPlatformOf(_environment: Environment, platform: ServingPlatform | undefined): ServingPlatform {
    return platform ?? "containerapp";
}

/** The serving keys' rules across keys: what ACI cannot do, the retired entra map, prd never anonymous. */
export function servingIssues(environment: Environment, serving: z.infer<typeof servingFields>, platform: ServingPlatform): Issue[] {
    const issues: Issue[] = [];
    const add = (path: (string | number)[], input: unknown, message: string) => issues.push({ path, input, message });
    if (platform === "aci") {
        for (const key of CONTAINER_APP_ONLY.serving.filter((k) => serving[k] !== undefined)) {
            add(["serving", key], serving[key], "only applies with serving.platform containerapp (this stack serves on aci, which has no access control, revisions or logs workspace): remove it, or set serving.platform: containerapp");
        }
    }
    if (serving.entra !== undefined) {
        add(
            ["serving", "entra"],
            serving.entra,
            "is no longer set by hand: the stack creates the scoring API's app registration (app role Scoring.Invoke) and Container Apps accepts only its tokens. Remove it; name callers in mlflow-platform:access.scoringClients",
        );
    }
    // prd is never anonymous: Container Apps always requires an Entra token with the app role; ACI cannot.
    if (environment === "prd" && platform === "aci") {
        add(["serving", "platform"], "aci", "would serve prd anonymously over plain HTTP (Azure Container Instances has no authentication): use containerapp, which accepts only Entra tokens with the Scoring.Invoke role");
    }
    return issues;
}

/** Allowed, but almost certainly not what an operator wants: anonymous ACI endpoints, placeholder ranges in prd. */
export function servingWarnings(environment: Environment, serving: z.infer<typeof servingFields>, platform: ServingPlatform, modelCount: number): string[] {
    const warnings: string[] = [];
    if (platform === "aci" && modelCount > 0) {
        warnings.push(
            `${PROJECT_NAME}:serving.platform = "aci": its endpoints are anonymous plain HTTP (Azure Container Instances has no authentication and no HTTPS): anyone who finds the address can call the models. Container Apps (the default) accepts only Entra tokens and scales to zero in dev`,
        );
    }
    if (environment === "prd" && platform === "containerapp" && (serving.ingress ?? "external") === "external") {
        (serving.ipAllowList ?? []).forEach((entry, i) => {
            const kind = placeholderKind(entry);
            if (kind) {
                warnings.push(
                    `${PROJECT_NAME}:serving.ipAllowList[${i}] = ${JSON.stringify(entry)} looks like a placeholder: ` +
                        (kind === "documentation"
                            ? "it is a documentation-only range (RFC 5737) that no real client has"
                            : `it is a ${kind} range, from which no request reaches an external endpoint over the internet`) +
                        ": replace it with your clients' public ranges",
                );
            }
        });
    }
    return warnings;
}

/** The serving section of the typed config, with its defaults. */
export function servingConfig(serving: z.infer<typeof servingFields>, platform: ServingPlatform, environment: Environment): ServingConfig {
    return {
        platform,
        containerRegistrySku: serving.containerRegistrySku,
        access: { ingress: serving.ingress ?? "external", ipAllowList: serving.ipAllowList ?? [] },
        logRetentionDays: serving.logRetentionDays ?? 30,
        maxInactiveRevisions: serving.maxInactiveRevisions ?? MAX_INACTIVE_REVISIONS.default,
        payloadLog: {
            sampleRate: serving.payloadLog?.sampleRate ?? PAYLOAD_LOG_DEFAULTS.sampleRate[environment],
            retentionDays: serving.payloadLog?.retentionDays ?? PAYLOAD_LOG_DEFAULTS.retentionDays[environment],
        },
        requireGuardedRollout: serving.requireGuardedRollout ?? false,
    };
}

/** Days the payload log keeps its blobs: the stack's setting or its environment's default. */
export function payloadRetentionDays(environment: Environment, serving: { payloadLog?: { retentionDays?: number } }): number {
    return serving.payloadLog?.retentionDays ?? PAYLOAD_LOG_DEFAULTS.retentionDays[environment];
}
