// The policy pack: `pulumi preview --policy-pack policy` (and `pulumi up --policy-pack policy`).
import { PolicyPack } from "@pulumi/policy";
import { platformPolicies } from "./policies";

new PolicyPack("mlflow-platform", { policies: platformPolicies() });
