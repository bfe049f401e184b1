// Self-contained model images: the container registry client, the build credential, and what
// ModelServing declares for an image that exists, one that must be built, and a new token.
import { testScoringAuth } from "./helpers/fixtures";
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { DockerfileParser } from "dockerfile-ast";
import * as http from "http";
import type { AddressInfo } from "net";
import * as pulumi from "@pulumi/pulumi";
import { ModelServing, type ModelServingArgs } from "../components/serving/modelServing";
import type { ImageRegistryAccess } from "../components/serving/modelImage";
import { AcrClient, AcrError, tokenExpiry } from "../lib/azure/acr";
import type { ServedModel } from "../lib/config";
import { recordProgram, type Plan } from "../lib/plan";
import { registeredEntries, skipWarning } from "../lib/serving/bootstrap";
import { buildCredential, recipeDigest } from "../lib/serving/image";
import type { RevisionState } from "../lib/serving/traffic";
import { RegistryError } from "../lib/registry/errors";
import { deployedAzureMocks } from "./helpers/azureMocks";
import { FakeMlflowServer } from "./helpers/fakeMlflow";
import { byType, onlyOfType, planEditedStack, PROJECT_DIR } from "./helpers/fixtures";

const FAKE_ENTRA = `x.${Buffer.from(JSON.stringify({ tid: "11111111-2222-3333-4444-555555555555" })).toString("base64url")}.sig`;
const RECIPE = recipeDigest(PROJECT_DIR);

