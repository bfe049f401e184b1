import * as pulumi from "@pulumi/pulumi";
import * as resources from "@pulumi/azure-native/resources";
import * as storage from "@pulumi/azure-native/storage";
import type { StorageSku } from "../../lib/config";
import { OFFLINE_VARIABLE } from "../../lib/deployment/context";
import { checkHierarchicalNamespace, type StorageAccountLookup } from "../../lib/storage/namespace";
import { AUDIT_CONTAINER } from "../../lib/audit/record";
import { PAYLOAD_CONTAINER } from "../../lib/serving/payloadLog";

export interface ModelStoreArgs {
    location: string;
    /** Deploy into this existing resource group instead of creating one. */
    existingResourceGroupName?: string;
    /** Globally unique storage account name (3-24 lowercase letters or digits). */
    accountName: string;
    sku: StorageSku;
    /**
     * How long deleted blobs can be restored. With a hierarchical namespace there is no blob
     * versioning, so an overwritten blob cannot be restored, only a deleted one.
     */
    blobSoftDeleteDays: number;
    /** How long a deleted container can be restored. */
    containerSoftDeleteDays: number;
    /** Blob and container soft delete; keep it on (the policy pack requires it). */
    softDeleteEnabled: boolean;
    /** Anonymous blob reads; keep it off (the policy pack requires it). */
    allowBlobPublicAccess: boolean;
    /** Protect the account and its containers against deletion by `pulumi up`/`destroy`. */
    protect: boolean;
    tags: Record<string, string>;
    /**
     * Days for which an audit record can be neither replaced nor deleted: a time-based retention
     * (container-level WORM) policy on the audit container. Undefined: no policy (records are still
     * written create-only).
     */
    auditRetentionDays?: number;
    /**
     * Days a payload log blob (the payloads container) is kept before the account's lifecycle
     * rule deletes it; undefined: kept until deleted by hand.
     */
    payloadRetentionDays?: number;
    /**
     * How to look up an existing account before declaring it (see lib/storage/namespace.ts);
     * `false` skips the check. Defaults to azure-native's getStorageAccount, except offline (the plan).
     */
    existingAccount?: StorageAccountLookup | false;
}

/** azure-native's getStorageAccount (a call the deploying identity makes during preview and up). */
const lookupStorageAccount: StorageAccountLookup = async (resourceGroupName, accountName) =>
    storage.getStorageAccount({ resourceGroupName, accountName });

/**
 * The store's containers: the data-science team writes to data and models; promotions and rollbacks
 * write their audit records to audit (lib/audit), which only the deployers may write to; payloads
 * is the serving containers' payload log (serving/payload_log.py), which only the serving identity
 * writes (ModelServing assigns it Storage Blob Data Contributor on that container alone).
 */
export const MODEL_STORE_CONTAINERS = { data: "data", models: "models", audit: AUDIT_CONTAINER, payloads: PAYLOAD_CONTAINER } as const;
export type ModelStoreContainerNames = { [K in keyof typeof MODEL_STORE_CONTAINERS]: string };

/**
 * Blob Storage for training data and model files: secure by default (HTTPS, TLS 1.2, Entra ID
 * auth, no anonymous access) and recoverable where Azure allows it: soft delete brings back deleted
 * blobs and containers, not overwritten blobs (no versioning with a hierarchical namespace), and
 * not a deleted account, which is why an account without a hierarchical namespace is refused
 * rather than replaced.
 */
export class ModelStore extends pulumi.ComponentResource {
    readonly resourceGroupName: pulumi.Output<string>;
    readonly accountId: pulumi.Output<string>;
    readonly accountName: pulumi.Output<string>;
    readonly blobEndpoint: pulumi.Output<string>;
    readonly containerNames: pulumi.Output<ModelStoreContainerNames>;
    /** The payloads container's ARM id: the scope of the serving identity's write access. */
    readonly payloadContainerId: pulumi.Output<string>;

