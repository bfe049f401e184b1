// The rules of rules.ts as @pulumi/policy stack policies. A rule that is mandatory in one
// environment and advisory in another becomes two policies, each acting only in its environment.
import type { PolicyResource as PackResource, StackValidationArgs, StackValidationPolicy } from "@pulumi/policy";
import { environmentOfStack, RULES, type Environment, type PolicyResource, type PolicyRule } from "./rules";

/** `urn:pulumi:<stack>::<project>::<type>::<name>` → stack. */
export function stackOfUrn(urn: string): string {
    return urn.split(":")[2]?.split("::")[0] ?? "";
}

function toRuleResource(r: PackResource): PolicyResource {
    return { type: r.type, name: r.name, props: r.props, protect: r.opts?.protect === true, outputs: r.type.startsWith("mlflow-platform:") ? r.props : undefined };
}

function policyFor(rule: PolicyRule, level: "mandatory" | "advisory", environments: Environment[]): StackValidationPolicy {
    return {
        name: level === "advisory" && rule.enforcement.prd !== "advisory" ? `${rule.name}-advisory` : rule.name,
        description: rule.description,
        enforcementLevel: level,
        validateStack: (args: StackValidationArgs, reportViolation) => {
            const stack = args.resources.length ? stackOfUrn(args.resources[0].urn) : "";
            const environment = environmentOfStack(stack);
            if (!environments.includes(environment)) return;
            const resources = args.resources.map(toRuleResource);
            const context = { environment, resources };
            args.resources.forEach((r, i) => {
                for (const message of rule.check(resources[i], context)) reportViolation(`${r.name}: ${message}`, r.urn);
            });
        },
    };
}

export function platformPolicies(rules: readonly PolicyRule[] = RULES): StackValidationPolicy[] {
    return rules.flatMap((rule) =>
        (["mandatory", "advisory"] as const)
            .map((level) => [level, (Object.keys(rule.enforcement) as Environment[]).filter((env) => rule.enforcement[env] === level)] as const)
            .filter(([, environments]) => environments.length > 0)
            .map(([level, environments]) => policyFor(rule, level, environments)),
    );
}
