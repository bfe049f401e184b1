// Runs one of the project's command-line entry points the way a user does, through the project's
// TypeScript loader, and returns its exit code and output instead of throwing.
import { execFile } from "child_process";
import * as path from "path";
import { promisify } from "util";
import { PROJECT_DIR } from "./fixtures";

export interface CliResult {
    code: number;
    stdout: string;
    stderr: string;
}

export async function runScript(script: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const cwd = options.cwd ?? PROJECT_DIR;
    try {
        const { stdout, stderr } = await promisify(execFile)(process.execPath, ["-r", path.join(PROJECT_DIR, "scripts/register-ts.js"), path.join(cwd, script), ...args], {
            cwd,
            env: options.env ?? process.env,
            maxBuffer: 16 * 1024 * 1024,
        });
        return { code: 0, stdout, stderr };
    } catch (err) {
        const e = err as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
}
