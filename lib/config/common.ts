// What every config section uses: the project's name, the environments, the field types that
// read Pulumi's strings (each with the message an operator sees), and the shape of a rule's problem.
import { z } from "zod";

export const PROJECT_NAME = "mlflow-platform";

export const ENVIRONMENTS = ["dev", "prd"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

// Pulumi hands every top-level config value to the program as a string ("7", "true").
// These turn such strings into numbers and booleans and leave anything else untouched, so the
// schema reports the value exactly as it was written.
export function integerFromString(value: unknown): unknown {
    return typeof value === "string" && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
}

export function numberFromString(value: unknown): unknown {
    return typeof value === "string" && /^\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : value;
}

export function booleanFromString(value: unknown): unknown {
    if (typeof value !== "string") return value;
    const lowered = value.trim().toLowerCase();
    return lowered === "true" ? true : lowered === "false" ? false : value;
}

export function wholeNumber(min: number, max: number) {
    const allowed = `a whole number from ${min} to ${max}`;
    return z.preprocess(
        integerFromString,
        z
            .number({ error: `must be ${allowed}` })
            .int({ error: `must be ${allowed}` })
            .min(min, { error: `must be ${allowed}` })
            .max(max, { error: `must be ${allowed}` }),
    );
}

export function boolean() {
    return z.preprocess(booleanFromString, z.boolean({ error: "must be true or false" }));
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
    return z.enum(values, { error: `must be one of: ${values.join(", ")}` });
}

export function matching(pattern: RegExp, rule: string) {
    return z.string({ error: `must be ${rule}` }).regex(pattern, { error: `must be ${rule}` });
}

// Anchored at both ends (no `m` flag): a GUID with anything before or after it is refused.
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const ZERO_GUID = "00000000-0000-0000-0000-000000000000";
export const ZERO_GUID_RULE = "is the all-zero GUID, a placeholder no real principal or account has: write the real id";

/** A GUID key: the format, and never the all-zero placeholder. */
export function guid(rule: string) {
    return matching(GUID, rule).refine((value) => value !== ZERO_GUID, { error: ZERO_GUID_RULE });
}

/** A custom problem at a path, as the cross-field rules report them. */
export interface Issue {
    path: (string | number)[];
    input?: unknown;
    message: string;
    /** Never show the value (it may be a credential). */
    hideValue?: boolean;
}
