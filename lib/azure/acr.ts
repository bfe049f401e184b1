// Azure Container Registry data-plane calls the deployment needs, over axios:
// - a refresh token for `docker push`, exchanged from the deployer's own Microsoft Entra token, so
//   a registry created in the same `pulumi up` needs no admin user, stored password or `az acr login`;
// - whether an image tag exists, so an image that was pushed once is reused, never rebuilt.
// Routes (documented in Azure/acr "AAD-OAuth"): POST /oauth2/exchange, POST /oauth2/token, then the
// Docker registry v2 API with a bearer token.
import axios, { type AxiosInstance } from "axios";
import { DEFAULT_RETRY, RetriesExhausted, withRetries, type RetryPolicy } from "../http/retry";

/** The user name ACR expects with an exchanged refresh token (as `az acr login --expose-token` prints). */
export const ACR_TOKEN_USERNAME = "00000000-0000-0000-0000-000000000000";
/** Entra scope whose access tokens ACR accepts for the exchange (Azure Resource Manager). */
export const ACR_EXCHANGE_SCOPE = "https://management.azure.com/.default";

const MANIFEST_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

export class AcrError extends Error {
    constructor(message: string) {
        super(message);
        this.message = message;
        this.name = "AcrError";
    }
}

export interface AcrClientOptions {
    /** `myregistry.azurecr.io` */
    loginServer: string;
    /** The deployer's Entra access token for ACR_EXCHANGE_SCOPE. */
    entraToken: () => Promise<string>;
    /** `https://` in Azure; tests use a loopback `http://` server. */
    scheme?: "https" | "http";
    timeoutMs?: number;
    /** Retries of each call on 429, 5xx and timeouts (defaults: DEFAULT_RETRY). */
    retry?: Partial<RetryPolicy>;
    /** The clock that token expiry is read against (tests move it). */
    now?: () => number;
}

/** The claims of a JWT's payload, or undefined when `token` is not a readable JWT. */
function jwtClaims(token: string): Record<string, unknown> | undefined {
    try {
        const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
        return payload && typeof payload === "object" && !Array.isArray(payload) ? payload : undefined;
    } catch {
        return undefined;
    }
}

/** The tenant id (`tid` claim) of an Entra access token, which the exchange asks for. */
export function tenantOf(accessToken: string): string | undefined {
    const tid = jwtClaims(accessToken)?.tid;
    return typeof tid === "string" && tid !== "" ? tid : undefined;
}

/**
 * When a token expires (its `exp` claim, in milliseconds), or undefined when it has none. ACR's
 * refresh tokens are JWTs; their lifetime is the registry's to choose (the sample in Azure/acr
 * docs/AAD-OAuth.md has exp - iat = 2089 s, about 35 minutes), so it is read, never assumed.
 */
export function tokenExpiry(token: string): number | undefined {
    const exp = jwtClaims(token)?.exp;
    return typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
}

/** A cached refresh token is reused for a registry call only while it stays valid this long. */
export const REUSE_MARGIN_MS = 5 * 60_000;

export class AcrClient {
    private readonly http: AxiosInstance;
    private readonly retry: RetryPolicy;
    private readonly now: () => number;
    private cached?: { token: string; expiresAt?: number };

    constructor(private readonly options: AcrClientOptions) {
        this.http = axios.create({
            baseURL: `${options.scheme ?? "https"}://${options.loginServer}`,
            timeout: options.timeoutMs ?? 15_000,
            validateStatus: () => true,
            maxRedirects: 0,
        });
        this.retry = { ...DEFAULT_RETRY, ...options.retry };
        this.now = options.now ?? Date.now;
    }

    /**
     * An ACR refresh token that stays valid for at least `minValidityMs` by its own `exp` claim:
     * the last one exchanged when it does, else a new exchange. A token without `exp` is never reused.
     */
    async refreshToken(minValidityMs = REUSE_MARGIN_MS): Promise<string> {
        const cached = this.cached;
        if (cached?.expiresAt !== undefined && cached.expiresAt - this.now() >= minValidityMs) return cached.token;
        const token = await this.exchange();
        this.cached = { token, expiresAt: tokenExpiry(token) };
        return token;
    }

