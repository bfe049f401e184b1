// The storage account's hierarchical namespace (`isHnsEnabled`) is set when Azure creates the
// account and cannot be switched on by an update (Azure/azure-rest-api-specs#18441), so Pulumi
// replaces an account created without it; azure-native deletes a fixed-name resource before it
// creates the replacement (pulumi/pulumi-azure-native#4738). In prd `protect` stops that; in dev it
// would delete the account with every file in it. This check refuses, before anything changes.
// The in-place upgrade (one way; blob and container soft delete off first) is Microsoft's
// "Upgrade Azure Blob Storage with Azure Data Lake Storage capabilities" (az storage account hns-migration).

/** What the check needs to know about an account that already exists. */
export interface ExistingStorageAccount {
    isHnsEnabled?: boolean;
}

/** Looks an account up: undefined when it does not exist; throws when it cannot tell. */
export type StorageAccountLookup = (resourceGroupName: string, accountName: string) => Promise<ExistingStorageAccount | undefined>;

/** Azure's answers for "no such account (or resource group)" yet: nothing to protect. */
const NOT_FOUND = /ResourceNotFound|ResourceGroupNotFound|StorageAccountNotFound|could not be found|was not found|\b404\b/i;

export function isNotFound(err: unknown): boolean {
    return NOT_FOUND.test(err instanceof Error ? err.message : String(err));
}

/** The refusal for an existing account without a hierarchical namespace; undefined when it has one. */
export function hierarchicalNamespaceProblem(account: ExistingStorageAccount | undefined, accountName: string, resourceGroupName: string): string | undefined {
    if (!account || account.isHnsEnabled === true) return undefined;
    return (
        `the storage account ${accountName} (resource group ${resourceGroupName}) exists without a hierarchical namespace (isHnsEnabled false), ` +
        "and this program declares it with one (Unity Catalog and abfss:// paths need it). Azure sets it only when it creates an account, so Pulumi would replace the account: " +
        "in prd `protect` stops that; in dev it would delete the account and every file in it, which soft delete does not bring back. Nothing was changed. " +
        "Upgrade the account in place first (one way, keeps the data): turn off blob and container soft delete and wait until the soft-deleted blobs have expired, then run " +
        `\`az storage account hns-migration start --type validation -n ${accountName} -g ${resourceGroupName}\` and, when it passes, \`--type upgrade\`; ` +
        "then `pulumi refresh` and deploy again (the deployment turns soft delete back on). See the README, \"Storage: hierarchical namespace\""
    );
}

/**
 * Refuses (throws) when the account exists without a hierarchical namespace. An account that does
 * not exist yet is fine; a lookup that fails for another reason is reported through `warn` and
 * not held against the deployment (the replace would still be stopped by `protect` in prd).
 */
export async function checkHierarchicalNamespace(lookup: StorageAccountLookup, resourceGroupName: string, accountName: string, warn: (message: string) => void): Promise<void> {
    let account: ExistingStorageAccount | undefined;
    try {
        account = await lookup(resourceGroupName, accountName);
    } catch (err) {
        if (isNotFound(err)) return;
        const reason = (err instanceof Error ? err.message : String(err)).split("\n")[0] || "no reason given";
        warn(`could not check whether the storage account ${accountName} has a hierarchical namespace (${reason}): an account created without one would be replaced`);
        return;
    }
    const problem = hierarchicalNamespaceProblem(account, accountName, resourceGroupName);
    if (problem) throw new Error(problem);
}
