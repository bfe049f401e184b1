// `ModelVersion`: a Pulumi dynamic resource that resolves a registry model version (by alias,
// stage, pinned version or latest). The provider is a thin adapter over RegistryClient.
//
// It resolves in `check`, because `check` runs during `pulumi preview` and `create`/`update` do not:
// the checked inputs, with the resolved version in them, are what a preview shows and what
// dependents see. Moving the `champion` alias from 6 to 7 therefore shows up in a PR preview.
//
// A registry outage must not stop unrelated work: when the registry cannot be reached and the
// selector is the one recorded at the last deployment, check keeps the recorded version with one
// warning. `olds` in check are the previously checked inputs, which carry that version.
import * as pulumi from "@pulumi/pulumi";
import { RegistryClient, type RegistryClientOptions } from "../../lib/registry/client";
import { isRegistryUnreachable } from "../../lib/registry/errors";
import { selectCredential, type ExplicitCredentials } from "../../lib/registry/credentials";
import { describeSelector, modelUri, REGISTRY_KINDS, type ModelVersionInfo, type RegistryKind, type Selector } from "../../lib/registry/types";
import { checkModelName, parseSelector, type SelectorFields } from "../../lib/registry/validation";

export interface ModelVersionArgs {
    registryKind: RegistryKind;
    /** The registry host; may be another resource's output (a workspace URL, a StackReference). */
    registryUrl: pulumi.Input<string>;
    /** Registered model name (`catalog.schema.model` in Unity Catalog). */
    model: string;
    /** Exactly one of alias, stage, version, latest. */
    selector: SelectorFields;
}

/** Resource state: the checked inputs plus what the registry said about the version. */
export interface ModelVersionState {
    registryKind: RegistryKind;
    registryUrl: string;
    model: string;
    selector: SelectorFields;
    version: string;
    modelUri: string;
    source: string;
    runId: string;
    /** MLflow 3's logged model id (`m-…`), "" for versions registered from a run by MLflow 2. */
    modelId: string;
    status: string;
    aliases: string[];
    createdAt: string;
}

// The wire value Pulumi uses for "not known yet" (e.g. a workspace URL during its first preview).
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const RESOLVED_KEYS = ["version", "modelUri", "source", "runId", "modelId", "status", "aliases", "createdAt"] as const;
const IDENTITY_KEYS = ["registryKind", "registryUrl", "model"] as const;

/** Stack config keys the provider reads in `configure`; set them with `pulumi config set --secret`. */
export const REGISTRY_SECRET_KEYS = {
    token: "mlflow-platform:registryToken",
    username: "mlflow-platform:registryUsername",
    password: "mlflow-platform:registryPassword",
} as const;

function containsUnknown(value: unknown): boolean {
    if (value === UNKNOWN) return true;
    if (Array.isArray(value)) return value.some(containsUnknown);
    if (typeof value === "object" && value !== null) return Object.values(value).some(containsUnknown);
    return false;
}

function resolvedState(info: ModelVersionInfo): Pick<ModelVersionState, (typeof RESOLVED_KEYS)[number]> {
    return {
        version: info.version,
        modelUri: modelUri(info.name, info.version),
        source: info.source,
        runId: info.runId ?? "",
        modelId: info.modelId ?? "",
        status: info.status,
        aliases: info.aliases,
        createdAt: new Date(info.creationTimestamp).toISOString(),
    };
}

function withoutProvider<T extends Record<string, unknown>>(props: T): T {
    const { __provider: _, ...rest } = props;
    return rest as T;
}

/**
 * The provider. It holds no credential when serialized: `configure` reads them from the stack's
 * secret config in the provider process, and environment variables are read at request time.
 */
export class ModelVersionProvider implements pulumi.dynamic.ResourceProvider {
    private credentials: ExplicitCredentials = {};

    /** `clientOptions` tunes timeouts and retries (tests); it must never hold a credential. */
    constructor(private readonly clientOptions: Partial<Omit<RegistryClientOptions, "credential" | "kind" | "url">> = {}) {}

