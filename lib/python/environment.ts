// The project's Python environment (.venv): real MLflow, scikit-learn, pandas and uv at the exact
// versions requirements.txt pins. `npm test`, `npm run local` and the benchmarks create it when it
// is missing and bring it up to date when requirements.txt or the machine's Python changed; an
// unchanged environment costs one file read and one `python3 --version`.
import { execFile } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";

const run = promisify(execFile);

/** Python versions MLflow 3.x supports; the environment is made from the machine's python3. */
export const SUPPORTED_PYTHON = { min: [3, 10], max: [3, 13] } as const;

export interface PythonEnvironment {
    /** The environment's folder. */
    dir: string;
    /** Its interpreter. */
    python: string;
    /** The uv it holds (pinned in requirements.txt). */
    uv: string;
    /** Whether this call had to install anything. */
    installed: boolean;
}

export class PythonEnvironmentError extends Error {}

export interface EnsureOptions {
    projectDir: string;
    /** The interpreter the environment is made from; default `python3` (or $PLATFORM_PYTHON). */
    basePython?: string;
    /** Progress lines (to stderr in the commands). */
    log?: (line: string) => void;
}

/** The stamp an up-to-date environment carries: what was installed, from which Python. */
export function environmentStamp(requirements: string, pythonVersion: string): string {
    return createHash("sha256").update(`${pythonVersion}\0${requirements}`).digest("hex");
}

/** The `uv==X` pin of requirements.txt: uv installs everything else, so it comes first. */
export function uvPin(requirements: string): string {
    const match = /^uv==([0-9][^\s;#]*)/m.exec(requirements);
    if (!match) throw new PythonEnvironmentError("requirements.txt pins no uv (a line uv==<version>): add uv to requirements.in and compile it again");
    return `uv==${match[1]}`;
}

/** "3.11.7" -> [3, 11]; refuses versions MLflow 3 does not run on, naming the one found. */
export function checkPythonVersion(version: string, basePython: string): [number, number] {
    const match = /^(\d+)\.(\d+)/.exec(version.trim());
    if (!match) throw new PythonEnvironmentError(`${basePython} --version printed ${JSON.stringify(version.trim())}, not a Python version`);
    const found: [number, number] = [Number(match[1]), Number(match[2])];
    const below = found[0] < SUPPORTED_PYTHON.min[0] || (found[0] === SUPPORTED_PYTHON.min[0] && found[1] < SUPPORTED_PYTHON.min[1]);
    const above = found[0] > SUPPORTED_PYTHON.max[0] || (found[0] === SUPPORTED_PYTHON.max[0] && found[1] > SUPPORTED_PYTHON.max[1]);
    if (below || above) {
        throw new PythonEnvironmentError(
            `${basePython} is Python ${found.join(".")}; the project's Python environment needs Python ${SUPPORTED_PYTHON.min.join(".")} to ${SUPPORTED_PYTHON.max.join(".")} ` +
                "(MLflow 3's range): install one and set PLATFORM_PYTHON to it",
        );
    }
    return found;
}

async function pythonVersion(basePython: string): Promise<string> {
    try {
        const { stdout } = await run(basePython, ["-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]);
        return stdout.trim();
    } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === "ENOENT") {
            throw new PythonEnvironmentError(`no ${basePython} on this machine: install Python ${SUPPORTED_PYTHON.min.join(".")} to ${SUPPORTED_PYTHON.max.join(".")} (or set PLATFORM_PYTHON to one)`);
        }
        throw new PythonEnvironmentError(`${basePython} could not be started (${e.message.split("\n")[0]})`);
    }
}

async function step(what: string, file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<void> {
    try {
        await run(file, args, { env: env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
        const e = err as { stderr?: string; stdout?: string; message: string };
        const detail = (e.stderr || e.stdout || e.message).trim().split("\n").slice(-12).join("\n");
        throw new PythonEnvironmentError(`${what} failed:\n${detail}`);
    }
}

/** Creates or refreshes `<projectDir>/.venv` so it holds exactly requirements.txt. */
export async function ensurePythonEnvironment(options: EnsureOptions): Promise<PythonEnvironment> {
    const log = options.log ?? (() => undefined);
    const basePython = options.basePython ?? process.env.PLATFORM_PYTHON ?? "python3";
    const dir = path.join(options.projectDir, ".venv");
    const python = path.join(dir, "bin", "python");
    const uv = path.join(dir, "bin", "uv");
    const requirementsFile = path.join(options.projectDir, "requirements.txt");
    const requirements = fs.readFileSync(requirementsFile, "utf8");
    const version = await pythonVersion(basePython);
    checkPythonVersion(version, basePython);
    const stamp = environmentStamp(requirements, version);
    const stampFile = path.join(dir, ".platform-stamp");
    const current = fs.existsSync(stampFile) ? fs.readFileSync(stampFile, "utf8").trim() : "";
    if (current === stamp && fs.existsSync(python) && fs.existsSync(uv)) {
        return { dir, python, uv, installed: false };
    }
    // A stale stamp from another Python means the interpreter itself changed: start afresh.
    const samePython = fs.existsSync(python) && (await pythonVersion(python).catch(() => "")) === version;
    if (!samePython) {
        log(`python environment: creating ${path.relative(options.projectDir, dir)} from ${basePython} (Python ${version})`);
        fs.rmSync(dir, { recursive: true, force: true });
        await step(`${basePython} -m venv ${dir} (on Debian: apt-get install python3-venv)`, basePython, ["-m", "venv", dir]);
    } else {
        log("python environment: requirements.txt changed, updating .venv");
    }
    fs.rmSync(stampFile, { force: true });
    if (!fs.existsSync(uv)) {
        await step(`installing ${uvPin(requirements)} from PyPI`, python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", uvPin(requirements)]);
    }
    log("python environment: installing requirements.txt with uv (exact pins)");
    // sync, not install: packages no longer pinned are removed, so the environment is the file.
    await step("uv pip sync requirements.txt", uv, ["pip", "sync", "--quiet", "--python", python, requirementsFile]);
    fs.writeFileSync(stampFile, `${stamp}\n`);
    log("python environment: ready");
    return { dir, python, uv, installed: true };
}
