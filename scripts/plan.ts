// `npm run plan -- <stack> [--format text|markdown]` and `npm run plan -- --compare <a> <b>`:
// the credential-free plan. Evaluates the real program with a stack's config under Pulumi's mock
// runtime, prints every resource it would declare, and checks the policy pack's rules.
import * as path from "path";
import { parseArgs } from "util";
import { ConfigError } from "../lib/config";
import { planStack, previewMocksWithVersions, renderPlanText } from "../lib/plan";
import { resolvePlannedModelVersions } from "../lib/plan/modelVersions";
import { comparePlans, planViolations, renderComparison, renderPlanMarkdown, renderViolationsText, renderWarningsText, stackWarnings } from "../lib/plan/report";
import { checkStackName, listStacks, StackFileError } from "../lib/config/stackFiles";
import { accessTable, catalogGrants, compareAccess, renderAccessComparison, renderAccessMarkdown, renderAccessText, renderCatalogGrantsText } from "../lib/access/table";
import { wantsHelp } from "./flags";

const PROJECT_DIR = path.resolve(__dirname, "..");
const USAGE = `usage: npm run plan -- <stack> [--format text|markdown]
       npm run plan -- --compare <stack> <stack> [--format text|markdown]
stacks: ${listStacks(PROJECT_DIR).join(", ")}`;

class UsageError extends Error {}

function parse(argv: string[]): { stacks: string[]; compare: boolean; format: "text" | "markdown" } {
    let parsed;
    try {
        parsed = parseArgs({
            args: argv,
            allowPositionals: true,
            strict: true,
            options: { format: { type: "string" }, compare: { type: "boolean" } },
        });
    } catch (err) {
        throw new UsageError((err as Error).message);
    }
    const { values, positionals } = parsed;
    const format = values.format ?? "text";
    if (format !== "text" && format !== "markdown") throw new UsageError(`--format ${JSON.stringify(format)} is not allowed: use text or markdown`);
    const wanted = values.compare ? 2 : 1;
    if (positionals.length !== wanted) {
        throw new UsageError(`expected ${wanted === 2 ? "two stack names after --compare" : "exactly one stack name"}, got ${positionals.length}`);
    }
    if (values.compare && positionals[0] === positionals[1]) throw new UsageError("--compare needs two different stacks");
    for (const stack of positionals) {
        const problem = checkStackName(stack);
        if (problem) throw new UsageError(problem);
    }
    return { stacks: positionals, compare: values.compare === true, format };
}

/**
 * The Unity Catalog grants that govern this stack's models: its own when its workspace holds the
 * registry, else those of the stack it reads the registry from (when that stack's file is here).
 */
async function registryGrants(plan: Awaited<ReturnType<typeof planStack>>): Promise<string> {
    const own = catalogGrants(plan.resources);
    if (own.length > 0) return renderCatalogGrantsText(plan.stack, true, own);
    const reference = plan.resources.find((r) => r.read && r.type === "pulumi:pulumi:StackReference");
    const other = reference?.name.split("/").pop();
    if (!other || other === plan.stack || !listStacks(PROJECT_DIR).includes(other)) return "";
    const registryPlan = await planStack(PROJECT_DIR, other);
    return renderCatalogGrantsText(other, false, catalogGrants(registryPlan.resources));
}

async function main(argv: string[]): Promise<number> {
    if (wantsHelp(argv)) {
        console.log(USAGE);
        return 0;
    }
    let options;
    try {
        options = parse(argv);
    } catch (err) {
        console.error(`plan: ${(err as Error).message}\n${USAGE}`);
        return 2;
    }
    try {
        if (options.compare) {
            const [a, b] = options.stacks;
            const left = await planStack(PROJECT_DIR, a);
            const right = await planStack(PROJECT_DIR, b);
            console.log(renderComparison(a, b, comparePlans(left, right), options.format));
            console.log(`\n${renderAccessComparison(a, b, compareAccess(accessTable(left.resources), accessTable(right.resources)), options.format)}`);
            return 0;
        }
        let plan = await planStack(PROJECT_DIR, options.stacks[0]);
        const notes = await resolvePlannedModelVersions(plan);
        // Versions the registry answered: plan again with them, so image tags, revision names and
        // traffic show as the preview will show them.
        const resolved = Object.fromEntries(notes.filter((n) => n.version && n.modelUri).map((n) => [n.resource, { version: n.version!, modelUri: n.modelUri! }]));
        if (Object.keys(resolved).length > 0) plan = await planStack(PROJECT_DIR, options.stacks[0], "index.ts", { mocks: previewMocksWithVersions(resolved) });
        const violations = planViolations(plan);
        const warnings = stackWarnings(PROJECT_DIR, options.stacks[0]);
        const grants = await registryGrants(plan);
        console.log(
            options.format === "markdown"
                ? renderPlanMarkdown(plan, notes, violations, warnings, renderAccessMarkdown(accessTable(plan.resources)))
                : [renderPlanText(plan, notes), renderAccessText(plan.stack, accessTable(plan.resources)), grants, renderViolationsText(violations), renderWarningsText(warnings)].filter(Boolean).join("\n\n"),
        );
        let code = 0;
        // As in `pulumi up`: a model not registered yet is one warning, not a failure.
        for (const note of notes.filter((n) => n.outcome === "skipped")) console.error(`plan: warning: ${note.text.replace(/^skipped: /, "")}`);
        const failed = notes.filter((n) => n.outcome === "failed");
        if (failed.length > 0) {
            console.error(`plan: ${failed.length} model version(s) cannot be resolved; \`pulumi preview\` would fail the same way.`);
            code = 1;
        }
        const mandatory = violations.filter((v) => v.level === "mandatory");
        if (mandatory.length > 0) {
            console.error(`plan: ${mandatory.length} mandatory policy violation(s):\n${mandatory.map((v) => `  ${v.rule}: ${v.resource}: ${v.message}`).join("\n")}`);
            code = 1;
        }
        return code;
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