/** A JWT-shaped token with these claims (unsigned: the client only reads claims). */
function jwt(claims: Record<string, unknown>): string {
    return `x.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
}

/**
 * An in-process container registry answering the routes AcrClient uses, as Azure/acr
 * docs/AAD-OAuth.md documents them: /oauth2/exchange takes exactly grant_type=access_token,
 * service (the login server), tenant and access_token, and answers a JWT refresh token whose
 * lifetime is the documented sample's (exp - iat = 2089 s); /oauth2/token takes an unexpired refresh
 * token it issued. `faults` answer the next requests first: a status (with headers), or a hang.
 */
class FakeAcr {
    readonly forms: Record<string, string>[] = [];
    readonly tags = new Map<string, string>();
    refuseExchange = false;
    /** Seconds since the epoch, as the registry's clock reads it. */
    clock = { now: 1_797_000_000 };
    lifetimeSeconds = 2089;
    faults: ({ status: number; headers?: Record<string, string>; body?: unknown } | { hangMs: number })[] = [];
    private issued = new Map<string, number>();
    private serial = 0;
    private readonly server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => {
            const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
                res.writeHead(status, { "Content-Type": "application/json", ...headers });
                res.end(JSON.stringify(value));
            };
            const fault = this.faults.shift();
            if (fault && "hangMs" in fault) {
                setTimeout(() => json(200, {}), fault.hangMs).unref();
                return;
            }
            if (fault) return json(fault.status, fault.body ?? { errors: [{ code: "UNAVAILABLE", message: "service unavailable" }] }, fault.headers);
            if (req.method === "POST" && (req.url === "/oauth2/exchange" || req.url === "/oauth2/token")) {
                const form = Object.fromEntries(new URLSearchParams(body));
                this.forms.push({ route: req.url, ...form });
                if (req.url === "/oauth2/exchange") {
                    if (this.refuseExchange) return json(401, { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] });
                    const fields = Object.keys(form).sort().join(",");
                    const tid = JSON.parse(Buffer.from(String(form.access_token).split(".")[1] ?? "", "base64url").toString() || "{}").tid;
                    if (fields !== "access_token,grant_type,service,tenant" || form.grant_type !== "access_token" || form.service !== this.host || form.tenant !== tid) {
                        return json(400, { errors: [{ code: "UNSUPPORTED", message: "invalid exchange request" }] });
                    }
                    const token = jwt({ jti: `t${++this.serial}`, iat: this.clock.now, nbf: this.clock.now, exp: this.clock.now + this.lifetimeSeconds, aud: this.host, tenant: tid, grant_type: "refresh_token" });
                    this.issued.set(token, this.clock.now + this.lifetimeSeconds);
                    return json(200, { refresh_token: token });
                }
                const expires = this.issued.get(form.refresh_token);
                return expires !== undefined && expires > this.clock.now ? json(200, { access_token: "fake-acr-access-token" }) : json(401, { errors: [{ code: "UNAUTHORIZED" }] });
            }
            const manifest = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(req.url ?? "");
            if (req.method === "HEAD" && manifest) {
                if (req.headers.authorization !== "Bearer fake-acr-access-token") return json(401, {});
                const digest = this.tags.get(`${manifest[1]}:${decodeURIComponent(manifest[2])}`);
                res.writeHead(digest ? 200 : 404, digest ? { "Docker-Content-Digest": digest, "Content-Type": "application/vnd.oci.image.index.v1+json" } : {});
                return res.end();
            }
            json(404, { errors: [{ code: "NOT_FOUND" }] });
        });
    });
    host = "";
    exchanges(): number {
        return this.forms.filter((f) => f.route === "/oauth2/exchange").length;
    }
    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
        return this.host;
    }
    stop(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }
}

describe("container registry client (ACR token exchange)", () => {
    const acr = new FakeAcr();
    let host: string;
    const slept: number[] = [];
    before(async () => (host = await acr.start()));
    after(() => acr.stop());
    beforeEach(() => {
        acr.forms.length = 0;
        acr.faults = [];
        slept.length = 0;
    });
    const client = (options: { timeoutMs?: number } = {}) =>
        new AcrClient({
            loginServer: host,
            scheme: "http",
            entraToken: async () => FAKE_ENTRA,
            now: () => acr.clock.now * 1000,
            retry: { sleep: async (ms) => void slept.push(ms) },
            ...options,
        });

    it("sends exactly grant_type=access_token, service, tenant and access_token, as ACR documents the exchange", async () => {
        const token = await client().refreshToken();
        assert.strictEqual(tokenExpiry(token), (acr.clock.now + 2089) * 1000);
        assert.deepStrictEqual(acr.forms, [{ route: "/oauth2/exchange", grant_type: "access_token", service: host, tenant: "11111111-2222-3333-4444-555555555555", access_token: FAKE_ENTRA }]);
        // The fake refuses any other form (a mutated field is caught here, not in Azure).
        const refused = await fetch(`http://${host}/oauth2/exchange`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: `grant_type=access_token&service=${host}&access_token=${FAKE_ENTRA}` });
        assert.strictEqual(refused.status, 400, "no tenant: refused");
    });

    it("refuses an Entra token without a tenant before asking the registry", async () => {
        const c = new AcrClient({ loginServer: host, scheme: "http", entraToken: async () => jwt({ oid: "x" }) });
        await assert.rejects(c.refreshToken(), /names no tenant \(no tid claim\), which the registry's token exchange needs: sign in again \(az login\)/);
        assert.strictEqual(acr.exchanges(), 0);
    });

    it("reads the lifetime from the token's exp claim and exchanges again when the cached one is near expiry", async () => {
        const start = acr.clock.now;
        try {
            const c = client();
            const first = await c.refreshToken();
            acr.clock.now = start + 2089 - 6 * 60; // six minutes left: still reused
            assert.strictEqual(await c.refreshToken(), first);
            assert.strictEqual(acr.exchanges(), 1);
            acr.clock.now = start + 2089 - 4 * 60; // four minutes left: too little for a call that may follow
            const second = await c.refreshToken();
            assert.notStrictEqual(second, first);
            assert.strictEqual(tokenExpiry(second), (acr.clock.now + 2089) * 1000);
            acr.clock.now = start + 2 * 2089; // the second has expired too: the tag check still works, with a new token
            acr.tags.set("models/fraud:m-v7-abc", "sha256:" + "a".repeat(64));
            assert.strictEqual(await c.manifestDigest("models/fraud", "m-v7-abc"), "sha256:" + "a".repeat(64));
            assert.strictEqual(acr.exchanges(), 3);
        } finally {
            acr.clock.now = start;
        }
    });

    it("gives each build a newly exchanged push token, never the cached one", async () => {
        const c = client();
        const cached = await c.refreshToken();
        const push1 = await c.pushToken();
        const push2 = await c.pushToken();
        assert.strictEqual(new Set([cached, push1, push2]).size, 3);
        assert.strictEqual(acr.exchanges(), 3);
    });

    it("a token without exp is never reused", async () => {
        const opaque = new AcrClient({ loginServer: host, scheme: "http", entraToken: async () => FAKE_ENTRA });
        acr.faults = [{ status: 200, body: { refresh_token: "opaque-token" } }, { status: 200, body: { refresh_token: "opaque-token-2" } }];
        assert.strictEqual(await opaque.refreshToken(), "opaque-token");
        assert.strictEqual(await opaque.refreshToken(), "opaque-token-2");
    });

    it("retries a 429, a 503 and a timeout within its bound, then succeeds; the same call gives up with a clear message when they persist", async () => {
        acr.faults = [{ status: 429, headers: { "Retry-After": "3" } }, { status: 503 }, { hangMs: 1_500 }];
        const token = await client({ timeoutMs: 500 }).refreshToken();
        assert.ok(tokenExpiry(token));
        assert.deepStrictEqual(slept, [3_000, 2_000, 4_000], "Retry-After first, then doubling backoff");
        assert.strictEqual(acr.exchanges(), 1, "only the answered attempt reached the exchange");

        slept.length = 0;
        acr.faults = Array.from({ length: 5 }, () => ({ status: 503 }));
        await assert.rejects(client().refreshToken(), (err: Error) => {
            assert.ok(err instanceof AcrError);
            assert.strictEqual(err.message, `the container registry ${host} kept answering HTTP 503 (5 attempts) when trying to exchange the Microsoft Entra token for a registry token: it is busy or unavailable; run \`pulumi up\` again later`);
            return true;
        });
        assert.strictEqual(slept.length, 4, "five attempts, four waits: bounded");
        acr.faults = Array.from({ length: 5 }, () => ({ hangMs: 1_500 }));
        await assert.rejects(client({ timeoutMs: 300 }).refreshToken(), (err: Error) => {
            assert.match(err.message, new RegExp(`^cannot reach the container registry ${host.replace(/\./g, "\\.")} \\(no answer within 0\\.3 s \\(ECONNABORTED\\), 5 attempts\\) when trying to exchange`));
            assert.doesNotMatch(err.message, /timeout of \d+ms exceeded/, "no raw axios message");
            return true;
        });
        // A rerun once the registry answers again converges: one exchange, a valid token.
        acr.faults = [];
        acr.forms.length = 0;
        assert.ok(tokenExpiry(await client().refreshToken()));
        assert.strictEqual(acr.exchanges(), 1);
    });

    it("finds an existing tag's digest with a pull-scoped token, and undefined for a missing tag", async () => {
        acr.tags.set("models/fraud:m-v7-abc", "sha256:" + "a".repeat(64));
        const c = client();
        assert.strictEqual(await c.manifestDigest("models/fraud", "m-v7-abc"), "sha256:" + "a".repeat(64));
        assert.strictEqual(await c.manifestDigest("models/fraud", "m-v8-abc"), undefined);
        assert.ok(acr.forms.some((f) => f.route === "/oauth2/token" && f.scope === "repository:models/fraud:pull"));
        assert.strictEqual(acr.exchanges(), 1, "two look-ups, one exchange: the token is still valid");
    });

    it("says which permission is missing when the exchange is refused, never repeating a token", async () => {
        acr.refuseExchange = true;
        try {
            await assert.rejects(client().refreshToken(), (err: Error) => {
                assert.ok(err instanceof AcrError);
                assert.match(err.message, /did not exchange the Microsoft Entra token .*HTTP 401.*needs AcrPush \(or Contributor\)/);
                assert.ok(!err.message.includes(FAKE_ENTRA));
                return true;
            });
            assert.strictEqual(slept.length, 0, "a refusal is not retried");
        } finally {
            acr.refuseExchange = false;
        }
    });

    it("names the registry when it cannot be reached", async () => {
        const c = new AcrClient({ loginServer: "127.0.0.1:9", scheme: "http", entraToken: async () => FAKE_ENTRA, timeoutMs: 2000 });
        await assert.rejects(c.refreshToken(), /cannot reach the container registry 127\.0\.0\.1:9 \(ECONNREFUSED\)/);
    });
});

