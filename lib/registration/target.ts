// What `npm run register` needs from a stack's outputs, and the paths and flags it is given.
import { RegisterError } from "./jobs";

/** The registration job and storage of a deployed stack, from `pulumi stack output --json`. */
export interface RegistrationTarget {
    jobId: number;
    workspaceUrl: string;
    registryKind: string;
    /** Unity Catalog: the catalog.schema short model names go into. */
    schema?: string;
    storageAccountName: string;
    blobEndpoint: string;
    containers: { data: string; models: string };
}

function isObject(value: unknown): value is Record<string, any> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function targetFromStackOutputs(outputs: unknown, stack: string): RegistrationTarget {
    if (!isObject(outputs)) throw new RegisterError(`pulumi stack output --stack ${stack} did not print a JSON object`);
    const job = outputs.registrationJob;
    if (!isObject(job)) {
        const elsewhere = typeof outputs.registry === "string" && typeof outputs.workspaceUrl === "string" && outputs.registry !== outputs.workspaceUrl;
        throw new RegisterError(
            elsewhere
                ? `stack ${stack} has no registration job: its registry is another stack's workspace (${outputs.registry}), which declares the job; use that stack (usually --stack dev)`
                : `stack ${stack} has no registration job yet: run \`pulumi up --stack ${stack}\` to create it`,
        );
    }
    const jobId = Number(job.jobId);
    if (!Number.isSafeInteger(jobId) || jobId <= 0) throw new RegisterError(`stack ${stack}'s registrationJob.jobId ${JSON.stringify(job.jobId)} is not a job id: run \`pulumi up --stack ${stack}\``);
    const missing = ["workspaceUrl", "storageAccountName", "blobEndpoint"].filter((key) => typeof outputs[key] !== "string");
    if (missing.length > 0 || !isObject(outputs.containerNames)) {
        throw new RegisterError(`stack ${stack} lacks the outputs ${[...missing, ...(isObject(outputs.containerNames) ? [] : ["containerNames"])].join(", ")}: run \`pulumi up --stack ${stack}\``);
    }
    return {
        jobId,
        workspaceUrl: outputs.workspaceUrl,
        registryKind: typeof job.registryKind === "string" ? job.registryKind : "unity-catalog",
        schema: typeof job.schema === "string" && job.schema ? job.schema : undefined,
        storageAccountName: outputs.storageAccountName,
        blobEndpoint: outputs.blobEndpoint,
        containers: { data: String(outputs.containerNames.data), models: String(outputs.containerNames.models) },
    };
}

/** A `<container>/<path>` flag split into its container and blob name, refusing other containers. */
export function blobPath(flag: string, value: string, allowed: string[]): { container: string; blob: string } {
    const match = /^([^/]+)\/(.+)$/.exec(value.replace(/^\/+/, ""));
    if (!match || !allowed.includes(match[1]) || match[2].endsWith("/") || match[2].split("/").some((part) => part === "" || part === "." || part === "..")) {
        throw new RegisterError(`--${flag} ${JSON.stringify(value)} is not a file in the ${allowed.join(" or ")} container: write it as ${allowed[0]}/<folder>/<file>, such as ${flag === "pickle" ? "models/fraud/model.pkl" : "data/fraud/sample.csv"}`);
    }
    return { container: match[1], blob: match[2] };
}

/** abfss://<container>@<account>.dfs.core.windows.net/<blob>: how the job reads it through Unity Catalog. */
export function abfssUri(account: string, container: string, blob: string): string {
    return `abfss://${container}@${account}.dfs.core.windows.net/${blob}`;
}

/** `20m`, `90s`, `1h` or plain seconds, as milliseconds (1 s to 24 h). */
export function parseDuration(flag: string, value: string): number {
    const match = /^(\d+)(s|m|h)?$/.exec(value.trim());
    const ms = match ? Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? "s") as "s" | "m" | "h"] : NaN;
    if (!match || ms < 1000 || ms > 86_400_000) throw new RegisterError(`--${flag} ${JSON.stringify(value)} is not a duration: use seconds or a number with s, m or h, such as 20m (at most 24h)`);
    return ms;
}

/** MLflow's reserved aliases: `latest` in any case, and v<number>. */
export function checkAlias(alias: string): void {
    if (/^latest$/i.test(alias) || /^[vV]\d+$/.test(alias)) {
        throw new RegisterError(`--alias ${alias} is reserved by MLflow ('latest' and v<number> name versions): choose another, such as challenger`);
    }
    if (!/^[A-Za-z0-9_-]{1,255}$/.test(alias)) throw new RegisterError(`--alias ${JSON.stringify(alias)} is not allowed: use letters, digits, '_' or '-'`);
}

/**
 * The Unity Catalog `catalog.schema` the registration job registers into: the one schema of the
 * models this stack serves, so a registered version is what `latest: true` or an alias there
 * selects. Undefined (with the reason) when there is no single such schema.
 */
export function registrationSchemaOf(kind: string, servedModels: readonly string[]): { schema?: string; reason?: string } {
    if (kind !== "unity-catalog") return {};
    const schemas = [...new Set(servedModels.map((model) => model.split(".").slice(0, 2).join(".")))];
    if (schemas.length === 1) return { schema: schemas[0] };
    return {
        reason:
            schemas.length === 0
                ? "no registration job: list a model in mlflow-platform:models (catalog.schema.model) so the job knows the schema to register into"
                : `no registration job: the served models are in several schemas (${schemas.join(", ")}), and the job registers into one`,
    };
}

/**
 * Unity Catalog refuses a model version without a signature (inputs and outputs), and the
 * registration job infers the signature from the sample: without --sample the run could only fail,
 * after its compute has started. Refused before anything is uploaded or started.
 */
export function requireSampleForUnityCatalog(target: Pick<RegistrationTarget, "registryKind" | "schema" | "containers">, stack: string, sample: string | undefined): void {
    if (target.registryKind !== "unity-catalog" || sample) return;
    throw new RegisterError(
        `stack ${stack} registers into Unity Catalog${target.schema ? ` (${target.schema})` : ""}, which refuses a model version without a signature, ` +
            `and the signature comes from a sample of the model's input: give --sample ${target.containers.data}/<folder>/<file> (a CSV with a header row, JSON or Parquet file of a few input rows), ` +
            "with --upload-sample <local file> to upload it first",
    );
}