    async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
        this.credentials = {
            token: req.config.get(REGISTRY_SECRET_KEYS.token) || undefined,
            username: req.config.get(REGISTRY_SECRET_KEYS.username) || undefined,
            password: req.config.get(REGISTRY_SECRET_KEYS.password) || undefined,
        };
    }

    async check(olds: ModelVersionState, news: ModelVersionState): Promise<pulumi.dynamic.CheckResult<ModelVersionState>> {
        const failures = this.validate(news);
        if (failures.length > 0) return { inputs: news, failures };
        // A registry host that does not exist yet: the version is known after deploy.
        if (containsUnknown(withoutProvider(news as unknown as Record<string, unknown>))) {
            return { inputs: { ...news, ...Object.fromEntries(RESOLVED_KEYS.map((k) => [k, UNKNOWN])) } };
        }
        let client: RegistryClient;
        try {
            client = this.client(news);
        } catch (err) {
            return { inputs: news, failures: [{ property: "registryUrl", reason: (err as Error).message }] };
        }
        try {
            return { inputs: { ...news, ...(await this.resolve(news, client)) } };
        } catch (err) {
            const recorded = isRegistryUnreachable(err) ? this.recorded(olds, news) : undefined;
            if (!recorded) return { inputs: news, failures: [{ property: "selector", reason: (err as Error).message }] };
            // A dynamic provider has no engine connection for pulumi.log (pulumi/pulumi#6065): it
            // falls back to the console. The engine shows a dynamic provider's stderr to the user
            // (sdk/go/common/resource/plugin/plugin.go, isDynamicPluginBinary; pulumi/pulumi#18253).
            console.error(
                `warning: ModelVersion ${news.model} (${describeSelector(this.selectorOf(news) as Selector)}): the registry cannot be reached, ` +
                    `so version ${recorded.version}, recorded at the last deployment with this same selector, is kept and the rest of the update goes ahead. ` +
                    `Run \`pulumi up\` again once the registry answers to pick up a newer version. Cause: ${(err as Error).message}`,
            );
            return { inputs: { ...news, ...recorded } };
        }
    }

    async diff(_id: string, olds: ModelVersionState, news: ModelVersionState): Promise<pulumi.dynamic.DiffResult> {
        // Another registry or model is another resource; a new version of the same model is an update.
        const replaces = IDENTITY_KEYS.filter((key) => olds[key] !== news[key]);
        const selectorChanged = JSON.stringify(this.selectorOf(olds)) !== JSON.stringify(this.selectorOf(news));
        const versionChanged = olds.version !== news.version;
        return { changes: replaces.length > 0 || selectorChanged || versionChanged, replaces };
    }

    async create(inputs: ModelVersionState): Promise<pulumi.dynamic.CreateResult<ModelVersionState>> {
        const outs = await this.completed(inputs);
        return { id: `${outs.registryUrl}#${outs.model}`, outs };
    }

    async update(_id: string, _olds: ModelVersionState, news: ModelVersionState): Promise<pulumi.dynamic.UpdateResult<ModelVersionState>> {
        return { outs: await this.completed(news) };
    }

    /**
     * `pulumi refresh`: re-reads the recorded version. It is reported gone (an empty result, which
     * drops it from state) only when the registry definitely answers that the version does not
     * exist; any other failure throws, so the state stays as it was.
     */
    async read(id: string, props?: ModelVersionState): Promise<pulumi.dynamic.ReadResult<ModelVersionState>> {
        if (!props?.version) return { id, props };
        const info = await this.client(props).getVersion(props.model, props.version);
        if (!info) return {};
        return { id, props: { ...withoutProvider(props as unknown as Record<string, unknown>), ...resolvedState(info) } as ModelVersionState };
    }

    /** The registry owns the model; removing the resource from the stack leaves it untouched. */
    async delete(): Promise<void> {}

    private validate(news: ModelVersionState): pulumi.dynamic.CheckFailure[] {
        if (!REGISTRY_KINDS.includes(news.registryKind)) {
            return [{ property: "registryKind", reason: `registry kind ${JSON.stringify(news.registryKind)} must be one of ${REGISTRY_KINDS.join(", ")}` }];
        }
        const problems = [...checkModelName(news.registryKind, news.model), ...parseSelector(news.registryKind, news.selector ?? {}).problems];
        // "model", "selector" (the combination) or "selector.<field>" (one selector's value).
        const property = (field: string) => (field === "model" || field === "selector" ? field : `selector.${field}`);
        return problems.map((p) => ({ property: property(p.field), reason: p.reason }));
    }

    private selectorOf(state: ModelVersionState) {
        return parseSelector(state.registryKind, state.selector ?? {}).selector;
    }

    /**
     * What the last deployment recorded, when it is still what `news` asks for: the same registry,
     * model and selector (a changed selector must be resolved, never guessed).
     */
    private recorded(olds: ModelVersionState | undefined, news: ModelVersionState): Pick<ModelVersionState, (typeof RESOLVED_KEYS)[number]> | undefined {
        if (!olds?.version || olds.version === UNKNOWN || !olds.registryKind) return undefined;
        if (IDENTITY_KEYS.some((key) => olds[key] !== news[key])) return undefined;
        if (JSON.stringify(this.selectorOf(olds)) !== JSON.stringify(this.selectorOf(news))) return undefined;
        const kept = { ...Object.fromEntries(RESOLVED_KEYS.map((k) => [k, olds[k]])), modelId: olds.modelId ?? "" } as Pick<ModelVersionState, (typeof RESOLVED_KEYS)[number]>;
        return containsUnknown(kept) ? undefined : kept;
    }

    private client(state: Pick<ModelVersionState, "registryKind" | "registryUrl">): RegistryClient {
        return new RegistryClient({
            kind: state.registryKind,
            url: state.registryUrl,
            urlSource: "registryUrl",
            credential: selectCredential(state.registryKind, this.credentials, process.env),
            // The engine shows a dynamic provider's stderr to the user (see check).
            onProgress: (message) => console.error(message),
            ...this.clientOptions,
        });
    }

    private async resolve(state: ModelVersionState, client: RegistryClient = this.client(state)) {
        const selector = this.selectorOf(state);
        if (!selector) throw new Error("no valid selector");
        return resolvedState(await client.resolve(state.model, selector));
    }

    /** Checked inputs normally carry the resolution; resolve here if check could not. */
    private async completed(inputs: ModelVersionState): Promise<ModelVersionState> {
        const outs = withoutProvider(inputs as unknown as Record<string, unknown>) as unknown as ModelVersionState;
        if (!outs.version || containsUnknown(RESOLVED_KEYS.map((k) => outs[k]))) return { ...outs, ...(await this.resolve(outs)) };
        return outs;
    }
}

