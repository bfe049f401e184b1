// `npm run mutation -- <path> [options]`: mutation testing of one folder or file. TypeScript goes
// to StrykerJS (mocha runner, the project's require hook, only the specs that import the mutated
// code); a .py file goes to mutmut. Prints the score and every surviving mutant. Not part of CI:
// a developer runs it on the code they are testing. Reports land in reports/mutation/ (git-ignored).
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { wantsHelp } from "./flags";

const PROJECT_DIR = path.resolve(__dirname, "..");
const REPORTS_DIR = path.join(PROJECT_DIR, "reports", "mutation");

const USAGE = `usage: npm run mutation -- <path> [--direct] [--with-real-mlflow] [--exclude-tests <regex>] [--fresh] [--survivors] [--concurrency <n>] [--ignore-static]
  <path>              a folder or file of the project: .ts (lib/, components/, scripts/) is mutated by StrykerJS,
                      a .py file (e.g. jobs/register_model.py) by mutmut
  --with-real-mlflow  also run the tests that start real MLflow or scoring servers (slow: 15-40 s per server);
                      by default the suites on real servers (REAL_SERVER_SUITES) are left out
  --exclude-tests <re> TypeScript: also leave out the tests whose full title matches this regex (e.g. a
                      timing-sensitive test that fails under instrumentation on a loaded machine)
  --direct            TypeScript: only the specs that import the mutated files themselves (faster; by default
                      every spec that reaches them through its imports)
  --fresh             forget the previous run's results (StrykerJS: incremental file; mutmut: mutants/)
  --survivors         .py: test again only the mutants that survived, had no test or were not tested yet (after
                      adding tests; mutmut keeps every other verdict, and its verdicts stand unless named). Use the
                      same --with-real-mlflow setting as the run before: a different test selection resets them all
  --concurrency <n>   test runners in parallel (default 2)
  --ignore-static     TypeScript: skip mutants in module-level code (each costs a full rerun of the specs)
Prints the mutation score (killed / (killed + survived + no coverage)) and each surviving mutant.
Reports: reports/mutation/<path>/ (mutation.html, mutation.json; mutmut: its own mutants/ tree).`;

class UsageError extends Error {}

export interface MutationFlags {
    target: string;
    direct: boolean;
    excludeTests: string[];
    withRealMlflow: boolean;
    fresh: boolean;
    survivors: boolean;
    concurrency: number;
    ignoreStatic: boolean;
}

export function parseMutationFlags(argv: readonly string[]): MutationFlags {
    const flags: MutationFlags = { target: "", direct: false, excludeTests: [], withRealMlflow: false, fresh: false, survivors: false, concurrency: 2, ignoreStatic: false };
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === "--with-real-mlflow") flags.withRealMlflow = true;
        else if (arg === "--direct") flags.direct = true;
        else if (arg === "--fresh") flags.fresh = true;
        else if (arg === "--survivors") flags.survivors = true;
        else if (arg === "--ignore-static") flags.ignoreStatic = true;
        else if (arg === "--concurrency") {
            const value = argv[++i];
            if (value === undefined || !/^[1-8]$/.test(value)) throw new UsageError(`--concurrency ${JSON.stringify(value ?? "")} is not allowed: use a whole number from 1 to 8`);
            flags.concurrency = Number(value);
        } else if (arg === "--exclude-tests") {
            const value = argv[++i];
            if (!value) throw new UsageError("--exclude-tests needs a regex: the full titles of the tests to leave out");
            try {
                new RegExp(value);
            } catch (err) {
                throw new UsageError(`--exclude-tests ${JSON.stringify(value)} is not a regex: ${(err as Error).message}`);
            }
            flags.excludeTests.push(value);
        } else if (arg.startsWith("-")) throw new UsageError(`unknown option ${JSON.stringify(arg)}`);
        else positional.push(arg);
    }
    if (positional.length !== 1) throw new UsageError(positional.length ? `one path at a time, got ${positional.length}: ${positional.join(" ")}` : "a path is required: the folder or file to mutate, e.g. lib/registry");
    flags.target = positional[0];
    if (flags.survivors && flags.fresh) throw new UsageError("--survivors and --fresh contradict each other: --fresh forgets the results --survivors starts from");
    return flags;
}