    constructor(name: string, args: ModelStoreArgs, opts?: pulumi.ComponentResourceOptions) {
        super("mlflow-platform:storage:ModelStore", name, {}, opts);
        // The first resources of a stack wait for what the component was told to wait for (the
        // subscription's resource provider registrations); everything else builds on them.
        const first = { parent: this, dependsOn: opts?.dependsOn };
        const stateful: pulumi.CustomResourceOptions = { ...first, protect: args.protect };

        this.resourceGroupName = args.existingResourceGroupName
            ? pulumi.output(args.existingResourceGroupName)
            : new resources.ResourceGroup(`${name}-rg`, { location: args.location, tags: args.tags }, first).name;

        // isHnsEnabled is create-only: an existing account without it would be replaced (deleted in
        // dev). The account waits for this check, so a refusal stops the run before any change.
        const lookup = args.existingAccount ?? (process.env[OFFLINE_VARIABLE] === "1" ? false : lookupStorageAccount);
        const accountOptions: pulumi.CustomResourceOptions = lookup
            ? {
                  ...stateful,
                  dependsOn: pulumi.output(this.resourceGroupName).apply(async (resourceGroupName) => {
                      await checkHierarchicalNamespace(lookup, resourceGroupName, args.accountName, (message) => pulumi.log.warn(message, this));
                      return opts?.dependsOn ?? [];
                  }) as pulumi.Input<pulumi.Resource[]>,
              }
            : stateful;

        const account = new storage.StorageAccount(
            `${name}-account`,
            {
                accountName: args.accountName,
                resourceGroupName: this.resourceGroupName,
                location: args.location,
                kind: "StorageV2",
                // Hierarchical namespace (ADLS Gen2): Unity Catalog storage credentials and external
                // locations, `abfss://` paths and the Data Lake API that promotion copies files with
                // all need it. Set at creation only; changing it replaces the account.
                isHnsEnabled: true,
                sku: { name: args.sku },
                accessTier: "Hot",
                enableHttpsTrafficOnly: true,
                minimumTlsVersion: "TLS1_2",
                allowBlobPublicAccess: args.allowBlobPublicAccess,
                allowCrossTenantReplication: false,
                // Entra ID (OAuth) only: no account keys or SAS tokens to leak. Databricks reads
                // through its access connector's managed identity.
                defaultToOAuthAuthentication: true,
                allowSharedKeyAccess: false,
                tags: args.tags,
            },
            accountOptions,
        );

        const blobService = new storage.BlobServiceProperties(
            `${name}-blob-service`,
            {
                accountName: account.name,
                resourceGroupName: this.resourceGroupName,
                blobServicesName: "default",
                deleteRetentionPolicy: { enabled: args.softDeleteEnabled, days: args.blobSoftDeleteDays },
                containerDeleteRetentionPolicy: { enabled: args.softDeleteEnabled, days: args.containerSoftDeleteDays },
                // No blob versioning: Azure does not support it on accounts with a hierarchical
                // namespace. Model files are written once per registered version, and soft delete
                // (blobs and directories) covers deletion.
                isVersioningEnabled: false,
            },
            { parent: this },
        );

        const containers = Object.entries(MODEL_STORE_CONTAINERS).map(
            ([key, containerName]) =>
                new storage.BlobContainer(
                    `${name}-${key}`,
                    {
                        accountName: account.name,
                        resourceGroupName: this.resourceGroupName,
                        containerName,
                        publicAccess: "None",
                    },
                    // Soft delete must be on before the first file lands.
                    { ...stateful, dependsOn: [blobService] },
                ),
        );

        // Audit records, once written, are neither replaced nor deleted for the retention period: a
        // container-level time-based retention (WORM) policy, which accounts with a hierarchical
        // namespace support (blob versioning and version-level WORM they do not). While it is
        // unlocked, blobs can be created and read, not overwritten or deleted; the policy itself can
        // still be removed by someone with write access to the account (the deployers: Contributor),
        // and locking it (irreversible) is left to the operators. Microsoft Learn: "Container-level
        // WORM policies for immutable blob data", "Time-based retention policies".
        const auditIndex = Object.keys(MODEL_STORE_CONTAINERS).indexOf("audit");
        if (args.auditRetentionDays !== undefined) {
            new storage.BlobContainerImmutabilityPolicy(
                `${name}-audit-retention`,
                {
                    accountName: account.name,
                    resourceGroupName: this.resourceGroupName,
                    containerName: containers[auditIndex].name,
                    immutabilityPolicyName: "default",
                    immutabilityPeriodSinceCreationInDays: args.auditRetentionDays,
                    // Records are block blobs written whole, once: no appends to allow.
                    allowProtectedAppendWrites: false,
                },
                stateful,
            );
        }

        this.accountId = account.id;
        this.accountName = account.name;
        this.blobEndpoint = account.primaryEndpoints.blob;
        this.containerNames = pulumi
            .all(containers.map((c) => c.name))
            .apply((names) => Object.fromEntries(Object.keys(MODEL_STORE_CONTAINERS).map((key, i) => [key, names[i]])) as ModelStoreContainerNames);
        this.payloadContainerId = containers[Object.keys(MODEL_STORE_CONTAINERS).indexOf("payloads")].id;

        if (args.payloadRetentionDays !== undefined) {
            // The account's one lifecycle policy (Azure names it "default"): payload blobs are
            // deleted a set time after they were written (learn.microsoft.com/azure/storage/blobs/lifecycle-management-overview).
            new storage.ManagementPolicy(
                `${name}-lifecycle`,
                {
                    accountName: account.name,
                    resourceGroupName: this.resourceGroupName,
                    managementPolicyName: "default",
                    policy: {
                        rules: [
                            {
                                name: "payload-log-retention",
                                enabled: true,
                                type: "Lifecycle",
                                definition: {
                                    filters: { blobTypes: ["blockBlob"], prefixMatch: [`${PAYLOAD_CONTAINER}/`] },
                                    actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: args.payloadRetentionDays } } },
                                },
                            },
                        ],
                    },
                },
                { parent: this, dependsOn: containers },
            );
        }

        this.registerOutputs({
            resourceGroupName: this.resourceGroupName,
            accountId: this.accountId,
            accountName: this.accountName,
            blobEndpoint: this.blobEndpoint,
            containerNames: this.containerNames,
            payloadContainerId: this.payloadContainerId,
        });
    }
}
