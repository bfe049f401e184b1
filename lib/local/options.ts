// `npm run local`'s flags: which registry version to serve, or the demo, and where.
import { parseArgs } from "util";
import { parseRegistryUrl } from "../registry/client";
import { RegistryError } from "../registry/errors";
import { REGISTRY_KINDS, type RegistryKind, type Selector } from "../registry/types";

export const LOCAL_USAGE = `usage: npm run local -- --model <name> (--alias <alias> | --version <n> | --latest) [--registry <url>] [--kind mlflow|databricks|unity-catalog]
                      [--port <port>] [--workers <n>] [--cache-dir <folder>]
       npm run local -- --demo [--port <port>]
Serves one registry version on this machine exactly as the image does: fetch_model.py downloads it,
install_environment.sh builds its own Python environment (cached by its requirements), and
serve_model.py serves it on 127.0.0.1. Prints the URL and a request to paste; Ctrl-C stops it.
  --model      the registered model's name (catalog.schema.model in Unity Catalog)
  --alias, --version, --latest
               which version: an alias, a version number, or the newest READY version
  --registry   the registry's URL (default: MLFLOW_TRACKING_URI, or DATABRICKS_HOST for Databricks)
  --kind       mlflow (default for MLFLOW_TRACKING_URI), databricks or unity-catalog (default for DATABRICKS_HOST)
  --port       the port to serve on (default 5001)
  --workers    scoring workers (default: this machine's CPUs)
  --cache-dir  where fetched models and built environments are kept (default ~/.cache/mlflow-platform)
  --demo       start an embedded MLflow server, train and register a sample model from a pickle
               with jobs/register_model.py, and serve that
Credentials: MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN for MLflow,
DATABRICKS_TOKEN or your az login for Databricks.`;

export class LocalUsageError extends Error {}

export interface LocalOptions {
    demo: boolean;
    model?: string;
    selector?: Selector;
    registry?: { kind: RegistryKind; url: string };
    port: number;
    workers?: number;
    cacheDir?: string;
}

function wholeNumber(flag: string, value: string | undefined, min: number, max: number): number | undefined {
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        throw new LocalUsageError(`--${flag} ${JSON.stringify(value)} is not allowed: use a whole number from ${min} to ${max}`);
    }
    return Number(value);
}

/** The registry from --registry/--kind, else from the environment MLflow's own client reads. */
function registryFrom(url: string | undefined, kind: string | undefined, env: NodeJS.ProcessEnv): { kind: RegistryKind; url: string } {
    if (kind !== undefined && !(REGISTRY_KINDS as readonly string[]).includes(kind)) {
        throw new LocalUsageError(`--kind ${JSON.stringify(kind)} is not allowed: use one of ${REGISTRY_KINDS.join(", ")}`);
    }
    let source = "--registry";
    if (url === undefined) {
        if (kind !== "databricks" && kind !== "unity-catalog" && env.MLFLOW_TRACKING_URI && /^https?:/i.test(env.MLFLOW_TRACKING_URI)) {
            url = env.MLFLOW_TRACKING_URI;
            source = "MLFLOW_TRACKING_URI";
        } else if (env.DATABRICKS_HOST) {
            url = env.DATABRICKS_HOST;
            source = "DATABRICKS_HOST";
            kind ??= "unity-catalog";
        } else {
            throw new LocalUsageError("no registry: pass --registry <url>, or set MLFLOW_TRACKING_URI (MLflow) or DATABRICKS_HOST (Databricks)");
        }
    }
    try {
        return { kind: (kind as RegistryKind | undefined) ?? "mlflow", url: parseRegistryUrl(url, source) };
    } catch (err) {
        if (err instanceof RegistryError) throw new LocalUsageError(err.message);
        throw err;
    }
}

/** Parses argv; `undefined` means --help was asked for. */
export function parseLocalOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): LocalOptions | undefined {
    let values;
    try {
        ({ values } = parseArgs({
            args: argv,
            strict: true,
            allowPositionals: false,
            options: {
                help: { type: "boolean", short: "h" },
                demo: { type: "boolean" },
                latest: { type: "boolean" },
                model: { type: "string" },
                alias: { type: "string" },
                version: { type: "string" },
                registry: { type: "string" },
                kind: { type: "string" },
                port: { type: "string" },
                workers: { type: "string" },
                "cache-dir": { type: "string" },
            },
        }));
    } catch (err) {
        throw new LocalUsageError((err as Error).message);
    }
    if (values.help) return undefined;
    const port = wholeNumber("port", values.port, 1, 65535) ?? 5001;
    const workers = wholeNumber("workers", values.workers, 1, 64);
    const cacheDir = values["cache-dir"];
    if (values.demo) {
        const extra = (["model", "alias", "version", "latest", "registry", "kind"] as const).filter((k) => values[k] !== undefined);
        if (extra.length) throw new LocalUsageError(`--demo serves its own sample model: drop --${extra[0]}`);
        return { demo: true, port, workers, cacheDir };
    }
    if (!values.model || !values.model.trim()) throw new LocalUsageError("--model <name> is required (or --demo)");
    const chosen = (["alias", "version", "latest"] as const).filter((k) => values[k] !== undefined);
    if (chosen.length !== 1) {
        throw new LocalUsageError(`choose exactly one of --alias <alias>, --version <n> or --latest${chosen.length ? ` (got --${chosen.join(" and --")})` : ""}`);
    }
    let selector: Selector;
    if (values.alias !== undefined) {
        if (!/^[A-Za-z0-9_-]{1,255}$/.test(values.alias)) throw new LocalUsageError(`--alias ${JSON.stringify(values.alias)} is not allowed: use letters, digits, '_' or '-'`);
        selector = { alias: values.alias };
    } else if (values.version !== undefined) {
        if (!/^[1-9]\d{0,9}$/.test(values.version)) throw new LocalUsageError(`--version ${JSON.stringify(values.version)} is not allowed: use a version number such as 3`);
        selector = { version: values.version };
    } else {
        selector = { latest: true };
    }
    return { demo: false, model: values.model.trim(), selector, registry: registryFrom(values.registry, values.kind, env), port, workers, cacheDir };
}
