import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { planStack } from "../lib/plan";
import { checkStackName, readStackConfig, registryStackProblems, StackFileError } from "../lib/config/stackFiles";
import { runScript } from "./helpers/cli";
import { PROJECT_DIR } from "./helpers/fixtures";

const shippedDev = fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.dev.yaml"), "utf8");

/** Reads `text` as the dev stack file of a copy of the project's Pulumi.yaml; the error message, or "" when accepted. */
function refusal(text: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-file-"));
    try {
        fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), text);
        readStackConfig(dir, "dev");
        return "";
    } catch (err) {
        assert.ok(err instanceof StackFileError, `expected a StackFileError, got ${err}`);
        return err.message;
    }
}

const edit = (from: string, to: string) => {
    assert.ok(shippedDev.includes(from), `the shipped dev stack has ${from}`);
    return shippedDev.replace(from, to);
};

describe("stack files as the Pulumi CLI reads them", () => {
    const cases: [string, string, string][] = [
        [
            "an unclosed quote, at the line where it opens",
            edit("storageSku: Standard_LRS", 'storageSku: "Standard_LRS'),
            'Pulumi.dev.yaml: line 6: a quoted value is never closed (`mlflow-platform:storageSku: "Standard_LRS`): add the closing quote on the same line',
        ],
        ["a tab used for indentation", edit("  mlflow-platform:protect", "\tmlflow-platform:protect"), "Pulumi.dev.yaml: line 10: indented with a tab: YAML needs spaces"],
        [
            "a line indented deeper than its siblings, at that line",
            edit("  mlflow-platform:protect: false", "    mlflow-platform:protect: false"),
            "Pulumi.dev.yaml: line 10: indented deeper than line 9 (`mlflow-platform:protect: false`), whose key already has a value: line it up with the keys above it, or move the value of line 9 to start a map",
        ],
        ["a key written twice", `${shippedDev}  mlflow-platform:protect: true\n`, "Pulumi.dev.yaml: line 46: the key `mlflow-platform:protect` is written a second time in the same map: keep one"],
        [
            "a missing space after a colon",
            edit("mlflow-platform:protect: false", "mlflow-platform:protect:false"),
            "Pulumi.dev.yaml: line 10: a key needs a space after its colon (`mlflow-platform:protect:false` should read `key: value`)",
        ],
        [
            "an unclosed flow list, at the line where it opens",
            edit("    platform: containerapp", "    platform: [containerapp"),
            "Pulumi.dev.yaml: line 38: a [list] or {map} written on one line is never closed (`platform: [containerapp`): add the closing bracket",
        ],
        [
            "several YAML documents",
            `${shippedDev}---\nconfig:\n  mlflow-platform:protect: true\n`,
            'Pulumi.dev.yaml: holds 2 YAML documents (a second one starts near line 46, after "---"): a Pulumi file is one document; merge them or delete the extra',
        ],
        ["a file that is a list", "- config: {}\n", "Pulumi.dev.yaml: is a list, not a map: a stack file is a map whose `config:` key holds the settings, one `namespace:key: value` per line"],
        ["a config block that is a list", "config:\n  - mlflow-platform:protect: true\n", "Pulumi.dev.yaml: line 2: `config` must be a map of `namespace:key: value` lines, not a list"],
        [
            "keys outside the config block",
            `${shippedDev}mlflow-platform:protect: true\nprotect: true\nnotes: hello\n`,
            "Pulumi.dev.yaml has 3 problems:\n" +
                "  - line 46: `mlflow-platform:protect` is outside the `config:` block, so Pulumi never reads it: indent it under `config:`\n" +
                "  - line 47: `protect` is outside the `config:` block, so Pulumi never reads it: indent it under `config:` as mlflow-platform:protect\n" +
                "  - line 48: `notes` is outside the `config:` block, so Pulumi never reads it: a stack file holds config, secretsprovider, encryptedkey, encryptionsalt, environment",
        ],
        [
            "a key without a namespace, which the CLI refuses",
            edit("  mlflow-platform:protect: false", "  protect: false"),
            "Pulumi.dev.yaml: line 10: `protect` has no namespace, and the Pulumi CLI refuses such keys: write mlflow-platform:protect (or the provider's namespace, such as azure-native:protect)",
        ],
        [
            "a key with two namespaces",
            edit("  mlflow-platform:protect: false", "  mlflow-platform:serving:platform: aci"),
            "Pulumi.dev.yaml: line 10: `mlflow-platform:serving:platform` is not a key Pulumi understands: write one namespace and one name (mlflow-platform:platform), and nested settings as a map under it",
        ],
        [
            "values whose type contradicts Pulumi.yaml, as the CLI would",
            edit("blobSoftDeleteDays: 7", "blobSoftDeleteDays: seven").replace("mlflow-platform:serving:\n", "mlflow-platform:serving: aci\n  mlflow-platform:ignored:\n"),
            "Pulumi.dev.yaml has 2 problems:\n" +
                '  - line 7: mlflow-platform:blobSoftDeleteDays = "seven" is not a whole number, the type Pulumi.yaml declares for it (integer): the Pulumi CLI refuses this stack file\n' +
                '  - line 37: mlflow-platform:serving = "aci" is not a map of settings, the type Pulumi.yaml declares for it (object): the Pulumi CLI refuses this stack file',
        ],
        [
            ".nan and .inf, shown as written",
            edit("blobSoftDeleteDays: 7", "blobSoftDeleteDays: .nan").replace("cpu: 1", "cpu: .nan").replace("memoryGb: 2", "memoryGb: .inf"),
            "Pulumi.dev.yaml has 3 problems:\n" +
                "  - line 7: mlflow-platform:blobSoftDeleteDays = .nan is not a whole number, the type Pulumi.yaml declares for it (integer): the Pulumi CLI refuses this stack file\n" +
                "  - line 33: mlflow-platform:models[0].cpu = .nan is not a number: write a finite number\n" +
                "  - line 34: mlflow-platform:models[0].memoryGb = .inf is infinite: write a finite number",
        ],
        [
            "a pinned version with more digits than a number holds, shown as written",
            edit("latest: true", "version: 12345678901234567890"),
            "Pulumi.dev.yaml: line 32: mlflow-platform:models[0].version = 12345678901234567890 has more digits than the program can receive exactly (above 9007199254740991): check it, or write it in quotes if it is an identifier",
        ],
    ];
    for (const [title, text, expected] of cases) {
        it(`refuses ${title}`, () => {
            // The second "values" case leaves a `serving` map under another key only to keep the file valid YAML.
            assert.strictEqual(refusal(text.replace("  mlflow-platform:ignored:\n    platform: containerapp\n    containerRegistrySku: Basic\n", "")), expected);
        });
    }

    it("accepts the shipped files and marks encrypted values, nested ones included, as secret", () => {
        assert.strictEqual(refusal(shippedDev), "");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-file-"));
        fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), `${shippedDev}  mlflow-platform:registryToken:\n    secure: AAABAfakeciphertext\n`);
        const stack = readStackConfig(dir, "dev");
        assert.deepStrictEqual(stack.secretKeys, ["mlflow-platform:registryToken"]);
        assert.strictEqual(stack.config["mlflow-platform:registryToken"], "[secret]");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("validates the stack name: no path separators", () => {
        for (const bad of ["../prd", "prd/..", "a\\b", "..", "", "dev prd"]) assert.ok(checkStackName(bad), bad);
        assert.strictEqual(checkStackName("../prd"), 'stack name "../prd" is not allowed: use 1-100 letters, digits, \'-\', \'_\' or \'.\' (no path separators: the plan reads Pulumi.<stack>.yaml beside Pulumi.yaml), such as dev or prd');
        for (const good of ["dev", "prd", "team-prd", "feature_1.x"]) assert.strictEqual(checkStackName(good), undefined, good);
        assert.throws(() => readStackConfig(PROJECT_DIR, "../Pulumi"), /stack name "\.\.\/Pulumi" is not allowed/);
    });

    it("npm run plan refuses a path as a stack name with usage, and a broken file with its line, without a stack trace", async () => {
        const bad = await runScript("scripts/plan.ts", ["../../etc/passwd"]);
        assert.strictEqual(bad.code, 2);
        assert.match(bad.stderr, /^plan: stack name "\.\.\/\.\.\/etc\/passwd" is not allowed/);
        const compare = await runScript("scripts/plan.ts", ["--compare", "dev", "prd/x"]);
        assert.strictEqual(compare.code, 2);
        assert.match(compare.stderr, /stack name "prd\/x" is not allowed/);
        assert.doesNotMatch(bad.stderr + compare.stderr, /\n\s+at /);
    });
});

