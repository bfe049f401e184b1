// The deployer's Microsoft Entra sign-in, for every Azure call the project makes itself (ARM in the
// dynamic providers, Databricks and ACR tokens, Blob uploads).
//
// In GitHub Actions with OpenID Connect, each assertion Entra sees is a GitHub ID token requested
// at that moment: GitHub's ID tokens live about five minutes, and @azure/identity's
// WorkloadIdentityCredential keeps the content of AZURE_FEDERATED_TOKEN_FILE for five minutes, so a
// long `pulumi up` or promotion could present an expired one (AADSTS700024). Relied on: the runner
// sets ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN for jobs with
// `id-token: write`, and answers `{"value": "<jwt>"}` (GitHub's "About security hardening with
// OpenID Connect"); `api://AzureADTokenExchange` is the audience Entra's federated credentials expect.
// Anywhere else: DefaultAzureCredential (Azure CLI login, managed identity, environment).
import axios from "axios";
import type { TokenCredential } from "@azure/identity";

export const GITHUB_OIDC_AUDIENCE = "api://AzureADTokenExchange";

/** The GitHub job's OIDC settings and the Entra application to sign in as, when all are there. */
export function githubFederation(env: NodeJS.ProcessEnv): { requestUrl: string; requestToken: string; tenantId: string; clientId: string } | undefined {
    const requestUrl = env.ACTIONS_ID_TOKEN_REQUEST_URL;
    const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
    const tenantId = env.AZURE_TENANT_ID || env.ARM_TENANT_ID;
    const clientId = env.AZURE_CLIENT_ID || env.ARM_CLIENT_ID;
    if (!requestUrl || !requestToken || !tenantId || !clientId) return undefined;
    return { requestUrl, requestToken, tenantId, clientId };
}

/** Asks the GitHub runner for a new ID token for Entra; a clear error (never the request token) on failure. */
export function githubAssertion(requestUrl: string, requestToken: string, timeoutMs = 30_000): () => Promise<string> {
    return async () => {
        const url = new URL(requestUrl);
        url.searchParams.set("audience", GITHUB_OIDC_AUDIENCE);
        let answer;
        try {
            answer = await axios.get(url.toString(), {
                headers: { Authorization: `bearer ${requestToken}`, Accept: "application/json" },
                timeout: timeoutMs,
                validateStatus: () => true,
            });
        } catch (err) {
            const code = (err as { code?: string }).code ?? "no answer";
            throw new Error(`could not get a GitHub OIDC token for Microsoft Entra from ${url.origin} (${code}): is \`permissions: id-token: write\` set on the job?`);
        }
        const value = (answer.data as { value?: unknown } | undefined)?.value;
        if (answer.status !== 200 || typeof value !== "string" || value.split(".").length !== 3) {
            throw new Error(
                `GitHub's OIDC token endpoint ${url.origin} answered ${answer.status} without a token: check \`permissions: id-token: write\` on the job`,
            );
        }
        return value;
    };
}

/** One sign-in for a process (it caches Entra's tokens). */
export function azureSignIn(env: NodeJS.ProcessEnv = process.env): TokenCredential {
    // Loaded on first use: most runs (the plan, tests) never sign in.
    const identity = require("@azure/identity") as typeof import("@azure/identity");
    const github = githubFederation(env);
    if (github) return new identity.ClientAssertionCredential(github.tenantId, github.clientId, githubAssertion(github.requestUrl, github.requestToken));
    return new identity.DefaultAzureCredential();
}
