// What the plan tells reviewers beyond the resource list: policy violations, a compact markdown
// summary for a PR comment, and a side-by-side comparison of two stacks.
import { parsePlatformConfig, rawConfigFrom } from "../config";
import { environmentOfStack, evaluate, type Violation } from "../policy/rules";
import { flatten, settingsOf, summarize, type Plan, type PlannedResource } from "./index";
import type { ModelVersionNote } from "./modelVersions";
import { readStackConfig } from "../config/stackFiles";

/**
 * What the stack's config allows but looks wrong (placeholder ranges, a shortened registry URL),
 * as `pulumi preview` prints them as warnings. Call after the plan succeeded (the config is valid).
 */
export function stackWarnings(projectDir: string, stack: string): string[] {
    const { project, config, secretKeys } = readStackConfig(projectDir, stack);
    return parsePlatformConfig(rawConfigFrom(config, project), stack, project, (key) => secretKeys.includes(key)).warnings;
}

export function renderWarningsText(warnings: readonly string[]): string {
    return warnings.length === 0 ? "" : ["Warnings:", ...warnings.map((w) => `  - ${w}`)].join("\n");
}

/** Runs the policy pack's rules against the planned resources, as `--policy-pack` would. */
export function planViolations(plan: Plan): Violation[] {
    return evaluate({
        environment: environmentOfStack(plan.stack),
        resources: plan.resources
            .filter((r) => !r.read)
            .map((r) => ({ type: r.type, name: r.name, props: r.inputs, protect: r.protect, outputs: r.outputs })),
    });
}

export function renderViolationsText(violations: readonly Violation[]): string {
    if (violations.length === 0) return "Policy: no violations.";
    const mandatory = violations.filter((v) => v.level === "mandatory").length;
    return [
        `Policy: ${violations.length} violation(s), ${mandatory} mandatory, ${violations.length - mandatory} advisory:`,
        ...violations.map((v) => `  [${v.level}] ${v.rule}: ${v.resource}: ${v.message}`),
    ].join("\n");
}

function escapeCell(value: unknown): string {
    return String(value).replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function table(header: string[], rows: unknown[][]): string[] {
    return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((row) => `| ${row.map(escapeCell).join(" | ")} |`)];
}

/** A compact summary for a pull-request comment. */
export function renderPlanMarkdown(plan: Plan, notes: readonly ModelVersionNote[], violations: readonly Violation[], warnings: readonly string[] = [], access: readonly string[] = []): string {
    const s = summarize(plan);
    const lines = [
        `### Plan for \`${plan.stack}\``,
        "",
        `**${s.total}** resources (${s.cloud} cloud or dynamic, ${s.components} components), **${s.protected}** protected${s.reads ? `, ${s.reads} read from other stacks` : ""}.`,
        "",
    ];
    const counts = new Map<string, number>();
    for (const r of plan.resources.filter((r) => !r.read)) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    lines.push(...table(["resource type", "count"], [...counts].map(([type, n]) => [`\`${type}\``, n])), "");

    const serving = plan.resources.find((r) => r.type === "mlflow-platform:serving:ModelServing")?.outputs?.summary as Record<string, Record<string, unknown>> | undefined;
    if (serving && Object.keys(serving).length) {
        lines.push("**Serving**", "");
        lines.push(
            ...table(
                ["model", "platform", "selector / traffic", "cpu", "memory GB", "replicas", "inactive revisions kept", "access"],
                Object.entries(serving).map(([name, m]) => [
                    name,
                    m.platform,
                    m.traffic ?? m.selector,
                    m.cpu,
                    m.memoryGb,
                    m.replicas ?? "1",
                    m.maxInactiveRevisions ?? "-",
                    m.platform === "containerapp" ? `${m.ingress}; IPs: ${m.ipAllowList}; Entra: ${m.entra}` : m.endpoint,
                ]),
            ),
            "",
        );
    }
    lines.push(...observabilityLines(plan));
    lines.push(...access);
    if (notes.length) {
        lines.push("**Model versions**", "", ...notes.map((n) => `- \`${n.resource}\`: ${n.text}`), "");
    }
    if (warnings.length) {
        lines.push("**Warnings**", "", ...warnings.map((w) => `- ⚠️ ${w}`), "");
    }
    const protectedNames = plan.resources.filter((r) => r.protect).map((r) => `\`${r.name}\``);
    lines.push(`**Protected:** ${protectedNames.length ? protectedNames.join(", ") : "none"}`, "");
    if (violations.length === 0) {
        lines.push("**Policy:** ✅ no violations");
    } else {
        lines.push(`**Policy:** ${violations.some((v) => v.level === "mandatory") ? "❌" : "⚠️"} ${violations.length} violation(s)`, "");
        lines.push(...table(["level", "rule", "resource", "message"], violations.map((v) => [v.level, v.rule, `\`${v.resource}\``, v.message])));
    }
    return lines.join("\n");
}