    /**
     * A newly exchanged refresh token for one build's push, asked for when that build's inputs are
     * ready, so that it lives as long as the registry allows from the start of that build.
     */
    async pushToken(): Promise<string> {
        const token = await this.exchange();
        this.cached = { token, expiresAt: tokenExpiry(token) };
        return token;
    }

    /** The digest of `repository:tag`, or undefined when the registry has no such tag. */
    async manifestDigest(repository: string, tag: string): Promise<string | undefined> {
        const token = await this.accessToken(`repository:${repository}:pull`);
        const answer = await this.call(`look up ${repository}:${tag}`, () =>
            this.http.head(`/v2/${repository}/manifests/${encodeURIComponent(tag)}`, {
                headers: { Authorization: `Bearer ${token}`, Accept: MANIFEST_TYPES },
            }),
        );
        if (answer.status === 404) return undefined;
        const digest = answer.headers["docker-content-digest"];
        if (answer.status === 200 && typeof digest === "string" && digest.startsWith("sha256:")) return digest;
        throw new AcrError(`${this.options.loginServer} answered HTTP ${answer.status} for ${repository}:${tag}${answer.status === 200 ? " without a Docker-Content-Digest" : ""}`);
    }

    private async exchange(): Promise<string> {
        const entra = await this.options.entraToken();
        const tenant = tenantOf(entra);
        if (!tenant) {
            throw new AcrError(`the Microsoft Entra token for ${this.options.loginServer} names no tenant (no tid claim), which the registry's token exchange needs: sign in again (az login)`);
        }
        // Exactly the four fields Azure/acr docs/AAD-OAuth.md gives for grant_type=access_token.
        const form = new URLSearchParams({ grant_type: "access_token", service: this.options.loginServer, tenant, access_token: entra });
        const answer = await this.call("exchange the Microsoft Entra token for a registry token", () =>
            this.http.post("/oauth2/exchange", form.toString(), { headers: { "Content-Type": "application/x-www-form-urlencoded" } }),
        );
        const token = answer.status === 200 ? answer.data?.refresh_token : undefined;
        if (typeof token !== "string" || token === "") {
            throw new AcrError(
                `${this.options.loginServer} did not exchange the Microsoft Entra token for a registry token (HTTP ${answer.status}). ` +
                    "The deploying identity needs AcrPush (or Contributor) on the container registry.",
            );
        }
        const expiresAt = tokenExpiry(token);
        if (expiresAt !== undefined && expiresAt <= this.now()) {
            throw new AcrError(`${this.options.loginServer} answered the token exchange with a token that has already expired (exp ${new Date(expiresAt).toISOString()}): is this machine's clock right?`);
        }
        return token;
    }

    private async accessToken(scope: string): Promise<string> {
        const form = new URLSearchParams({ grant_type: "refresh_token", service: this.options.loginServer, scope, refresh_token: await this.refreshToken() });
        const answer = await this.call(`get a registry token for ${scope}`, () => this.http.post("/oauth2/token", form.toString(), { headers: { "Content-Type": "application/x-www-form-urlencoded" } }));
        const token = answer.status === 200 ? answer.data?.access_token : undefined;
        if (typeof token !== "string" || token === "") {
            throw new AcrError(`${this.options.loginServer} refused a registry token for ${scope} (HTTP ${answer.status}): the deploying identity needs AcrPull or AcrPush on it.`);
        }
        return token;
    }

    /**
     * One request, retried within the policy on 429, 5xx and timeouts; what is left becomes an
     * AcrError naming the registry and what was tried, never a token or a library's message.
     */
    private async call<T extends { status: number; headers: any }>(what: string, request: () => Promise<T>): Promise<T> {
        try {
            return await withRetries(request, this.retry, { timeoutMs: this.options.timeoutMs ?? 15_000 });
        } catch (err) {
            if (!(err instanceof RetriesExhausted)) throw err;
            if (err.failure.kind === "status") {
                throw new AcrError(`the container registry ${this.options.loginServer} kept answering ${err.message} when trying to ${what}: it is busy or unavailable; run \`pulumi up\` again later`);
            }
            const retried = err.attempts > 1 ? `, ${err.attempts} attempts` : "";
            throw new AcrError(`cannot reach the container registry ${this.options.loginServer} (${err.failure.text}${retried}) when trying to ${what}`);
        }
    }
}
