// The registration job's script (Python, standard library plus MLflow at run time) runs under
// Python's own test runner with stand-in libraries; this runs that suite so `npm test` covers it.
import { assertPythonSuitePasses } from "./helpers/python";

describe("registration script (python3 -m unittest)", () => {
    it("passes its unit tests: pickle checks, flavour, requirements, samples, whole runs with a stand-in MLflow", async function () {
        this.timeout(90_000);
        await assertPythonSuitePasses("jobs/tests");
    });
});
