// The registration job's script runs under Python's own test runner with the real libraries of
// .venv (scikit-learn, pandas, pyarrow, MLflow) against the suite's real MLflow servers (plain and
// basic-auth, passed in MLFLOW_TEST_SERVERS); this runs that suite so `npm test` covers it.
import { assertPythonSuitePasses } from "./helpers/python";
import { pythonSuiteEnv } from "./helpers/realMlflow";

describe("registration script (.venv/bin/python -m unittest)", () => {
    it("passes its tests: pickle scan against real malicious pickles, real sklearn and pyfunc models, CSV/JSON/Parquet samples, whole runs against real MLflow servers", async function () {
        // Starting the servers (when no other test has) and the registrations take a while on 2 cores:
        // about 80 s with the servers up, 255 s including their start on a heavily loaded machine.
        this.timeout(420_000);
        await assertPythonSuitePasses("jobs/tests", await pythonSuiteEnv(["plain", "auth"]));
    });
});