describe("stack file mistakes named for what they are (issue 19, point 24)", () => {
    it("names a no-break space in the indentation by its line, not as a YAML puzzle", () => {
        assert.strictEqual(
            refusal(edit("  mlflow-platform:protect: false", "\u00a0 mlflow-platform:protect: false")),
            "Pulumi.dev.yaml: line 10 has a no-break space (U+00A0) in its indentation; use plain spaces",
        );
        assert.strictEqual(
            refusal(edit("    kind: unity-catalog", "   \u00a0kind: unity-catalog")),
            "Pulumi.dev.yaml: line 12 has a no-break space (U+00A0) in its indentation; use plain spaces",
        );
        assert.strictEqual(refusal(edit("mlflow-platform:protect: false", "mlflow-platform:protect:\u00a0false")), "Pulumi.dev.yaml: line 10 has a no-break space (U+00A0) after its `:` or `-`; use a plain space");
        assert.strictEqual(refusal(shippedDev), "", "plain spaces are fine");
    });

    it("answers a list of names for models with what each entry must be, and an example", () => {
        const text = shippedDev.replace(/ {2}mlflow-platform:models:\n(?: {4}.*\n)+/, "  mlflow-platform:models: [fraud]\n");
        assert.notStrictEqual(text, shippedDev);
        const message = refusal(text);
        assert.match(message, /^Pulumi\.dev\.yaml: line \d+: mlflow-platform:models = \["fraud"\] is a list, but entry 0 \("fraud"\) is text: each entry must be a map of settings, such as\n {6}- name: fraud\n {8}model: mlplatform\.dev\.fraud\n {8}latest: true\n {8}cpu: 1\n {8}memoryGb: 2$/);
        assert.doesNotMatch(message, /is not a list/);
    });
});

