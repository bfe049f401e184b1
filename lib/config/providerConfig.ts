// The provider settings a stack file may hold besides this project's own keys, so a misspelt
// provider key or namespace is named instead of silently ignored. Lists taken from the installed
// providers' config modules (node_modules/@pulumi/azure-native/config/vars.d.ts and
// node_modules/@pulumi/docker-build/config/vars.d.ts, node_modules/@pulumi/azuread/config/vars.d.ts);
// a test keeps them in step with those files. The databricks provider is configured by the program
// from the workspace it creates (components/access/unityCatalog.ts), so no `databricks:` key is read.

export const PROVIDER_KEYS: Readonly<Record<string, readonly string[]>> = {
    "azure-native": [
        "auxiliaryTenantIds",
        "clientCertificatePassword",
        "clientCertificatePath",
        "clientId",
        "clientSecret",
        "disableInstanceDiscovery",
        "disablePulumiPartnerId",
        "environment",
        "location",
        "metadataHost",
        "msiEndpoint",
        "oidcRequestToken",
        "oidcRequestUrl",
        "oidcToken",
        "oidcTokenFilePath",
        "partnerId",
        "subscriptionId",
        "tenantId",
        "useDefaultAzureCredential",
        "useMsi",
        "useOidc",
    ],
    // The image builder: the Docker host, and registry logins (the program passes its own per image).
    "docker-build": ["host", "registries"],
    // Microsoft Entra ID: the scoring API's app registration, role assignments, getClientConfig.
    azuread: [
        "adoPipelineServiceConnectionId",
        "clientCertificate",
        "clientCertificatePassword",
        "clientCertificatePath",
        "clientId",
        "clientIdFilePath",
        "clientSecret",
        "clientSecretFilePath",
        "disableTerraformPartnerId",
        "environment",
        "metadataHost",
        "msiEndpoint",
        "oidcRequestToken",
        "oidcRequestUrl",
        "oidcToken",
        "oidcTokenFilePath",
        "partnerId",
        "tenantId",
        "useAksWorkloadIdentity",
        "useCli",
        "useMsi",
        "useOidc",
    ],
};

/** Provider settings that hold a credential: only ever as `pulumi config set --secret`. */
export const PROVIDER_SECRET_KEYS: readonly string[] = [
    "azure-native:clientSecret",
    "azure-native:clientCertificatePassword",
    "azure-native:oidcToken",
    "azure-native:oidcRequestToken",
    // Registry logins carry passwords.
    "docker-build:registries",
    "azuread:clientCertificate",
    "azuread:clientCertificatePassword",
    "azuread:clientSecret",
    "azuread:oidcToken",
    "azuread:oidcRequestToken",
];

/** Namespaces the Pulumi engine itself reads (`pulumi:tags`, `pulumi:disable-default-providers`). */
export const ENGINE_NAMESPACES: readonly string[] = ["pulumi"];
