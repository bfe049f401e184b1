// mlflow-platform:models, the models a stack serves (service name, registry model and selector,
// size, workers, Container Apps scaling, canary and guarded rollout): their schema, defaults and rules.
import { z } from "zod";
import { numberFromString, matching, wholeNumber, type Environment, type Issue } from "./common";
import { DEFAULT_SCHEMAS, type registrySchema } from "./registry";
import { aciSizeProblems, CONTAINER_APP_LIMITS, CONTAINER_APP_ONLY, containerAppSizeProblems, sampleRate, WORKER_LIMITS, type ServingPlatform } from "./serving";
import type { RegistryKind, Selector } from "../registry/types";
import { checkModelName, parseSelector } from "../registry/validation";
import { rolloutConfig, rolloutIssues, rolloutSchema, type RolloutConfig } from "./rollout";

/** A model this stack serves: a short service name, the registry model and which version. */
export interface ServedModel {
    /** Service name: lowercase letters, digits and '-', used in resource names and DNS labels. */
    name: string;
    /** Registered model name (`catalog.schema.model` in Unity Catalog). */
    model: string;
    selector: Selector;
    /** CPU cores and memory (GB) for the serving container. */
    cpu: number;
    memoryGb: number;
    /** Scoring server worker processes. */
    workers: number;
    /** Container Apps only: replica bounds and the HTTP concurrency that scales out. */
    scale: { minReplicas: number; maxReplicas: number; concurrentRequests: number };
    /** Container Apps only: a candidate version that gets `weight` percent of the traffic. */
    canary?: { selector: Selector; weight: number };
    /** The payload log of this model: its share of requests (the model's own, else the stack's) and the input columns never logged; absent: off. */
    payloadLog?: { sampleRate: number; excludeColumns: string[] };
    /** Container Apps only: a new revision climbs these canary steps, each watched; absent: one step once ready. */
    rollout?: RolloutConfig;
}

const selectorFields = {
    alias: z.unknown().optional(),
    stage: z.unknown().optional(),
    version: z.unknown().optional(),
    latest: z.unknown().optional(),
};

export const canaryFields = z.object(
    { ...selectorFields, weight: wholeNumber(0, 100) },
    { error: "must be a map with one of alias, stage, version, latest and a weight (0-100)" },
);

/** A model's own payload log settings (serving/payload_log.py): its sample rate and its deny-list of input columns. */
export const modelPayloadLogFields = z
    .object(
        {
            sampleRate: sampleRate().optional(),
            excludeColumns: z
                .array(z.string({ error: "must be an input column name" }).min(1, { error: "must be an input column name, not empty" }), {
                    error: "must be a list of input column names never to log (personal data), such as [email, iban]",
                })
                .optional(),
        },
        { error: "must be a map with optionally sampleRate (0-1) and excludeColumns (input column names never logged)" },
    )
    .strict();

const SERVICE_NAME_RULE = "1-24 lowercase letters, digits or '-', starting with a letter and not ending with '-'";
export const modelEntryFields = z.object(
    {
        name: matching(/^[a-z]([a-z0-9-]{0,22}[a-z0-9])?$/, SERVICE_NAME_RULE).refine((name) => !name.includes("--"), {
            error: "must not contain \"--\": Azure Container Apps reserves it to separate an app's name from a revision's suffix",
        }),
        model: z.string({ error: "must be the registered model name" }),
        ...selectorFields,
        cpu: z.preprocess(numberFromString, z.number({ error: "must be a number of CPU cores, such as 1 or 0.5" })),
        memoryGb: z.preprocess(numberFromString, z.number({ error: "must be a number of GB, such as 2 or 1.5" })),
        workers: wholeNumber(WORKER_LIMITS.min, WORKER_LIMITS.max).optional(),
        minReplicas: wholeNumber(CONTAINER_APP_LIMITS.replicas.min, CONTAINER_APP_LIMITS.replicas.max).optional(),
        maxReplicas: wholeNumber(Math.max(1, CONTAINER_APP_LIMITS.replicas.min), CONTAINER_APP_LIMITS.replicas.max).optional(),
        concurrentRequests: wholeNumber(CONTAINER_APP_LIMITS.concurrentRequests.min, CONTAINER_APP_LIMITS.concurrentRequests.max).optional(),
        canary: canaryFields.strict().optional(),
        payloadLog: modelPayloadLogFields.optional(),
        rollout: rolloutSchema.optional(),
    },
    { error: "must be a map with name, model, cpu, memoryGb and one of alias, stage, version or latest" },
);
const modelEntrySchema = modelEntryFields.strict();

export const modelsSchema = z.array(modelEntrySchema, {
    error: "must be a list of models to serve (name, model, cpu, memoryGb and one of alias, stage, version, latest)",
});

export type ModelEntry = z.infer<typeof modelEntryFields>;

const MAX_SAFE_DIGITS = String(Number.MAX_SAFE_INTEGER);

/** A pinned version that a stack file cannot carry exactly (JavaScript numbers lose digits above 2^53). */
function unsafeVersion(value: unknown): boolean {
    return typeof value === "number" && Number.isInteger(value) && !Number.isSafeInteger(value);
}

function selectorIssues(kind: RegistryKind, fields: Record<string, unknown>, path: (string | number)[]): Issue[] {
    if (unsafeVersion(fields.version)) {
        return [
            {
                path: [...path, "version"],
                input: fields.version,
                message: `is larger than ${MAX_SAFE_DIGITS}, the largest whole number a stack file passes to the program exactly: check the version, and write it in quotes`,
            },
        ];
    }
    return parseSelector(kind, fields).problems.map((problem) => {
        const field = problem.field === "selector" ? undefined : problem.field;
        return { path: field ? [...path, field] : path, input: field ? fields[field] : fields, message: `cannot be used: ${problem.reason}` };
    });
}

