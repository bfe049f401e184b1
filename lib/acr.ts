// Azure Container Registry data-plane calls the deployment needs, over axios:
// - a refresh token for `docker push`, exchanged from the deployer's own Microsoft Entra token, so
//   a registry created in the same `pulumi up` needs no admin user, stored password or `az acr login`;
// - whether an image tag exists, so an image that was pushed once is reused, never rebuilt.
// Routes (documented in Azure/acr "AAD-OAuth"): POST /oauth2/exchange, POST /oauth2/token, then the
// Docker registry v2 API with a bearer token.
import axios, { type AxiosInstance } from "axios";

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
}

/** The tenant id (`tid` claim) of an Entra access token, which the exchange asks for. */
export function tenantOf(accessToken: string): string | undefined {
    try {
        const payload = JSON.parse(Buffer.from(accessToken.split(".")[1] ?? "", "base64url").toString("utf8"));
        return typeof payload.tid === "string" ? payload.tid : undefined;
    } catch {
        return undefined;
    }
}

export class AcrClient {
    private readonly http: AxiosInstance;
    private refresh?: Promise<string>;

    constructor(private readonly options: AcrClientOptions) {
        this.http = axios.create({
            baseURL: `${options.scheme ?? "https"}://${options.loginServer}`,
            timeout: options.timeoutMs ?? 15_000,
            validateStatus: () => true,
            maxRedirects: 0,
        });
    }

    /** An ACR refresh token for the deployer (about three hours), exchanged once per program run. */
    refreshToken(): Promise<string> {
        this.refresh ??= this.exchange();
        return this.refresh;
    }

    /** The digest of `repository:tag`, or undefined when the registry has no such tag. */
    async manifestDigest(repository: string, tag: string): Promise<string | undefined> {
        const token = await this.accessToken(`repository:${repository}:pull`);
        const answer = await this.call(() =>
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
        const form = new URLSearchParams({ grant_type: "access_token", service: this.options.loginServer, access_token: entra });
        const tenant = tenantOf(entra);
        if (tenant) form.set("tenant", tenant);
        const answer = await this.call(() => this.http.post("/oauth2/exchange", form.toString(), { headers: { "Content-Type": "application/x-www-form-urlencoded" } }));
        const token = answer.status === 200 ? answer.data?.refresh_token : undefined;
        if (typeof token !== "string" || token === "") {
            throw new AcrError(
                `${this.options.loginServer} did not exchange the Microsoft Entra token for a registry token (HTTP ${answer.status}). ` +
                    "The deploying identity needs AcrPush (or Contributor) on the container registry.",
            );
        }
        return token;
    }

    private async accessToken(scope: string): Promise<string> {
        const form = new URLSearchParams({ grant_type: "refresh_token", service: this.options.loginServer, scope, refresh_token: await this.refreshToken() });
        const answer = await this.call(() => this.http.post("/oauth2/token", form.toString(), { headers: { "Content-Type": "application/x-www-form-urlencoded" } }));
        const token = answer.status === 200 ? answer.data?.access_token : undefined;
        if (typeof token !== "string" || token === "") {
            throw new AcrError(`${this.options.loginServer} refused a registry token for ${scope} (HTTP ${answer.status}): the deploying identity needs AcrPull or AcrPush on it.`);
        }
        return token;
    }

    /** One request; network failures become an AcrError that names the registry, never a token. */
    private async call<T>(request: () => Promise<T>): Promise<T> {
        try {
            return await request();
        } catch (err) {
            const code = axios.isAxiosError(err) ? err.code : undefined;
            throw new AcrError(`cannot reach the container registry ${this.options.loginServer} (${code ?? "network error"})`);
        }
    }
}
