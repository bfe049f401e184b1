// `npm run python-env`: creates or refreshes the project's Python environment (.venv) from
// requirements.txt. `npm test` runs it first; it prints nothing when the environment is current.
import * as path from "path";
import { ensurePythonEnvironment, PythonEnvironmentError } from "../lib/python/environment";

const USAGE = `usage: npm run python-env [-- --print]
  Creates .venv from the machine's python3 (or $PLATFORM_PYTHON) with uv, holding exactly the
  pins of requirements.txt, when it is missing or stale; reuses it otherwise.
  --print  print the environment's python path`;

async function main(argv: string[]): Promise<number> {
    if (argv.includes("--help") || argv.includes("-h")) {
        console.log(USAGE);
        return 0;
    }
    const unknown = argv.filter((a) => a !== "--print");
    if (unknown.length) {
        console.error(`python-env: unknown argument ${JSON.stringify(unknown[0])}\n${USAGE}`);
        return 2;
    }
    try {
        const env = await ensurePythonEnvironment({ projectDir: path.resolve(__dirname, ".."), log: (line) => console.error(line) });
        if (argv.includes("--print")) console.log(env.python);
        return 0;
    } catch (err) {
        if (err instanceof PythonEnvironmentError) {
            console.error(`python-env: ${err.message}`);
            return 1;
        }
        throw err;
    }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
