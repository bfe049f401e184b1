// Runs one of the project's Python test folders under Python's own runner (`python3 -m unittest`),
// so `npm test` covers the Python scripts too, and asserts the suite ran and passed.
import * as assert from "assert";
import { execFile } from "child_process";
import { promisify } from "util";
import { PROJECT_DIR } from "./fixtures";

export async function assertPythonSuitePasses(folder: string): Promise<void> {
    const result = await promisify(execFile)("python3", ["-m", "unittest", "discover", "-s", folder, "-t", "."], { cwd: PROJECT_DIR }).catch((err) => err);
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
    assert.match(output, /Ran \d+ tests/, output);
    assert.match(output, /\nOK\s*$/, output);
}
