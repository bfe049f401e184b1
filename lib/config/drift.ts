// mlflow-platform:observability.drift, the scheduled drift job: how long a window of logged
// payloads it compares, when it runs, and what it compares them with. Its schema, defaults and the
// rule that the window fits in the payload retention. Mounted as the `drift` key of
// lib/config/observability.ts's map (the alerts work owns that file; this block is the drift work's).
import { z } from "zod";
import { PROJECT_NAME, type Issue } from "./common";

/** The baseline is the version's own registered sample unless a dataset is named. */
export const REGISTERED_SAMPLE = "registered-sample";

export const DRIFT_DEFAULTS = {
    window: "24h",
    // Daily, a quarter past midnight UTC: the window (the day before, ending at 00:00) is complete
    // and the payload log has flushed its last hour's files.
    schedule: "15 0 * * *",
    baseline: REGISTERED_SAMPLE,
} as const;

/** Windows are whole hours or days, 1h to 90d (the longest payload retention there is no reason to exceed). */
export const WINDOW_PATTERN = /^([1-9]\d*)([hd])$/;
export const WINDOW_LIMITS = { minHours: 1, maxHours: 90 * 24 } as const;

/** "24h" -> 24, "7d" -> 168; undefined when the text is not a window. */
export function windowHours(window: string): number | undefined {
    const match = WINDOW_PATTERN.exec(window);
    if (!match) return undefined;
    return Number(match[1]) * (match[2] === "d" ? 24 : 1);
}

const WINDOW_RULE = `a whole number of hours or days from ${WINDOW_LIMITS.minHours}h to ${WINDOW_LIMITS.maxHours / 24}d, such as 24h or 7d`;

const windowField = z
    .string({ error: `must be ${WINDOW_RULE}` })
    .refine((value) => {
        const hours = windowHours(value);
        return hours !== undefined && hours >= WINDOW_LIMITS.minHours && hours <= WINDOW_LIMITS.maxHours;
    }, { error: `must be ${WINDOW_RULE}` });

/** Each cron field: its allowed range (Container Apps jobs take 5-field cron in UTC). */
const CRON_FIELDS = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12 },
    { name: "day of week", min: 0, max: 6 },
] as const;

/** Why a cron expression is not one Container Apps runs, or undefined when it is. */
export function cronProblem(expression: string): string | undefined {
    const fields = expression.trim().split(/\s+/);
    if (fields.length !== 5) return `has ${fields.length} field${fields.length === 1 ? "" : "s"}: a schedule is 5 cron fields (minute hour day-of-month month day-of-week, UTC), such as "15 0 * * *" (daily at 00:15)`;
    for (const [i, field] of fields.entries()) {
        const { name, min, max } = CRON_FIELDS[i];
        for (const part of field.split(",")) {
            const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
            const numbers = match ? [match[2], match[3]].filter((n) => n !== undefined).map(Number) : [];
            const step = match?.[4] === undefined ? undefined : Number(match[4]);
            if (!match || numbers.some((n) => n < min || n > max) || (numbers.length === 2 && numbers[0] > numbers[1]) || step === 0) {
                return `field ${i + 1} (${name}) ${JSON.stringify(part)} is not allowed: use *, a number from ${min} to ${max}, a range a-b, a list a,b or a step */n`;
            }
        }
    }
    return undefined;
}

const scheduleField = z.string({ error: 'must be a cron schedule of 5 fields (UTC), such as "15 0 * * *"' }).superRefine((value, ctx) => {
    const problem = cronProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** A dataset in the stack's model store: `<container>/<path>` ending .csv, .json or .jsonl. */
export const DATASET_PATTERN = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])\/[^\s]+\.(csv|json|jsonl)$/i;

const baselineField = z
    .string({ error: `must be "${REGISTERED_SAMPLE}" or a dataset in the model store, <container>/<path>.csv|.json|.jsonl` })
    .refine((value) => value === REGISTERED_SAMPLE || DATASET_PATTERN.test(value), {
        error: `must be "${REGISTERED_SAMPLE}" (the sample registered with the served version) or a dataset in the model store written <container>/<path> ending .csv, .json or .jsonl, such as data/fraud/baseline.csv`,
    });

export const driftFields = z.object(
    {
        window: windowField.optional(),
        schedule: scheduleField.optional(),
        baseline: baselineField.optional(),
    },
    { error: "must be a map with optionally window, schedule and baseline (an empty map {} takes the defaults)" },
);

export type DriftFields = z.infer<typeof driftFields>;

export interface DriftConfig {
    /** The window each run compares, "24h" or "7d". */
    window: string;
    windowHours: number;
    /** 5-field cron, UTC. */
    schedule: string;
    /** `registered-sample`, or `<container>/<path>` in the model store. */
    baseline: string;
}

/**
 * The window must fit in the payload retention (mlflow-platform:serving.payloadLog.retentionDays):
 * older payload files are deleted, so a longer window would silently compare fewer rows than it says.
 * `retentionDays` undefined: the stack keeps payloads without a limit, nothing to check.
 */
export function driftIssues(drift: DriftFields | undefined, retentionDays: number | undefined): Issue[] {
    if (!drift || retentionDays === undefined) return [];
    const window = drift.window ?? DRIFT_DEFAULTS.window;
    const hours = windowHours(window);
    if (hours === undefined || hours <= retentionDays * 24) return [];
    return [
        {
            path: ["observability", "drift", "window"],
            input: window,
            message:
                `is longer than the payload retention (${PROJECT_NAME}:serving.payloadLog.retentionDays = ${retentionDays} day${retentionDays === 1 ? "" : "s"}): ` +
                `the payloads of the window's start are deleted before it is compared. Use a window of at most ${retentionDays}d (${retentionDays * 24}h), or keep payloads longer`,
        },
    ];
}

/** Worth saying, not refusing: predictions are compared with the previous window, which must also be kept. */
export function driftWarnings(drift: DriftFields | undefined, retentionDays: number | undefined): string[] {
    if (!drift || retentionDays === undefined) return [];
    const window = drift.window ?? DRIFT_DEFAULTS.window;
    const hours = windowHours(window);
    if (hours === undefined || hours > retentionDays * 24 || 2 * hours <= retentionDays * 24) return [];
    return [
        `${PROJECT_NAME}:observability.drift.window = ${JSON.stringify(window)}: prediction drift compares the window with the one before it unless the baseline has a prediction column, ` +
            `and the payload retention (${retentionDays} days) does not keep two windows: predictions are then not compared`,
    ];
}

/** The typed drift config with its defaults; undefined when the stack declares no drift job. */
export function driftConfig(drift: DriftFields | undefined): DriftConfig | undefined {
    if (!drift) return undefined;
    const window = drift.window ?? DRIFT_DEFAULTS.window;
    return { window, windowHours: windowHours(window)!, schedule: (drift.schedule ?? DRIFT_DEFAULTS.schedule).trim().split(/\s+/).join(" "), baseline: drift.baseline ?? DRIFT_DEFAULTS.baseline };
}
