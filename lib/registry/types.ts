// Plain types shared by the registry client, the ModelVersion provider, serving and smoke tests.

/**
 * Where models are registered:
 * - `mlflow`: a self-hosted MLflow tracking server (`/api/2.0/mlflow/...`);
 * - `databricks`: the Azure Databricks workspace model registry (same routes, bearer auth, stages);
 * - `unity-catalog`: the Databricks Unity Catalog registry (`catalog.schema.model`, aliases and versions only).
 */
export type RegistryKind = "mlflow" | "databricks" | "unity-catalog";
export const REGISTRY_KINDS: readonly RegistryKind[] = ["mlflow", "databricks", "unity-catalog"];

/** Which version of a model to use: exactly one of these. */
export type Selector = { alias: string } | { stage: string } | { version: string } | { latest: true };

export type RegistrationStatus = "READY" | "PENDING_REGISTRATION" | "FAILED_REGISTRATION";

/** A registry model version, the same shape whatever registry it came from. */
export interface ModelVersionInfo {
    name: string;
    /** Always a string of digits, as MLflow returns it. */
    version: string;
    status: RegistrationStatus;
    statusMessage?: string;
    /** Where the model files are: `runs:/…`, `dbfs:/…`, `abfss://…`, a storage location. */
    source: string;
    runId?: string;
    /** MLflow 3's logged model id (`m-…`), from `model_id` or a `models:/m-…` source; absent before MLflow 3. */
    modelId?: string;
    /**
     * Every alias on this version. Always read from an answer that carries aliases (MLflow's
     * search and get-latest-versions never do), so it is the same after `up` and after `refresh`.
     */
    aliases: string[];
    /** `None`, `Staging`, `Production`, `Archived`; absent in Unity Catalog. */
    currentStage?: string;
    /** Milliseconds since the epoch. */
    creationTimestamp: number;
}

export function describeSelector(selector: Selector): string {
    if ("alias" in selector) return `alias "${selector.alias}"`;
    if ("stage" in selector) return `stage "${selector.stage}"`;
    if ("version" in selector) return `version ${selector.version}`;
    return "the latest version";
}

/** `models:/<name>/<version>`: the URI MLflow loads and serves a registered version from. */
export function modelUri(name: string, version: string): string {
    return `models:/${name}/${version}`;
}
