// The policy pack: `pulumi preview --policy-pack policy` (and `pulumi up --policy-pack policy`).
// Pulumi starts it with this folder as the working directory; `new PolicyPack` reads the pack's
// name-independent version from ./package.json, so the folder keeps its own package.json.
import { PolicyPack } from "@pulumi/policy";
import { platformPolicies } from "./policies";

new PolicyPack("mlflow-platform", { policies: platformPolicies() });