describe("build credential", () => {
    const offline = { offline: true };
    it("takes secret config first, then the environment, then (Databricks) an Entra token", async () => {
        assert.strictEqual(await buildCredential("unity-catalog", { token: "fake-config-token" }, { DATABRICKS_TOKEN: "fake-env" }, offline)!.content(), "DATABRICKS_TOKEN=fake-config-token\n");
        assert.strictEqual(await buildCredential("mlflow", { username: "u", password: "fake-pass" }, {}, offline)!.content(), "MLFLOW_TRACKING_USERNAME=u\nMLFLOW_TRACKING_PASSWORD=fake-pass\n");
        assert.strictEqual(await buildCredential("databricks", {}, { DATABRICKS_TOKEN: "fake-env" }, offline)!.content(), "DATABRICKS_TOKEN=fake-env\n");
        assert.strictEqual(await buildCredential("mlflow", {}, { MLFLOW_TRACKING_TOKEN: "fake-env" }, offline)!.content(), "MLFLOW_TRACKING_TOKEN=fake-env\n");
        assert.strictEqual(await buildCredential("mlflow", {}, {}, offline)!.content(), "", "a self-hosted server without auth needs none");
        const entra = buildCredential("unity-catalog", {}, {}, { offline: false, tokenSource: { getToken: async () => ({ token: "fake-entra", expiresOnTimestamp: Date.now() + 3600_000 }) } });
        assert.strictEqual(entra!.source, "Microsoft Entra ID (the deployer's sign-in)");
        assert.strictEqual(await entra!.content(), "DATABRICKS_TOKEN=fake-entra\n");
    });

    it("never signs in offline, and names what to do when sign-in fails", async () => {
        assert.strictEqual(buildCredential("unity-catalog", {}, {}, offline), undefined);
        const failing = buildCredential("databricks", {}, {}, { offline: false, tokenSource: { getToken: async () => Promise.reject(new Error("no az login\nstack...")) } });
        await assert.rejects(failing!.content(), /no Microsoft Entra token for Azure Databricks to build the serving images: no az login\. Run `az login`/);
        assert.throws(() => buildCredential("mlflow", {}, { MLFLOW_TRACKING_USERNAME: "u" }, offline), /set both MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD/);
    });
});

