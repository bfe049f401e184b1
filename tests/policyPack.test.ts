// Starts the policy pack exactly as the Pulumi CLI's Node.js language host does (its folder as the
// working directory, `@pulumi/pulumi/cmd/run-policy-pack` with TypeScript through ts-node) and
// talks to it over the analyzer gRPC protocol the engine uses.
import * as assert from "assert";
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "./helpers/fixtures";

/* eslint-disable @typescript-eslint/no-require-imports */
const grpc = require("@grpc/grpc-js");
const analyzerRpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerPb = require("@pulumi/pulumi/proto/analyzer_pb");
const emptyPb = require("google-protobuf/google/protobuf/empty_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");

const RUN_POLICY_PACK = path.join(PROJECT_DIR, "node_modules/@pulumi/pulumi/cmd/run-policy-pack");
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"; // the engine's marker for a value a preview does not know

/** Starts a pack folder; resolves with its gRPC port, or rejects with what it printed before exiting. */
function startPack(folder: string): Promise<{ port: number; child: ChildProcess }> {
    const child = spawn(process.execPath, [RUN_POLICY_PACK, "127.0.0.1:0", "."], { cwd: folder, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    return new Promise((resolve, reject) => {
        child.stdout!.on("data", (chunk) => {
            stdout += chunk;
            const port = /^(\d+)\s*$/m.exec(stdout)?.[1];
            if (port) resolve({ port: Number(port), child });
        });
        child.stderr!.on("data", (chunk) => (stderr += chunk));
        child.on("exit", (code) => reject(new Error(`the pack exited with ${code}: ${stderr}${stdout}`)));
    });
}

type Diagnostic = { policy: string; level: string; message: string };
const LEVELS: Record<number, string> = { 0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate" };

/** Fills an AnalyzeRequest or AnalyzerResource (the same setters) as the engine does. */
function resourceMessage(message: any, stack: string, type: string, name: string, props: Record<string, unknown>, protect: boolean): any {
    const options = new analyzerPb.AnalyzerResourceOptions();
    options.setProtect(protect);
    return message
        .setType(type)
        .setName(name)
        .setUrn(`urn:pulumi:${stack}::mlflow-platform::${type}::${name}`)
        .setProperties(Struct.fromJavaScript(props))
        .setOptions(options);
}

describe("policy pack, started as Pulumi starts it", function () {
    this.timeout(60000);
    let pack: { port: number; child: ChildProcess };
    let client: any;
    const call = <T>(method: string, request: unknown): Promise<T> =>
        new Promise((resolve, reject) => client[method](request, (err: Error | null, response: T) => (err ? reject(err) : resolve(response))));
    // @pulumi/policy puts the policy's description on the first line of each message; compare the rest.
    const diagnostics = (response: any): Diagnostic[] =>
        response.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), level: LEVELS[d.getEnforcementlevel()], message: d.getMessage().split("\n").slice(1).join("\n") || d.getMessage() }));
    const analyze = async (stack: string, type: string, name: string, props: Record<string, unknown>, protect = true) =>
        diagnostics(await call("analyze", resourceMessage(new analyzerPb.AnalyzeRequest(), stack, type, name, props, protect)));

    before(async () => {
        pack = await startPack(path.join(PROJECT_DIR, "policy"));
        client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${pack.port}`, grpc.credentials.createInsecure());
    });
    after(() => {
        client?.close();
        pack?.child.kill();
    });

    it("starts from its own folder, with its own package.json, and lists every rule", async () => {
        const info: any = await call("getAnalyzerInfo", new emptyPb.Empty());
        assert.strictEqual(info.getName(), "mlflow-platform");
        assert.strictEqual(info.getVersion(), JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "policy/package.json"), "utf8")).version);
        const names = info.getPoliciesList().map((p: any) => p.getName());
        for (const name of ["storage-secure-transport-and-auth", "no-public-blob-access", "prd-stateful-resources-protected", "prd-no-public-container-groups", "prd-no-public-container-groups-advisory", "prd-endpoints-not-anonymous"]) {
            assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
        }
    });

    it("judges one resource before it is created or changed (validateResource), mandatory in prd", async () => {
        const found = await analyze("prd", "azure-native:storage:StorageAccount", "prd-store-account", { kind: "StorageV2", enableHttpsTrafficOnly: true, minimumTlsVersion: "TLS1_2", defaultToOAuthAuthentication: true, allowSharedKeyAccess: false, allowCrossTenantReplication: false, allowBlobPublicAccess: true, isHnsEnabled: true }, false);
        assert.deepStrictEqual(found, [
            { policy: "no-public-blob-access", level: "mandatory", message: "prd-store-account: allowBlobPublicAccess is true, must be false: training data and models are private: set mlflow-platform:allowBlobPublicAccess to false" },
            { policy: "prd-stateful-resources-protected", level: "mandatory", message: "prd-store-account: is not protected: set mlflow-platform:protect to true, so pulumi up or destroy cannot delete it" },
        ]);
    });

    it("applies each environment's level: a public container group is mandatory in prd, advisory in dev", async () => {
        const group = { ipAddress: { type: "Public" }, imageRegistryCredentials: [{ server: "r.azurecr.io", identity: "/id" }], containers: [{ name: "scoring", resources: { requests: { cpu: 1, memoryInGB: 2 } } }] };
        const message = "serves on a public IP with no access control (Azure Container Instances): use Container Apps with an IP allow-list or Entra authentication";
        assert.deepStrictEqual(await analyze("prd", "azure-native:containerinstance:ContainerGroup", "g", group), [{ policy: "prd-no-public-container-groups", level: "mandatory", message: `g: ${message}` }]);
        assert.deepStrictEqual(await analyze("dev", "azure-native:containerinstance:ContainerGroup", "g", group), [{ policy: "prd-no-public-container-groups-advisory", level: "advisory", message: `g: ${message}` }]);
    });

    it("turns a rule that meets a value a preview does not know into a warning, not a failure", async () => {
        const found = await analyze("prd", "azure-native:containerregistry:Registry", "r", { adminUserEnabled: UNKNOWN });
        assert.strictEqual(found.length, 1);
        assert.strictEqual(found[0].policy, "container-registry-admin-disabled");
        assert.strictEqual(found[0].level, "advisory");
        assert.match(found[0].message, /can't run policy 'container-registry-admin-disabled' .* during preview/);
    });

    it("checks stack-wide rules across resources (validateStack): an open prd app without Entra", async () => {
        const app = { containerAppName: "prd-fraud", configuration: { ingress: { external: true, ipSecurityRestrictions: [] } }, template: { containers: [{ name: "scoring", resources: { cpu: 1, memory: "2Gi" } }], scale: { minReplicas: 1, maxReplicas: 3 } } };
        const request = new analyzerPb.AnalyzeStackRequest();
        request.setResourcesList([resourceMessage(new analyzerPb.AnalyzerResource(), "prd", "azure-native:app:ContainerApp", "prd-serving-fraud-app", app, true)]);
        assert.deepStrictEqual(diagnostics(await call("analyzeStack", request)), [
            {
                policy: "prd-endpoints-not-anonymous",
                level: "mandatory",
                message: "prd-serving-fraud-app: accepts requests from anyone on the internet: set serving.ipAllowList, serving.entra, or serving.ingress: internal",
            },
        ]);
        const withAuth = new analyzerPb.AnalyzeStackRequest();
        withAuth.setResourcesList([
            resourceMessage(new analyzerPb.AnalyzerResource(), "prd", "azure-native:app:ContainerApp", "prd-serving-fraud-app", app, true),
            resourceMessage(new analyzerPb.AnalyzerResource(), "prd", "azure-native:app:ContainerAppsAuthConfig", "prd-serving-fraud-auth", { containerAppName: "prd-fraud" }, true),
        ]);
        assert.deepStrictEqual(diagnostics(await call("analyzeStack", withAuth)), []);
    });

    it("would crash at start without its own package.json, which is why the folder has one", async () => {
        const copy = path.join(PROJECT_DIR, `.policy-without-package-${process.pid}`);
        fs.mkdirSync(copy);
        try {
            for (const file of ["index.ts", "policies.ts", "tsconfig.json", "PulumiPolicy.yaml"]) fs.copyFileSync(path.join(PROJECT_DIR, "policy", file), path.join(copy, file));
            await assert.rejects(startPack(copy), /exited with [1-9]\d*: .*package\.json/s);
        } finally {
            fs.rmSync(copy, { recursive: true, force: true });
        }
    });
});
