// The plain rules in lib/serving that decide what production serves, each branch and boundary on
// its own: readiness, waking, failure, the app's PUT traffic, deactivation, target checks, sizes,
// image tags, revision names, build credentials and the bootstrap skip.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { registeredEntries, skipWarning } from "../lib/serving/bootstrap";
import { buildCredential, imageRepository, imageTag, recipeDigest, REGISTRY_SECRET_ID, SERVING_CONTEXT } from "../lib/serving/image";
import { aciSizeProblems, containerAppSizeProblems, isMultipleOf } from "../lib/config/serving";
import { aciDnsLabel, canonicalJson, revisionSuffix, specHash, type RevisionSpec } from "../lib/serving/revision";
import { declaredTraffic, hasFailed, isReady, needsWaking, revisionsToDeactivate, targetProblems, type RevisionState, type TrafficTarget } from "../lib/serving/traffic";
import { RegistryError } from "../lib/registry/errors";

const ready = (name: string, weight = 0, extra: Partial<RevisionState> = {}): RevisionState => ({
    name,
    active: true,
    weight,
    provisioningState: "Provisioned",
    runningState: "Running",
    healthState: "Healthy",
    replicas: 1,
    ...extra,
});
const stable = (revision: string, weight = 100): TrafficTarget => ({ revision, weight, label: "stable" });
const canary = (revision: string, weight: number): TrafficTarget => ({ revision, weight, label: "canary" });

