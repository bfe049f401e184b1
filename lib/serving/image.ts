// What a model's serving image is made of, as plain values: its content-addressed tag, the
// recipe digest, and the registry credential the build's fetch step gets as a BuildKit secret.
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { AZURE_DATABRICKS_SCOPE, type AccessTokenSource, type ExplicitCredentials } from "../registry/credentials";
import type { RegistryKind } from "../registry/types";
import { azureSignIn } from "../azure/signIn";

/** The build context, relative to the project folder (where Pulumi runs the program). */
export const SERVING_CONTEXT = "serving";

/** Every file the Dockerfile copies, and the Dockerfile itself: the serving recipe. */
export const RECIPE_FILES = [
    "Dockerfile",
    "fetch-requirements.txt",
    "model_files.py",
    "fetch_model.py",
    "serve_model.py",
    "scoring_app.py",
    "request_records.py",
    "scoring_metrics.py",
    "scoring_telemetry.py",
    "payload_log.py",
    "drift.py",
    "drift_job.py",
    "install_environment.sh",
    "serving_requirements.py",
] as const;

/** BuildKit secret id the Dockerfile mounts in its fetch step. */
export const REGISTRY_SECRET_ID = "registry_env";

/**
 * A short digest of the serving recipe. Line endings are normalised so that a checkout on any
 * machine gives the same digest, and with it the same image tags.
 */
export function recipeDigest(projectDir: string, files: readonly string[] = RECIPE_FILES): string {
    const hash = createHash("sha256");
    for (const file of [...files].sort()) {
        const text = fs.readFileSync(path.join(projectDir, SERVING_CONTEXT, file), "utf8").replace(/\r\n/g, "\n");
        hash.update(`${file}\0${text}\0`);
    }
    return hash.digest("hex").slice(0, 12);
}

/** `models/<service>`: one repository per served model. */
export function imageRepository(service: string): string {
    return `models/${service}`;
}

/**
 * `<model>-v<version>-<recipe>`, in Docker's tag alphabet (letters, digits, '_', '.', '-', at most
 * 128). The model name is shortened, never the version or the recipe, so the tag stays unique.
 */
export function imageTag(model: string, version: string, recipe: string): string {
    const suffix = `-v${version}-${recipe}`;
    const name = model.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[.-]+/, "");
    return `${name.slice(0, 128 - suffix.length)}${suffix}`;
}

/** Where a build's registry credential comes from; `content` is read only when a build needs it. */
export interface BuildCredential {
    /** For messages: "Pulumi config mlflow-platform:registryToken", "DATABRICKS_TOKEN", … never a value. */
    source: string;
    /** The secret file's text: KEY=VALUE lines that MLflow's client reads (serving/model_files.py). */
    content(): Promise<string>;
}

/**
 * The credential the image build uses to download a model version, first match wins:
 * 1. secret config: registryToken, or registryUsername/registryPassword;
 * 2. the deployer's environment: MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN (self-hosted),
 *    DATABRICKS_TOKEN or MLFLOW_TRACKING_TOKEN (Databricks);
 * 3. Databricks only: a Microsoft Entra token for Azure Databricks from the deployer's sign-in
 *    (Azure Databricks accepts it as a bearer token, like a personal access token).
 * A self-hosted MLflow server with none of these is read without a credential (empty file).
 * With `offline` (the credential-free plan) no sign-in is attempted: undefined means "not known here".
 */
export function buildCredential(
    kind: RegistryKind,
    explicit: ExplicitCredentials,
    env: NodeJS.ProcessEnv,
    options: { offline: boolean; tokenSource?: AccessTokenSource },
): BuildCredential | undefined {
    const tokenKey = kind === "mlflow" ? "MLFLOW_TRACKING_TOKEN" : "DATABRICKS_TOKEN";
    const fixed = (source: string, lines: string[]): BuildCredential => ({ source, content: async () => lines.map((l) => `${l}\n`).join("") });
    if (explicit.token) return fixed("Pulumi config mlflow-platform:registryToken", [`${tokenKey}=${explicit.token}`]);
    if (explicit.username || explicit.password) {
        if (!explicit.username || !explicit.password) {
            throw new Error("registry credentials: set both mlflow-platform:registryUsername and mlflow-platform:registryPassword, or neither");
        }
        return fixed("Pulumi config mlflow-platform:registryUsername/registryPassword", [
            `MLFLOW_TRACKING_USERNAME=${explicit.username}`,
            `MLFLOW_TRACKING_PASSWORD=${explicit.password}`,
        ]);
    }
    if (kind === "mlflow") {
        const { MLFLOW_TRACKING_USERNAME: user, MLFLOW_TRACKING_PASSWORD: password, MLFLOW_TRACKING_TOKEN: token } = env;
        if (user || password) {
            if (!user || !password) throw new Error("registry credentials: set both MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or neither");
            return fixed("MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD", [`MLFLOW_TRACKING_USERNAME=${user}`, `MLFLOW_TRACKING_PASSWORD=${password}`]);
        }
        if (token) return fixed("MLFLOW_TRACKING_TOKEN", [`MLFLOW_TRACKING_TOKEN=${token}`]);
        return fixed("no credential (self-hosted MLflow without authentication)", []);
    }
    const token = env.DATABRICKS_TOKEN || env.MLFLOW_TRACKING_TOKEN;
    if (token) return fixed(env.DATABRICKS_TOKEN ? "DATABRICKS_TOKEN" : "MLFLOW_TRACKING_TOKEN", [`DATABRICKS_TOKEN=${token}`]);
    if (options.offline) return undefined;
    return {
        source: "Microsoft Entra ID (the deployer's sign-in)",
        async content() {
            // Loaded on first use: only a Databricks build without a token needs it.
            const source: AccessTokenSource = options.tokenSource ?? azureSignIn();
            let token;
            try {
                token = await source.getToken(AZURE_DATABRICKS_SCOPE);
            } catch (err) {
                throw new Error(
                    `no Microsoft Entra token for Azure Databricks to build the serving images: ${(err as Error).message.split("\n")[0]}. ` +
                        "Run `az login` (or set DATABRICKS_TOKEN, or the secret config mlflow-platform:registryToken).",
                );
            }
            if (!token?.token) throw new Error("no Microsoft Entra token for Azure Databricks to build the serving images: the credential returned none");
            return `DATABRICKS_TOKEN=${token.token}\n`;
        },
    };
}
