// `npm run mutation`: its flags, which targets it takes, and which mutants `--survivors` hands
// mutmut again (read from mutmut 3.8's own per-file results).
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseMutationFlags, resolveTarget, undecidedMutants } from "../scripts/mutation";
import { runScript } from "./helpers/cli";

describe("npm run mutation", () => {
    it("reads its flags, with the defaults", () => {
        assert.deepStrictEqual(parseMutationFlags(["lib/registry"]), {
            target: "lib/registry",
            direct: false,
            excludeTests: [],
            withRealMlflow: false,
            fresh: false,
            survivors: false,
            concurrency: 2,
            ignoreStatic: false,
        });
        assert.deepStrictEqual(
            parseMutationFlags(["jobs/register_model.py", "--with-real-mlflow", "--survivors", "--concurrency", "1", "--direct", "--ignore-static", "--exclude-tests", "a", "--exclude-tests", "b"]),
            { target: "jobs/register_model.py", direct: true, excludeTests: ["a", "b"], withRealMlflow: true, fresh: false, survivors: true, concurrency: 1, ignoreStatic: true },
        );
    });

    it("refuses what it cannot do, saying what is allowed", () => {
        const refused = (argv: string[]) => {
            try {
                parseMutationFlags(argv);
            } catch (err) {
                return (err as Error).message;
            }
            assert.fail(`accepted ${argv.join(" ")}`);
        };
        assert.strictEqual(refused([]), "a path is required: the folder or file to mutate, e.g. lib/registry");
        assert.strictEqual(refused(["a", "b"]), "one path at a time, got 2: a b");
        assert.strictEqual(refused(["a", "--concurrency", "9"]), '--concurrency "9" is not allowed: use a whole number from 1 to 8');
        assert.strictEqual(refused(["a", "--concurrency"]), '--concurrency "" is not allowed: use a whole number from 1 to 8');
        assert.strictEqual(refused(["a", "--exclude-tests"]), "--exclude-tests needs a regex: the full titles of the tests to leave out");
        assert.match(refused(["a", "--exclude-tests", "("]), /^--exclude-tests "\(" is not a regex: /);
        assert.strictEqual(refused(["a", "--fast"]), 'unknown option "--fast"');
        assert.strictEqual(refused(["a", "--fresh", "--survivors"]), "--survivors and --fresh contradict each other: --fresh forgets the results --survivors starts from");
    });

    it("takes the project's own TypeScript or Python code, never tests or installed packages", () => {
        assert.deepStrictEqual(resolveTarget("jobs/register_model.py"), { relative: "jobs/register_model.py", kind: "py", files: ["jobs/register_model.py"] });
        const registry = resolveTarget("lib/registry");
        assert.strictEqual(registry.kind, "ts");
        assert.ok(registry.files.includes("lib/registry/client.ts") && registry.files.every((f) => f.startsWith("lib/registry/") && f.endsWith(".ts")), registry.files.join(" "));
        const refused = (target: string) => {
            try {
                resolveTarget(target);
            } catch (err) {
                return (err as Error).message;
            }
            assert.fail(`accepted ${target}`);
        };
        assert.match(refused("../elsewhere"), /^\.\.\/elsewhere: not a folder or file inside the project/);
        assert.strictEqual(refused("node_modules/axios"), "node_modules/axios: not the project's own code");
        assert.strictEqual(refused("lib/nothing-here"), "lib/nothing-here: no such file or folder in the project");
        assert.strictEqual(refused("tests/layout.test.ts"), "tests/layout.test.ts: not a file the tool mutates: give a .ts source (not a test) or a .py script (not a test)");
        assert.strictEqual(refused("jobs/tests"), "jobs/tests: holds no TypeScript or Python source to mutate (tests are not mutated)");
    });

    it("--survivors hands mutmut the survived, untested and not yet tested mutants, and needs an earlier run", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mutants-"));
        try {
            fs.mkdirSync(path.join(dir, "jobs"));
            // mutmut 3.8: 0 survived, 1 killed, 33 no tests, 36 timeout, null not tested yet.
            const codes = { "jobs.register_model.x_a__mutmut_1": 0, "jobs.register_model.x_a__mutmut_2": 1, "jobs.register_model.x_b__mutmut_1": 33, "jobs.register_model.x_b__mutmut_2": 36, "jobs.register_model.x_c__mutmut_1": null };
            fs.writeFileSync(path.join(dir, "jobs", "register_model.py.meta"), JSON.stringify({ exit_code_by_key: codes, durations_by_key: {} }));
            assert.deepStrictEqual(undecidedMutants(dir, ["jobs/register_model.py"]), ["jobs.register_model.x_a__mutmut_1", "jobs.register_model.x_b__mutmut_1", "jobs.register_model.x_c__mutmut_1"]);
            assert.throws(
                () => undecidedMutants(dir, ["jobs/other.py"]),
                (err: Error) => /^--survivors: no earlier run of jobs\/other\.py \(.*other\.py\.meta is missing\); run without --survivors first$/.test(err.message),
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("--survivors on TypeScript is a usage error, exit 2", async function () {
        this.timeout(30_000);
        const result = await runScript("scripts/mutation.ts", ["lib/registry", "--survivors"]);
        assert.strictEqual(result.code, 2);
        assert.match(result.stderr, /^mutation: --survivors is for a \.py script \(mutmut\); StrykerJS runs are incremental already: the same command redoes only what changed\nusage: npm run mutation/);
    });
});
