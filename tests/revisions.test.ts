// Revision identity: a Container Apps revision suffix and an ACI DNS label follow the whole spec.
import * as assert from "assert";
import { execFile } from "child_process";
import * as path from "path";
import { promisify } from "util";
import { ACI_PROBES } from "../components/serving/aci";
import { CONTAINER_APP_PROBES } from "../components/serving/containerApp";
import { aciDnsLabel, canonicalJson, revisionSuffix, secretRefFingerprint, type RevisionSpec } from "../lib/serving/revision";
import { PROJECT_DIR } from "./helpers/fixtures";

const base = (): RevisionSpec => ({
    image: "models/fraud:main.risk.fraud-v7-0123456789ab",
    env: [
        { name: "MLFLOW_MODELS_WORKERS", value: "2" },
        { name: "API_KEY", secretRefSha256: secretRefFingerprint("api-key") },
    ],
    cpu: 2,
    memoryGb: 4,
    workers: 2,
    probes: JSON.parse(JSON.stringify(CONTAINER_APP_PROBES)),
    scale: { minReplicas: 2, maxReplicas: 10, concurrentRequests: 20 },
});

type Edit = [string, (spec: RevisionSpec) => void];

// Every field of the spec, each probe setting and each scale setting.
const edits: Edit[] = [
    ["image tag (new version or recipe)", (s) => (s.image = "models/fraud:main.risk.fraud-v8-0123456789ab")],
    ["an environment variable's value", (s) => (s.env[0].value = "3")],
    ["an environment variable's name", (s) => (s.env[0].name = "MLFLOW_WORKERS")],
    ["a new environment variable", (s) => s.env.push({ name: "LOG_LEVEL", value: "debug" })],
    ["a secret variable's reference", (s) => (s.env[1].secretRefSha256 = secretRefFingerprint("api-key-2"))],
    ["cpu", (s) => (s.cpu = 4)],
    ["memory", (s) => (s.memoryGb = 8)],
    ["workers", (s) => (s.workers = 4)],
    ["minReplicas", (s) => (s.scale!.minReplicas = 3)],
    ["maxReplicas", (s) => (s.scale!.maxReplicas = 11)],
    ["concurrentRequests", (s) => (s.scale!.concurrentRequests = 30)],
];
for (const [i, probe] of (CONTAINER_APP_PROBES as readonly Record<string, any>[]).entries()) {
    for (const key of ["periodSeconds", "failureThreshold", "timeoutSeconds"]) {
        edits.push([`${probe.type} probe ${key}`, (s) => ((s.probes as any[])[i][key] += 1)]);
    }
    edits.push([`${probe.type} probe path`, (s) => ((s.probes as any[])[i].httpGet.path = "/other")]);
    edits.push([`${probe.type} probe port`, (s) => ((s.probes as any[])[i].httpGet.port = 9090)]);
}

describe("revision identity", () => {
    it("canonical JSON sorts keys at every level and drops undefined ones", () => {
        assert.strictEqual(canonicalJson({ c: 1, a: { z: [2, { y: 1, x: 0 }], b: undefined }, b: "t" }), '{"a":{"z":[2,{"x":0,"y":1}]},"b":"t","c":1}');
    });

    it("a DNS label never carries a run of dashes into the version", () => {
        assert.match(aciDnsLabel("p", "fraud__", "7", base()), /^p-fraud-v7-[0-9a-f]{8}$/);
        // Cut where the head ends in two dashes: both go.
        assert.match(aciDnsLabel(`${"a".repeat(49)}--${"b".repeat(10)}`, "x", "7", base()), new RegExp(`^${"a".repeat(49)}-v7-[0-9a-f]{8}$`));
    });

    const suffix = revisionSuffix("7", base());
    const label = aciDnsLabel("mlplatdevmodels", "fraud", "7", base());

    for (const [field, edit] of edits) {
        it(`changing ${field} gives a new suffix and a new ACI label`, () => {
            const spec = base();
            edit(spec);
            assert.notStrictEqual(revisionSuffix("7", spec), suffix);
            assert.notStrictEqual(aciDnsLabel("mlplatdevmodels", "fraud", "7", spec), label);
        });
    }

    it("ACI probe settings are part of the label too", () => {
        const spec = { ...base(), probes: JSON.parse(JSON.stringify(ACI_PROBES)) };
        const changed = JSON.parse(JSON.stringify(spec));
        changed.probes.liveness.initialDelaySeconds += 10;
        assert.notStrictEqual(aciDnsLabel("p", "fraud", "7", spec), aciDnsLabel("p", "fraud", "7", changed));
    });

    it("a secret's value, a traffic weight or an Azure tag are not part of the spec", () => {
        // The spec type has no place for them: a secret enters only by its reference, traffic and
        // tags are app-level settings. Its keys are exactly these:
        assert.deepStrictEqual(Object.keys(base()).sort(), ["cpu", "env", "image", "memoryGb", "probes", "scale", "workers"]);
        assert.ok(!JSON.stringify(base()).includes("weight"));
    });

    it("the same spec gives the same names whatever the key order", () => {
        const reordered = Object.fromEntries(Object.entries(base()).reverse()) as unknown as RevisionSpec;
        assert.strictEqual(revisionSuffix("7", reordered), suffix);
        assert.strictEqual(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] }), '{"a":[{"c":3,"d":2}],"b":1}');
    });

    it("keeps the version readable at the start and fits Azure's limits", () => {
        assert.match(suffix, /^v7-[0-9a-f]{10}$/);
        assert.ok(`prd-fraud--${suffix}`.length <= 63);
        assert.match(label, /^[a-z][a-z0-9-]{1,61}[a-z0-9]$/);
        assert.ok(revisionSuffix("123456789012345", base()).length <= 29);
        assert.throws(() => revisionSuffix("1".repeat(20), base()), /too long for a Container Apps revision suffix/);
        const long = aciDnsLabel("a".repeat(40), "b".repeat(24), "123", base());
        assert.strictEqual(long.length, 63);
        assert.match(long, /-v123-[0-9a-f]{8}$/);
    });

    it("gives the same names in a fresh process, as on any machine", async () => {
        const script = `const r = require(${JSON.stringify(path.join(PROJECT_DIR, "lib/serving/revision.ts"))});
            process.stdout.write(r.revisionSuffix("7", ${JSON.stringify(base())}) + " " + r.aciDnsLabel("mlplatdevmodels", "fraud", "7", ${JSON.stringify(base())}));`;
        const { stdout } = await promisify(execFile)(process.execPath, ["-r", path.join(PROJECT_DIR, "scripts/register-ts.js"), "-e", script]);
        assert.strictEqual(stdout, `${suffix} ${label}`);
    });
});

describe("revision names in the plan", () => {
    it("the same config planned twice gives the same revision names, and the suffix is known in a preview", async () => {
        const { planStack, previewMocksWithVersions } = await import("../lib/plan");
        const mocks = previewMocksWithVersions({ "prd-serving-fraud-version": { version: "7", modelUri: "models:/mlplatform.prd.fraud/7" } });
        const names = async () => {
            const plan = await planStack(PROJECT_DIR, "prd", "index.ts", { mocks });
            const app = plan.resources.find((r) => r.type === "azure-native:app:ContainerApp")!;
            return (app.inputs.template as any).revisionSuffix as string;
        };
        const first = await names();
        assert.match(first, /^v7-[0-9a-f]{10}$/);
        assert.strictEqual(await names(), first);
    });
});
