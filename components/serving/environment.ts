// The environment a scoring container needs to fetch its model from the registry, the same for
// every serving platform. Each platform maps `secret` entries to its own secret mechanism.
import * as pulumi from "@pulumi/pulumi";
import type { RegistryKind } from "../../lib/registry/types";

export interface ServingEnvVar {
    name: string;
    value: pulumi.Input<string>;
    /** Sensitive: ACI secure values, Container Apps secrets. */
    secret: boolean;
}

export interface RegistryAccess {
    kind: RegistryKind;
    url: pulumi.Input<string>;
    /** From secret config; when absent, Databricks registries are read with the managed identity. */
    credentials: { token?: pulumi.Input<string>; username?: pulumi.Input<string>; password?: pulumi.Input<string> };
}

export function servingEnvironment(registry: RegistryAccess, identityClientId: pulumi.Input<string>, workers: number): ServingEnvVar[] {
    const plain = (name: string, value: pulumi.Input<string>): ServingEnvVar => ({ name, value, secret: false });
    const secret = (name: string, value: pulumi.Input<string>): ServingEnvVar => ({ name, value, secret: true });
    const env = [plain("MLFLOW_MODELS_WORKERS", String(workers))];
    const { token, username, password } = registry.credentials;
    if (registry.kind === "mlflow") {
        env.push(plain("MLFLOW_TRACKING_URI", registry.url));
        if (token) env.push(secret("MLFLOW_TRACKING_TOKEN", token));
        if (username && password) env.push(secret("MLFLOW_TRACKING_USERNAME", username), secret("MLFLOW_TRACKING_PASSWORD", password));
        return env;
    }
    env.push(plain("MLFLOW_TRACKING_URI", "databricks"), plain("DATABRICKS_HOST", registry.url));
    if (registry.kind === "unity-catalog") env.push(plain("MLFLOW_REGISTRY_URI", "databricks-uc"));
    if (token) {
        env.push(secret("DATABRICKS_TOKEN", token));
    } else {
        // No secret at all: the Databricks SDK signs in as the container's user-assigned identity.
        env.push(plain("DATABRICKS_AUTH_TYPE", "azure-msi"), plain("ARM_USE_MSI", "true"), plain("ARM_CLIENT_ID", identityClientId));
    }
    return env;
}