const fraud = (overrides: Partial<ServedModel> = {}): ServedModel => ({
    name: "fraud",
    model: "main.risk.fraud",
    selector: { alias: "champion" },
    cpu: 2,
    memoryGb: 4,
    workers: 2,
    scale: { minReplicas: 1, maxReplicas: 3, concurrentRequests: 20 },
    ...overrides,
});

/** ModelServing under deployed mocks whose registry resolves aliases to `versions`. */
async function serve(
    options: {
        models?: ServedModel[];
        versions?: Record<string, string>;
        access?: ImageRegistryAccess;
        token?: string;
        platform?: "aci" | "containerapp";
        revisions?: RevisionState[];
    } = {},
): Promise<Plan> {
    const versions = options.versions ?? { champion: "7", challenger: "8" };
    const mocks: pulumi.runtime.Mocks = {
        ...deployedAzureMocks,
        newResource: async (args) => {
            const result = await deployedAzureMocks.newResource(args);
            if (args.type !== "pulumi-nodejs:dynamic/registry:ModelVersion") return result;
            const version = versions[args.inputs.selector.alias] ?? String(args.inputs.selector.version);
            return { ...result, state: { ...result.state, version, modelUri: `models:/${args.inputs.model}/${version}` } };
        },
        call: (args) => {
            if (args.token === "azure-native:authorization:getClientConfig") return { subscriptionId: "11111111-2222-3333-4444-555555555555", tenantId: "t", clientId: "c", objectId: "o" };
            return deployedAzureMocks.call(args);
        },
    };
    const args: ModelServingArgs = {
        location: "westeurope",
        resourceGroupName: "rg",
        containerRegistryName: "mlplattestacr",
        containerRegistrySku: "Basic",
        dnsLabelPrefix: "mlplattest",
        registry: { kind: "unity-catalog", url: "https://adb-1.2.azuredatabricks.net" },
        models: options.models ?? [fraud()],
        platform: options.platform ?? "containerapp",
        access: { ingress: "external", ipAllowList: ["198.51.100.0/24"] },
        auth: testScoringAuth(),
        logRetentionDays: 30,
        maxInactiveRevisions: 3,
        rollout: options.revisions ? { revisions: async () => options.revisions } : undefined,
        appNamePrefix: "test",
        images: {
            projectDir: PROJECT_DIR,
            credential: { source: "test", content: async () => `DATABRICKS_TOKEN=${options.token ?? "fake-token-a"}\n` },
            registryAccess: options.access ? () => options.access! : undefined,
        },
        tags: {},
    };
    return recordProgram(
        async () => {
            const serving = await ModelServing.create("test-serving", args);
            return { models: pulumi.output(serving.models) };
        },
        { project: "mlflow-platform", stack: "test", mocks, preview: false },
    );
}

function registryWith(existing: Record<string, string>): ImageRegistryAccess & { asked: string[]; pushTokens: number } {
    const asked: string[] = [];
    return {
        asked,
        pushTokens: 0,
        async pushToken() {
            this.pushTokens += 1;
            return `fake-acr-push-token-${this.pushTokens}`;
        },
        manifestDigest: async (repository, tag) => {
            asked.push(`${repository}:${tag}`);
            return existing[`${repository}:${tag}`];
        },
    };
}

