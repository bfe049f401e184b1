// Real MLflow tracking servers for the suite (serving/demo/mlflow_server.py runs them): a plain one,
// one behind MLflow's basic-auth app, and one under a path prefix, each started on first use and
// shared by every test, stopped when mocha ends (root hook) or, if the runner dies, when their
// launcher's stdin closes.
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createInterface } from "readline";
import { PROJECT_DIR } from "./fixtures";
import { PYTHON } from "./python";

export interface RealMlflow {
    url: string;
    /** Basic-auth servers: the admin user. */
    username?: string;
    password?: string;
    /** The server's log file, for failure messages. */
    log: string;
}

export type ServerKind = "plain" | "auth" | "prefixed";

/** The path the prefixed server serves under. */
export const STATIC_PREFIX = "/mlflow";

const LAUNCHER = path.join(PROJECT_DIR, "serving", "demo", "mlflow_server.py");
const running = new Map<ServerKind, Promise<RealMlflow>>();
const launchers: ChildProcess[] = [];
let root: string | undefined;

function launch(kind: ServerKind, dir: string): Promise<RealMlflow> {
    const args = [LAUNCHER, "--dir", dir, ...(kind === "auth" ? ["--auth"] : []), ...(kind === "prefixed" ? ["--static-prefix", STATIC_PREFIX] : [])];
    const child = spawn(PYTHON, args, { stdio: ["pipe", "pipe", "inherit"] });
    launchers.push(child);
    return new Promise((resolve, reject) => {
        const lines = createInterface({ input: child.stdout! });
        lines.once("line", (line) => {
            let info: RealMlflow & { error?: string };
            try {
                info = JSON.parse(line);
            } catch {
                reject(new Error(`mlflow_server.py printed ${line}`));
                return;
            }
            if (info.error) reject(new Error(info.error));
            else resolve(info);
        });
        child.once("exit", (code) => reject(new Error(`mlflow_server.py (${kind}) exited with ${code} before the server was up`)));
    });
}

/** A real MLflow server of that kind; the same one for the whole run. */
export function realMlflow(kind: ServerKind = "plain"): Promise<RealMlflow> {
    let server = running.get(kind);
    if (!server) {
        root ??= fs.mkdtempSync(path.join(os.tmpdir(), "real-mlflow-"));
        // Each kind has its own store, so tests of one never see another's models.
        server = launch(kind, path.join(root, kind));
        running.set(kind, server);
    }
    return server;
}

/** A model name no other test uses, so tests can share a server. */
let counter = 0;
export function uniqueModelName(prefix: string): string {
    counter += 1;
    return `${prefix}-${process.pid}-${counter}-${Date.now().toString(36)}`;
}

/** Stops every server this process started (closing stdin tells each launcher to stop it). */
export async function stopRealMlflow(): Promise<void> {
    const exits = launchers.map((child) => (child.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once("exit", () => resolve()))));
    for (const child of launchers) child.stdin?.end();
    // A bounded wait whose timer is cleared: a pending timer would keep mocha's process alive 20 s.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(exits), new Promise((resolve) => (timer = setTimeout(resolve, 20_000)))]);
    clearTimeout(timer);
    for (const child of launchers) if (child.exitCode === null) child.kill("SIGKILL");
    launchers.length = 0;
    running.clear();
    if (root) fs.rmSync(root, { recursive: true, force: true });
    root = undefined;
}

/**
 * The environment for a Python suite that uses these servers (MLFLOW_TEST_SERVERS, which
 * serving/demo/mlflow_server.py's shared_server reads), so it does not start servers of its own.
 */
export async function pythonSuiteEnv(kinds: ServerKind[]): Promise<NodeJS.ProcessEnv> {
    const servers = await Promise.all(kinds.map((kind) => realMlflow(kind)));
    const given = Object.fromEntries(kinds.map((kind, i) => [kind, { url: servers[i].url, username: servers[i].username, password: servers[i].password }]));
    return { ...process.env, MLFLOW_TEST_SERVERS: JSON.stringify(given) };
}