describe("a stack that reads its registry from another stack names the same catalog and schemas", () => {
    const shippedPrd = fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.prd.yaml"), "utf8");
    const problemsOf = (prd: string, dev = shippedDev): string[] => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-cross-"));
        try {
            fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
            fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), dev);
            fs.writeFileSync(path.join(dir, "Pulumi.prd.yaml"), prd);
            return registryStackProblems(dir, readStackConfig(dir, "prd"));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    };

    it("accepts the shipped pair", () => {
        assert.deepStrictEqual(problemsOf(shippedPrd), []);
    });

    it("refuses prd's prdSchema renamed while the registry's stack still declares the old one", () => {
        const renamed = shippedPrd.replace("prdSchema: prd", "prdSchema: serving").replace("model: mlplatform.prd.fraud", "model: mlplatform.serving.fraud");
        assert.deepStrictEqual(problemsOf(renamed), [
            'mlflow-platform:registry.prdSchema is "serving", but the registry\'s stack dev (Pulumi.dev.yaml, named by registry.hostFromStack) declares prdSchema "prd": prd would serve from a schema that stack does not create or govern (no owner, no grants). Rename it in both files in one change, or write "prd" here',
        ]);
        // Renamed on both sides in one change: fine.
        assert.deepStrictEqual(problemsOf(renamed, shippedDev.replace("prdSchema: prd", "prdSchema: serving")), []);
    });

    it("refuses a catalog that differs, and compares an unset schema as its default", () => {
        const problems = problemsOf(shippedPrd.replace("catalog: mlplatform", "catalog: other").replace("    devSchema: dev\n", ""), shippedDev.replace("devSchema: dev", "devSchema: candidates"));
        assert.strictEqual(problems.length, 2);
        assert.match(problems[0], /^mlflow-platform:registry\.catalog is "other", but the registry's stack dev .* declares catalog "mlplatform"/);
        assert.match(problems[1], /^mlflow-platform:registry\.devSchema is "dev", but the registry's stack dev .* declares devSchema "candidates": prd would look for candidates in a schema/);
    });

    it("the plan refuses it before evaluating the program", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-cross-plan-"));
        try {
            fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
            fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), shippedDev);
            fs.writeFileSync(path.join(dir, "Pulumi.prd.yaml"), shippedPrd.replace("prdSchema: prd", "prdSchema: serving").replace("model: mlplatform.prd.fraud", "model: mlplatform.serving.fraud"));
            await assert.rejects(planStack(dir, "prd", path.join(PROJECT_DIR, "index.ts")), (err: unknown) => {
                assert.ok(err instanceof StackFileError);
                assert.match(err.message, /^Pulumi\.prd\.yaml: mlflow-platform:registry\.prdSchema is "serving", but the registry's stack dev/);
                return true;
            });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