/** Replicas kept running when idle: none in dev (scale to zero), one in prd. */
export function defaultMinReplicas(environment: Environment): number {
    return environment === "prd" ? 1 : 0;
}

/** Each model entry's rules: its registry name and selector, its size on the platform, its canary, prd's schema. */
export function modelIssues(environment: Environment, models: readonly ModelEntry[], registry: z.infer<typeof registrySchema>, platform: ServingPlatform): Issue[] {
    const issues: Issue[] = [];
    const add = (path: (string | number)[], input: unknown, message: string) => issues.push({ path, input, message });
    const kind = registry.kind;
    const ucSchema = (model: string) => model.split(".")[1];
    const prdSchema = registry.prdSchema ?? DEFAULT_SCHEMAS.prd;
    const seen = new Set<string>();
    models.forEach((entry: ModelEntry, i) => {
        // prd serves only what a deployer promoted: models in the deployers' schema.
        if (environment === "prd" && kind === "unity-catalog" && checkModelName(kind, entry.model).length === 0 && ucSchema(entry.model) !== prdSchema) {
            add(
                ["models", i, "model"],
                entry.model,
                `is in schema ${ucSchema(entry.model)}, but prd serves only models in the deployers' schema registry.prdSchema (${prdSchema}), where only a promotion puts versions: write it as ${entry.model.split(".")[0]}.${prdSchema}.${entry.model.split(".")[2]}`,
            );
        }
        if (seen.has(entry.name)) add(["models", i, "name"], entry.name, "is used by another model entry: service names must be unique");
        seen.add(entry.name);
        const sizeProblems = platform === "aci" ? aciSizeProblems(entry.cpu, entry.memoryGb) : containerAppSizeProblems(entry.cpu, entry.memoryGb);
        for (const problem of sizeProblems) add(["models", i, problem.field], problem.value, problem.reason);
        if (platform === "aci") {
            for (const key of CONTAINER_APP_ONLY.model.filter((k) => entry[k] !== undefined)) {
                add(["models", i, key], entry[key], "only applies with serving.platform containerapp (this stack serves on aci): remove it, or set serving.platform: containerapp");
            }
        }
        if (entry.minReplicas !== undefined && entry.maxReplicas !== undefined && entry.maxReplicas < entry.minReplicas) {
            add(["models", i, "maxReplicas"], entry.maxReplicas, `must be at least minReplicas (${entry.minReplicas})`);
        }
        if (entry.canary) {
            const canaryIssues = selectorIssues(kind, entry.canary, ["models", i, "canary"]);
            issues.push(...canaryIssues);
            const canary = parseSelector(kind, entry.canary).selector;
            const stable = parseSelector(kind, entry).selector;
            if (canaryIssues.length === 0 && canary && stable && JSON.stringify(canary) === JSON.stringify(stable)) {
                add(["models", i, "canary"], entry.canary, "selects the same as the model's own selector: a canary needs another version");
            }
            if (entry.canary.weight === 100) {
                add(
                    ["models", i, "canary", "weight"],
                    entry.canary.weight,
                    "would leave the stable revision with no traffic: to serve only the candidate, promote it (point the model's selector at its version and remove canary)",
                );
            }
        }
        if (entry.rollout) issues.push(...rolloutIssues(entry.rollout, ["models", i, "rollout"]));
        (entry.payloadLog?.excludeColumns ?? []).forEach((column, j, all) => {
            if (all.indexOf(column) !== j) add(["models", i, "payloadLog", "excludeColumns", j], column, "is listed twice: name each column once");
        });
        for (const problem of checkModelName(kind, entry.model)) add(["models", i, "model"], entry.model, `cannot be used: ${problem.reason}`);
        const catalog = registry.catalog;
        if (kind === "unity-catalog" && catalog !== undefined && checkModelName(kind, entry.model).length === 0 && entry.model.split(".")[0] !== catalog) {
            add(["models", i, "model"], entry.model, `is in catalog ${entry.model.split(".")[0]}, but registry.catalog is ${catalog}: write it as ${catalog}.${entry.model.split(".").slice(1).join(".")}, or change registry.catalog`);
        }
        issues.push(...selectorIssues(kind, entry, ["models", i]));
    });
    return issues;
}

/** The models section of the typed config, with its defaults. */
export function servedModels(models: readonly ModelEntry[], kind: RegistryKind, environment: Environment, stackSampleRate: number): ServedModel[] {
    return models.map((entry) => ({
        name: entry.name,
        model: entry.model,
        selector: parseSelector(kind, entry).selector as Selector,
        cpu: entry.cpu,
        memoryGb: entry.memoryGb,
        // One worker per vCPU, rounded up (0.5 vCPU: 1, 1.5: 2), by default: the scoring server
        // is CPU-bound, and a worker on a fractional core still uses its share.
        workers: entry.workers ?? Math.max(1, Math.ceil(entry.cpu)),
        scale: {
            // dev scales to zero when idle (a cold start costs about 22 s); prd keeps one replica warm.
            minReplicas: entry.minReplicas ?? defaultMinReplicas(environment),
            maxReplicas: entry.maxReplicas ?? Math.max(3, entry.minReplicas ?? defaultMinReplicas(environment)),
            concurrentRequests: entry.concurrentRequests ?? 20,
        },
        canary: entry.canary ? { selector: parseSelector(kind, entry.canary).selector as Selector, weight: entry.canary.weight } : undefined,
        payloadLog: { sampleRate: entry.payloadLog?.sampleRate ?? stackSampleRate, excludeColumns: [...(entry.payloadLog?.excludeColumns ?? [])] },
        ...(entry.rollout ? { rollout: rolloutConfig(entry.rollout) } : {}),
    }));
}
