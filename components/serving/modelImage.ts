// One model version's serving image: reused when the container registry already has its
// content-addressed tag, otherwise built with @pulumi/docker-build and pushed.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as dockerbuild from "@pulumi/docker-build";
import { ACR_TOKEN_USERNAME } from "../../lib/azure/acr";
import { imageRepository, imageTag, REGISTRY_SECRET_ID, SERVING_CONTEXT, type BuildCredential } from "../../lib/serving/image";
import type { RegistryKind } from "../../lib/registry/types";
import { unknownSecret, unknownValue } from "../../lib/deployment/outputs";

/** The container registry calls the image needs; absent in the credential-free plan. */
export interface ImageRegistryAccess {
    /** A push token for the deployer, newly exchanged from its Entra token for one build. */
    pushToken(): Promise<string>;
    /** The digest of an existing tag, or undefined. */
    manifestDigest(repository: string, tag: string): Promise<string | undefined>;
}

export interface ModelImageArgs {
    service: string;
    model: string;
    /** undefined before the registry can be asked (the plan, the first preview): the tag is then unknown too. */
    version: string | undefined;
    recipe: string;
    registryKind: RegistryKind;
    /** The model registry host the build fetches from (not a secret; it stays in the fetch stage). */
    registryUrl: pulumi.Input<string>;
    /** The container registry's login server (`<name>.azurecr.io`). */
    loginServer: string;
    /** Calls to the container registry; undefined before it exists (a first preview) and in the plan. */
    access: ImageRegistryAccess | undefined;
    credential: BuildCredential | undefined;
    dependsOn: pulumi.Resource[];
}

export interface ModelImage {
    /** undefined while the version is unknown. */
    tag?: string;
    /** `<login server>/models/<service>:<tag>` */
    ref: pulumi.Output<string>;
    /** The build, when this run builds the image; absent when the registry already has the tag. */
    build?: dockerbuild.Image;
    /** The pushed digest when it is known now (an existing image). */
    digest?: string;
}

/**
 * Declares (or reuses) the image of one model version. An image that exists is never rebuilt:
 * builds are not byte-reproducible, and a rollback must get back the very image it served.
 * The tag names model, version and recipe, so anything else that changes the image is a new tag.
 */
export async function modelImage(name: string, args: ModelImageArgs, parent: pulumi.Resource): Promise<ModelImage> {
    const tag = args.version === undefined ? undefined : imageTag(args.model, args.version, args.recipe);
    const repository = imageRepository(args.service);
    const ref = tag ? pulumi.output(`${args.loginServer}/${repository}:${tag}`) : pulumi.interpolate`${args.loginServer}/${repository}:${unknownValue()}`;
    if (tag && args.access) {
        const digest = await args.access.manifestDigest(repository, tag);
        if (digest) return { tag, ref, digest };
    }
    // Without a credential here (the credential-free plan) the mount is shown with a stand-in value.
    const secretFile = pulumi.secret(args.credential ? pulumi.output(args.credential.content()) : "(the deployer's registry credential)");
    // The push token is exchanged once this build's other inputs are ready (just before the engine
    // starts the build), one per build and per `up`: an ACR refresh token lives only as long as its
    // `exp` says (about 35 minutes in Azure's sample), so none is shared across builds or kept for
    // later. docker-build stores it in state as a secret and ignores its changes in diffs; the only
    // later use of the stored one is `pulumi refresh`, whose tag check then fails to authenticate
    // and, since docker-build 0.0.21 (#930), leaves the state unchanged with a warning instead of
    // dropping the image. An image whose tag exists is not declared at all (see above), so a built
    // image's resource leaves the state at the next `up`.
    const access = args.access;
    const pushToken = access
        ? pulumi.secret(
              pulumi.all([args.registryUrl, secretFile]).apply(async () => {
                  try {
                      return await access.pushToken();
                  } catch (err) {
                      // The client's message names the registry and what to do; no stack trace.
                      throw new pulumi.RunError(`models[${args.service}] image ${tag ?? "(pending version)"}: ${(err as Error).message}`);
                  }
              }),
          )
        : unknownSecret();
    const cache = `${args.loginServer}/${repository}:buildcache`;
    const build = new dockerbuild.Image(
        // Named by its tag, so a promotion (the canary's version becomes the stable one) keeps it.
        `${name}-${tag ?? "pending-version"}`,
        {
            context: { location: SERVING_CONTEXT },
            dockerfile: { location: path.posix.join(SERVING_CONTEXT, "Dockerfile") },
            platforms: ["linux/amd64"],
            push: true,
            // A preview (a pull request's, with a read-only identity) shows the image it would build
            // without building it: docker-build builds on preview by default and then still exports
            // its registry cache, which needs push rights (docker-build's own docs on buildOnPreview).
            buildOnPreview: false,
            tags: [ref],
            // Which version to fetch. No credential: build arguments are kept in the image's history.
            buildArgs: {
                REGISTRY_KIND: args.registryKind,
                REGISTRY_URL: args.registryUrl,
                MODEL_NAME: args.model,
                MODEL_VERSION: args.version ?? unknownValue(),
            },
            // The registry credential, mounted only into the fetch step (`RUN --mount=type=secret`).
            secrets: { [REGISTRY_SECRET_ID]: secretFile },
            // A fresh token alone is no reason to rebuild; a build that runs still gets the fresh one
            // (docker-build diffs without this secret but builds with the current inputs).
            ignoreSecretsInDiffCalculation: [REGISTRY_SECRET_ID],
            // docker-build keeps these credentials in memory and ignores password changes in its diff.
            registries: [{ address: args.loginServer, username: ACR_TOKEN_USERNAME, password: pushToken }],
            // The registry is the layer cache, so a CI runner with an empty cache reuses the
            // requirements layer of the previous version.
            cacheFrom: [{ registry: { ref: cache } }],
            cacheTo: [{ registry: { ref: cache, mode: dockerbuild.CacheMode.Max, imageManifest: true, ociMediaTypes: true } }],
            labels: {
                "org.opencontainers.image.title": `${args.service} scoring server`,
                "org.mlflow.model": args.model,
                "org.mlflow.model-version": args.version ?? unknownValue(),
            },
        },
        // Deleting the resource must not delete the tag: a rollback reuses it.
        { parent, dependsOn: args.dependsOn, retainOnDelete: true },
    );
    return { tag, ref, build };
}
