// How users, groups and applications get a token for the scoring API, and what the Container Apps
// authentication then admits, under the mock runtime; and the Container Apps API versions in use.
import * as assert from "assert";
import { PRE_AUTHORIZED_CLIENTS, SCORING_USER_SCOPE_VALUE, ScoringApi } from "../components/access/scoringApi";
import { CONTAINER_APP_SDK_API_VERSION, containerAppScoringService } from "../components/serving/containerApp";
import { stableGuid } from "../lib/access/roles";
import { appApiVersionWarning, azureNativeAppApiVersion, CONTAINER_APPS_API_VERSION, isPreviewApiVersion } from "../lib/azure/containerApps";
import type { Principal } from "../lib/config";
import { recordProgram, type Plan } from "../lib/plan";
import { deployedAzureMocks } from "./helpers/azureMocks";
import { byType, onlyOfType } from "./helpers/fixtures";

const CALLERS: Principal[] = [
    { objectId: "44444444-4444-4444-4444-444444444444", type: "group", name: "fraud-analysts" },
    { objectId: "55555555-5555-5555-5555-555555555555", type: "user", name: "ana@example.com" },
    { objectId: "33333333-3333-3333-3333-333333333333", type: "servicePrincipal", name: "batch-scorer" },
];

async function scoringPlan(): Promise<{ plan: Plan; scope?: string; userScope?: string }> {
    const seen: { scope?: string; userScope?: string } = {};
    const plan = await recordProgram(
        () => {
            const api = new ScoringApi("t-scoring-api", { displayName: "t scoring API", tenantId: "tenant-1", callers: CALLERS, deployerObjectId: "66666666-6666-6666-6666-666666666666" });
            api.scope.apply((v) => (seen.scope = v));
            api.userScope.apply((v) => (seen.userScope = v));
            const service = containerAppScoringService(
                "t-fraud-app",
                {
                    resourceGroupName: "rg",
                    location: "westeurope",
                    appName: "t-fraud",
                    environmentId: "/env",
                    identityId: "/identity",
                    loginServer: "acr.azurecr.io",
                    template: { suffix: "v1-abc", image: "acr.azurecr.io/models/fraud:1" },
                    traffic: [{ revisionName: "t-fraud--v1-abc", weight: 100 }],
                    maxInactiveRevisions: 3,
                    cpu: 1,
                    memoryGb: 2,
                    scale: { minReplicas: 1, maxReplicas: 2, concurrentRequests: 10 },
                    env: [],
                    access: { ingress: "external", ipAllowList: [] },
                    auth: api.auth,
                    ingressOpen: false,
                    tags: {},
                },
                {},
            );
            return { appId: service.appId };
        },
        { project: "mlflow-platform", stack: "t", mocks: deployedAzureMocks, preview: false },
    );
    return { plan, ...seen };
}

