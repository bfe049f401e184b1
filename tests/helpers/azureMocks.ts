// Mocks that answer like Azure after a deployment: ARM ids and the outputs the provider computes,
// so tests can check how components wire one resource's outputs into another's inputs.
import { createHash } from "crypto";
import type * as pulumi from "@pulumi/pulumi";

export const DEPLOYING_IDENTITY = {
    clientId: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
    objectId: "dddddddd-1111-2222-3333-444444444444",
    tenantId: "eeeeeeee-1111-2222-3333-444444444444",
    id: "deploying-identity",
};

/** The application id Databricks gives the registration principal (a Databricks-managed service principal). */
export const REGISTRATION_APP_ID = "5a5a5a5a-0000-4000-8000-00000000c0de";

export const TEST_SUBSCRIPTION = "/subscriptions/11111111-2222-3333-4444-555555555555";

function unwrapSecret(value: any): any {
    return value && value["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270" ? value.value : value;
}

function armId(type: string, name: string): string {
    const [, module, kind] = type.split(":");
    return `${TEST_SUBSCRIPTION}/resourceGroups/rg-test/providers/Microsoft.${module}/${kind}/${name}`;
}

const computedOutputs: Record<string, (name: string, inputs: Record<string, any>) => Record<string, unknown>> = {
    "azure-native:resources:ResourceGroup": (name) => ({ name: `${name}abc123` }),
    "azure-native:storage:StorageAccount": (_, inputs) => ({
        name: inputs.accountName,
        primaryEndpoints: { blob: `https://${inputs.accountName}.blob.core.windows.net/` },
    }),
    "azure-native:storage:BlobContainer": (_, inputs) => ({ name: inputs.containerName }),
    "azure-native:databricks:AccessConnector": (name, inputs) => ({
        identity: { ...inputs.identity, principalId: `principal-of-${name}` },
    }),
    "pulumi:pulumi:StackReference": (name) => ({
        name,
        outputs: { workspaceUrl: "https://adb-1111111111111111.1.azuredatabricks.net" },
        secretOutputNames: [],
    }),
    // What the ModelVersion provider's check and create return for a registry whose answer is version 7.
    "pulumi-nodejs:dynamic/registry:ModelVersion": (_, inputs) => ({
        version: "7",
        modelUri: `models:/${inputs.model}/7`,
        status: "READY",
        source: "runs:/abc/model",
        runId: "abc",
        aliases: [],
        createdAt: "2026-11-01T00:00:00.000Z",
    }),
    "azure-native:containerregistry:Registry": (_, inputs) => ({ loginServer: `${inputs.registryName}.azurecr.io` }),
    "azure-native:managedidentity:UserAssignedIdentity": (name) => ({ clientId: `client-of-${name}`, principalId: `principal-of-${name}` }),
    // Shaped like Azure's answer: an instrumentation key and the regional ingestion endpoint (no secret key with local auth off).
    "azure-native:applicationinsights:Component": (name, inputs) => ({
        connectionString: `InstrumentationKey=key-of-${name};IngestionEndpoint=https://${inputs.location}-0.in.applicationinsights.azure.com/;ApplicationId=app-of-${name}`,
    }),
    "docker-build:index:Image": (_, inputs) => {
        // Like a real build: the digest follows what went into the image.
        const digest = `sha256:${createHash("sha256").update(JSON.stringify(inputs.buildArgs)).digest("hex")}`;
        return { digest, ref: `${inputs.tags[0]}@${digest}` };
    },
    "azure-native:containerinstance:ContainerGroup": (_, inputs) => ({
        ipAddress: { ...inputs.ipAddress, fqdn: `${inputs.ipAddress.dnsNameLabel}.${inputs.location}.azurecontainer.io`, ip: "20.1.2.3" },
    }),
    "azure-native:app:ContainerApp": (_, inputs) => ({
        name: inputs.containerAppName,
        // A configuration holding a secret arrives wrapped as one; the answer carries the host name either way.
        configuration: {
            ...unwrapSecret(inputs.configuration),
            ingress: { ...unwrapSecret(inputs.configuration).ingress, fqdn: `${inputs.containerAppName}.kindpond-1234abcd.${inputs.location}.azurecontainerapps.io` },
        },
        latestRevisionName: `${inputs.containerAppName}--${inputs.template.revisionSuffix}`,
    }),
    // Microsoft Entra ID answers the registration with its ids; the identifier URI as given.
    "azuread:index/applicationRegistration:ApplicationRegistration": (name) => ({ clientId: `client-of-${name}`, objectId: `object-of-${name}` }),
    "azuread:index/servicePrincipal:ServicePrincipal": (name, inputs) => ({ objectId: `object-of-${name}`, clientId: inputs.clientId }),
    "databricks:index/servicePrincipal:ServicePrincipal": () => ({ applicationId: REGISTRATION_APP_ID, aclPrincipalId: `servicePrincipals/${REGISTRATION_APP_ID}` }),
    // A Log Analytics workspace answers with its GUID, which the query API addresses it by.
    "azure-native:operationalinsights:Workspace": () => ({ customerId: "63613592-b6f7-4c3d-a390-22ba13102111" }),
    "azure-native:databricks:Workspace": () => ({
        workspaceId: "1234567890123456",
        workspaceUrl: "adb-1234567890123456.7.azuredatabricks.net",
    }),
};

export const deployedAzureMocks: pulumi.runtime.Mocks = {
    newResource: ({ type, name, inputs, custom }) => {
        if (!custom) return { id: undefined, state: {} };
        if (type === "pulumi:pulumi:StackReference") return { id: name, state: computedOutputs[type](name, inputs) };
        const extra = computedOutputs[type]?.(name, inputs) ?? {};
        return { id: armId(type, name), state: { name, ...inputs, ...extra } };
    },
    call: ({ token }) => {
        // The deploying identity, as azuread's getClientConfig reports it after `az login`.
        if (token === "azuread:index/getClientConfig:getClientConfig") return DEPLOYING_IDENTITY;
        // A first deployment: the storage account does not exist yet (ARM's ResourceNotFound).
        if (token === "azure-native:storage:getStorageAccount") throw new Error("ResourceNotFound: The Resource 'Microsoft.Storage/storageAccounts/x' was not found.");
        throw new Error(`unexpected provider function ${token}`);
    },
};