describe("serving decisions", () => {
    describe("isReady: every condition on its own", () => {
        it("is ready only when active, provisioned, healthy, running and with at least one replica", () => {
            assert.strictEqual(isReady(ready("r")), true, "exactly one replica is enough");
            assert.strictEqual(isReady(ready("r", 0, { runningState: "RunningAtMaxScale", replicas: 30 })), true);
            assert.strictEqual(isReady(ready("r", 0, { active: false })), false, "inactive");
            assert.strictEqual(isReady(ready("r", 0, { provisioningState: "Provisioning" })), false, "still provisioning");
            assert.strictEqual(isReady(ready("r", 0, { provisioningState: undefined })), false);
            assert.strictEqual(isReady(ready("r", 0, { healthState: "Unhealthy" })), false, "replicas but not healthy yet");
            assert.strictEqual(isReady(ready("r", 0, { healthState: "None" })), false);
            assert.strictEqual(isReady(ready("r", 0, { healthState: undefined })), false);
            assert.strictEqual(isReady(ready("r", 0, { runningState: "Processing" })), false);
            assert.strictEqual(isReady(ready("r", 0, { runningState: "Stopped" })), false);
            assert.strictEqual(isReady(ready("r", 0, { runningState: undefined })), false);
            assert.strictEqual(isReady(ready("r", 0, { runningState: "" })), false);
            assert.strictEqual(isReady(ready("r", 0, { replicas: 0 })), false, "healthy but scaled to zero");
            assert.strictEqual(isReady(ready("r", 0, { replicas: undefined })), false, "replicas unknown");
        });
    });

    describe("needsWaking and hasFailed", () => {
        const asleep = ready("r", 0, { runningState: "Stopped", healthState: "None", replicas: 0 });
        it("wakes an active, provisioned revision with no replica that has not failed", () => {
            assert.strictEqual(needsWaking(asleep), true);
            assert.strictEqual(needsWaking({ ...asleep, replicas: undefined }), true, "replicas unknown is none");
            assert.strictEqual(needsWaking({ ...asleep, runningState: undefined }), true);
            assert.strictEqual(needsWaking({ ...asleep, active: false }), false, "inactive: activated, not woken");
            assert.strictEqual(needsWaking({ ...asleep, provisioningState: "Provisioning" }), false, "still provisioning");
            assert.strictEqual(needsWaking({ ...asleep, replicas: 1 }), false, "it has a replica");
            assert.strictEqual(needsWaking({ ...asleep, runningState: "Failed" }), false, "failed: restarted, not woken");
        });
        it("a revision failed when its provisioning or its running failed", () => {
            assert.strictEqual(hasFailed(ready("r")), false);
            assert.strictEqual(hasFailed(ready("r", 0, { provisioningState: "Failed" })), true);
            assert.strictEqual(hasFailed(ready("r", 0, { runningState: "Failed" })), true);
            assert.strictEqual(hasFailed(ready("r", 0, { provisioningState: undefined, runningState: undefined })), false);
            assert.strictEqual(hasFailed(ready("r", 0, { healthState: "Unhealthy" })), false, "unhealthy is not failed: it may recover");
        });
    });

    describe("declaredTraffic: what the app's own PUT carries", () => {
        const target = [stable("a--v2", 90), canary("a--v3", 10)];
        const asTable = [
            { revisionName: "a--v2", weight: 90, label: "stable" },
            { revisionName: "a--v3", weight: 10, label: "canary" },
        ];
        it("a new app (no revisions, or none listed) gets the target directly", () => {
            assert.deepStrictEqual(declaredTraffic(undefined, target), { table: asTable, final: true });
            assert.deepStrictEqual(declaredTraffic([], target), { table: asTable, final: true });
        });
        it("the target directly when every revision that gets a share is ready", () => {
            assert.deepStrictEqual(declaredTraffic([ready("a--v1", 100), ready("a--v2"), ready("a--v3")], target), { table: asTable, final: true });
        });
        it("a revision at 0% in the target need not be ready", () => {
            const paused = [stable("a--v2", 100), canary("a--v3", 0)];
            assert.deepStrictEqual(declaredTraffic([ready("a--v1", 100), ready("a--v2"), ready("a--v3", 0, { replicas: 0 })], paused), {
                table: [
                    { revisionName: "a--v2", weight: 100, label: "stable" },
                    { revisionName: "a--v3", weight: 0, label: "canary" },
                ],
                final: true,
            });
        });
        it("guarded: keeps what serves now even when the new revision is ready, so the PUT never jumps ahead of the steps", () => {
            const full = [stable("a--v2-b")];
            // A rerun after a hold: v2 ready at 10%.
            assert.deepStrictEqual(declaredTraffic([ready("a--v1-a", 90), ready("a--v2-b", 10)], full, { guarded: true }), {
                table: [
                    { revisionName: "a--v1-a", weight: 90 },
                    { revisionName: "a--v2-b", weight: 10 },
                ],
                final: false,
            });
            // Without a guard the same state takes the target at once; with one, a target that already serves is final.
            assert.strictEqual(declaredTraffic([ready("a--v1-a", 90), ready("a--v2-b", 10)], full).final, true);
            assert.deepStrictEqual(declaredTraffic([ready("a--v1-a", 0), ready("a--v2-b", 100)], full, { guarded: true }), { table: [{ revisionName: "a--v2-b", weight: 100, label: "stable" }], final: true });
        });

        it("keeps what serves now while one target revision is not ready, the target's existing ones at 0%", () => {
            assert.deepStrictEqual(declaredTraffic([ready("a--v1", 70), ready("a--v0", 30), ready("a--v2"), ready("a--v3", 0, { healthState: "Unhealthy" }), ready("a--v9")], target), {
                table: [
                    { revisionName: "a--v1", weight: 70 },
                    { revisionName: "a--v0", weight: 30 },
                    { revisionName: "a--v2", weight: 0 },
                    { revisionName: "a--v3", weight: 0 },
                ],
                final: false,
            });
        });
        it("a target revision the PUT is about to create is not named; one that serves now keeps its share", () => {
            assert.deepStrictEqual(declaredTraffic([ready("a--v2", 100)], target), { table: [{ revisionName: "a--v2", weight: 100 }], final: false });
        });
    });

    describe("revisionsToDeactivate", () => {
        it("every active revision the target does not name, in the app's order; inactive ones are left alone", () => {
            const current = [ready("a--v3"), ready("a--v1", 100), ready("a--v0", 0, { active: false }), ready("a--v2")];
            assert.deepStrictEqual(revisionsToDeactivate(current, [stable("a--v2", 100)]), ["a--v3", "a--v1"]);
            assert.deepStrictEqual(revisionsToDeactivate(current, [stable("a--v1", 100), canary("a--v3", 0)]), ["a--v2"], "a canary at 0% stays active");
            assert.deepStrictEqual(revisionsToDeactivate([], [stable("a--v1")]), []);
        });
    });

    describe("targetProblems", () => {
        it("weights must add up to exactly 100", () => {
            assert.deepStrictEqual(targetProblems([stable("a", 60), canary("b", 40)]), []);
            assert.deepStrictEqual(targetProblems([stable("a", 60), canary("b", 41)]), ["traffic weights add up to 101, not 100"]);
            assert.deepStrictEqual(targetProblems([stable("a", 99)]), ["traffic weights add up to 99, not 100"]);
        });
        it("names each revision once", () => {
            assert.deepStrictEqual(targetProblems([stable("a", 50), canary("a", 50)]), ["the same revision appears twice in the traffic table"]);
        });
        it("some revision must get traffic; every problem is reported together", () => {
            assert.deepStrictEqual(targetProblems([]), ["traffic weights add up to 0, not 100", "no revision gets any traffic"]);
            assert.deepStrictEqual(targetProblems([stable("a", 0), canary("a", 0)]), [
                "traffic weights add up to 0, not 100",
                "the same revision appears twice in the traffic table",
                "no revision gets any traffic",
            ]);
            assert.deepStrictEqual(targetProblems([stable("a", 0), canary("b", 100)]), [], "one revision at 0% is fine");
        });
    });

    describe("limits", () => {
        it("isMultipleOf tolerates float noise but not a real remainder", () => {
            assert.strictEqual(isMultipleOf(0.3, 0.1), true, "0.3 / 0.1 is 2.9999999999999996");
            assert.strictEqual(isMultipleOf(0.7, 0.1), true);
            assert.strictEqual(isMultipleOf(0.75, 0.25), true);
            assert.strictEqual(isMultipleOf(0.15, 0.1), false);
            assert.strictEqual(isMultipleOf(1.1, 0.25), false);
            assert.strictEqual(isMultipleOf(0.3000001, 0.1), false, "a millionth off is off");
        });
        it("ACI: 0.1-4 cores and 0.1-16 GB in steps of 0.1, bounds included", () => {
            assert.deepStrictEqual(aciSizeProblems(0.1, 0.1), []);
            assert.deepStrictEqual(aciSizeProblems(4, 16), []);
            assert.deepStrictEqual(aciSizeProblems(1.3, 2.7), []);
            const cpu = { field: "cpu", reason: "must be 0.1-4 cores in steps of 0.1 (Azure Container Instances, Linux)" };
            const memory = { field: "memoryGb", reason: "must be 0.1-16 GB in steps of 0.1 (Azure Container Instances, Linux)" };
            assert.deepStrictEqual(aciSizeProblems(0, 1), [{ ...cpu, value: 0 }]);
            assert.deepStrictEqual(aciSizeProblems(4.1, 1), [{ ...cpu, value: 4.1 }]);
            assert.deepStrictEqual(aciSizeProblems(0.15, 1), [{ ...cpu, value: 0.15 }]);
            assert.deepStrictEqual(aciSizeProblems(1, 0), [{ ...memory, value: 0 }]);
            assert.deepStrictEqual(aciSizeProblems(1, 16.1), [{ ...memory, value: 16.1 }]);
            assert.deepStrictEqual(aciSizeProblems(1, 1.55), [{ ...memory, value: 1.55 }]);
            assert.deepStrictEqual(aciSizeProblems(5, 17), [{ ...cpu, value: 5 }, { ...memory, value: 17 }], "both at once");
        });
        it("Container Apps: 0.25-4 cores in steps of 0.25, memory exactly twice the cores", () => {
            assert.deepStrictEqual(containerAppSizeProblems(0.25, 0.5), []);
            assert.deepStrictEqual(containerAppSizeProblems(4, 8), []);
            assert.deepStrictEqual(containerAppSizeProblems(1.75, 3.5), []);
            const cpu = (value: number) => [{ field: "cpu", value, reason: "must be 0.25-4 cores in steps of 0.25 (Azure Container Apps, Consumption)" }];
            assert.deepStrictEqual(containerAppSizeProblems(0, 0), cpu(0));
            assert.deepStrictEqual(containerAppSizeProblems(4.25, 8.5), cpu(4.25));
            assert.deepStrictEqual(containerAppSizeProblems(0.3, 0.6), cpu(0.3));
            assert.deepStrictEqual(containerAppSizeProblems(0.3, 1), cpu(0.3), "the cpu first: memory follows from it");
            assert.deepStrictEqual(containerAppSizeProblems(1, 3), [
                { field: "memoryGb", value: 3, reason: "must be 2 for cpu 1: Azure Container Apps pairs each 0.25 cores with 0.5 GB (0.25/0.5, 0.5/1, 1/2, 2/4, 4/8)" },
            ]);
            assert.strictEqual(containerAppSizeProblems(1.5, 3.0000001).length, 1, "not even a little off");
            assert.strictEqual(containerAppSizeProblems(1.5, 2.9999999).length, 1);
        });
    });

    describe("image", () => {
        it("one repository per service, the build context and secret id the Dockerfile uses", () => {
            assert.strictEqual(imageRepository("fraud"), "models/fraud");
            assert.strictEqual(SERVING_CONTEXT, "serving");
            assert.strictEqual(REGISTRY_SECRET_ID, "registry_env");
        });
        it("tags keep version and recipe whole, drop leading '.' and '-', and fit 128 characters exactly", () => {
            assert.strictEqual(imageTag("..-m.x", "1", "r"), "m.x-v1-r");
            assert.strictEqual(imageTag("a.-b", "1", "r"), "a.-b-v1-r", "only leading ones are dropped");
            assert.strictEqual(imageTag("A_b.c-d", "1", "r"), "A_b.c-d-v1-r");
            assert.strictEqual(imageTag("cat.s/m odel:x", "1", "r"), "cat.s-m-odel-x-v1-r", "each character outside the alphabet becomes '-'");
            const tag = imageTag("m".repeat(300), "123", "0123456789ab");
            assert.strictEqual(tag.length, 128);
            assert.ok(tag.endsWith("-v123-0123456789ab"));
            const fits = imageTag("m".repeat(128 - "-v1-r".length), "1", "r");
            assert.strictEqual(fits, `${"m".repeat(123)}-v1-r`);
        });
        it("the recipe digest: 12 hex characters, in sorted file order, any change of name or text changes it", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "recipe-"));
            fs.mkdirSync(path.join(dir, "serving"));
            fs.writeFileSync(path.join(dir, "serving", "a"), "x\n");
            fs.writeFileSync(path.join(dir, "serving", "b"), "y\n");
            const digest = recipeDigest(dir, ["a", "b"]);
            assert.match(digest, /^[0-9a-f]{12}$/);
            assert.strictEqual(recipeDigest(dir, ["b", "a"]), digest, "the list's order does not matter");
            fs.writeFileSync(path.join(dir, "serving", "b"), "y\r\nz\r\n");
            const crlf = recipeDigest(dir, ["a", "b"]);
            fs.writeFileSync(path.join(dir, "serving", "b"), "y\nz\n");
            assert.strictEqual(recipeDigest(dir, ["a", "b"]), crlf, "every CRLF is normalised, not just the first");
            // The file name is part of what is hashed, and separated from the text.
            fs.writeFileSync(path.join(dir, "serving", "c"), "y\nz\n");
            assert.notStrictEqual(recipeDigest(dir, ["a", "c"]), crlf);
            fs.writeFileSync(path.join(dir, "serving", "ab"), "");
            fs.writeFileSync(path.join(dir, "serving", "a"), "");
            fs.writeFileSync(path.join(dir, "serving", "b"), "");
            assert.notStrictEqual(recipeDigest(dir, ["ab"]), recipeDigest(dir, ["a", "b"]));
            fs.rmSync(dir, { recursive: true });
        });
    });

    describe("build credential: every source, in order", () => {
        const offline = { offline: true };
        const read = async (c: ReturnType<typeof buildCredential>) => ({ source: c!.source, content: await c!.content() });
        it("config token first, for Databricks as DATABRICKS_TOKEN and for MLflow as MLFLOW_TRACKING_TOKEN", async () => {
            assert.deepStrictEqual(await read(buildCredential("databricks", { token: "t1", username: "u", password: "p" }, { DATABRICKS_TOKEN: "e" }, offline)), {
                source: "Pulumi config mlflow-platform:registryToken",
                content: "DATABRICKS_TOKEN=t1\n",
            });
            assert.deepStrictEqual(await read(buildCredential("mlflow", { token: "t1" }, {}, offline)), { source: "Pulumi config mlflow-platform:registryToken", content: "MLFLOW_TRACKING_TOKEN=t1\n" });
        });
        it("config user and password next, both or neither", async () => {
            assert.deepStrictEqual(await read(buildCredential("databricks", { username: "u", password: "p" }, { DATABRICKS_TOKEN: "e" }, offline)), {
                source: "Pulumi config mlflow-platform:registryUsername/registryPassword",
                content: "MLFLOW_TRACKING_USERNAME=u\nMLFLOW_TRACKING_PASSWORD=p\n",
            });
            const both = "registry credentials: set both mlflow-platform:registryUsername and mlflow-platform:registryPassword, or neither";
            assert.throws(() => buildCredential("mlflow", { username: "u" }, {}, offline), { message: both });
            assert.throws(() => buildCredential("mlflow", { password: "p" }, {}, offline), { message: both });
        });
        it("self-hosted MLflow: the environment's user and password, then its token, then none", async () => {
            assert.deepStrictEqual(await read(buildCredential("mlflow", {}, { MLFLOW_TRACKING_USERNAME: "u", MLFLOW_TRACKING_PASSWORD: "p", MLFLOW_TRACKING_TOKEN: "t" }, offline)), {
                source: "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD",
                content: "MLFLOW_TRACKING_USERNAME=u\nMLFLOW_TRACKING_PASSWORD=p\n",
            });
            const both = "registry credentials: set both MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or neither";
            assert.throws(() => buildCredential("mlflow", {}, { MLFLOW_TRACKING_PASSWORD: "p" }, offline), { message: both });
            assert.deepStrictEqual(await read(buildCredential("mlflow", {}, { MLFLOW_TRACKING_TOKEN: "t", DATABRICKS_TOKEN: "d" }, offline)), { source: "MLFLOW_TRACKING_TOKEN", content: "MLFLOW_TRACKING_TOKEN=t\n" });
            assert.deepStrictEqual(await read(buildCredential("mlflow", {}, { DATABRICKS_TOKEN: "d" }, { offline: false })), {
                source: "no credential (self-hosted MLflow without authentication)",
                content: "",
            });
        });
        it("Databricks: DATABRICKS_TOKEN, else MLFLOW_TRACKING_TOKEN, each named as its source", async () => {
            assert.deepStrictEqual(await read(buildCredential("unity-catalog", {}, { DATABRICKS_TOKEN: "d", MLFLOW_TRACKING_TOKEN: "m" }, offline)), { source: "DATABRICKS_TOKEN", content: "DATABRICKS_TOKEN=d\n" });
            assert.deepStrictEqual(await read(buildCredential("databricks", {}, { MLFLOW_TRACKING_TOKEN: "m", MLFLOW_TRACKING_USERNAME: "u" }, offline)), {
                source: "MLFLOW_TRACKING_TOKEN",
                content: "DATABRICKS_TOKEN=m\n",
            });
        });
        it("Databricks without a token: the deployer's Entra token, asked for Azure Databricks, only when the build reads it", async () => {
            const scopes: unknown[] = [];
            const credential = buildCredential("databricks", {}, {}, { offline: false, tokenSource: { getToken: async (scope) => (scopes.push(scope), { token: "entra", expiresOnTimestamp: 0 }) } })!;
            assert.strictEqual(credential.source, "Microsoft Entra ID (the deployer's sign-in)");
            assert.deepStrictEqual(scopes, [], "nothing is asked before the build needs it");
            assert.strictEqual(await credential.content(), "DATABRICKS_TOKEN=entra\n");
            assert.deepStrictEqual(scopes, ["2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"]);
            const none = buildCredential("databricks", {}, {}, { offline: false, tokenSource: { getToken: async () => null as any } })!;
            await assert.rejects(none.content(), { message: "no Microsoft Entra token for Azure Databricks to build the serving images: the credential returned none" });
            const empty = buildCredential("databricks", {}, {}, { offline: false, tokenSource: { getToken: async () => ({ token: "", expiresOnTimestamp: 0 }) } })!;
            await assert.rejects(empty.content(), /the credential returned none/);
            const failing = buildCredential("databricks", {}, {}, { offline: false, tokenSource: { getToken: async () => Promise.reject(new Error("first line\nsecond line")) } })!;
            await assert.rejects(failing.content(), {
                message:
                    "no Microsoft Entra token for Azure Databricks to build the serving images: first line. Run `az login` (or set DATABRICKS_TOKEN, or the secret config mlflow-platform:registryToken).",
            });
        });
    });

    describe("revision names", () => {
        const spec = (): RevisionSpec => ({ image: "models/f:t", env: [{ name: "A", value: "1" }], cpu: 1, memoryGb: 2, workers: 1, probes: [] });
        it("canonical JSON sorts keys at every level, drops undefined, keeps array order", () => {
            assert.strictEqual(canonicalJson({ b: 1, a: { d: [2, 1], c: undefined, b: null } }), '{"a":{"b":null,"d":[2,1]},"b":1}');
            assert.strictEqual(canonicalJson([{ y: 1, x: 2 }]), '[{"x":2,"y":1}]');
            assert.strictEqual(canonicalJson("s"), '"s"');
            assert.strictEqual(canonicalJson({ B: 1, a: 2, A: 3 }), '{"A":3,"B":1,"a":2}', "code-unit order, not locale order");
            assert.strictEqual(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
        });
        it("a spec hash is sha256 hex, 10 characters unless told", () => {
            assert.match(specHash(spec()), /^[0-9a-f]{10}$/);
            assert.strictEqual(specHash(spec(), 8), specHash(spec()).slice(0, 8));
        });
        it("a suffix of up to 29 characters is accepted, one more is refused with the reason", () => {
            const hash = specHash(spec());
            assert.strictEqual(revisionSuffix("7", spec()), `v7-${hash}`);
            const longest = "1".repeat(29 - `v-${hash}`.length);
            assert.strictEqual(revisionSuffix(longest, spec()).length, 29);
            assert.throws(() => revisionSuffix(`${longest}1`, spec()), { message: `model version ${longest}1 is too long for a Container Apps revision suffix (v${longest}1-${hash})` });
        });
        it("an ACI label is lowercase, without trailing '-' before the tail, and at most 63 characters", () => {
            const tail = `-v7-${specHash(spec(), 8)}`;
            assert.strictEqual(aciDnsLabel("Dev_Models", "Fraud--", "7", spec()), `dev-models-fraud${tail}`);
            const long = aciDnsLabel("p".repeat(40), "s".repeat(40), "7", spec());
            assert.strictEqual(long.length, 63);
            assert.strictEqual(long, `${`${"p".repeat(40)}-${"s".repeat(40)}`.slice(0, 63 - tail.length)}${tail}`);
            // A cut that ends on '-' drops it.
            const cut = aciDnsLabel("p".repeat(63 - tail.length - 1), "s", "7", spec());
            assert.strictEqual(cut, `${"p".repeat(63 - tail.length - 1)}${tail}`);
        });
    });

    describe("bootstrap: which models are served now", () => {
        const entries = [
            { name: "a", model: "ma" },
            { name: "b", model: "mb" },
            { name: "c", model: "mc" },
        ];
        it("serves everything when it cannot ask the registry", async () => {
            const result = await registeredEntries(entries, undefined);
            assert.deepStrictEqual(result, { serve: entries, skipped: [] });
            assert.notStrictEqual(result.serve, entries, "a copy");
        });
        it("skips the models that do not exist, in order, and asks about each by its registered name", async () => {
            const asked: string[] = [];
            const result = await registeredEntries(entries, { modelExists: async (m) => (asked.push(m), m !== "mb") });
            assert.deepStrictEqual(asked, ["ma", "mb", "mc"]);
            assert.deepStrictEqual(result, { serve: [entries[0], entries[2]], skipped: [{ name: "b", model: "mb", reason: "not registered" }] });
        });
        it("an outage serves the model; a name that does not resolve, or any other failure, is thrown", async () => {
            const outage = new RegistryError("connection", "the registry did not answer (ECONNREFUSED)");
            assert.deepStrictEqual(await registeredEntries(entries.slice(0, 1), { modelExists: async () => Promise.reject(outage) }), { serve: entries.slice(0, 1), skipped: [] });
            const unresolved = new RegistryError("connection", "the registry host name does not resolve (ENOTFOUND)");
            await assert.rejects(registeredEntries(entries, { modelExists: async () => Promise.reject(unresolved) }), (err) => err === unresolved);
            const plain = new Error("boom");
            await assert.rejects(registeredEntries(entries, { modelExists: async () => Promise.reject(plain) }), (err) => err === plain);
        });
        it("the warning names the service, the model and what to do", () => {
            assert.strictEqual(
                skipWarning({ name: "a", model: "cat.s.m", reason: "not registered" }),
                "models[a]: the registered model cat.s.m does not exist yet, so it is not served in this deployment. Register a version (npm run register, or mlflow.register_model in the workspace), then run `pulumi up` again: it will serve it with no config change.",
            );
        });
    });
});
