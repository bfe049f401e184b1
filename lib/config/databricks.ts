// mlflow-platform:databricksSku, the Databricks workspace's tier: its schema and its rule.
import { z } from "zod";
import type { Issue } from "./common";
import type { RegistryKind } from "../registry/types";

// Azure creates no Standard workspaces since 2026-04-01 and moved the remaining ones to Premium on
// 2026-10-01; Unity Catalog needs Premium. `trial` is the 14-day Premium trial.
export const DATABRICKS_SKUS = ["premium", "trial"] as const;
export type DatabricksSku = (typeof DATABRICKS_SKUS)[number];

export interface DatabricksConfig {
    sku: DatabricksSku;
}

export const databricksSku = z
    .string({ error: `must be one of: ${DATABRICKS_SKUS.join(", ")}` })
    .superRefine((value, ctx) => {
        if (value === "standard") {
            ctx.addIssue({
                code: "custom",
                message: "is no longer offered: Azure creates no Standard workspaces since 2026-04-01 and moved the rest to Premium on 2026-10-01: use premium",
            });
        } else if (!(DATABRICKS_SKUS as readonly string[]).includes(value)) {
            ctx.addIssue({ code: "custom", message: `must be one of: ${DATABRICKS_SKUS.join(", ")}` });
        }
    })
    .transform((value) => value as DatabricksSku);

/** A Unity Catalog registry needs a Premium workspace. */
export function databricksIssues(sku: DatabricksSku, registryKind: RegistryKind): Issue[] {
    if (registryKind === "unity-catalog" && sku === "trial") {
        return [{ path: ["databricksSku"], input: sku, message: "cannot hold a Unity Catalog registry (registry.kind unity-catalog needs premium): use premium" }];
    }
    return [];
}