/** The project-relative path of the target, checked: inside the project, exists, code we mutate. */
export function resolveTarget(target: string, projectDir = PROJECT_DIR): { relative: string; kind: "ts" | "py"; files: string[] } {
    const absolute = path.resolve(projectDir, target);
    const relative = path.relative(projectDir, absolute).split(path.sep).join("/");
    if (relative === "" || relative.startsWith("..") || path.isAbsolute(relative)) {
        throw new UsageError(`${target}: not a folder or file inside the project (${projectDir}); pass e.g. lib/registry or jobs/register_model.py`);
    }
    if (/^(node_modules|\.venv|reports|\.stryker-tmp|mutants|\.git)(\/|$)/.test(relative)) throw new UsageError(`${target}: not the project's own code`);
    let stat: fs.Stats;
    try {
        stat = fs.statSync(absolute);
    } catch {
        throw new UsageError(`${target}: no such file or folder in the project`);
    }
    const files = stat.isDirectory() ? walk(absolute).map((f) => path.relative(projectDir, f).split(path.sep).join("/")) : [relative];
    const ts = files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.endsWith(".test.ts") && !f.startsWith("tests/"));
    const py = files.filter((f) => f.endsWith(".py") && !/(^|\/)tests\//.test(f) && !/(^|\/)test_[^/]*\.py$/.test(f));
    if (!stat.isDirectory()) {
        if (ts.length) return { relative, kind: "ts", files: ts };
        if (py.length) return { relative, kind: "py", files: py };
        throw new UsageError(`${target}: not a file the tool mutates: give a .ts source (not a test) or a .py script (not a test)`);
    }
    if (ts.length) return { relative, kind: "ts", files: ts };
    if (py.length) return { relative, kind: "py", files: py };
    throw new UsageError(`${target}: holds no TypeScript or Python source to mutate (tests are not mutated)`);
}

function walk(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
        if (entry.name === "node_modules" || entry.name === "__pycache__" || entry.name.startsWith(".")) return [];
        const full = path.join(dir, entry.name);
        return entry.isDirectory() ? walk(full) : [full];
    });
}

