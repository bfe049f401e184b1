// mlflow-platform's storage keys (top level in the stack file: storageAccountName, storageSku, the
// soft-delete days and switches, resourceGroupName): their schema, their meaning and their defaults.
import { z } from "zod";
import { boolean, matching, oneOf, wholeNumber } from "./common";

// StorageV2 accepts only the Standard SKUs; Premium_LRS on StorageV2 serves page blobs only and
// premium block blobs need a different account kind (BlockBlobStorage).
export const STORAGE_SKUS = [
    "Standard_LRS",
    "Standard_ZRS",
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
] as const;
export const RETENTION_DAYS = { min: 1, max: 365 } as const;
export type StorageSku = (typeof STORAGE_SKUS)[number];

export interface StorageConfig {
    /** An existing resource group to deploy into; a new one is created when absent. */
    existingResourceGroupName?: string;
    accountName: string;
    sku: StorageSku;
    blobSoftDeleteDays: number;
    containerSoftDeleteDays: number;
    /** On by default; the policy pack refuses it off, in every stack. */
    softDeleteEnabled: boolean;
    /** Off by default; the policy pack refuses it on, in every stack. */
    allowBlobPublicAccess: boolean;
}

/** The storage keys, in the order the project's keys are listed. */
export const STORAGE_KEYS = {
    resourceGroupName: z
        .literal("", { error: "must be an existing resource group name" })
        .or(matching(/^[-\w.()]{1,89}[-\w()]$/, "an existing resource group name: 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'"))
        .optional(),
    storageAccountName: matching(/^[a-z0-9]{3,24}$/, "3-24 lowercase letters or digits (globally unique in Azure)"),
    storageSku: oneOf(STORAGE_SKUS),
    blobSoftDeleteDays: wholeNumber(RETENTION_DAYS.min, RETENTION_DAYS.max),
    containerSoftDeleteDays: wholeNumber(RETENTION_DAYS.min, RETENTION_DAYS.max),
    softDeleteEnabled: boolean(),
    allowBlobPublicAccess: boolean(),
};

/** The storage section of the typed config. */
export function storageConfig(c: z.infer<z.ZodObject<typeof STORAGE_KEYS>>): StorageConfig {
    return {
        // Pulumi.yaml defaults it to "" because the CLI requires a default for every optional key.
        existingResourceGroupName: c.resourceGroupName || undefined,
        accountName: c.storageAccountName,
        sku: c.storageSku,
        blobSoftDeleteDays: c.blobSoftDeleteDays,
        containerSoftDeleteDays: c.containerSoftDeleteDays,
        softDeleteEnabled: c.softDeleteEnabled,
        allowBlobPublicAccess: c.allowBlobPublicAccess,
    };
}