const defaultProvider = new ModelVersionProvider();

/** A registry model version, resolved by alias, stage, pinned version or latest. */
export class ModelVersion extends pulumi.dynamic.Resource {
    declare readonly registryKind: pulumi.Output<RegistryKind>;
    declare readonly registryUrl: pulumi.Output<string>;
    declare readonly model: pulumi.Output<string>;
    declare readonly selector: pulumi.Output<SelectorFields>;
    /** The resolved version number, as a string. */
    declare readonly version: pulumi.Output<string>;
    /** `models:/<name>/<version>`. */
    declare readonly modelUri: pulumi.Output<string>;
    /** Where the model files are (run artifact URI or storage location). */
    declare readonly source: pulumi.Output<string>;
    declare readonly runId: pulumi.Output<string>;
    /** MLflow 3's logged model id (`m-…`); "" for versions registered from a run. */
    declare readonly modelId: pulumi.Output<string>;
    declare readonly status: pulumi.Output<string>;
    declare readonly aliases: pulumi.Output<string[]>;
    /** When the version was registered (ISO 8601). */
    declare readonly createdAt: pulumi.Output<string>;

    constructor(name: string, args: ModelVersionArgs, opts?: pulumi.CustomResourceOptions, provider: ModelVersionProvider = defaultProvider) {
        super(
            provider,
            name,
            {
                registryKind: args.registryKind,
                registryUrl: args.registryUrl,
                model: args.model,
                selector: args.selector,
                ...Object.fromEntries(RESOLVED_KEYS.map((key) => [key, undefined])),
            },
            opts,
            "registry",
            "ModelVersion",
        );
    }
}
