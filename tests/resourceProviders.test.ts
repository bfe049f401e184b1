// ResourceProviderRegistrations: a new subscription registers the stack's resource providers during
// the first `pulumi up`, against an in-process Resource Manager answering the providers routes.
import * as assert from "assert";
import * as http from "http";
import type { AddressInfo } from "net";
import { ResourceProviderRegistrationsProvider } from "../components/subscription/resourceProviders";
import { ensureProvidersRegistered, requiredProviders, ResourceProvidersClient } from "../lib/subscription/resourceProviders";

/** GET/POST /subscriptions/{id}/providers/{ns}[/register]; a registration takes `pollsToRegister` reads. */
class FakeProviders {
    states = new Map<string, string>();
    pollsToRegister = 2;
    forbidden = new Set<string>();
    /** Answered first, one per request: a status (with Retry-After for 429) or "hang" (no answer: the client's timeout). */
    faults: (number | "hang")[] = [];
    readonly calls: string[] = [];
    private readonly polls = new Map<string, number>();
    private readonly server = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://x");
        this.calls.push(`${req.method} ${url.pathname}`);
        const json = (status: number, body: unknown) => {
            res.writeHead(status, { "Content-Type": "application/json" });
            res.end(JSON.stringify(body));
        };
        const fault = this.faults.shift();
        if (fault === "hang") return; // never answered; closed when the server stops
        if (fault !== undefined) {
            res.writeHead(fault, { "Content-Type": "application/json", ...(fault === 429 ? { "Retry-After": "3" } : {}) });
            return res.end(JSON.stringify({ error: { code: fault === 429 ? "TooManyRequests" : "InternalServerError", message: "try later" } }));
        }
        if (url.searchParams.get("api-version") !== "2021-04-01") return json(400, { error: { code: "InvalidApiVersionParameter", message: "bad api-version" } });
        const match = /^\/subscriptions\/([^/]+)\/providers\/([^/]+)(\/register)?$/.exec(url.pathname);
        if (!match) return json(404, { error: { code: "NotFound", message: "no route" } });
        const ns = match[2];
        if (match[3] && req.method === "POST") {
            if (this.forbidden.has(ns)) return json(403, { error: { code: "AuthorizationFailed", message: "no register action" } });
            this.states.set(ns, "Registering");
            this.polls.set(ns, this.pollsToRegister);
            return json(200, { namespace: ns, registrationState: "Registering" });
        }
        const state = this.states.get(ns) ?? "NotRegistered";
        if (state === "Registering") {
            const left = (this.polls.get(ns) ?? 1) - 1;
            this.polls.set(ns, left);
            if (left <= 0) this.states.set(ns, "Registered");
        }
        return json(200, { id: url.pathname, namespace: ns, registrationState: this.states.get(ns) ?? "NotRegistered" });
    });

    async start(): Promise<string> {
        await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
        return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    }

    stop(): Promise<void> {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(() => resolve()));
    }
}

