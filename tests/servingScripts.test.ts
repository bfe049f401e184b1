// The image's fetch, install and serve scripts run under Python's own test runner with real
// MLflow: the demo model registered in the suite's real tracking servers (plain and basic-auth),
// fetched as the image build fetches it, its environment installed once, served and scored over
// HTTP, and stopped with SIGTERM as PID 1. This runs that suite so `npm test` covers both languages.
import { assertPythonSuitePasses } from "./helpers/python";
import { pythonSuiteEnv } from "./helpers/realMlflow";

describe("serving scripts (python -m unittest, real MLflow)", () => {
    it("pass: model checks, fetch from real servers, the serving environment, scoring, SIGTERM", async function () {
        // One environment install (PyPI through uv's cache), two model registrations, seven fetches
        // and three scoring servers: about 2.5 min on an idle 2-core machine, 6-8 min when it is shared.
        this.timeout(600_000);
        await assertPythonSuitePasses("serving/tests", await pythonSuiteEnv(["plain", "auth"]));
    });
});
