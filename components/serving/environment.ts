// The environment of a scoring container, the same for every serving platform. The model is baked
// into the image, so there is no registry URL or credential here: only how to serve, and (payload
// log on) which managed identity the log signs in with, by client id (no secret).
import type * as pulumi from "@pulumi/pulumi";

export interface ServingEnvVar {
    name: string;
    value: pulumi.Input<string>;
    /** Sensitive: ACI secure values, Container Apps secrets (PAYLOAD_LOG_CLIENT_ID, and the metrics export's: see metricsExport). */
    secret: boolean;
}

/** Variables that would let a container reach the registry; none may appear in a serving container. */
export const REGISTRY_VARIABLE = /^(MLFLOW_TRACKING_|MLFLOW_REGISTRY_URI$|DATABRICKS_|ARM_|AZURE_CLIENT)/;

export function servingEnvironment(workers: number): ServingEnvVar[] {
    return [{ name: "MLFLOW_MODELS_WORKERS", value: String(workers), secret: false }];
}

/**
 * What a revision's request records and metrics name it by (serving/request_records.py reads
 * these; Container Apps adds CONTAINER_APP_REVISION itself). Per revision, not in the image: the
 * image's last stage takes no build argument.
 */
export function revisionIdentity(model: string, version: pulumi.Input<string>, imageTag: pulumi.Input<string>): ServingEnvVar[] {
    return [
        { name: "SERVING_MODEL_NAME", value: model, secret: false },
        { name: "SERVING_MODEL_VERSION", value: version, secret: false },
        { name: "SERVING_IMAGE_TAG", value: imageTag, secret: false },
    ];
}

/**
 * The client id of the user-assigned identity the payload log signs in with
 * (serving/payload_log.py: ManagedIdentityCredential(client_id=...)). Not AZURE_CLIENT_ID: that
 * name is refused in serving containers (REGISTRY_VARIABLE) and would steer every Azure SDK
 * credential in the process. It is no secret, but it is carried as one (a Container Apps secret,
 * an ACI secure value): it is an output of the identity, and in the app's template, which the
 * plan and a first preview show in full, one unknown value would hide the whole template (its
 * revision suffix too); a secret is referenced there by its plain name.
 */
export function payloadLogClientId(clientId: pulumi.Input<string>): ServingEnvVar[] {
    return [{ name: "PAYLOAD_LOG_CLIENT_ID", value: clientId, secret: true }];
}

/** Where a revision's metrics go (serving/scoring_telemetry.py reads these two). */
export interface MetricsExport {
    /** Application Insights' connection string: an endpoint and a resource id, no key (local auth is off). */
    connectionString: pulumi.Input<string>;
    /** The client id of the serving identity, which holds Monitoring Metrics Publisher on Application Insights. */
    identityClientId: pulumi.Input<string>;
}

/**
 * The container's OpenTelemetry export to Application Insights, signed in as the revision's
 * user-assigned identity (ManagedIdentityCredential(client_id=...)). The client id is not named
 * AZURE_CLIENT_ID: REGISTRY_VARIABLE refuses that prefix here, and it would steer every Azure SDK
 * credential in the process. Both are carried as secrets (Container Apps secrets, ACI secure
 * values): neither is in the image, and as outputs of other resources they would leave the whole
 * template unknown in a preview, while a secret is referenced there by its plain name. A revision's
 * spec holds their names only (lib/serving/revision.ts), so a new connection string is no new revision.
 */
export function metricsExport(target: MetricsExport): ServingEnvVar[] {
    return [
        { name: "APPLICATIONINSIGHTS_CONNECTION_STRING", value: target.connectionString, secret: true },
        { name: "SERVING_IDENTITY_CLIENT_ID", value: target.identityClientId, secret: true },
    ];
}
