import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { planStack, type Plan, type PlannedResource, type RecordOptions } from "../../lib/plan";

export const PROJECT_DIR = path.resolve(__dirname, "../..");

/** A valid raw config, as parsePlatformConfig receives it (strings, as Pulumi passes them). */
export function validRawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
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
        models: [{ name: "fraud", model: "main.risk.fraud", alias: "champion", cpu: 1, memoryGb: 2 }],
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
