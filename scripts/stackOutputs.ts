// A stack's outputs through the Pulumi CLI (`pulumi stack output --json`), for the commands that
// act on a deployed stack. Failures become one-line messages; `noCli` says what to do without the CLI.
import { execFile } from "child_process";
import { promisify } from "util";

export async function pulumiStackOutputs(stack: string, noCli: string): Promise<unknown> {
    let stdout: string;
    try {
        ({ stdout } = await promisify(execFile)("pulumi", ["stack", "output", "--json", "--stack", stack], { maxBuffer: 16 * 1024 * 1024 }));
    } catch (err) {
        const e = err as NodeJS.ErrnoException & { stderr?: string };
        if (e.code === "ENOENT") throw new Error(`the Pulumi CLI is not on PATH: ${noCli}`);
        throw new Error(`pulumi stack output --stack ${stack} failed: ${(e.stderr || e.message).trim().split("\n")[0]}`);
    }
    try {
        return JSON.parse(stdout);
    } catch {
        throw new Error(`pulumi stack output --stack ${stack} did not print JSON`);
    }
}
