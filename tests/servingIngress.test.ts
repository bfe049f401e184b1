// The order of a container app's PUT, its Entra authentication config and its ingress, run by run,
// against the fake Resource Manager read through the real ContainerAppsClient: no moment may serve
// anonymous requests, and an app that cannot be read is never taken for a new one.
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { ModelServing, type ModelServingArgs } from "../components/serving/modelServing";
import { CLOSED_INGRESS, ipRestrictions } from "../components/serving/containerApp";
import { RevisionTrafficProvider, type RevisionTrafficState } from "../components/serving/revisionTraffic";
import { ContainerAppsClient } from "../lib/azure/containerApps";
import type { ServedModel } from "../lib/config";
import { recordProgram, type Plan } from "../lib/plan";
import { deployedAzureMocks } from "./helpers/azureMocks";
import { FakeContainerApps } from "./helpers/fakeContainerApps";
import { onlyOfType, PROJECT_DIR, testScoringAuth } from "./helpers/fixtures";

const ALLOW = ["198.51.100.0/24"];

const fraud: ServedModel = {
    name: "fraud",
    model: "main.risk.fraud",
    selector: { alias: "champion" },
    cpu: 2,
    memoryGb: 4,
    workers: 2,
    scale: { minReplicas: 1, maxReplicas: 3, concurrentRequests: 20 },
};

