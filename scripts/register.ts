// `npm run register -- --stack dev --pickle models/fraud/model.pkl --model fraud [options]`:
// registers a pickle from the stack's Blob Storage as a model version, by running the
// registration job the stack declares, and prints the new version.
import * as path from "path";
import { parseStringFlags, wantsHelp } from "./flags";
import { pulumiStackOutputs } from "./stackOutputs";
import { selectCredential } from "../lib/registry/credentials";
import { JobsApiError, jobsClient, RegisterError, runRegistration, type Registered } from "../lib/registration/jobs";
import { abfssUri, blobPath, checkAlias, parseDuration, requireSampleForUnityCatalog, targetFromStackOutputs, type RegistrationTarget } from "../lib/registration/target";
import { checkLocalFile, replacementNotice, uploadWhole } from "../lib/registration/upload";

const USAGE = `usage: npm run register -- --stack <stack> --pickle <container>/<path> --model <name>
                          [--sample <container>/<path>] [--alias <alias>] [--upload <local pickle>] [--upload-sample <local sample>] [--overwrite]
                          [--timeout <duration>] [--poll-interval <seconds>]
  --stack          the stack whose workspace holds the registry and the registration job (dev)
  --pickle         the pickled model in the stack's storage, such as models/fraud/model.pkl
  --model          registered model name; in Unity Catalog just the name (it goes into the job's schema)
  --sample         input sample (CSV with a header, JSON or Parquet) for the signature, such as data/fraud/sample.csv;
                   required for Unity Catalog, which refuses a version without a signature
  --alias          alias for the new version, such as challenger ('latest' and v<number> are reserved)
  --upload         first upload this local file to --pickle, with your Entra login (az login)
  --upload-sample  first upload this local file to --sample
  --overwrite      let --upload/--upload-sample replace a file that exists there (its content is lost for good:
                   soft delete does not recover an overwritten blob); without it an existing file is refused
  --timeout        how long to wait for the run: seconds, or 20m, 1h (default 20m); the run goes on after it
  --poll-interval  seconds between status checks (default 5)
Databricks credentials: DATABRICKS_TOKEN, else your Entra login (az login).`;

class UsageError extends Error {}

interface Flags {
    stack: string;
    pickle: string;
    model: string;
    sample?: string;
    alias?: string;
    upload?: string;
    uploadSample?: string;
    overwrite: boolean;
    timeoutMs: number;
    pollMs: number;
}