/**
 * The observability component's summary (components/observability): per model its Application
 * Insights wiring and alerts with thresholds, then who is told (a webhook never shown) and the dashboard.
 */
export function observabilityLines(plan: Plan): string[] {
    const summary = plan.resources.find((r) => r.type === "mlflow-platform:observability:ServingObservability")?.outputs?.summary as Record<string, unknown> | undefined;
    if (!summary) return [];
    const { actionGroup, dashboard, ...models } = summary;
    const perModel = Object.entries(models as Record<string, { applicationInsights?: string; alerts?: Record<string, string> }>).map(
        ([name, m]) => `- ${name}: Application Insights ${m.applicationInsights ?? "-"}; alerts: ${Object.entries(m.alerts ?? {}).map(([kind, text]) => `${kind} (${text})`).join("; ")}`,
    );
    // The dashboard's name only: its tiles are in the text plan.
    return ["**Observability**", ...perModel, `- alerts tell: ${String(actionGroup)}; dashboard: ${String(dashboard).split(":")[0]}`, ""];
}

export interface ComparisonRow {
    resource: string;
    setting: string;
    values: [string, string];
}

/** Settings of a resource keyed by name, with its protection and (for components) summary. */
function settingsMap(resource: PlannedResource): Map<string, string> {
    const map = new Map(settingsOf(resource));
    map.set("protect", String(resource.protect));
    for (const [key, value] of flatten(resource.outputs?.summary ?? {}, "summary")) map.set(key, value);
    return map;
}

/**
 * Every setting that differs between two stacks' plans. Resources are matched by type and by
 * their logical name without the stack's prefix (`dev-store-account` ~ `prd-store-account`).
 */
export function comparePlans(a: Plan, b: Plan): ComparisonRow[] {
    const keyed = (plan: Plan) =>
        new Map(plan.resources.map((r) => [`${r.type} ${r.name.startsWith(`${plan.stack}-`) ? r.name.slice(plan.stack.length + 1) : r.name}`, r] as const));
    const left = keyed(a);
    const right = keyed(b);
    const rows: ComparisonRow[] = [];
    for (const key of [...new Set([...left.keys(), ...right.keys()])]) {
        const [type, name] = key.split(" ");
        const label = `${name} (${type.split(":").pop()})`;
        const l = left.get(key);
        const r = right.get(key);
        if (!l || !r) {
            rows.push({ resource: label, setting: "(resource)", values: [l ? "declared" : "absent", r ? "declared" : "absent"] });
            continue;
        }
        const ls = settingsMap(l);
        const rs = settingsMap(r);
        for (const setting of [...new Set([...ls.keys(), ...rs.keys()])].sort()) {
            const lv = ls.get(setting) ?? "(unset)";
            const rv = rs.get(setting) ?? "(unset)";
            if (lv !== rv) rows.push({ resource: label, setting, values: [lv, rv] });
        }
    }
    return rows;
}

export function renderComparison(a: string, b: string, rows: readonly ComparisonRow[], format: "text" | "markdown"): string {
    if (format === "markdown") {
        return [`### \`${a}\` vs \`${b}\`: ${rows.length} settings differ`, "", ...table(["resource", "setting", a, b], rows.map((r) => [r.resource, r.setting, r.values[0], r.values[1]]))].join("\n");
    }
    const header = ["resource", "setting", a, b];
    const cells = rows.map((r) => [r.resource, r.setting, r.values[0], r.values[1]]);
    const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...cells.map((c) => c[i].length))));
    const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd();
    return [`${a} vs ${b}: ${rows.length} settings differ`, "", line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}