const IMPORT = /(?:\bfrom\s+|\bimport\s+|\brequire\(\s*|\bimport\(\s*)["'](\.{1,2}\/[^"']+)["']/g;

function resolveImport(fromFile: string, spec: string, projectDir: string): string | undefined {
    const base = path.resolve(path.dirname(path.join(projectDir, fromFile)), spec);
    for (const candidate of [base, `${base}.ts`, path.join(base, "index.ts")]) {
        if (candidate.endsWith(".ts") && fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return path.relative(projectDir, candidate).split(path.sep).join("/");
    }
    return undefined;
}

/** The files a .ts file imports, directly or through others (relative imports only). */
export function importClosure(file: string, projectDir = PROJECT_DIR, cache = new Map<string, string[]>()): Set<string> {
    const seen = new Set<string>();
    const stack = [file];
    while (stack.length) {
        const current = stack.pop()!;
        if (seen.has(current)) continue;
        seen.add(current);
        let direct = cache.get(current);
        if (!direct) {
            const text = fs.readFileSync(path.join(projectDir, current), "utf8");
            direct = [...text.matchAll(IMPORT)].map((m) => resolveImport(current, m[1], projectDir)).filter((f): f is string => f !== undefined);
            cache.set(current, direct);
        }
        stack.push(...direct);
    }
    return seen;
}

/** The spec files (tests/**\/*.test.ts) that import any of the mutated files, directly or not. */
export function specsFor(files: readonly string[], projectDir = PROJECT_DIR, directOnly = false): string[] {
    const testsDir = path.join(projectDir, "tests");
    const cache = new Map<string, string[]>();
    const wanted = new Set(files);
    return fs
        .readdirSync(testsDir)
        .filter((f) => f.endsWith(".test.ts"))
        .map((f) => `tests/${f}`)
        .filter((spec) => {
            if (!directOnly) return [...importClosure(spec, projectDir, cache)].some((f) => wanted.has(f));
            const text = fs.readFileSync(path.join(projectDir, spec), "utf8");
            return [...text.matchAll(IMPORT)].some((m) => wanted.has(resolveImport(spec, m[1], projectDir) ?? ""));
        })
        .sort();
}

// The suites that start real MLflow / scoring servers or run the Python suites (each 15-40 s per
// server), by their titles in tests/*.test.ts; mocha's grep takes a /regex/ string, so a negative
// lookahead leaves them out. A new suite on real servers should carry "real MLflow" in its title.
export const REAL_SERVER_SUITES = "\\breal (MLflow|`mlflow)|MLflow's basic-auth app does|against the real thing|python -m unittest";

/** Mocha's grep for the tests to run: none whose full title matches one of these patterns. */
export function grepWithout(patterns: readonly string[]): string | undefined {
    return patterns.length ? `/^(?!.*(${patterns.join("|")})).*$/` : undefined;
}

function slug(relative: string): string {
    return relative.replace(/[^\w.-]+/g, "_");
}

interface ReportMutant {
    id: string;
    mutatorName: string;
    replacement?: string;
    status: string;
    location: { start: { line: number; column: number } };
}
interface Report {
    files: Record<string, { source: string; mutants: ReportMutant[] }>;
}

export interface Score {
    killed: number;
    survived: number;
    noCoverage: number;
    timeout: number;
    other: number;
    score: number;
}

/** Killed (incl. timeouts) over all mutants that ran or had no test: Stryker's "mutation score". */
export function scoreOf(statuses: readonly string[]): Score {
    const count = (s: string) => statuses.filter((x) => x === s).length;
    const killed = count("Killed");
    const timeout = count("Timeout");
    const survived = count("Survived");
    const noCoverage = count("NoCoverage");
    const valid = killed + timeout + survived + noCoverage;
    return { killed, timeout, survived, noCoverage, other: statuses.length - valid, score: valid ? (100 * (killed + timeout)) / valid : 100 };
}

function formatScore(label: string, s: Score): string {
    return `${label}: ${s.score.toFixed(1)}% (${s.killed + s.timeout} killed${s.timeout ? `, ${s.timeout} of them by timeout` : ""}, ${s.survived} survived, ${s.noCoverage} without a test${s.other ? `, ${s.other} not run: ignored/errors` : ""})`;
}

function runStryker(flags: MutationFlags, target: { relative: string; files: string[] }): number {
    const specs = specsFor(target.files, PROJECT_DIR, flags.direct);
    if (!specs.length) {
        console.error(`mutation: no spec in tests/ imports ${target.relative}; every mutant would survive. Write a test first.`);
        return 1;
    }
    const outDir = path.join(REPORTS_DIR, slug(target.relative));
    fs.mkdirSync(outDir, { recursive: true });
    const mutate = target.files;
    const grep = grepWithout([...(flags.withRealMlflow ? [] : [REAL_SERVER_SUITES]), ...flags.excludeTests]);
    const config = {
        $schema: "../../../node_modules/@stryker-mutator/core/schema/stryker-schema.json",
        testRunner: "mocha",
        plugins: ["@stryker-mutator/mocha-runner"],
        mutate,
        mochaOptions: {
            "no-config": true,
            "no-package": true,
            spec: specs,
            extension: ["ts"],
            require: ["./scripts/mutationSandbox.js", "./scripts/register-ts.js", "./tests/helpers/rootHooks.ts"],
            ...(grep ? { grep } : {}),
        },
        coverageAnalysis: "perTest",
        concurrency: flags.concurrency,
        ignoreStatic: flags.ignoreStatic,
        timeoutMS: 10_000,
        incremental: true,
        incrementalFile: path.relative(PROJECT_DIR, path.join(outDir, "stryker-incremental.json")),
        force: flags.fresh,
        reporters: ["clear-text", "progress", "json", "html"],
        clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: false },
        jsonReporter: { fileName: path.relative(PROJECT_DIR, path.join(outDir, "mutation.json")) },
        htmlReporter: { fileName: path.relative(PROJECT_DIR, path.join(outDir, "mutation.html")) },
        tempDirName: ".stryker-tmp",
        cleanTempDir: true,
        // The sandbox is a copy of the project: leave out what the specs never read.
        // .ci stays in the sandbox: a test reads .ci/run (the Node version CI tests with).
        ignorePatterns: [".venv", "reports", "mutants", "bench/results"],
        logLevel: "info",
        fileLogLevel: "off",
    };
    const configFile = path.join(outDir, "stryker.config.json");
    fs.writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
    console.error(`mutation: StrykerJS on ${mutate.length} file(s) of ${target.relative}, with ${specs.length} spec(s): ${specs.join(" ")}`);
    if (!flags.withRealMlflow) console.error("mutation: tests on real MLflow / scoring servers left out (--with-real-mlflow runs them)");
    const stryker = path.join(PROJECT_DIR, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
    const result = spawnSync(process.execPath, [stryker, "run", path.relative(PROJECT_DIR, configFile)], { cwd: PROJECT_DIR, stdio: "inherit" });
    if (result.status !== 0) {
        console.error(`mutation: StrykerJS exited with ${result.status ?? result.signal}; see its output above`);
        return 1;
    }
    const report = JSON.parse(fs.readFileSync(path.join(outDir, "mutation.json"), "utf8")) as Report;
    const all: string[] = [];
    const survivors: string[] = [];
    for (const [file, entry] of Object.entries(report.files).sort()) {
        const statuses = entry.mutants.map((m) => m.status);
        all.push(...statuses);
        console.log(formatScore(file, scoreOf(statuses)));
        const lines = entry.source.split("\n");
        for (const m of entry.mutants.filter((x) => x.status === "Survived" || x.status === "NoCoverage").sort((a, b) => a.location.start.line - b.location.start.line)) {
            const original = (lines[m.location.start.line - 1] ?? "").trim();
            survivors.push(`  ${m.status === "NoCoverage" ? "no test " : "survived"} ${file}:${m.location.start.line} ${m.mutatorName}: ${oneLine(m.replacement ?? "")}   [${oneLine(original)}]`);
        }
    }
    if (survivors.length) console.log(`surviving mutants:\n${survivors.join("\n")}`);
    console.log(formatScore(`mutation score of ${target.relative}`, scoreOf(all)));
    console.log(`report: ${path.relative(PROJECT_DIR, path.join(outDir, "mutation.html"))}`);
    return 0;
}

function oneLine(text: string): string {
    const flat = text.replace(/\s+/g, " ").trim();
    return flat.length > 110 ? `${flat.slice(0, 107)}...` : flat;
}

/** The Python test classes that need real MLflow servers (pytest -k expression). */
export const PYTHON_REAL_SERVER_TESTS = "JobInvocation or InProcessRuns";
/**
 * Python tests that run the script in a child process: under mutmut the child's trampolines ask
 * mutmut's config, which only this process has (scripts/mutmut_run.py), so they fail; and a child
 * cannot report coverage to mutmut anyway. Left out of mutation runs (npm test runs them).
 */
export const PYTHON_CHILD_PROCESS_TESTS = "test_parquet_without_pyarrow_says_what_to_install or test_usage_errors_end_with_a_json_line_and_help_works or test_a_sklearn_pipeline_with_a_csv_sample_and_an_alias";

/** The unittest folder of a Python script: `<its folder>/tests` (jobs/register_model.py -> jobs/tests). */
export function pythonTestsFor(file: string, projectDir = PROJECT_DIR): string {
    const tests = `${path.posix.dirname(file)}/tests`;
    if (!fs.existsSync(path.join(projectDir, tests))) throw new UsageError(`${file}: no tests folder ${tests} beside it; mutmut needs the script's tests`);
    return tests;
}

/**
 * The mutants of `files` whose verdict is survived (exit code 0), no tests (33) or none yet, from
 * mutmut's per-file `mutants/<file>.meta` (exit_code_by_key, mutmut 3.8).
 */
export function undecidedMutants(mutantsDir: string, files: readonly string[]): string[] {
    return files.flatMap((file) => {
        const meta = path.join(mutantsDir, `${file}.meta`);
        if (!fs.existsSync(meta)) throw new UsageError(`--survivors: no earlier run of ${file} (${path.relative(PROJECT_DIR, meta)} is missing); run without --survivors first`);
        const codes = (JSON.parse(fs.readFileSync(meta, "utf8")) as { exit_code_by_key?: Record<string, number | null> }).exit_code_by_key ?? {};
        return Object.entries(codes)
            .filter(([, code]) => code === null || code === 0 || code === 33)
            .map(([name]) => name);
    });
}

async function runMutmut(flags: MutationFlags, target: { relative: string; files: string[] }): Promise<number> {
    const python = path.join(PROJECT_DIR, ".venv", "bin", "python");
    if (!fs.existsSync(python)) {
        console.error("mutation: no .venv: run `npm run python-env` first (mutmut is pinned in requirements.txt)");
        return 1;
    }
    const testDirs = [...new Set(target.files.map((f) => pythonTestsFor(f)))];
    const mutants = path.join(PROJECT_DIR, "mutants");
    if (flags.fresh) fs.rmSync(mutants, { recursive: true, force: true });
    // mutmut copies the scripts and these into mutants/ and runs pytest there (it runs unittest suites).
    const settings = {
        source_paths: target.files,
        also_copy: ["jobs/__init__.py", ...testDirs, "serving"], // and mutmut's own: tests/ (tests/helpers/mlflow_server.py)
        pytest_add_cli_args: ["-p", "no:cacheprovider", "-q", "-k", `not (${PYTHON_CHILD_PROCESS_TESTS})`],
        pytest_add_cli_args_test_selection: testDirs,
    };
    // The registration tests on real MLflow servers (jobs/tests/test_register_model.py's classes
    // named below): with --with-real-mlflow the servers are started once here and shared by every
    // mutant (MLFLOW_TEST_SERVERS, as `npm test` passes them); without, those tests are left out.
    const { pythonSuiteEnv, stopRealMlflow } = await import("../tests/helpers/realMlflow");
    let servers: NodeJS.ProcessEnv = process.env;
    if (flags.withRealMlflow) {
        console.error(`mutation: mutmut on ${target.files.join(" ")} with the tests in ${testDirs.join(" ")}; starting real MLflow servers (plain, basic-auth) for them`);
        try {
            servers = await pythonSuiteEnv(["plain", "auth"]);
        } catch (err) {
            await stopRealMlflow();
            console.error(`mutation: the real MLflow servers the Python tests need did not start: ${(err as Error).message.split("\n")[0]}; try again (a loaded machine can be too slow)`);
            return 1;
        }
    } else {
        settings.pytest_add_cli_args.splice(-1, 1, `not (${PYTHON_CHILD_PROCESS_TESTS} or ${PYTHON_REAL_SERVER_TESTS})`);
        console.error(`mutation: mutmut on ${target.files.join(" ")} with the tests in ${testDirs.join(" ")}, without the ones on real MLflow servers (${PYTHON_REAL_SERVER_TESTS}; --with-real-mlflow runs them)`);
    }
    const env = { ...servers, MUTATION_MUTMUT_CONFIG: JSON.stringify(settings) };
    const wrapper = path.join(PROJECT_DIR, "scripts", "mutmut_run.py");
    const mutmut = (args: string[], capture = false) =>
        new Promise<{ code: number | null; stdout: string }>((resolve) => {
            const child = spawn(python, [wrapper, ...args], { cwd: PROJECT_DIR, env, stdio: ["ignore", capture ? "pipe" : "inherit", "inherit"] });
            let stdout = "";
            child.stdout?.on("data", (d) => (stdout += d));
            child.on("close", (code) => resolve({ code, stdout }));
        });
    try {
        const names = flags.survivors ? undecidedMutants(mutants, target.files) : [];
        if (flags.survivors) console.error(`mutation: testing again ${names.length} mutant(s) that survived, had no test or were not tested`);
        const run = await mutmut(["run", "--max-children", String(flags.concurrency), ...names]);
        if (run.code !== 0) {
            console.error(`mutation: mutmut run exited with ${run.code}; see its output above`);
            return 1;
        }
        await mutmut(["export-cicd-stats"], true);
        const stats = JSON.parse(fs.readFileSync(path.join(mutants, "mutmut-cicd-stats.json"), "utf8")) as Record<string, number>;
        const listed = (await mutmut(["results"], true)).stdout;
        const survivors = listed
            .split("\n")
            .map((line) => /^\s*(\S+): (survived|no tests|timeout|suspicious|skipped|not checked)/.exec(line))
            .filter((m): m is RegExpExecArray => m !== null);
        const lines: string[] = [];
        for (const [, name, status] of survivors) {
            if (status !== "survived" && status !== "no tests") continue;
            const diff = (await mutmut(["show", name], true)).stdout.split("\n").filter((l) => /^[-+][^-+]/.test(l));
            lines.push(`  ${status === "no tests" ? "no test " : "survived"} ${name}: ${oneLine(diff.join(" | "))}`);
        }
        if (lines.length) console.log(`surviving mutants (mutmut show <name> for the diff):\n${lines.join("\n")}`);
        const killed = (stats.killed ?? 0) + (stats.timeout ?? 0);
        const valid = killed + (stats.survived ?? 0) + (stats.no_tests ?? 0);
        const score = valid ? (100 * killed) / valid : 100;
        console.log(`mutation score of ${target.relative}: ${score.toFixed(1)}% (${killed} killed, ${stats.survived ?? 0} survived, ${stats.no_tests ?? 0} without a test${stats.skipped || stats.suspicious ? `, ${(stats.skipped ?? 0) + (stats.suspicious ?? 0)} skipped/suspicious` : ""})`);
        console.log("report: mutants/ (mutmut results, mutmut show <name>, or mutmut browse, with .venv/bin/python scripts/mutmut_run.py and MUTATION_MUTMUT_CONFIG)");
        return 0;
    } finally {
        await stopRealMlflow();
    }
}

async function main(argv: string[]): Promise<number> {
    if (wantsHelp(argv)) {
        console.log(USAGE);
        return 0;
    }
    try {
        const flags = parseMutationFlags(argv);
        const target = resolveTarget(flags.target);
        if (flags.survivors && target.kind !== "py") throw new UsageError("--survivors is for a .py script (mutmut); StrykerJS runs are incremental already: the same command redoes only what changed");
        return target.kind === "py" ? await runMutmut(flags, target) : runStryker(flags, target);
    } catch (err) {
        if (err instanceof UsageError) {
            console.error(`mutation: ${err.message}\n${USAGE}`);
            return 2;
        }
        throw err;
    }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
