// Evaluates the real Pulumi program under Pulumi's mock runtime with a stack's config, as a
// preview would, and records every resource it declares: no cloud credentials, no Pulumi CLI.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { OFFLINE_VARIABLE } from "../deployment/context";
import { readStackConfig, registryStackProblems, StackFileError } from "../config/stackFiles";

export const UNKNOWN_DISPLAY = "(known after deploy)";
export const SECRET_DISPLAY = "[secret]";

export interface PlannedResource {
    urn: string;
    type: string;
    name: string;
    /** Logical name of the parent resource, if any. */
    parent?: string;
    /** A cloud resource (true) or a component that groups them (false). */
    custom: boolean;
    protect: boolean;
    /** Read from an existing source (e.g. a StackReference), not created. */
    read?: boolean;
    /** Inputs as the engine would receive them, secrets and unknowns replaced by markers. */
    inputs: Record<string, unknown>;
    /** A component's registered outputs (the plan prints its `summary`). */
    outputs?: Record<string, unknown>;
}

export interface Plan {
    project: string;
    stack: string;
    resources: PlannedResource[];
    outputs: Record<string, unknown>;
}

// Signatures of Pulumi's wire format for special property values.
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SIG_SECRET = "1b47061264138c4ac30d75fd1eb44270";
const SIG_RESOURCE = "5cf8f73096256a8f31e491e813e4eb8e";
const SIG_OUTPUT = "d0e6a833031e9bbcd3f4e8bde6ca49a4";
const UNKNOWN_WIRE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Turns a wire-format property value into something printable, never revealing a secret. */
export function displayValue(value: unknown): unknown {
    if (value === UNKNOWN_WIRE) return UNKNOWN_DISPLAY;
    if (Array.isArray(value)) return value.map(displayValue);
    if (typeof value !== "object" || value === null) return value;
    const record = value as Record<string, unknown>;
    switch (record[SIG_KEY]) {
        case SIG_SECRET:
            return SECRET_DISPLAY;
        case SIG_RESOURCE:
            return String(record.urn ?? "").split("::").pop();
        case SIG_OUTPUT:
            if (record.secret) return SECRET_DISPLAY;
            return "value" in record ? displayValue(record.value) : UNKNOWN_DISPLAY;
    }
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, displayValue(v)]));
}

async function settledOutput(value: unknown): Promise<unknown> {
    if (!pulumi.Output.isInstance(value)) return value;
    const output = value as unknown as { isKnown: Promise<boolean>; isSecret: Promise<boolean>; promise(): Promise<unknown> };
    const [known, secret] = await Promise.all([output.isKnown, output.isSecret]);
    if (secret) return SECRET_DISPLAY;
    if (!known) return UNKNOWN_DISPLAY;
    return output.promise();
}

interface RegisterRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getCustom(): boolean;
    getProtect(): boolean | undefined;
    getObject(): { toJavaScript(): Record<string, unknown> } | undefined;
}
interface OutputsRequest {
    getUrn(): string;
    getOutputs(): { toJavaScript(): Record<string, unknown> } | undefined;
}
interface ReadRequest {
    getType(): string;
    getName(): string;
    getParent(): string;
    getId(): string;
}
type Callback = (err: Error | null, response?: { getUrn(): string }) => void;

export interface RecordOptions {
    project: string;
    stack: string;
    /** `namespace:key -> value`, as the language host passes config. */
    config?: Record<string, string>;
    secretKeys?: string[];
    /** Defaults to a preview in which every provider-computed output is unknown. */
    mocks?: pulumi.runtime.Mocks;
    preview?: boolean;
}

// As in a real preview, outputs the provider computes (ids, endpoints) stay unknown.
export const previewMocks: pulumi.runtime.Mocks = {
    newResource: () => ({ id: undefined, state: {} }),
    call: (args) => {
        throw new Error(`the plan cannot answer the provider function ${args.token}`);
    },
};

/**
 * Preview mocks in which the named ModelVersion resources have resolved, as `check` resolves them
 * in a real preview: what depends on the version (image tags, revision names, traffic) is known.
 */
export function previewMocksWithVersions(versions: Record<string, { version: string; modelUri: string }>): pulumi.runtime.Mocks {
    return {
        ...previewMocks,
        newResource: (args) => {
            const resolved = versions[args.name];
            if (args.type === "pulumi-nodejs:dynamic/registry:ModelVersion" && resolved) return { id: undefined, state: { ...args.inputs, ...resolved } };
            return previewMocks.newResource(args);
        },
    };
}

