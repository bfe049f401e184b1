// Reading an Output's value inside the program, where a plain value must decide what to declare
// (a resource name, whether a resource exists at all).
import * as pulumi from "@pulumi/pulumi";

/**
 * The value of `output` once the engine knows it, or undefined when it is unknown (a preview of a
 * resource that does not exist yet). Relies on Output's `isKnown` and `promise()`, which the Node
 * SDK has long exposed on every Output instance, though not in its public typings.
 */
export async function settled<T>(output: pulumi.Input<T>): Promise<T | undefined> {
    if (!pulumi.Output.isInstance(output)) return output as T;
    const internal = output as unknown as { isKnown: Promise<boolean>; promise(): Promise<T> };
    if (!(await internal.isKnown)) return undefined;
    return internal.promise();
}

/** A secret Output whose value is not known in this run (the image build then waits for `up`). */
export function unknownSecret(): pulumi.Output<string> {
    return pulumi.secret(unknownValue());
}

/** A value that is not known in this run (shown as "known after deploy"). */
export function unknownValue(): pulumi.Output<string> {
    return pulumi.output(pulumi.unknown as unknown as string);
}
