// The scheduled drift job of one served model, as plain data: its Azure name, where it reads and
// writes in the payload log, the role assignment condition that confines its writes to the drift
// reports, and the command its container runs. components/drift/driftJob.ts declares it.
//
// Why a Container Apps job: it runs in the stack's Container Apps environment, so what it prints
// lands in the same Log Analytics table as the scoring requests (ContainerAppConsoleLogs), where a
// scheduled query alert watches it (lib/drift/alert.ts); it runs the model's own serving image, which
// holds the registered sample (MLflow's input_example.json in /opt/model), numpy and serving/drift.py,
// so no second image, no Databricks cluster and no key: a user-assigned identity reads the payloads.
import { createHash } from "crypto";

/** The payload log's container (the payload-log work's format; the drift reports sit beside the payloads). */
export const PAYLOAD_CONTAINER = "payloads";
/** The job's container name: the alert's query finds the job's lines by it. */
export const DRIFT_CONTAINER_NAME = "drift";
/** Where serving/drift_job.py sits in the serving image (serving/Dockerfile copies it). */
export const DRIFT_JOB_SCRIPT = "/opt/serving/drift_job.py";
/** The registered sample in the serving image: MLflow writes the input example beside MLmodel. */
export const REGISTERED_SAMPLE_FILE = "/opt/model/input_example.json";

/**
 * The job's Azure name: Container Apps job names are 2-32 lowercase letters, digits and '-', start
 * with a letter, no '--'. `drift-<model>`, shortened with a hash of the model name when too long.
 */
export function driftJobName(model: string): string {
    const clean = model.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-{2,}/g, "-").replace(/^-+|-+$/g, "");
    const name = `drift-${clean}`;
    if (name.length <= 32 && clean) return name;
    const hash = createHash("sha256").update(model).digest("hex").slice(0, 6);
    return `drift-${clean.slice(0, 32 - 6 - 1 - hash.length).replace(/-+$/, "")}-${hash}`;
}

/** The prefix of a model's drift reports in the payloads container: `<model>/<version>/drift/`. */
export function driftReportBlob(model: string, version: string, windowEnd: string): string {
    return `${model}/${version}/drift/${windowEnd}.json`;
}

/**
 * The condition (Azure ABAC, version 2.0) on the job's Storage Blob Data Contributor assignment on
 * the payloads container: writes, creations, deletes and renames only under `<model>/*\/drift/`; reads are
 * left to its unconditioned Storage Blob Data Reader assignment. Actions and the blob path attribute
 * per learn.microsoft.com/azure/storage/blobs/storage-auth-abac-attributes; the
 * `!(ActionMatches…) OR (…)` form per learn.microsoft.com/azure/role-based-access-control/conditions-format.
 */
export function driftWriteCondition(model: string): string {
    const blobs = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs";
    const actions = [`${blobs}/write`, `${blobs}/add/action`, `${blobs}/delete`, `${blobs}/move/action`];
    return [
        "(",
        " (",
        actions.map((a) => `  !(ActionMatches{'${a}'})`).join("\n  AND\n"),
        " )",
        " OR",
        " (",
        `  @Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals '${PAYLOAD_CONTAINER}'`,
        "  AND",
        `  @Resource[${blobs}:path] StringLike '${model}/*/drift/*'`,
        " )",
        ")",
    ].join("\n");
}

export interface DriftJobCommand {
    model: string;
    version: string;
    window: string;
    /** `registered-sample` or `<container>/<path>` in the model store. */
    baseline: string;
}

/** The container's command line: serving/drift_job.py with the model, version, window and baseline. */
export function driftJobCommand(spec: DriftJobCommand): string[] {
    return ["python", DRIFT_JOB_SCRIPT, "--model", spec.model, "--version", spec.version, "--window", spec.window, "--baseline", spec.baseline];
}