describe("resource provider registrations", () => {
    let arm: FakeProviders;
    let client: ResourceProvidersClient;
    let endpoint: string;
    beforeEach(async () => {
        arm = new FakeProviders();
        endpoint = await arm.start();
        client = new ResourceProvidersClient({ endpoint, token: async () => "fake-arm-token", sleep: async () => undefined });
    });
    afterEach(() => arm.stop());

    it("lists what each platform needs", () => {
        assert.deepStrictEqual(requiredProviders("containerapp").sort(), ["Microsoft.App", "Microsoft.ContainerRegistry", "Microsoft.Databricks", "Microsoft.Insights", "Microsoft.ManagedIdentity", "Microsoft.OperationalInsights", "Microsoft.Portal", "Microsoft.Storage"]);
        assert.ok(requiredProviders("aci").includes("Microsoft.ContainerInstance"));
    });

    it("registers the missing ones, waits until they are registered, and leaves registered ones alone", async () => {
        arm.states.set("Microsoft.Storage", "Registered");
        const log: string[] = [];
        const registered = await ensureProvidersRegistered(client, "sub-1", ["Microsoft.Storage", "Microsoft.App", "Microsoft.Databricks"], { sleep: async () => undefined, log: (l) => log.push(l) });
        assert.deepStrictEqual(registered, ["Microsoft.App", "Microsoft.Databricks"]);
        assert.strictEqual(arm.states.get("Microsoft.App"), "Registered");
        assert.ok(!arm.calls.includes("POST /subscriptions/sub-1/providers/Microsoft.Storage/register"));
        assert.deepStrictEqual(log, ["registering the resource provider Microsoft.App (the Container Apps environment and apps)", "registering the resource provider Microsoft.Databricks (the Databricks workspace and access connector)"]);
        // A rerun registers nothing.
        assert.deepStrictEqual(await ensureProvidersRegistered(client, "sub-1", ["Microsoft.Storage", "Microsoft.App"], { sleep: async () => undefined }), []);
    });

    it("says who must register a provider when the deployer may not, and fails a registration that never finishes", async () => {
        arm.forbidden.add("Microsoft.App");
        await assert.rejects(ensureProvidersRegistered(client, "sub-1", ["Microsoft.App"], { sleep: async () => undefined }), /HTTP 403\. Someone with Contributor \(or Microsoft\.App\/register\/action\) on the subscription runs: az provider register --namespace Microsoft\.App/);
        arm.pollsToRegister = Infinity;
        let clock = 0;
        await assert.rejects(
            ensureProvidersRegistered(client, "sub-1", ["Microsoft.Databricks"], { sleep: async (ms) => void (clock += ms), now: () => clock, timeoutMs: 60_000 }),
            /resource provider Microsoft\.Databricks not registered after 1 minutes in subscription sub-1: check with az provider show --namespace Microsoft\.Databricks/,
        );
    });

    it("retries a 429 (after its Retry-After), a 5xx and a timeout within a bound, then goes on; a rerun converges", async () => {
        const log: string[] = [];
        const waits: number[] = [];
        const patient = new ResourceProvidersClient({ endpoint, token: async () => "fake-arm-token", timeoutMs: 1000, sleep: async (ms) => void waits.push(ms), log: (l) => log.push(l) });
        arm.faults = [429, 500, "hang"];
        assert.deepStrictEqual(await ensureProvidersRegistered(patient, "sub-1", ["Microsoft.App"], { sleep: async () => undefined }), ["Microsoft.App"]);
        assert.strictEqual(arm.states.get("Microsoft.App"), "Registered");
        assert.deepStrictEqual(waits, [3000, 2000, 4000], "Retry-After first, then the backoff");
        assert.deepStrictEqual(log.map((l) => l.replace(/ in \d+ s$/, "")), [
            "read the registration of Microsoft.App in subscription sub-1: HTTP 429 TooManyRequests; retry 1/5",
            "read the registration of Microsoft.App in subscription sub-1: HTTP 500 InternalServerError; retry 2/5",
            "read the registration of Microsoft.App in subscription sub-1: ECONNABORTED; retry 3/5",
        ]);
        assert.deepStrictEqual(await ensureProvidersRegistered(patient, "sub-1", ["Microsoft.App"], { sleep: async () => undefined }), [], "a rerun has nothing to do");
    });

    it("fails clearly once the retries are spent: a 5xx that persists, or no answer at all", async () => {
        const bounded = new ResourceProvidersClient({ endpoint, token: async () => "fake-arm-token", timeoutMs: 500, maxAttempts: 3, sleep: async () => undefined });
        arm.faults = [503, 503, 503];
        await assert.rejects(ensureProvidersRegistered(bounded, "sub-1", ["Microsoft.App"], { sleep: async () => undefined }), (err: Error) => {
            assert.strictEqual(err.message, "cannot read the registration of Microsoft.App in subscription sub-1: HTTP 503 (InternalServerError: try later). Resource Manager kept answering so after several retries: run `pulumi up` again later.");
            return true;
        });
        arm.faults = ["hang", "hang", "hang"];
        await assert.rejects(
            ensureProvidersRegistered(bounded, "sub-1", ["Microsoft.App"], { sleep: async () => undefined }),
            /^ArmError: Azure Resource Manager did not answer when trying to read the registration of Microsoft\.App in subscription sub-1 \(ECONNABORTED, 3 attempts\): check the network and run `pulumi up` again$/,
        );
    });

    it("as a dynamic resource: registers on create and update, never unregisters, and refuses a bad namespace", async () => {
        const provider = new ResourceProviderRegistrationsProvider({ client: () => client, sleep: async () => undefined, log: () => undefined });
        const created = await provider.create({ subscriptionId: "sub-2", namespaces: ["Microsoft.App"] });
        assert.strictEqual(created.id, "sub-2/resource-providers");
        assert.strictEqual(arm.states.get("Microsoft.App"), "Registered");
        assert.deepStrictEqual(await provider.diff("id", { subscriptionId: "sub-2", namespaces: ["Microsoft.App", "Microsoft.Storage"] }, { subscriptionId: "sub-2", namespaces: ["Microsoft.Storage", "Microsoft.App"] }), { changes: false });
        await provider.delete();
        assert.ok(!arm.calls.some((c) => c.includes("unregister")));
        const checked = await provider.check({} as never, { subscriptionId: "s", namespaces: ["Microsoft.App", "not a namespace"] });
        assert.deepStrictEqual(checked.failures, [{ property: "namespaces", reason: '"not a namespace" is not a resource provider namespace such as Microsoft.App' }]);
    });
});