/**
 * Runs `program` under Pulumi's mock runtime and records every resource it registers, with its
 * parent, protection and inputs. Resolves once no registration is in flight; rejects with the
 * first error the program or a registration raised.
 */
export async function recordProgram(program: () => unknown, options: RecordOptions): Promise<Plan> {
    const recorded: PlannedResource[] = [];
    const nameByUrn = new Map<string, string>();
    let pending = 0;
    const failures: Error[] = [];

    await pulumi.runtime.setMocks(options.mocks ?? previewMocks, options.project, options.stack, options.preview ?? true);
    pulumi.runtime.setAllConfig(options.config ?? {}, options.secretKeys ?? []);

    const monitor = pulumi.runtime.getMonitor() as unknown as {
        registerResource(req: RegisterRequest, callback: Callback): void;
        readResource(req: ReadRequest, callback: Callback): void;
        registerResourceOutputs(req: OutputsRequest, callback: (err: Error | null) => void): void;
    };
    // Record each registration or read on its way to the mock monitor, with its URN on the way back.
    const recordCall = <R>(forward: (req: R, callback: Callback) => void, describe: (req: R) => PlannedResource) =>
        (req: R, callback: Callback) => {
            pending++;
            const entry = describe(req);
            forward(req, (err, response) => {
                pending--;
                if (err) failures.push(err);
                if (response) {
                    entry.urn = response.getUrn();
                    nameByUrn.set(entry.urn, entry.name);
                    recorded.push(entry);
                }
                callback(err, response);
            });
        };
    monitor.registerResource = recordCall(monitor.registerResource.bind(monitor), (req: RegisterRequest) => ({
        urn: "",
        type: req.getType(),
        name: req.getName(),
        parent: req.getParent() || undefined,
        custom: req.getCustom(),
        protect: req.getProtect() === true,
        inputs: displayValue(req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>,
    }));
    const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
    monitor.registerResourceOutputs = (req, callback) => {
        pending++;
        const outputs = displayValue(req.getOutputs()?.toJavaScript() ?? {}) as Record<string, unknown>;
        registerOutputs(req, (err) => {
            pending--;
            const entry = recorded.find((r) => r.urn === req.getUrn());
            if (entry) entry.outputs = outputs;
            callback(err);
        });
    };
    monitor.readResource = recordCall(monitor.readResource.bind(monitor), (req: ReadRequest) => ({
        urn: "",
        type: req.getType(),
        name: req.getName(),
        parent: req.getParent() || undefined,
        custom: true,
        protect: false,
        read: true,
        inputs: { id: req.getId() },
    }));

    const onRejection = (reason: unknown) => failures.push(reason instanceof Error ? reason : new Error(String(reason)));
    process.on("unhandledRejection", onRejection);
    try {
        // A program may export its outputs, or (like index.ts) an async function that returns them.
        const module = program();
        const exported = typeof module === "function" ? await module() : module;
        const outputs: Record<string, unknown> = {};
        if (exported && typeof exported === "object") {
            for (const [key, value] of Object.entries(exported)) outputs[key] = await settledOutput(value);
        }
        // Registrations finish asynchronously; wait until none is in flight for a few turns.
        for (let quiet = 0; quiet < 3; ) {
            await new Promise((resolve) => setImmediate(resolve));
            quiet = pending === 0 ? quiet + 1 : 0;
        }
        if (failures.length > 0) throw failures[0];
        const resources = inTreeOrder(recorded).map((r) => ({ ...r, parent: r.parent && nameByUrn.get(r.parent) }));
        return { project: options.project, stack: options.stack, resources, outputs };
    } finally {
        process.off("unhandledRejection", onRejection);
    }
}

/** Each resource followed by its children (`parent` holds the parent's URN), depth first. */
function inTreeOrder(resources: PlannedResource[]): PlannedResource[] {
    const ordered: PlannedResource[] = [];
    const visit = (parentUrn: string | undefined) => {
        for (const r of resources.filter((c) => c.parent === parentUrn)) {
            ordered.push(r);
            visit(r.urn);
        }
    };
    visit(undefined);
    return ordered;
}

/**
 * Runs the real program (index.ts beside Pulumi.yaml) against `stack`'s config under the mock
 * runtime. Throws whatever the program throws, e.g. a ConfigError, before any resource exists.
 */
export async function planStack(
    projectDir: string,
    stack: string,
    programFile = "index.ts",
    overrides: Pick<RecordOptions, "mocks" | "preview"> = {},
): Promise<Plan> {
    const stackConfig = readStackConfig(projectDir, stack);
    const crossStack = registryStackProblems(projectDir, stackConfig);
    if (crossStack.length > 0) throw new StackFileError(`Pulumi.${stack}.yaml`, crossStack);
    const programPath = path.resolve(projectDir, programFile);
    // The plan is credential-free: the program signs in nowhere (see lib/deployment/context.ts).
    const offline = process.env[OFFLINE_VARIABLE];
    process.env[OFFLINE_VARIABLE] = "1";
    try {
        return await recordProgram(
        () => {
            // A fresh evaluation per plan, as each `pulumi preview` starts a new process.
            delete require.cache[require.resolve(programPath)];
            return require(programPath);
        },
            { project: stackConfig.project, stack, config: stackConfig.config, secretKeys: stackConfig.secretKeys, ...overrides },
        );
    } finally {
        if (offline === undefined) delete process.env[OFFLINE_VARIABLE];
        else process.env[OFFLINE_VARIABLE] = offline;
    }
}

/** `[key.path, value]` pairs for every leaf of `value`, strings as they are, the rest as JSON. */
export function flatten(value: unknown, prefix: string, into: [string, string][] = []): [string, string][] {
    if (Array.isArray(value)) {
        if (value.length === 0) into.push([prefix, "[]"]);
        value.forEach((item, i) => flatten(item, `${prefix}[${i}]`, into));
    } else if (typeof value === "object" && value !== null) {
        for (const [key, item] of Object.entries(value)) flatten(item, prefix ? `${prefix}.${key}` : key, into);
    } else {
        into.push([prefix, typeof value === "string" ? value : JSON.stringify(value)]);
    }
    return into;
}

/** Key settings of a resource, one `key: value` pair per leaf; tags in one line. */
export function settingsOf(resource: PlannedResource): [string, string][] {
    // `__provider` is a dynamic resource's serialized code: not a setting.
    const { tags, __provider: _code, ...rest } = resource.inputs;
    // Azure tags are a map; docker-build's `tags` is a list of image names, shown like any setting.
    const pairs = flatten(Array.isArray(tags) ? { ...rest, tags } : rest, "", []);
    if (tags && typeof tags === "object" && !Array.isArray(tags)) {
        pairs.push(["tags", Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(", ")]);
    }
    return pairs;
}

export function summarize(plan: Plan): { total: number; components: number; cloud: number; protected: number; reads: number } {
    const created = plan.resources.filter((r) => !r.read);
    const cloud = created.filter((r) => r.custom).length;
    return {
        total: created.length,
        components: created.length - cloud,
        cloud,
        protected: created.filter((r) => r.protect).length,
        reads: plan.resources.length - created.length,
    };
}

/**
 * The plan as text: each resource with its type, parent and settings, then a summary line.
 * `notes` adds lines under a resource, keyed by its logical name.
 */
export function renderPlanText(plan: Plan, notes: { resource: string; text: string }[] = []): string {
    const lines = [`Plan for stack "${plan.stack}" of project "${plan.project}" (mock runtime: no cloud calls)`, ""];
    for (const resource of plan.resources) {
        const flags = [resource.parent ? `parent: ${resource.parent}` : "", resource.protect ? "PROTECTED" : ""]
            .filter(Boolean)
            .join(", ");
        lines.push(`${resource.read ? "=" : "+"} ${resource.type}  ${resource.name}${flags ? `  (${flags})` : ""}${resource.read ? "  (read)" : ""}`);
        for (const [key, value] of settingsOf(resource)) lines.push(`      ${key}: ${value}`);
        // Components summarise what they declare in plain values, known even in a preview.
        for (const [key, value] of flatten(resource.outputs?.summary ?? {}, "", [])) lines.push(`      ${key}: ${value}`);
        for (const note of notes.filter((n) => n.resource === resource.name)) lines.push(`      => ${note.text}`);
    }
    lines.push("", "Outputs:");
    for (const [key, value] of Object.entries(plan.outputs)) {
        lines.push(`    ${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`);
    }
    const s = summarize(plan);
    lines.push(
        "",
        `Summary: ${s.total} resources to create (${s.cloud} cloud or dynamic resources, ${s.components} components), ${s.protected} protected` +
            (s.reads ? `, ${s.reads} read from existing sources.` : "."),
    );
    return lines.join("\n");
}
