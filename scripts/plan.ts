// `npm run plan -- <stack>`: the credential-free plan. Evaluates the real program with the stack's
// config under Pulumi's mock runtime and prints every resource it would declare.
import * as path from "path";
import { parseArgs } from "util";
import { ConfigError } from "../lib/config";
import { planStack, renderPlanText } from "../lib/plan";
import { resolvePlannedModelVersions } from "../lib/planModelVersions";
import { listStacks, StackFileError } from "../lib/stackFiles";

const PROJECT_DIR = path.resolve(__dirname, "..");
const USAGE = "usage: npm run plan -- <stack>   (stacks: " + listStacks(PROJECT_DIR).join(", ") + ")";

async function main(argv: string[]): Promise<number> {
    let positionals: string[];
    try {
        ({ positionals } = parseArgs({ args: argv, allowPositionals: true, options: {}, strict: true }));
    } catch (err) {
        console.error(`plan: ${(err as Error).message}\n${USAGE}`);
        return 2;
    }
    if (positionals.length !== 1) {
        console.error(`plan: expected exactly one stack name, got ${positionals.length}\n${USAGE}`);
        return 2;
    }
    try {
        const plan = await planStack(PROJECT_DIR, positionals[0]);
        const notes = await resolvePlannedModelVersions(plan);
        console.log(renderPlanText(plan, notes));
        const failed = notes.filter((n) => n.outcome === "failed");
        if (failed.length > 0) {
            console.error(`plan: ${failed.length} model version(s) cannot be resolved; \`pulumi preview\` would fail the same way.`);
            return 1;
        }
        return 0;
    } catch (err) {
        if (err instanceof ConfigError || err instanceof StackFileError) {
            console.error(`plan: ${err.message}`);
            return 1;
        }
        console.error(`plan: the program failed: ${(err as Error).message}`);
        return 1;
    }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
