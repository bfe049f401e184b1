import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkStackName, readStackConfig, StackFileError } from "../lib/stackFiles";
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
        ["a key written twice", `${shippedDev}  mlflow-platform:protect: true\n`, "Pulumi.dev.yaml: line 40: the key `mlflow-platform:protect` is written a second time in the same map: keep one"],
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
            'Pulumi.dev.yaml: holds 2 YAML documents (a second one starts near line 40, after "---"): a Pulumi file is one document; merge them or delete the extra',
        ],
        ["a file that is a list", "- config: {}\n", "Pulumi.dev.yaml: is a list, not a map: a stack file is a map whose `config:` key holds the settings, one `namespace:key: value` per line"],
        ["a config block that is a list", "config:\n  - mlflow-platform:protect: true\n", "Pulumi.dev.yaml: line 2: `config` must be a map of `namespace:key: value` lines, not a list"],
        [
            "keys outside the config block",
            `${shippedDev}mlflow-platform:protect: true\nprotect: true\nnotes: hello\n`,
            "Pulumi.dev.yaml has 3 problems:\n" +
                "  - line 40: `mlflow-platform:protect` is outside the `config:` block, so Pulumi never reads it: indent it under `config:`\n" +
                "  - line 41: `protect` is outside the `config:` block, so Pulumi never reads it: indent it under `config:` as mlflow-platform:protect\n" +
                "  - line 42: `notes` is outside the `config:` block, so Pulumi never reads it: a stack file holds config, secretsprovider, encryptedkey, encryptionsalt, environment",
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
