// `npm run smoke -- --stack <stack> | --url <scoring-uri> [options]`: checks that scoring
// endpoints are up and answer, and measures them.
import * as fs from "fs";
import * as path from "path";
import { parseStringFlags, wantsHelp } from "./flags";
import { pulumiStackOutputs } from "./stackOutputs";
import { entraToken } from "../lib/registry/credentials";
import { redact } from "../lib/registry/errors";
import { displayUrl, urlSecrets, type ScoringInput } from "../lib/scoring/client";
import { emptyStackNotice, runSmoke, SmokeError, targetsFromStackOutputs, type StackTargets } from "../lib/scoring/smoke";

const USAGE = `usage: npm run smoke -- (--stack <stack> | --url <scoring-uri>) [--model <name>] [--input <file.json|file.csv>]
                       [--requests <n>] [--concurrency <n>] [--ready-timeout <seconds>] [--request-timeout <seconds>]
                       [--entra-scope <scope>]
  --stack            read the scoring URIs from \`pulumi stack output --json --stack <stack>\`
  --url              score this URI (http(s)://…/invocations) instead
  --model            only this model of the stack
  --input            sample input (default serving/sample-input.json)
  --requests         sequential requests for p50/p95 latency, and the size of the capacity probe (default 20, 1-10000)
  --concurrency      also probe capacity with this many requests in flight (1-256)
  --ready-timeout    seconds to wait for /ping (default 600)
  --request-timeout  seconds per scoring request (default 60)
  --entra-scope      get a Microsoft Entra token for this scope (az login, managed identity, or GitHub OIDC in CI): the stack output
                     scoringApi.scope (api://<client id>/.default) for an application or managed identity,
                     scoringApi.userScope (api://<client id>/user_impersonation) for a user signed in with az login
A bearer token for protected endpoints is otherwise read from SCORING_TOKEN.
A stack that serves no model yet (its model is not registered) is a notice, exit 0.`;

class UsageError extends Error {}

function wholeNumber(flag: string, value: string | undefined, fallback: number | undefined, min: number, max: number): number | undefined {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        throw new UsageError(`--${flag} ${JSON.stringify(value)} is not allowed: use a whole number from ${min} to ${max}`);
    }
    return Number(value);
}

function readInput(file: string): ScoringInput {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new UsageError(`--input ${file}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
    }
    if (file.endsWith(".csv")) return text;
    try {
        return JSON.parse(text);
    } catch (err) {
        throw new UsageError(`--input ${file}: not valid JSON (${(err as Error).message})`);
    }
}

async function stackTargets(stack: string): Promise<StackTargets> {
    let outputs: unknown;
    try {
        outputs = await pulumiStackOutputs(stack, "install it, or pass --url <scoring-uri>");
    } catch (err) {
        throw new SmokeError((err as Error).message);
    }
    return targetsFromStackOutputs(outputs, stack);
}

async function bearerFromEntra(scope: string): Promise<string> {
    const header = await entraToken(undefined, scope, scope.replace(/\/\.default$/, "")).authorization();
    return header.replace(/^Bearer /, "");
}

async function main(argv: string[]): Promise<number> {
    if (wantsHelp(argv)) {
        console.log(USAGE);
        return 0;
    }
    let values: Record<string, string | undefined>;
    try {
        values = parseStringFlags(argv, ["stack", "url", "model", "input", "requests", "concurrency", "ready-timeout", "request-timeout", "entra-scope"]);
        if (Boolean(values.stack) === Boolean(values.url)) throw new UsageError("give exactly one of --stack or --url");
        if (values.url && !/^https?:\/\/[^/]+/.test(values.url)) throw new UsageError(`--url ${JSON.stringify(displayUrl(values.url))} is not an http(s) URL`);
        if (values["entra-scope"] !== undefined && !/^\S+:\/\/\S+\/(\.default|[A-Za-z][\w.]*)$/.test(values["entra-scope"])) {
            throw new UsageError(
                `--entra-scope ${JSON.stringify(values["entra-scope"])} is not a scope: use <application id URI>/.default (an application) or <application id URI>/user_impersonation (a user), ` +
                    "the stack outputs scoringApi.scope and scoringApi.userScope",
            );
        }
    } catch (err) {
        console.error(`smoke: ${redact((err as Error).message, urlSecrets(urlFlag(argv)))}\n${USAGE}`);
        return 2;
    }
    // Whatever is printed from here on: never the URL's user info or query values.
    const secrets = urlSecrets(values.url);
    try {
        const requests = wholeNumber("requests", values.requests, 20, 1, 10_000)!;
        const concurrency = wholeNumber("concurrency", values.concurrency, undefined, 1, 256);
        const readyTimeout = wholeNumber("ready-timeout", values["ready-timeout"], 600, 1, 86_400)!;
        const requestTimeout = wholeNumber("request-timeout", values["request-timeout"], 60, 1, 3_600)!;
        const input = readInput(values.input ?? path.resolve(__dirname, "../serving/sample-input.json"));
        const served: StackTargets = values.url ? { targets: [{ name: "endpoint", scoringUri: values.url }], skipped: [] } : await stackTargets(values.stack!);
        let targets = served.targets;
        if (values.model) {
            targets = targets.filter((t) => t.name === values.model);
            const skipped = served.skipped.filter((s) => s.name === values.model);
            if (targets.length === 0 && (skipped.length > 0 || served.targets.length === 0)) {
                console.log(emptyStackNotice(values.stack!, skipped));
                return 0;
            }
            if (targets.length === 0) throw new UsageError(`--model ${values.model}: the stack serves no model of that name`);
        }
        if (targets.length === 0) {
            // The documented bootstrap (list the model, up, register, up again) deploys a stack that
            // serves nothing yet: a notice, not a failure. A served model that fails still fails.
            console.log(emptyStackNotice(values.stack!, served.skipped));
            return 0;
        }
        await runSmoke(
            {
                targets,
                input,
                requests,
                concurrency,
                readyTimeoutMs: readyTimeout * 1000,
                readyPollMs: 5000,
                requestTimeoutMs: requestTimeout * 1000,
                bearerToken: values["entra-scope"]
                    ? await bearerFromEntra(values["entra-scope"])
                    : process.env.SCORING_TOKEN || undefined,
            },
            { log: (line) => console.log(redact(line, secrets)), now: () => performance.now(), sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) },
        );
        console.log("smoke: passed");
        return 0;
    } catch (err) {
        if (err instanceof UsageError) {
            console.error(`smoke: ${redact(err.message, secrets)}\n${USAGE}`);
            return 2;
        }
        console.error(`smoke: failed: ${redact((err as Error).message, secrets)}`);
        return 1;
    }
}

/** The --url value as given, for redacting a message about the flags themselves. */
function urlFlag(argv: string[]): string | undefined {
    const at = argv.findIndex((a) => a === "--url" || a.startsWith("--url="));
    if (at < 0) return undefined;
    return argv[at].startsWith("--url=") ? argv[at].slice(6) : argv[at + 1];
}

main(process.argv.slice(2)).then((code) => process.exit(code));
