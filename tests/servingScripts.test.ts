// The image's fetch and serve scripts (Python, standard library plus MLflow) run under Python's own
// test runner; this runs that suite so `npm test` covers both languages.
import { assertPythonSuitePasses } from "./helpers/python";

describe("serving scripts (python3 -m unittest)", () => {
    it("pass their unit tests: model checks, fetch with a stand-in MLflow, serve command", async function () {
        this.timeout(60_000);
        await assertPythonSuitePasses("serving/tests");
    });
});
