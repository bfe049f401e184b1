// `Delay`: waits once, when it is created, so that what depends on it starts after an Azure change
// has propagated (a role assignment). Later deployments do not wait again: nothing in it changes.
import * as pulumi from "@pulumi/pulumi";

export interface DelayState {
    seconds: number;
    reason: string;
}

export class DelayProvider implements pulumi.dynamic.ResourceProvider {
    constructor(private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms))) {}

    async create(inputs: DelayState): Promise<pulumi.dynamic.CreateResult<DelayState>> {
        console.error(`waiting ${inputs.seconds} s: ${inputs.reason}`);
        await this.sleep(inputs.seconds * 1000);
        return { id: `delay-${inputs.seconds}s`, outs: inputs };
    }

    async diff(): Promise<pulumi.dynamic.DiffResult> {
        return { changes: false };
    }
}

const defaultProvider = new DelayProvider();

export class Delay extends pulumi.dynamic.Resource {
    constructor(name: string, args: DelayState, opts?: pulumi.CustomResourceOptions) {
        super(defaultProvider, name, args, opts, "serving", "Delay");
    }
}
