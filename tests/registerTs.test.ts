import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { PROJECT_DIR } from "./helpers/fixtures";

describe("scripts/register-ts.js", () => {
    it("runs TypeScript, caches each file by content, and picks up an edited file", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "register-ts-"));
        const file = path.join(dir, "answer.ts");
        const cacheDir = path.join(PROJECT_DIR, "node_modules/.cache/mlflow-platform-ts");
        const run = () => promisify(execFile)(process.execPath, ["-r", path.join(PROJECT_DIR, "scripts/register-ts.js"), file]);
        try {
            fs.writeFileSync(file, 'const answer: number = 41;\nexport const label: string = "first";\nconsole.log(answer + 1, label);\n');
            const before = fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).length : 0;
            assert.strictEqual((await run()).stdout, "42 first\n");
            assert.strictEqual(fs.readdirSync(cacheDir).length, before + 1, "one cached output");
            assert.strictEqual((await run()).stdout, "42 first\n", "served from the cache");
            assert.strictEqual(fs.readdirSync(cacheDir).length, before + 1);
            fs.writeFileSync(file, 'const answer: number = 41;\nexport const label: string = "second";\nconsole.log(answer + 1, label);\n');
            assert.strictEqual((await run()).stdout, "42 second\n", "an edit is compiled again");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