describe("ModelServing images", () => {
    const tag = (version: string) => `main.risk.fraud-v${version}-${RECIPE}`;

    it("builds a missing image, pushing with the exchanged registry token as a secret", async () => {
        const access = registryWith({});
        const plan = await serve({ access });
        const image = onlyOfType(plan, "docker-build:index:Image");
        assert.strictEqual(image.name, `test-serving-fraud-image-${tag("7")}`);
        assert.deepStrictEqual(image.inputs.registries, [{ address: "mlplattestacr.azurecr.io", username: "00000000-0000-0000-0000-000000000000", password: "[secret]" }]);
        assert.deepStrictEqual(access.asked, [`models/fraud:${tag("7")}`]);
        // A preview shows this image without building it (nor exporting the registry cache).
        assert.strictEqual(image.inputs.buildOnPreview, false);
        const app = onlyOfType(plan, "azure-native:app:ContainerApp");
        assert.strictEqual((app.inputs.template as any).containers[0].image, `mlplattestacr.azurecr.io/models/fraud:${tag("7")}`);
    });

    it("a refused push token fails the deployment with the registry's reason, naming the model, without a stack trace", async () => {
        const access = { ...registryWith({}), pushToken: async () => Promise.reject(new AcrError("mlplattestacr.azurecr.io did not exchange the Microsoft Entra token for a registry token (HTTP 401). The deploying identity needs AcrPush (or Contributor) on the container registry.")) };
        await assert.rejects(serve({ access }), (err: Error) => {
            assert.ok(err instanceof pulumi.RunError, String(err));
            // The engine prefixes the property it was resolving (`error serializing property "registries": `).
            assert.ok(err.message.endsWith(`models[fraud] image ${tag("7")}: mlplattestacr.azurecr.io did not exchange the Microsoft Entra token for a registry token (HTTP 401). The deploying identity needs AcrPush (or Contributor) on the container registry.`), err.message);
            assert.doesNotMatch(err.message, /\n\s+at /, "no stack trace");
            return true;
        });
    });

    it("reuses an image the registry already has: no build, the same reference", async () => {
        const access = registryWith({ [`models/fraud:${tag("7")}`]: "sha256:" + "b".repeat(64) });
        const plan = await serve({ access });
        assert.strictEqual(byType(plan, "docker-build:index:Image").length, 0);
        const app = onlyOfType(plan, "azure-native:app:ContainerApp");
        assert.strictEqual((app.inputs.template as any).containers[0].image, `mlplattestacr.azurecr.io/models/fraud:${tag("7")}`);
        assert.match(JSON.stringify(plan.resources.find((r) => r.type === "mlflow-platform:serving:ModelServing")!.outputs), /already in the registry: reused/);
    });

    it("a new registry token alone changes no build input but the secret's value", async () => {
        const first = onlyOfType(await serve({ token: "fake-token-a" }), "docker-build:index:Image");
        const second = onlyOfType(await serve({ token: "fake-token-b" }), "docker-build:index:Image");
        assert.deepStrictEqual(second.inputs, first.inputs);
        assert.deepStrictEqual(first.inputs.ignoreSecretsInDiffCalculation, ["registry_env"]);
        const shown = JSON.stringify(first.inputs);
        assert.ok(!shown.includes("fake-token-a"), "the token is never shown");
    });

    it("a canary on the stable version shares one image; a promotion keeps the canary's image resource", async () => {
        const same = await serve({ models: [fraud({ canary: { selector: { alias: "challenger" }, weight: 10 } })], versions: { champion: "7", challenger: "7" } });
        assert.strictEqual(byType(same, "docker-build:index:Image").length, 1);
        const access = registryWith({});
        const canary = await serve({ access, models: [fraud({ canary: { selector: { alias: "challenger" }, weight: 10 } })] });
        assert.strictEqual(access.pushTokens, 2, "each build gets its own push token, exchanged for it");
        const promoted = await serve({ versions: { champion: "8" } });
        const names = (plan: Plan) => byType(plan, "docker-build:index:Image").map((i) => i.name).sort();
        assert.deepStrictEqual(names(canary), [`test-serving-fraud-image-${tag("7")}`, `test-serving-fraud-image-${tag("8")}`]);
        assert.deepStrictEqual(names(promoted), [`test-serving-fraud-image-${tag("8")}`], "the same resource: nothing is rebuilt");
    });

    it("relies on a docker-build whose refresh keeps the image when the stored push token has expired", () => {
        // pulumi-docker-build #930 (0.0.21): Image.Read leaves the state unchanged, with a warning,
        // on a registry error other than not-found; before it, an expired token dropped the image.
        const installed = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "node_modules/@pulumi/docker-build/package.json"), "utf8")).version as string;
        const [major, minor, patch] = installed.split(".").map(Number);
        assert.ok(major > 0 || minor > 0 || patch >= 21, `@pulumi/docker-build ${installed}`);
        const declared = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")).dependencies["@pulumi/docker-build"] as string;
        assert.match(declared, /^[\^~]?0\.0\.(2[1-9]|[3-9]\d)$/, `package.json asks for ${declared}`);
    });

    it("gives every serving container only the worker count: no registry variable", async () => {
        for (const platform of ["aci", "containerapp"] as const) {
            const plan = await serve({ platform });
            const text = JSON.stringify(plan.resources.filter((r) => r.type.startsWith("azure-native:")).map((r) => r.inputs));
            assert.doesNotMatch(text, /MLFLOW_TRACKING|DATABRICKS_|ARM_|MLFLOW_REGISTRY_URI|azuredatabricks/, platform);
        }
    });
});

