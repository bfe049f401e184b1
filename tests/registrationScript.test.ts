// The registration job's script (Python, standard library plus MLflow at run time) runs under
// Python's own test runner with stand-in libraries; this runs that suite so `npm test` covers it.
import * as assert from "assert";
import { execFile } from "child_process";
import { promisify } from "util";
import { PROJECT_DIR } from "./helpers/fixtures";

describe("registration script (python3 -m unittest)", () => {
    it("passes its unit tests: pickle checks, flavour, requirements, samples, whole runs with a stand-in MLflow", async function () {
        this.timeout(90_000);
        const result = await promisify(execFile)("python3", ["-m", "unittest", "discover", "-s", "jobs/tests", "-t", "."], { cwd: PROJECT_DIR }).catch((err) => err);
        const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
        assert.match(output, /Ran \d+ tests/, output);
        assert.match(output, /\nOK\s*$/, output);
    });
});
