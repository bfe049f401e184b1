// The Unity Catalog fake refuses what the service refuses: a model version without a signature.
import * as assert from "assert";
import { FakeUnityCatalog, hasSignature, SIGNED_MLMODEL, UC_SIGNATURE_REQUIRED } from "./helpers/fakeUnityCatalog";

describe("fake Unity Catalog: every version needs a signature (issue 19, point 15)", () => {
    const uc = new FakeUnityCatalog();
    let url: string;
    before(async () => {
        url = await uc.start();
        uc.tokens = { "fake-token": "ml-deployers" };
        uc.privileges = { "mlplatform.prd": { createModel: ["ml-deployers"], manage: ["ml-deployers"] } };
    });
    after(() => uc.stop());

    const call = async (route: string, body: unknown) => {
        const answer = await fetch(`${url}/api/2.0/mlflow/unity-catalog/${route}`, { method: "POST", headers: { Authorization: "Bearer fake-token", "Content-Type": "application/json" }, body: JSON.stringify(body) });
        return { status: answer.status, body: (await answer.json()) as any };
    };
    /** Creates a version of `name` whose files are `files`, written as a promotion writes them. */
    async function pending(name: string, files: Record<string, string>): Promise<string> {
        if (!uc.model(name)) await call("registered-models/create", { name });
        const created = await call("model-versions/create", { name, source: "models:/x/1" });
        const version = created.body.model_version.version as string;
        const location = uc.model(name)!.versions.get(Number(version))!.storageLocation;
        for (const [file, content] of Object.entries(files)) uc.files.set(`${location.replace(/^abfss:\/\/([^@]+)@[^/]+\//, "$1/")}/${file}`, Buffer.from(content));
        return version;
    }

    it("finalize refuses a version whose MLmodel has no signature, and leaves it FAILED_REGISTRATION", async () => {
        const version = await pending("mlplatform.prd.unsigned", { MLmodel: "flavors: {}\n", "model.pkl": "w" });
        const answer = await call("model-versions/finalize", { name: "mlplatform.prd.unsigned", version });
        assert.deepStrictEqual(answer, { status: 400, body: { error_code: "INVALID_PARAMETER_VALUE", message: UC_SIGNATURE_REQUIRED } });
        assert.strictEqual(uc.model("mlplatform.prd.unsigned")!.versions.get(Number(version))!.status, "FAILED_REGISTRATION");
    });

    it("finalizes a signed version READY", async () => {
        const version = await pending("mlplatform.prd.signed", { MLmodel: SIGNED_MLMODEL, "model.pkl": "w" });
        const answer = await call("model-versions/finalize", { name: "mlplatform.prd.signed", version });
        assert.strictEqual(answer.status, 200);
        assert.strictEqual(answer.body.model_version.status, "READY");
    });

    it("reads a signature only with both inputs and outputs; a READY fixture without one is refused", () => {
        assert.strictEqual(hasSignature(SIGNED_MLMODEL), true);
        assert.strictEqual(hasSignature("flavors: {}\nsignature:\n  inputs: '[{\"type\": \"double\"}]'\n"), false, "inputs only");
        assert.strictEqual(hasSignature("flavors:\n  python_function: {}\n"), false);
        assert.throws(() => uc.addModel("mlplatform.prd.bad", "x", { 1: { MLmodel: "flavors: {}\n" } }), /must carry a signature/);
    });
});
