// Required by the mocha runs of `npm run mutation` (scripts/mutation.ts): StrykerJS copies the
// project into .stryker-tmp/sandbox-*/ without .venv (a copy would be ~1 GB), so the sandbox gets a
// symlink to the project's .venv, which the tests that run Python need.
"use strict";
const fs = require("fs");
const path = require("path");

const sandbox = path.resolve(__dirname, "..");
const marker = `${path.sep}.stryker-tmp${path.sep}`;
const at = sandbox.lastIndexOf(marker);
if (at !== -1) {
    const project = sandbox.slice(0, at);
    const link = path.join(sandbox, ".venv");
    if (!fs.existsSync(link) && fs.existsSync(path.join(project, ".venv"))) {
        try {
            fs.symlinkSync(path.join(project, ".venv"), link, "dir");
        } catch (err) {
            if (err.code !== "EEXIST") throw err; // the other test runner made it first
        }
    }
}
