// The project's Python environment (.venv, made by `npm run python-env`, which `npm test` runs
// first), and a runner for the project's Python test folders under Python's own runner
// (`python -m unittest`), so `npm test` covers the Python scripts too.
import * as assert from "assert";
import { execFile } from "child_process";
import * as path from "path";
import { promisify } from "util";
import { PROJECT_DIR } from "./fixtures";

/** The interpreter of .venv: real MLflow, scikit-learn, pandas and pyarrow at requirements.txt's pins. */
export const PYTHON = path.join(PROJECT_DIR, ".venv", "bin", "python");
/** The uv of .venv. */
export const UV = path.join(PROJECT_DIR, ".venv", "bin", "uv");

export async function assertPythonSuitePasses(folder: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
    const result = await promisify(execFile)(PYTHON, ["-m", "unittest", "discover", "-s", folder, "-t", "."], { cwd: PROJECT_DIR, env, maxBuffer: 64 * 1024 * 1024 }).catch((err) => err);
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
    assert.match(output, /Ran \d+ tests/, output);
    assert.match(output, /\nOK\s*$/, output);
}
