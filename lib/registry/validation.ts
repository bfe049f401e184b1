// Checks a model reference (registry kind, model name, selector) before any request is sent.
import type { RegistryKind, Selector } from "./types";

export const VALID_STAGES = ["None", "Staging", "Production", "Archived"] as const;

/** A field of the reference and what is wrong with it. */
export interface ReferenceProblem {
    field: "registryKind" | "model" | "selector" | "alias" | "stage" | "version" | "latest";
    reason: string;
}

/** Fields a selector may be written with; exactly one must be set. */
export interface SelectorFields {
    alias?: unknown;
    stage?: unknown;
    version?: unknown;
    latest?: unknown;
}

const UC_PART = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

export function checkModelName(kind: RegistryKind, name: unknown): ReferenceProblem[] {
    if (typeof name !== "string" || name.trim() === "") {
        return [{ field: "model", reason: "the registered model name is empty" }];
    }
    if (kind === "unity-catalog") {
        const parts = name.split(".");
        if (parts.length !== 3 || !parts.every((p) => UC_PART.test(p))) {
            return [
                {
                    field: "model",
                    reason: `"${name}" is not a Unity Catalog model name: use three parts, catalog.schema.model, each of letters, digits, '_' or '-'`,
                },
            ];
        }
        return [];
    }
    if (name !== name.trim() || name.length > 256 || /[/'\u0000-\u001f]/.test(name)) {
        return [
            {
                field: "model",
                reason: `"${name}" is not a usable MLflow model name: 1-256 characters without '/', quotes, control characters or surrounding spaces`,
            },
        ];
    }
    return [];
}

/**
 * Turns the selector fields into a Selector, or explains why they cannot be one. `registry` is
 * where the reference will be looked up, since not every registry supports every selector.
 */
export function parseSelector(kind: RegistryKind, fields: SelectorFields): { selector?: Selector; problems: ReferenceProblem[] } {
    const set = (["alias", "stage", "version", "latest"] as const).filter((key) => fields[key] !== undefined && fields[key] !== false);
    if (set.length !== 1) {
        return {
            problems: [
                {
                    field: "selector",
                    reason:
                        set.length === 0
                            ? "no selector: set exactly one of alias, stage, version or latest: true"
                            : `${set.join(" and ")} are all set: set exactly one of alias, stage, version or latest: true`,
                },
            ],
        };
    }
    const [key] = set;
    const value = fields[key];
    switch (key) {
        case "alias": {
            if (typeof value !== "string" || !/^[\w-]{1,255}$/.test(value)) {
                return { problems: [{ field: "alias", reason: `alias ${JSON.stringify(value)} must be 1-255 letters, digits, '_' or '-'` }] };
            }
            if (value.toLowerCase() === "latest" || /^v\d+$/i.test(value)) {
                return {
                    problems: [
                        {
                            field: "alias",
                            reason: `alias "${value}" is reserved by MLflow ("latest" and v<number>): use latest: true for the newest version, version: <n> to pin one`,
                        },
                    ],
                };
            }
            if (kind === "databricks") {
                return {
                    problems: [
                        {
                            field: "alias",
                            reason: "the Databricks workspace registry has no aliases (they need Unity Catalog): use registry kind unity-catalog, or select by stage or version",
                        },
                    ],
                };
            }
            return { selector: { alias: value }, problems: [] };
        }
        case "stage": {
            if (kind === "unity-catalog") {
                return {
                    problems: [
                        {
                            field: "stage",
                            reason: "Unity Catalog has no stages: select by alias (for example alias: champion), version or latest: true",
                        },
                    ],
                };
            }
            const stage = VALID_STAGES.find((s) => typeof value === "string" && s.toLowerCase() === value.toLowerCase());
            if (!stage) {
                return { problems: [{ field: "stage", reason: `stage ${JSON.stringify(value)} must be one of ${VALID_STAGES.join(", ")}` }] };
            }
            return { selector: { stage }, problems: [] };
        }
        case "version": {
            const text = typeof value === "number" ? String(value) : value;
            if (typeof text !== "string" || !/^[1-9]\d{0,17}$/.test(text)) {
                return { problems: [{ field: "version", reason: `version ${JSON.stringify(value)} must be a whole number from 1` }] };
            }
            return { selector: { version: text }, problems: [] };
        }
        case "latest":
            if (value !== true) {
                return { problems: [{ field: "latest", reason: `latest must be true when set, got ${JSON.stringify(value)}` }] };
            }
            return { selector: { latest: true }, problems: [] };
    }
}