describe("container app, authentication config and ingress, run by run", () => {
    let azure: FakeContainerApps;
    let endpoint: string;
    beforeEach(async () => {
        azure = new FakeContainerApps();
        endpoint = await azure.start();
    });
    afterEach(() => azure.stop());

    const client = () => new ContainerAppsClient({ endpoint, token: async () => "fake-arm-token", sleep: async () => undefined, maxAttempts: 2 });

    /** What `pulumi up` declares for the app (prd-fraud in subscription s, group rg), read from the fake. */
    async function plan(options: { version?: string; clientConfig?: () => unknown } = {}): Promise<Plan> {
        const mocks: pulumi.runtime.Mocks = {
            ...deployedAzureMocks,
            newResource: async (args) => {
                const result = await deployedAzureMocks.newResource(args);
                if (args.type !== "pulumi-nodejs:dynamic/registry:ModelVersion") return result;
                const version = options.version ?? "7";
                return { ...result, state: { ...result.state, version, modelUri: `models:/${args.inputs.model}/${version}` } };
            },
            call: (args) => {
                if (args.token === "azure-native:authorization:getClientConfig") {
                    return (options.clientConfig ?? (() => ({ subscriptionId: "s", tenantId: "t", clientId: "c", objectId: "o" })))() as Record<string, unknown>;
                }
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
            models: [fraud],
            platform: "containerapp",
            access: { ingress: "external", ipAllowList: ALLOW },
            auth: testScoringAuth(),
            logRetentionDays: 30,
            maxInactiveRevisions: 3,
            rollout: client(),
            appNamePrefix: "prd",
            images: { projectDir: PROJECT_DIR, credential: { source: "test", content: async () => "DATABRICKS_TOKEN=fake\n" }, registryAccess: () => ({ pushToken: async () => "r", manifestDigest: async () => "sha256:" + "a".repeat(64) }) },
            tags: {},
        };
        // A program that returns an async function is awaited (this one reads the fake over HTTP).
        return recordProgram(
            () => async () => {
                const serving = await ModelServing.create("prd-serving", args);
                return { models: pulumi.output(serving.models) };
            },
            { project: "mlflow-platform", stack: "prd", mocks, preview: false },
        );
    }

    const appOf = (p: Plan) => onlyOfType(p, "azure-native:app:ContainerApp").inputs as any;
    /** RevisionTraffic's inputs, pointed at the fake app (the mocks give the app another id). */
    const trafficOf = (p: Plan) => ({ ...(onlyOfType(p, "pulumi-nodejs:dynamic/serving:RevisionTraffic").inputs as unknown as RevisionTrafficState), appId: azure.appId });
    /** What azure-native's PUT of the app does in the fake. */
    const putApp = (p: Plan) => {
        const app = appOf(p);
        azure.put(app.template.revisionSuffix, JSON.stringify(app.template), app.configuration.ingress.traffic, app.configuration.ingress.ipSecurityRestrictions);
    };
    const traffic = () => new RevisionTrafficProvider({ client, sleep: async () => undefined, pollMs: 1, log: () => undefined });
    const closed = () => CLOSED_INGRESS.map((r) => ({ ...r }));

    it("a first run whose auth config failed leaves the app closed; the rerun keeps it closed until the auth config exists, then opens it", async () => {
        // Run 1: a new app (Resource Manager: 404 ResourceNotFound) is PUT admitting nobody ...
        const first = await plan();
        assert.deepStrictEqual(appOf(first).configuration.ingress.ipSecurityRestrictions, closed());
        assert.strictEqual(trafficOf(first).ingressClosedByApp, true);
        putApp(first);
        // ... and its auth config fails: RevisionTraffic (which depends on it) never runs.
        assert.deepStrictEqual(azure.ipSecurityRestrictions, closed());

        // Run 2: the app exists, its auth config does not: the PUT keeps the ingress closed.
        const second = await plan();
        assert.deepStrictEqual(appOf(second).configuration.ingress.ipSecurityRestrictions, closed(), "never open before the auth config exists");
        assert.strictEqual(trafficOf(second).ingressClosedByApp, true);
        putApp(second);
        assert.deepStrictEqual(azure.ipSecurityRestrictions, closed());
        // Were RevisionTraffic to run without the auth config, it refuses to open the ingress.
        await assert.rejects(traffic().create(trafficOf(second)), /has no Entra authentication config .*so its ingress stays closed and the traffic stays as it is/);
        assert.deepStrictEqual(azure.ipSecurityRestrictions, closed());
        // The auth config is created this time; RevisionTraffic, after it, opens the ingress.
        azure.putAuthConfig();
        await traffic().create(trafficOf(second));
        assert.deepStrictEqual(azure.ipSecurityRestrictions, ipRestrictions(ALLOW));

        // Run 3: everything exists: the PUT carries the allow-list itself, and RevisionTraffic runs
        // again (its input says the app is no longer closed by the PUT), opening nothing new.
        const third = await plan();
        assert.deepStrictEqual(appOf(third).configuration.ingress.ipSecurityRestrictions, ipRestrictions(ALLOW));
        assert.strictEqual(trafficOf(third).ingressClosedByApp, false);
        const diff = await traffic().diff("id", trafficOf(second), trafficOf(third));
        assert.strictEqual(diff.changes, true);
        putApp(third);
        await traffic().update("id", trafficOf(second), trafficOf(third));
        assert.deepStrictEqual(azure.ipSecurityRestrictions, ipRestrictions(ALLOW));
        // At no moment did the ingress admit an address without the auth config, or while a revision
        // with traffic was not ready (a new app's first revision gets its traffic closed).
        const rulesText = (rules: { name: string; ipAddressRange: string; action: string }[]) => rules.map((r) => `${r.name} ${r.ipAddressRange} ${r.action}`).join(", ");
        const isClosed = (rules: { name: string; ipAddressRange: string; action: string }[]) => rulesText(rules) === rulesText(closed());
        const open = azure.history.filter((h) => !isClosed(h.ipSecurityRestrictions));
        assert.ok(open.length > 0);
        for (const moment of open) {
            assert.strictEqual(moment.authConfigured, true, JSON.stringify(moment));
            assert.deepStrictEqual(moment.notReadyWithTraffic, [], JSON.stringify(moment));
        }
    });

    it("an auth config that lets anonymous requests through does not count: the ingress stays closed", async () => {
        putApp(await plan());
        azure.putAuthConfig({ platform: { enabled: true }, globalValidation: { unauthenticatedClientAction: "AllowAnonymous" }, identityProviders: { azureActiveDirectory: { enabled: true } } });
        const rerun = await plan();
        assert.deepStrictEqual(appOf(rerun).configuration.ingress.ipSecurityRestrictions, closed());
        await assert.rejects(traffic().create(trafficOf(rerun)), /has no Entra authentication config/);
    });

    it("an app that cannot be read fails the run clearly instead of being taken for a new one", async () => {
        putApp(await plan());
        azure.putAuthConfig();
        // 403: the deploying identity may not read the app.
        azure.faults.push({ method: "GET", path: /\/revisions$/, status: 403, code: "AuthorizationFailed" });
        await assert.rejects(plan({ version: "8" }), /container app prd-fraud: cannot read it as Azure has it \(cannot list the revisions of .*prd-fraud: HTTP 403 \(AuthorizationFailed: .*\)\. The deploying identity needs Contributor .*\)\. Nothing is changed: a rollout starts from the live revisions and never treats an app it cannot read as new/);
        // A 404 that does not say the app is absent (a wrong route, a subscription that is not there).
        azure.faults.push({ method: "GET", path: /\/revisions$/, status: 404, code: "SubscriptionNotFound" });
        await assert.rejects(plan({ version: "8" }), /cannot read it as Azure has it \(cannot list the revisions of .*: HTTP 404 \(SubscriptionNotFound/);
        // Resource Manager keeps failing: retried within the bound, then a clear failure.
        azure.faults.push({ method: "GET", path: /\/revisions$/, status: 503 }, { method: "GET", path: /\/revisions$/, status: 503 });
        await assert.rejects(plan({ version: "8" }), /cannot read it as Azure has it \(cannot list the revisions .*HTTP 503 .*run `pulumi up` again later/);
        // The auth config cannot be read.
        azure.faults.push({ method: "GET", path: /\/authConfigs\/current$/, status: 403, code: "AuthorizationFailed" });
        await assert.rejects(plan({ version: "8" }), /cannot read it as Azure has it \(cannot read the authentication config of .*HTTP 403/);
        // The subscription cannot be learnt (getClientConfig fails).
        await assert.rejects(
            plan({
                version: "8",
                clientConfig: () => {
                    throw new Error("DefaultAzureCredential failed to retrieve a token");
                },
            }),
            /container app prd-fraud: cannot learn the subscription it is deployed to \(azure-native getClientConfig: .*\), so its live revisions cannot be read and nothing is changed/,
        );
        // None of these changed the app; once the reads work, the rollout goes on from the live app.
        const rollout = await plan({ version: "8" });
        assert.deepStrictEqual(
            appOf(rollout).configuration.ingress.traffic.filter((t: { weight: number }) => t.weight > 0).map((t: { revisionName: string }) => t.revisionName),
            [...azure.revisions.keys()],
            "the PUT keeps serving the live revision; the new one gets traffic only once ready",
        );
    });
});
