// What the program may ask outside Pulumi while it declares resources: the model registry (is a
// model registered?) and the container registry (does an image tag exist? a push token), and with
// which credentials. The credential-free plan (`npm run plan`) sets MLFLOW_PLATFORM_OFFLINE=1: then
// nothing signs in, and only registries that the environment's own credentials open are asked.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { settled } from "./outputs";
import { AcrClient, ACR_EXCHANGE_SCOPE } from "../azure/acr";
import type { PlatformConfig } from "../config";
import { RegistryClient } from "../registry/client";
import { selectCredential, type AccessTokenSource, type ExplicitCredentials } from "../registry/credentials";
import { registeredEntries, type SkippedModel } from "../serving/bootstrap";
import { buildCredential, type BuildCredential } from "../serving/image";
import type { RevisionState } from "../serving/traffic";
import { ARM_SCOPE, ContainerAppsClient } from "../azure/containerApps";
import { azureSignIn } from "../azure/signIn";

/** The current Pulumi organization; self-managed backends (and the plan's mock runtime) have none to give. */
export function currentOrganization(): string | undefined {
    try {
        return pulumi.getOrganization();
    } catch {
        return undefined;
    }
}

/** Set by `npm run plan`: make no sign-in and no call that needs one. */
export const OFFLINE_VARIABLE = "MLFLOW_PLATFORM_OFFLINE";

export interface DeploymentContext {
    offline: boolean;
    /** The entries to serve, and the ones skipped because their registered model does not exist. */
    registeredModels<T extends { name: string; model: string }>(entries: readonly T[], registryUrl: string | undefined): Promise<{ serve: T[]; skipped: SkippedModel[] }>;
    images: {
        projectDir: string;
        credential: BuildCredential | undefined;
        registryAccess?: (loginServer: string) => AcrClient;
    };
    /** Reads a container app's revisions (and whether its auth config exists) before a rollout; absent offline. */
    rollout?: { revisions(appId: string): Promise<RevisionState[] | undefined>; authConfigured?(appId: string): Promise<boolean> };
}

export async function deploymentContext(config: PlatformConfig, env: NodeJS.ProcessEnv, tokenSource?: AccessTokenSource): Promise<DeploymentContext> {
    const offline = env[OFFLINE_VARIABLE] === "1";
    const kind = config.registry.kind;
    // The plan cannot decrypt secret config (it sees a placeholder), so offline it uses none.
    const explicit: ExplicitCredentials = offline
        ? {}
        : {
              token: await settled(config.registryCredentials.token),
              username: await settled(config.registryCredentials.username),
              password: await settled(config.registryCredentials.password),
          };
    // One sign-in for the whole run (it caches its tokens), created only when a call needs it.
    let signIn: AccessTokenSource | undefined = tokenSource;
    const azure = (): AccessTokenSource => (signIn ??= azureSignIn());
    const shared: AccessTokenSource = { getToken: (scope) => azure().getToken(scope) };
    /** An Entra access token for `scope`, or an error saying what it was for and how to sign in. */
    const tokenFor = (scope: string, purpose: string) => async () => {
        const token = await azure().getToken(scope);
        if (!token?.token) throw new Error(`no Microsoft Entra token ${purpose}: run \`az login\``);
        return token.token;
    };
    return {
        offline,
        async registeredModels(entries, registryUrl) {
            if (!registryUrl || entries.length === 0) return { serve: [...entries], skipped: [] };
            let credential = selectCredential(kind, explicit, env, shared);
            // The plan never signs in: without a token of its own it cannot ask a Databricks registry.
            if (offline && credential?.source.startsWith("Microsoft Entra")) credential = undefined;
            const canAsk = kind === "mlflow" || credential !== undefined;
            return registeredEntries(entries, canAsk ? new RegistryClient({ kind, url: registryUrl, credential }) : undefined);
        },
        rollout: offline
            ? undefined
            : new ContainerAppsClient({ token: tokenFor(ARM_SCOPE, "for Azure Resource Manager") }),
        images: {
            projectDir: path.resolve(__dirname, "..", ".."),
            credential: buildCredential(kind, explicit, env, { offline, tokenSource: shared }),
            registryAccess: offline
                ? undefined
                : (loginServer) => new AcrClient({ loginServer, entraToken: tokenFor(ACR_EXCHANGE_SCOPE, `to push to ${loginServer}`) }),
        },
    };
}