describe("the scoring API: tokens for users, groups and applications", () => {
    let planned: Awaited<ReturnType<typeof scoringPlan>>;
    before(async function () {
        this.timeout(60_000);
        planned = await scoringPlan();
    });

    it("exposes the delegated scope user_impersonation (type User) with a fixed id, after the identifier URI", () => {
        const scope = onlyOfType(planned.plan, "azuread:index/applicationPermissionScope:ApplicationPermissionScope");
        const app = onlyOfType(planned.plan, "azuread:index/applicationRegistration:ApplicationRegistration");
        assert.strictEqual(scope.inputs.value, SCORING_USER_SCOPE_VALUE);
        assert.strictEqual(scope.inputs.type, "User");
        assert.strictEqual(scope.inputs.scopeId, stableGuid(`t-scoring-api/${SCORING_USER_SCOPE_VALUE}`), "the same id in every run");
        const uri = onlyOfType(planned.plan, "azuread:index/applicationIdentifierUri:ApplicationIdentifierUri");
        assert.strictEqual(scope.inputs.applicationId, uri.inputs.applicationId, "on the scoring API's own registration");
        assert.ok(String(scope.inputs.adminConsentDisplayName).length > 0 && String(scope.inputs.adminConsentDescription).length > 0);
        assert.strictEqual(planned.userScope, `api://client-of-${app.name}/user_impersonation`);
        assert.strictEqual(planned.scope, `api://client-of-${app.name}/.default`, "applications keep the .default scope");
    });

    it("pre-authorizes the Azure CLI (04b07795-…) and Azure PowerShell for that scope, so users get no consent prompt (AADSTS65001)", () => {
        const scope = onlyOfType(planned.plan, "azuread:index/applicationPermissionScope:ApplicationPermissionScope");
        const pre = byType(planned.plan, "azuread:index/applicationPreAuthorized:ApplicationPreAuthorized");
        assert.deepStrictEqual(pre.map((p) => p.inputs.authorizedClientId).sort(), ["04b07795-8ddb-461a-bbee-02f9e1bf7b46", "1950a258-227b-4e31-a9cf-717495945fc2"]);
        assert.strictEqual(PRE_AUTHORIZED_CLIENTS.azureCli, "04b07795-8ddb-461a-bbee-02f9e1bf7b46");
        for (const p of pre) {
            assert.deepStrictEqual(p.inputs.permissionIds, [scope.inputs.scopeId]);
            assert.strictEqual(p.inputs.applicationId, scope.inputs.applicationId);
        }
    });

    it("keeps the app role for app-only callers, and still issues tokens only to principals assigned it", () => {
        const role = onlyOfType(planned.plan, "azuread:index/applicationAppRole:ApplicationAppRole");
        assert.deepStrictEqual(role.inputs.allowedMemberTypes, ["User", "Application"], "users and groups (User), applications and managed identities (Application)");
        const sp = onlyOfType(planned.plan, "azuread:index/servicePrincipal:ServicePrincipal");
        assert.strictEqual(sp.inputs.appRoleAssignmentRequired, true, "pre-authorizing the CLI widens nothing");
        const assigned = byType(planned.plan, "azuread:index/appRoleAssignment:AppRoleAssignment").map((a) => a.inputs.principalObjectId);
        assert.deepStrictEqual(assigned.sort(), [...CALLERS.map((c) => c.objectId), "66666666-6666-6666-6666-666666666666"].sort(), "the group, the user, the application and the deployer");
    });

    it("the Container Apps authentication admits every configured client: Entra on, 401 without a token, no policy narrowing it", () => {
        const auth = onlyOfType(planned.plan, "azure-native:app:ContainerAppsAuthConfig").inputs as any;
        assert.strictEqual(auth.platform.enabled, true);
        assert.strictEqual(auth.globalValidation.unauthenticatedClientAction, "Return401");
        const aad = auth.identityProviders.azureActiveDirectory;
        assert.strictEqual(aad.enabled, true);
        assert.strictEqual(aad.registration.openIdIssuer, "https://login.microsoftonline.com/tenant-1/v2.0", "v2 issuer: the registration issues v2 tokens");
        const app = onlyOfType(planned.plan, "azuread:index/applicationRegistration:ApplicationRegistration");
        // A v2 token's aud is the client id, whichever flow issued it (user through the CLI, or app-only).
        assert.deepStrictEqual(aad.validation.allowedAudiences, [`client-of-${app.name}`, `api://client-of-${app.name}`]);
        // allowedApplications would refuse the CLI's user tokens; allowedPrincipals / allowedGroups
        // would refuse group members (their oid is their own; `groups` is omitted past 200 groups).
        assert.strictEqual(aad.validation.defaultAuthorizationPolicy, undefined);
        assert.strictEqual(aad.validation.jwtClaimChecks, undefined);
        assert.strictEqual(aad.isAutoProvisioned, undefined);
    });
});

describe("Container Apps API versions", () => {
    it("reads the installed azure-native's version for the app and its auth config", () => {
        const version = azureNativeAppApiVersion("containerApp");
        assert.match(version ?? "", /^\d{4}-\d{2}-\d{2}(-preview)?$/);
        assert.strictEqual(CONTAINER_APP_SDK_API_VERSION.containerApp, version);
        assert.strictEqual(CONTAINER_APP_SDK_API_VERSION.authConfig, azureNativeAppApiVersion("containerAppsAuthConfig"));
    });

    it("RevisionTraffic and the reads use a GA version; a preview one for the app is warned about, naming the way to one version", () => {
        assert.strictEqual(isPreviewApiVersion(CONTAINER_APPS_API_VERSION), false);
        const sdk = CONTAINER_APP_SDK_API_VERSION.containerApp!;
        const warning = appApiVersionWarning(sdk, CONTAINER_APP_SDK_API_VERSION.authConfig);
        if (sdk === CONTAINER_APPS_API_VERSION && CONTAINER_APP_SDK_API_VERSION.authConfig === sdk) {
            assert.strictEqual(warning, undefined, "one GA version for both: nothing to warn about");
        } else {
            // azure-native 3.28: 2025-02-02-preview. This fails, on purpose, once the SDK changes.
            assert.strictEqual(sdk, "2025-02-02-preview");
            assert.match(warning ?? "", /deployed through Azure API version 2025-02-02-preview .*a preview version, while RevisionTraffic and the rollout reads use 2025-07-01 \(GA\).*pulumi package add azure-native app 2025-07-01/);
        }
        assert.strictEqual(appApiVersionWarning("2025-07-01", "2025-07-01"), undefined);
        assert.match(appApiVersionWarning("2025-01-01", "2025-01-01") ?? "", /2025-01-01 .*while RevisionTraffic .* use 2025-07-01/);
    });

    it("the plan of a Container Apps stack prints the warning", async () => {
        const warnings: string[] = [];
        const original = console.warn;
        console.warn = (message: string) => void warnings.push(String(message));
        try {
            const { containerAppsEnvironment } = await import("../components/serving/containerApp");
            await recordProgram(() => containerAppsEnvironment("t-apps", { resourceGroupName: "rg", location: "westeurope", logRetentionDays: 30, tags: {} }, {}), {
                project: "mlflow-platform",
                stack: "t",
                mocks: deployedAzureMocks,
                preview: true,
            });
        } finally {
            console.warn = original;
        }
        assert.strictEqual(warnings.filter((w) => /deployed through Azure API version 2025-02-02-preview .*a preview version/.test(w)).length, 1, warnings.join("\n"));
    });
});