describe("ModelServing rollouts from the live app", () => {
    const live = (name: string, weight: number): RevisionState => ({ name, active: true, weight, provisioningState: "Provisioned", runningState: "Running", healthState: "Healthy", replicas: 1 });
    const capture = async (run: () => Promise<unknown>) => {
        const warnings: string[] = [];
        const original = console.warn;
        console.warn = (message: string) => warnings.push(message);
        try {
            await run();
        } finally {
            console.warn = original;
        }
        return warnings;
    };
    const app = (plan: Plan) => onlyOfType(plan, "azure-native:app:ContainerApp").inputs as any;

    it("keeps the traffic that serves now in the app's PUT and hands the target to RevisionTraffic", async () => {
        const base = await serve();
        const v7 = `test-fraud--${app(base).template.revisionSuffix}`;
        const v8plan = await serve({ versions: { champion: "8" }, revisions: [live(v7, 100)] });
        const v8 = `test-fraud--${app(v8plan).template.revisionSuffix}`;
        assert.deepStrictEqual(app(v8plan).configuration.ingress.traffic, [{ revisionName: v7, weight: 100 }]);
        const gate = onlyOfType(v8plan, "pulumi-nodejs:dynamic/serving:RevisionTraffic");
        assert.deepStrictEqual(gate.inputs.target, [{ revision: v8, weight: 100, label: "stable" }]);
        assert.strictEqual(gate.inputs.readyTimeoutSeconds, 900);
        assert.strictEqual(app(v8plan).configuration.maxInactiveRevisions, 3);
        assert.strictEqual(app(v8plan).configuration.activeRevisionsMode, "Multiple");
    });

    it("refuses a stable-spec change while a canary runs, and warns about a canary on the stable version", async () => {
        const canaryOn = fraud({ canary: { selector: { alias: "challenger" }, weight: 10 } });
        const running = await serve({ models: [canaryOn] });
        const [stableName] = (app(running).configuration.ingress.traffic as any[]).map((t) => t.revisionName);
        await assert.rejects(
            serve({ models: [{ ...canaryOn, cpu: 4, memoryGb: 8 }], revisions: [live(stableName, 90)] }),
            /models\[fraud\]: the traffic would go to test-fraud--v7-[0-9a-f]{10}, which does not exist, and one deployment creates only the canary's revision.*promote or remove the canary first/,
        );
        const warnings = await capture(() => serve({ models: [canaryOn], versions: { champion: "7", challenger: "7" } }));
        assert.ok(warnings.some((w) => /models\[fraud\]\.canary resolves to version 7, the version the stable selector serves: all traffic stays on one revision/.test(w)), warnings.join("\n"));
    });

    it("warns when a rollback's image is gone from the container registry and must be rebuilt", async () => {
        const base = await serve();
        const v7 = `test-fraud--${app(base).template.revisionSuffix}`;
        const warnings = await capture(() => serve({ access: registryWith({}), revisions: [live(v7, 0), live("test-fraud--v8-abcdefabcd", 100)] }));
        assert.ok(warnings.some((w) => /the image of version 7 \(main\.risk\.fraud-v7-.*\) is no longer in the container registry, so it is rebuilt/.test(w)), warnings.join("\n"));
    });
});

describe("bootstrap: a model that is not registered yet", () => {
    const registry = new FakeMlflowServer();
    let url: string;
    before(async () => {
        url = await registry.start();
        registry.addModel("fraud", [{ version: 3, status: "READY", source: "runs:/r/model" } as any]);
    });
    after(() => registry.stop());

    const toFake = (models: unknown[]) => (config: Record<string, any>) => {
        config["mlflow-platform:registry"] = { kind: "mlflow", host: url };
        config["mlflow-platform:models"] = models;
    };

    it("is skipped with one warning naming the model and what to do; the rest deploys", async () => {
        const warnings: string[] = [];
        const original = console.warn;
        console.warn = (message: string) => warnings.push(message);
        let plan: Plan;
        try {
            plan = await planEditedStack("dev", toFake([
                { name: "fraud", model: "fraud", latest: true, cpu: 1, memoryGb: 2 },
                { name: "churn", model: "churn", latest: true, cpu: 1, memoryGb: 2 },
            ]));
        } finally {
            console.warn = original;
        }
        assert.deepStrictEqual(byType(plan, "azure-native:app:ContainerApp").map((g) => g.name), ["dev-serving-fraud-app"]);
        assert.deepStrictEqual(plan.outputs.skippedModels, [{ name: "churn", model: "churn", reason: "not registered" }]);
        const relevant = warnings.filter((w) => w.includes("churn"));
        assert.strictEqual(relevant.length, 1);
        assert.match(relevant[0], /the registered model churn does not exist yet, so it is not served in this deployment\. Register a version .* then run `pulumi up` again: it will serve it with no config change/);
        assert.ok(byType(plan, "azure-native:storage:StorageAccount").length === 1, "storage and workspace still deploy");
    });

    it("an unknown host, a host that is not a registry, or a refused credential still fails", async () => {
        const refused = new RegistryError("unauthenticated", "the registry refused the request as unauthenticated (HTTP 401)", 401);
        await assert.rejects(registeredEntries([{ name: "a", model: "a" }], { modelExists: async () => Promise.reject(refused) }), /unauthenticated/);
        const unknownHost = new RegistryError("connection", "the registry host name does not resolve");
        await assert.rejects(registeredEntries([{ name: "a", model: "a" }], { modelExists: async () => Promise.reject(unknownHost) }), /does not resolve/);
        await assert.rejects(
            planEditedStack("dev", (config) => {
                config["mlflow-platform:registry"] = { kind: "mlflow", host: `${url}/ml` };
                config["mlflow-platform:models"] = [{ name: "fraud", model: "fraud", latest: true, cpu: 1, memoryGb: 2 }];
            }),
            /registry/i,
        );
    });

    it("a registry outage leaves the decision to ModelVersion (which keeps the recorded version)", async () => {
        const outage = new RegistryError("unavailable", "the registry answered HTTP 503 (gave up after 5 attempts)", 503);
        const result = await registeredEntries([{ name: "a", model: "a" }], { modelExists: async () => Promise.reject(outage) });
        assert.deepStrictEqual(result, { serve: [{ name: "a", model: "a" }], skipped: [] });
        assert.match(skipWarning({ name: "a", model: "m", reason: "not registered" }), /^models\[a\]: the registered model m does not exist yet/);
    });
});