function parseFlags(argv: string[]): Flags {
    let values: Record<string, string | undefined>;
    let overwrite = false;
    try {
        const overwriteAt = argv.indexOf("--overwrite");
        overwrite = overwriteAt >= 0;
        values = parseStringFlags(overwrite ? argv.filter((_, i) => i !== overwriteAt) : argv, ["stack", "pickle", "model", "sample", "alias", "upload", "upload-sample", "timeout", "poll-interval"]);
    } catch (err) {
        throw new UsageError((err as Error).message.split("\n")[0]);
    }
    const missing = ["stack", "pickle", "model"].filter((name) => !values[name]);
    if (missing.length > 0) throw new UsageError(`missing ${missing.map((name) => `--${name}`).join(", ")}`);
    if (values["upload-sample"] && !values.sample) throw new UsageError("--upload-sample needs --sample: the place in the storage it goes to");
    if (overwrite && !values.upload && !values["upload-sample"]) throw new UsageError("--overwrite is only for --upload or --upload-sample: it lets an upload replace a file that exists");
    if (values.sample && !/\.(csv|json|parquet)$/i.test(values.sample)) throw new UsageError(`--sample ${values.sample}: use a .csv (with a header row), .json or .parquet file`);
    if (values["upload-sample"] && path.extname(values["upload-sample"]).toLowerCase() !== path.extname(values.sample!).toLowerCase()) {
        throw new UsageError(`--upload-sample ${values["upload-sample"]} and --sample ${values.sample} have different file types`);
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(values.model!)) throw new UsageError(`--model ${JSON.stringify(values.model)} is not a model name: letters, digits, '_', '-' and '.' (catalog.schema.model)`);
    const poll = values["poll-interval"] ?? "5";
    if (!/^\d+(\.\d+)?$/.test(poll) || Number(poll) < 0.01 || Number(poll) > 60) throw new UsageError(`--poll-interval ${JSON.stringify(poll)} is not allowed: use seconds from 0.01 to 60`);
    try {
        if (values.alias !== undefined) checkAlias(values.alias);
        if (values.upload) checkLocalFile("upload", values.upload);
        if (values["upload-sample"]) checkLocalFile("upload-sample", values["upload-sample"]);
        return {
            stack: values.stack!,
            pickle: values.pickle!,
            model: values.model!,
            sample: values.sample,
            alias: values.alias,
            upload: values.upload,
            uploadSample: values["upload-sample"],
            overwrite,
            timeoutMs: parseDuration("timeout", values.timeout ?? "20m"),
            pollMs: Number(poll) * 1000,
        };
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
}

async function stackTarget(stack: string): Promise<RegistrationTarget> {
    let outputs: unknown;
    try {
        outputs = await pulumiStackOutputs(stack, "install it and sign in to the stack's backend");
    } catch (err) {
        throw new RegisterError((err as Error).message);
    }
    return targetFromStackOutputs(outputs, stack);
}

async function upload(target: RegistrationTarget, files: { local: string; container: string; blob: string }[], overwrite: boolean): Promise<void> {
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const { azureSignIn } = await import("../lib/azure/signIn");
    const service = new BlobServiceClient(target.blobEndpoint, azureSignIn());
    for (const file of files) {
        const bytes = await uploadWhole(service.getContainerClient(file.container), file.blob, file.local, {
            overwrite,
            onReplace: (existing) => console.log(`register: ${replacementNotice(file.container, file.blob, existing)}`),
        });
        console.log(`uploaded ${file.local} to ${file.container}/${file.blob} in ${target.storageAccountName} (${bytes} bytes)`);
    }
}

function registryUri(kind: string): string {
    return kind === "unity-catalog" ? "databricks-uc" : "databricks";
}

function report(result: Registered, target: RegistrationTarget, stack: string): void {
    console.log(`registered ${result.name} version ${result.version}${result.alias ? ` (alias ${result.alias})` : ""}${result.flavour ? `, ${result.flavour} flavour` : ""}`);
    console.log(`  model URI:  ${result.modelUri}`);
    console.log(`  run:        ${result.runPageUrl}`);
    console.log(
        `  serve it locally:  DATABRICKS_HOST=${target.workspaceUrl} MLFLOW_TRACKING_URI=databricks MLFLOW_REGISTRY_URI=${registryUri(target.registryKind)} ` +
            `mlflow models serve -m "${result.modelUri}" -p 5000`,
    );
    const selector = result.alias ? `latest: true, or alias: ${result.alias}` : "latest: true";
    console.log(`  serve it in ${stack}: a models entry with model: ${result.name} and ${selector} serves it after \`pulumi up --stack ${stack}\`; then \`npm run smoke -- --stack ${stack}\``);
}

async function main(argv: string[]): Promise<number> {
    if (wantsHelp(argv)) {
        console.log(USAGE);
        return 0;
    }
    let flags: Flags;
    try {
        flags = parseFlags(argv);
    } catch (err) {
        console.error(`register: ${(err as Error).message}\n${USAGE}`);
        return 2;
    }
    try {
        const target = await stackTarget(flags.stack);
        const pickle = blobPath("pickle", flags.pickle, [target.containers.models]);
        const sample = flags.sample ? blobPath("sample", flags.sample, [target.containers.data, target.containers.models]) : undefined;
        requireSampleForUnityCatalog(target, flags.stack, flags.sample);
        const uploads = [
            ...(flags.upload ? [{ local: flags.upload, ...pickle }] : []),
            ...(flags.uploadSample && sample ? [{ local: flags.uploadSample, ...sample }] : []),
        ];
        if (uploads.length > 0) await upload(target, uploads, flags.overwrite);

        const credential = selectCredential("databricks", {}, process.env)!;
        const client = jobsClient(target.workspaceUrl, credential);
        console.log(`register: starting the registration job ${target.jobId} in ${target.workspaceUrl}`);
        const result = await runRegistration(
            client,
            {
                jobId: target.jobId,
                stack: flags.stack,
                timeoutMs: flags.timeoutMs,
                pollMs: flags.pollMs,
                parameters: {
                    pickle: abfssUri(target.storageAccountName, pickle.container, pickle.blob),
                    model: flags.model,
                    sample: sample ? abfssUri(target.storageAccountName, sample.container, sample.blob) : "",
                    alias: flags.alias ?? "",
                },
            },
            { log: (line) => console.log(line), now: () => Date.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) },
        );
        report(result, target, flags.stack);
        return 0;
    } catch (err) {
        if (err instanceof RegisterError || err instanceof JobsApiError) {
            console.error(`register: failed: ${err.message}`);
            return 1;
        }
        console.error(`register: failed: ${(err as Error).message.split("\n")[0]}`);
        return 1;
    }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
