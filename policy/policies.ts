// The rules of lib/policy/rules.ts as @pulumi/policy policies. A "resource" rule becomes a
// `validateResource` policy, which the engine runs on a resource's inputs before it creates or
// updates it, so a mandatory violation stops that change. A "stack" rule (it needs other
// resources) becomes a `validateStack` policy, which runs after the resources changed.
// A rule that is mandatory in one environment and advisory in another becomes two policies,
// each acting only in its environment.
import type {
    PolicyResource as PackResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import { environmentOfStack, RULES, type Environment, type PolicyResource, type PolicyRule } from "../lib/policy/rules";

/** `urn:pulumi:<stack>::<project>::<type>::<name>` → stack. */
export function stackOfUrn(urn: string): string {
    return urn.split(":")[2]?.split("::")[0] ?? "";
}

function isComponent(type: string): boolean {
    return type.startsWith("mlflow-platform:");
}

function toRuleResource(r: Pick<PackResource, "type" | "name" | "props" | "opts">): PolicyResource {
    // A component's props are its registered outputs (the serving summary lives there).
    return { type: r.type, name: r.name, props: r.props, protect: r.opts?.protect === true, outputs: isComponent(r.type) ? r.props : undefined };
}

function policyName(rule: PolicyRule, level: "mandatory" | "advisory"): string {
    return level === "advisory" && rule.enforcement.prd !== "advisory" ? `${rule.name}-advisory` : rule.name;
}

function policyFor(rule: PolicyRule, level: "mandatory" | "advisory", environments: Environment[]): ResourceValidationPolicy | StackValidationPolicy {
    const common = { name: policyName(rule, level), description: rule.description, enforcementLevel: level };
    if (rule.scope === "resource") {
        return {
            ...common,
            validateResource: (args: ResourceValidationArgs, reportViolation) => {
                const environment = environmentOfStack(stackOfUrn(args.urn));
                if (!environments.includes(environment)) return;
                // Reading a value a preview does not know throws inside @pulumi/policy, which then
                // reports the policy as advisory for this preview; `up` runs it again with known values.
                for (const message of rule.check(toRuleResource(args), environment)) reportViolation(`${args.name}: ${message}`);
            },
        };
    }
    return {
        ...common,
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

export function platformPolicies(rules: readonly PolicyRule[] = RULES): (ResourceValidationPolicy | StackValidationPolicy)[] {
    return rules.flatMap((rule) =>
        (["mandatory", "advisory"] as const)
            .map((level) => [level, (Object.keys(rule.enforcement) as Environment[]).filter((env) => rule.enforcement[env] === level)] as const)
            .filter(([, environments]) => environments.length > 0)
            .map(([level, environments]) => policyFor(rule, level, environments)),
    );
}