describe("npm run plan with a registry it can ask", () => {
    const registry = new FakeMlflowServer();
    let url: string;
    before(async () => {
        url = await registry.start();
        registry.addModel("mlplatform.prd.fraud", [{ version: 5 }, { version: 6 }], { champion: 5 });
        registry.addModel("mlplatform.dev.fraud", [{ version: 5 }, { version: 6 }]);
    });
    after(() => registry.stop());

    it("shows the concrete image tag, revision name and traffic, as the preview will", async function () {
        this.timeout(60_000);
        const { runScript } = await import("./helpers/cli");
        const env = { ...process.env, DATABRICKS_HOST: url, DATABRICKS_TOKEN: "fake-token-for-tests" };
        const prd = await runScript("scripts/plan.ts", ["prd"], { env });
        assert.strictEqual(prd.code, 0, prd.stderr);
        assert.match(prd.stdout, new RegExp(`tags\\[0\\]: mlplatprdmodelsacr\\.azurecr\\.io/models/fraud:mlplatform\\.prd\\.fraud-v5-${RECIPE}`));
        assert.match(prd.stdout, new RegExp(`fraud\\.image: models/fraud:mlplatform\\.prd\\.fraud-v5-${RECIPE} \\(built in this deployment\\)`));
        assert.match(prd.stdout, /revisionSuffix: v5-[0-9a-f]{10}/);
        assert.match(prd.stdout, /fraud\.revisions: 100% prd-fraud--v5-[0-9a-f]{10} \(stable\)\n/);
        assert.match(prd.stdout, /buildArgs\.MODEL_VERSION: 5/);
        assert.doesNotMatch(prd.stdout + prd.stderr, /fake-token-for-tests/);
        const dev = await runScript("scripts/plan.ts", ["dev"], { env });
        assert.strictEqual(dev.code, 0, dev.stderr);
        assert.match(dev.stdout, /fraud\.image: models\/fraud:mlplatform\.dev\.fraud-v6-/, "dev follows latest");
    });
});

/** One stage of a Dockerfile: its name, its base (`FROM`), and its instructions after `FROM`. */
interface Stage {
    name: string;
    base: string;
    instructions: { keyword: string; text: string; from?: string; sources: string[] }[];
}

function dockerStages(text: string): { globalArgs: string[]; stages: Stage[] } {
    const parsed = DockerfileParser.parse(text);
    const froms = parsed.getFROMs();
    const firstFrom = froms[0]?.getRange().start.line ?? Infinity;
    const stages: Stage[] = froms.map((f) => ({ name: f.getBuildStage() ?? "", base: f.getImage() ?? "", instructions: [] }));
    const globalArgs: string[] = [];
    for (const instruction of parsed.getInstructions()) {
        const line = instruction.getRange().start.line;
        const keyword = instruction.getKeyword();
        const argValues = instruction.getArguments().map((a) => a.getValue());
        if (line < firstFrom) {
            if (keyword === "ARG") globalArgs.push(argValues[0].split("=")[0]);
            continue;
        }
        if (keyword === "FROM") continue;
        const index = froms.filter((f) => f.getRange().start.line <= line).length - 1;
        const from = /--from=(\S+)/.exec(instruction.toString())?.[1];
        stages[index].instructions.push({ keyword, text: instruction.toString(), from, sources: keyword === "COPY" || keyword === "ADD" ? argValues.slice(0, -1) : [] });
    }
    return { globalArgs, stages };
}

/**
 * Why `stage` would miss the build cache when only a per-version build argument changes, as
 * BuildKit keys its cache (docs.docker.com/build/cache/invalidation): an ARG declared in the stage
 * or in a stage it is built FROM reaches every RUN after it; a COPY --from is keyed by the copied
 * files' checksum, so it may take only `allowedCopies` from such a stage (files that are the same
 * for two versions with the same requirements), and the stage it copies from is not inherited.
 */
