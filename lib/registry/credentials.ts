// Where registry credentials come from. A credential is read when a request is made, never
// stored in resource inputs or outputs, and its value can be scrubbed from any text.
import type { RegistryKind } from "./types";
import { azureSignIn } from "../azure/signIn";

/** The Azure Databricks resource's application id; Entra tokens for it open the workspace API. */
export const AZURE_DATABRICKS_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default";

export interface Credential {
    /** Where it came from, for messages ("DATABRICKS_TOKEN"); never the value. */
    readonly source: string;
    /** The value of the Authorization header. */
    authorization(): Promise<string>;
    /** Values that must never appear in output. */
    secrets(): string[];
}

/** Credentials given explicitly, e.g. from Pulumi secret config through the provider's configure. */
export interface ExplicitCredentials {
    token?: string;
    username?: string;
    password?: string;
}

export function bearerToken(token: string, source: string): Credential {
    return { source, authorization: async () => `Bearer ${token}`, secrets: () => [token] };
}

export function basicAuth(username: string, password: string, source: string): Credential {
    const encoded = Buffer.from(`${username}:${password}`).toString("base64");
    return { source, authorization: async () => `Basic ${encoded}`, secrets: () => [password, encoded] };
}

/** The part of @azure/identity's TokenCredential this module uses. */
export interface AccessTokenSource {
    getToken(scope: string): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

/**
 * A Microsoft Entra token from the deployer's sign-in (lib/azure/signIn: Azure CLI login, managed identity, GitHub OIDC
 * identity in CI, …) for `scope` (Azure Databricks unless given), renewed five minutes before it
 * expires.
 */
export function entraToken(tokenSource?: AccessTokenSource, scope = AZURE_DATABRICKS_SCOPE, audienceName = "Azure Databricks"): Credential {
    let cached: { token: string; expiresOnTimestamp: number } | undefined;
    const seen: string[] = [];
    return {
        source: "Microsoft Entra ID (the deployer's sign-in)",
        async authorization() {
            if (!cached || cached.expiresOnTimestamp - Date.now() < 5 * 60_000) {
                // Loaded on first use: most runs never need it.
                const source: AccessTokenSource =
                    tokenSource ?? azureSignIn();
                let token;
                try {
                    token = await source.getToken(scope);
                } catch (err) {
                    throw new Error(
                        `no Microsoft Entra token for ${audienceName}: ${(err as Error).message.split("\n")[0].replace(/\.+$/, "")}. ` +
                            (scope === AZURE_DATABRICKS_SCOPE
                                ? "Run `az login`, or set DATABRICKS_TOKEN, or the secret config mlflow-platform:registryToken"
                                : "Run `az login`, or set the token in SCORING_TOKEN"),
                    );
                }
                if (!token) throw new Error(`no Microsoft Entra token for ${audienceName}: the credential returned none`);
                cached = token;
                seen.push(token.token);
            }
            return `Bearer ${cached.token}`;
        },
        secrets: () => [...seen],
    };
}

/**
 * Picks the credential for a registry, first match wins:
 * 1. explicit credentials (Pulumi secret config): token, or username and password;
 * 2. for a self-hosted MLflow server: MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD, then MLFLOW_TRACKING_TOKEN;
 * 3. for Databricks: DATABRICKS_TOKEN, then MLFLOW_TRACKING_TOKEN, then a Microsoft Entra token.
 * A self-hosted server with none of these is called without credentials.
 */
export function selectCredential(
    kind: RegistryKind,
    explicit: ExplicitCredentials = {},
    env: NodeJS.ProcessEnv = process.env,
    tokenSource?: AccessTokenSource,
): Credential | undefined {
    if (explicit.token) return bearerToken(explicit.token, "Pulumi config mlflow-platform:registryToken");
    if (explicit.username !== undefined || explicit.password !== undefined) {
        if (!explicit.username || !explicit.password) {
            throw new Error("registry credentials: set both mlflow-platform:registryUsername and mlflow-platform:registryPassword, or neither");
        }
        return basicAuth(explicit.username, explicit.password, "Pulumi config mlflow-platform:registryUsername/registryPassword");
    }
    if (kind === "mlflow") {
        const { MLFLOW_TRACKING_USERNAME: user, MLFLOW_TRACKING_PASSWORD: password } = env;
        if (user || password) {
            if (!user || !password) {
                throw new Error("registry credentials: set both MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or neither");
            }
            return basicAuth(user, password, "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD");
        }
        if (env.MLFLOW_TRACKING_TOKEN) return bearerToken(env.MLFLOW_TRACKING_TOKEN, "MLFLOW_TRACKING_TOKEN");
        return undefined;
    }
    if (env.DATABRICKS_TOKEN) return bearerToken(env.DATABRICKS_TOKEN, "DATABRICKS_TOKEN");
    if (env.MLFLOW_TRACKING_TOKEN) return bearerToken(env.MLFLOW_TRACKING_TOKEN, "MLFLOW_TRACKING_TOKEN");
    return entraToken(tokenSource);
}
