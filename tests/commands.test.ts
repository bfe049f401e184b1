// Every command the project ships answers --help and -h with its usage and exit 0.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { runScript } from "./helpers/cli";
import { PROJECT_DIR } from "./helpers/fixtures";

const scripts = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")).scripts as Record<string, string>;
// The npm scripts that start one of the project's TypeScript entry points.
const commands = Object.entries(scripts)
    .map(([name, line]) => [name, /register-ts\.js ((?:scripts|bench)\/[\w-]+\.ts)$/.exec(line)?.[1]] as const)
    .filter((entry): entry is readonly [string, string] => entry[1] !== undefined);

describe("every command answers --help", () => {
    it("covers each of the project's commands", () => {
        assert.deepStrictEqual(commands.map(([name]) => name).sort(), ["audit", "bench", "drift", "local", "mutation", "plan", "promote", "python-env", "register", "rollback", "smoke", "test"].filter((n) => n !== "test").sort());
    });

    for (const [name, file] of commands) {
        it(`npm run ${name} -- --help and -h: usage on stdout, exit 0`, async function () {
            this.timeout(30_000);
            for (const flag of ["--help", "-h"]) {
                const result = await runScript(file, [flag]);
                assert.strictEqual(result.code, 0, `${flag}: ${result.stderr}`);
                assert.match(result.stdout, new RegExp(`^usage: npm run ${name}`), result.stdout);
                assert.strictEqual(result.stderr, "");
            }
        });
    }
});
