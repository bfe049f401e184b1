// `ResourceProviderRegistrations`: makes sure the subscription has registered the resource providers
// this stack creates resources of, registering the missing ones during `pulumi up` (a new
// subscription has none). A thin adapter over lib/subscription/resourceProviders.ts. It never unregisters.
import * as pulumi from "@pulumi/pulumi";
import { ARM_SCOPE } from "../../lib/azure/containerApps";
import { ensureProvidersRegistered, ResourceProvidersClient, type EnsureProvidersOptions } from "../../lib/subscription/resourceProviders";
import { azureSignIn } from "../../lib/azure/signIn";

export interface ResourceProviderRegistrationsState {
    subscriptionId: string;
    namespaces: string[];
}

export interface ResourceProviderRegistrationsOptions extends EnsureProvidersOptions {
    client?: () => ResourceProvidersClient;
}

const NAMESPACE = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/;

export class ResourceProviderRegistrationsProvider implements pulumi.dynamic.ResourceProvider {
    constructor(private readonly options: ResourceProviderRegistrationsOptions = {}) {}

    async check(_olds: ResourceProviderRegistrationsState, news: ResourceProviderRegistrationsState): Promise<pulumi.dynamic.CheckResult<ResourceProviderRegistrationsState>> {
        const bad = (news.namespaces ?? []).filter((ns) => !NAMESPACE.test(ns));
        return { inputs: news, failures: bad.map((ns) => ({ property: "namespaces", reason: `${JSON.stringify(ns)} is not a resource provider namespace such as Microsoft.App` })) };
    }

    async diff(_id: string, olds: ResourceProviderRegistrationsState, news: ResourceProviderRegistrationsState): Promise<pulumi.dynamic.DiffResult> {
        const changed = olds.subscriptionId !== news.subscriptionId || JSON.stringify([...olds.namespaces].sort()) !== JSON.stringify([...news.namespaces].sort());
        return { changes: changed };
    }

    async create(inputs: ResourceProviderRegistrationsState): Promise<pulumi.dynamic.CreateResult<ResourceProviderRegistrationsState>> {
        await this.ensure(inputs);
        return { id: `${inputs.subscriptionId}/resource-providers`, outs: inputs };
    }

    async update(_id: string, _olds: ResourceProviderRegistrationsState, news: ResourceProviderRegistrationsState): Promise<pulumi.dynamic.UpdateResult<ResourceProviderRegistrationsState>> {
        await this.ensure(news);
        return { outs: news };
    }

    /** Other subscriptions' resources may need a provider: removing this resource unregisters nothing. */
    async delete(): Promise<void> {}

    private async ensure(inputs: ResourceProviderRegistrationsState): Promise<void> {
        const log = this.options.log ?? ((line: string) => console.error(line));
        await ensureProvidersRegistered(this.client(log), inputs.subscriptionId, inputs.namespaces, { ...this.options, log });
    }

    private client(log: (line: string) => void): ResourceProvidersClient {
        if (this.options.client) return this.options.client();
        // Loaded in the provider process: the deployer's own sign-in, never a value in state.
        const credential = azureSignIn();
        return new ResourceProvidersClient({
            log,
            token: async () => {
                const token = await credential.getToken(ARM_SCOPE);
                if (!token?.token) throw new Error("no Microsoft Entra token for Azure Resource Manager: run `az login`");
                return token.token;
            },
        });
    }
}

const defaultProvider = new ResourceProviderRegistrationsProvider();

/** The subscription's registrations of the resource providers a stack needs. */
export class ResourceProviderRegistrations extends pulumi.dynamic.Resource {
    declare readonly namespaces: pulumi.Output<string[]>;

    constructor(name: string, args: { subscriptionId: pulumi.Input<string>; namespaces: string[] }, opts?: pulumi.CustomResourceOptions, provider: ResourceProviderRegistrationsProvider = defaultProvider) {
        super(provider, name, args, opts, "subscription", "ResourceProviderRegistrations");
    }
}
