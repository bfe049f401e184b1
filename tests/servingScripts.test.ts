// The image's fetch and serve scripts (Python, standard library plus MLflow) run under Python's own
// test runner; this runs that suite so `npm test` covers both languages.
import * as assert from "assert";
import { execFile } from "child_process";
import { promisify } from "util";
import { PROJECT_DIR } from "./helpers/fixtures";

describe("serving scripts (python3 -m unittest)", () => {
    it("pass their unit tests: model checks, fetch with a stand-in MLflow, serve command", async function () {
        this.timeout(60_000);
        const result = await promisify(execFile)("python3", ["-m", "unittest", "discover", "-s", "serving/tests", "-t", "."], { cwd: PROJECT_DIR }).catch((err) => err);
        const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
        assert.match(output, /Ran \d+ tests/, output);
        assert.match(output, /\nOK\s*$/, output);
    });
});
