import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { planStack, type Plan, type PlannedResource, type RecordOptions } from "../../lib/plan";

export const PROJECT_DIR = path.resolve(__dirname, "../..");

/** A valid raw config, as parsePlatformConfig receives it (strings, as Pulumi passes them). */
export function validRawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    // prd serves only models in the deployers' schema (registry.prdSchema, default prd).
    const model = overrides.environment === "prd" ? "main.prd.fraud" : "main.risk.fraud";
    return {
        "azure-native:location": "westeurope",
        environment: "dev",
        storageAccountName: "mlplattest01",
        storageSku: "Standard_LRS",
        blobSoftDeleteDays: "7",
        containerSoftDeleteDays: "7",
        softDeleteEnabled: "true",
        allowBlobPublicAccess: "false",
        databricksSku: "premium",
        protect: "false",
        registry: { kind: "unity-catalog" },
        access: {},
        models: [{ name: "fraud", model, alias: "champion", cpu: 1, memoryGb: 2 }],
        serving: { platform: "aci", containerRegistrySku: "Basic" },
        ...overrides,
    };
}

/**
 * Plans the real program against a copy of a shipped stack file, changed by `edit`, in a temp
 * project folder, so a test can break one value without touching the repository.
 */
export function planEditedStack(stack: string, edit: (config: Record<string, any>) => void): Promise<Plan> {
    return planEditedStackWith(stack, edit, {});
}

/** As planEditedStack, with other mocks (e.g. a deployed stack's outputs). */
export async function planEditedStackWith(
    stack: string,
    edit: (config: Record<string, any>) => void,
    overrides: Pick<RecordOptions, "mocks" | "preview">,
): Promise<Plan> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlflow-platform-plan-"));
    try {
        fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        const { parse } = await import("yaml");
        const doc = parse(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8"));
        edit(doc.config);
        fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), stringify(doc));
        return await planStack(dir, stack, path.join(PROJECT_DIR, "index.ts"), overrides);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

export function byType(plan: Plan, type: string): PlannedResource[] {
    return plan.resources.filter((r) => r.type === type);
}

export function onlyOfType(plan: Plan, type: string): PlannedResource {
    const found = byType(plan, type);
    if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
    return found[0];
}

/**
 * MLflow 3 shapes (point 9): a version registered from a logged model carries `model_id` and a
 * `models:/m-<id>` source, plus fields MLflow 2 never sent. Clients must read what they know and
 * ignore the rest.
 */
export const MLFLOW3_MODEL_ID = "m-0f5e8d3c2b1a49e7a6b5c4d3e2f1a0b9";

export const MLFLOW3_MODEL_VERSION = {
    name: "fraud",
    version: "8",
    creation_timestamp: 1_795_235_600_000,
    last_updated_timestamp: 1_795_235_600_120,
    current_stage: "None",
    description: "",
    source: `models:/${MLFLOW3_MODEL_ID}`,
    run_id: "9d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a",
    status: "READY",
    run_link: "",
    aliases: ["challenger"],
    model_id: MLFLOW3_MODEL_ID,
    metrics: [{ key: "auc", value: 0.91, timestamp: 1_795_235_590_000, step: 0, dataset_name: "eval", model_id: MLFLOW3_MODEL_ID, run_id: "9d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a" }],
    params: [{ name: "C", value: "0.5" }],
    deployment_job_state: { job_state: "DEPLOYMENT_JOB_CONNECTION_STATE_UNSPECIFIED", run_state: "DEPLOYMENT_JOB_RUN_STATE_UNSPECIFIED", current_task_name: "" },
};

/** The same version as Unity Catalog describes it (`version` a number, aliases as objects). */
export const MLFLOW3_UC_MODEL_VERSION = {
    model_name: "fraud",
    catalog_name: "main",
    schema_name: "risk",
    version: 8,
    source: `models:/${MLFLOW3_MODEL_ID}`,
    storage_location: "abfss://models@store.dfs.core.windows.net/models/fraud/8",
    run_id: "9d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a",
    run_workspace_id: 1234567890123456,
    status: "READY",
    comment: "",
    id: "3f2e1d0c-b9a8-4756-8493-a2b1c0d9e8f7",
    created_at: 1_795_235_600_000,
    created_by: "someone@example.com",
    updated_at: 1_795_235_600_120,
    updated_by: "someone@example.com",
    aliases: [{ alias_name: "challenger", version_num: 8 }],
    model_id: MLFLOW3_MODEL_ID,
    model_version_dependencies: { dependencies: [] },
};

export const TEST_TENANT = "11111111-2222-3333-4444-555555555555";
export const TEST_SCORING_CLIENT_ID = "99999999-8888-7777-6666-555555555555";

/** A scoring API registration as ScoringApi hands it to ModelServing (fake, fixed ids). */
export function testScoringAuth() {
    return {
        clientId: pulumi.output(TEST_SCORING_CLIENT_ID),
        issuer: pulumi.output(`https://login.microsoftonline.com/${TEST_TENANT}/v2.0`),
        audiences: pulumi.output([TEST_SCORING_CLIENT_ID, `api://${TEST_SCORING_CLIENT_ID}`]),
    };
}