function perVersionCacheKeys(text: string, stage: string, perVersionArgs: string[], allowedCopies: Record<string, string[]>): string[] {
    const { globalArgs, stages } = dockerStages(text);
    const problems: string[] = [];
    const byName = new Map(stages.map((s) => [s.name, s]));
    const seen = new Set<string>();
    const visit = (name: string, via: string): void => {
        if (seen.has(name)) return;
        seen.add(name);
        const current = byName.get(name);
        if (!current) {
            problems.push(`stage ${name} (${via}) is not in the Dockerfile`);
            return;
        }
        // A base naming a global ARG is resolved once per build: it must not be a per-version one.
        for (const arg of perVersionArgs) if (current.base.includes(`\${${arg}}`) || current.base.includes(`$${arg}`)) problems.push(`stage ${name} is FROM ${current.base}, a per-version argument`);
        if (byName.has(current.base)) visit(current.base, `the base of ${name}`);
        for (const i of current.instructions) {
            if (i.keyword === "ARG" && perVersionArgs.includes(i.text.replace(/^ARG\s+/, "").split("=")[0])) problems.push(`stage ${name} (${via}) declares ${i.text}`);
            for (const arg of perVersionArgs) if (i.keyword !== "ARG" && new RegExp(`\\$\\{?${arg}\\b`).test(i.text)) problems.push(`stage ${name} (${via}) uses ${arg}: ${i.text}`);
            if (i.from !== undefined && byName.has(i.from)) {
                const allowed = allowedCopies[i.from];
                if (allowed) {
                    for (const source of i.sources) if (!allowed.includes(source)) problems.push(`stage ${name} copies ${source} from ${i.from}, which is not one of ${allowed.join(", ")}`);
                } else {
                    visit(i.from, `copied from by ${name}`);
                }
            }
        }
    };
    for (const arg of perVersionArgs) if (globalArgs.includes(arg)) problems.push(`${arg} is a global ARG (before the first FROM)`);
    visit(stage, "the stage itself");
    return problems;
}

describe("serving/Dockerfile: a new version with the same requirements reuses the environment stage (issue 19, point 20)", () => {
    const text = fs.readFileSync(path.join(PROJECT_DIR, "serving/Dockerfile"), "utf8");
    // fetch_model.py --env-dir writes only requirements.txt and python-version there (serving/tests/test_fetch_model.py).
    const REQUIREMENTS_ONLY = { fetch: ["/model-env/"] };
    let perVersionArgs: string[];
    before(async () => {
        // The build arguments the image resource really passes: all of them name the version or its registry.
        const image = onlyOfType(await serve({ access: registryWith({}) }), "docker-build:index:Image");
        perVersionArgs = Object.keys(image.inputs.buildArgs as Record<string, string>).sort();
        assert.deepStrictEqual(perVersionArgs, ["MODEL_NAME", "MODEL_VERSION", "REGISTRY_KIND", "REGISTRY_URL"]);
    });

    it("the environment stage and every stage it is built from declare and use no per-version argument, and take only the requirements from fetch", () => {
        assert.deepStrictEqual(perVersionCacheKeys(text, "environment", perVersionArgs, REQUIREMENTS_ONLY), []);
        const environment = dockerStages(text).stages.find((s) => s.name === "environment")!;
        const copies = environment.instructions.filter((i) => i.keyword === "COPY" || i.keyword === "ADD");
        assert.deepStrictEqual(
            copies.map((i) => [i.from ?? "(context)", ...i.sources]),
            [["uv", "/uv"], ["(context)", "install_environment.sh", "serving_requirements.py"], ["fetch", "/model-env/"]],
            "the uv binary, the recipe's two scripts, and the model's requirements.txt and python-version",
        );
        assert.ok(!environment.instructions.some((i) => i.keyword === "ARG"), "no ARG at all in the environment stage");
        assert.match(text, /--dest \/model --env-dir \/model-env\b/, "fetch writes the requirements alone to /model-env");
    });

    it("the check fails for the layouts that miss the cache: an ARG in the stage, a whole-model copy, a per-version base", () => {
        const withArg = text.replace("COPY --from=fetch /model-env/ /opt/build/model-env/\n", "COPY --from=fetch /model-env/ /opt/build/model-env/\nARG MODEL_VERSION\n");
        assert.deepStrictEqual(perVersionCacheKeys(withArg, "environment", perVersionArgs, REQUIREMENTS_ONLY), ["stage environment (the stage itself) declares ARG MODEL_VERSION"]);
        const withModel = text.replace("COPY --from=fetch /model-env/ /opt/build/model-env/", "COPY --from=fetch /model /opt/build/model-env/");
        assert.match(perVersionCacheKeys(withModel, "environment", perVersionArgs, REQUIREMENTS_ONLY).join("\n"), /copies \/model from fetch/);
        const fromFetch = text.replace("FROM ${BASE_IMAGE} AS environment", "FROM fetch AS environment");
        assert.match(perVersionCacheKeys(fromFetch, "environment", perVersionArgs, REQUIREMENTS_ONLY).join("\n"), /stage fetch \(the base of environment\) declares ARG MODEL_NAME/);
    });
});
