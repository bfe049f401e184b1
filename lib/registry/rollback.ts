// Rollback: a deployer points prd's alias back at a version the prd model already has. Nothing is
// copied and no version is created, so the next `pulumi up --stack prd` serves a version whose image
// is already in the container registry (its tag is found and reused while the image recipe is
// unchanged) and whose revision Azure keeps inactive (RevisionTraffic activates it again).
// Routes: the Unity Catalog mirrors MLflow's client uses (see promote.ts).
import { beforeAliasMoves, PromoteError, unityCatalogCalls, type UnityCatalogOptions } from "./promote";

export interface RollbackRequest {
    /** `catalog.prdSchema.model` */
    model: string;
    /** The version prd goes back to. */
    version: string;
    alias: string;
}

export interface RollbackResult {
    model: string;
    alias: string;
    /** What the alias pointed at before, when the registry said. */
    from?: string;
    to: string;
}

const ROLLBACK_PERMISSIONS = "Rolling back needs ownership or MANAGE on the prd model: only deployers hold it";

export interface RollbackOptions extends UnityCatalogOptions {
    log?: (line: string) => void;
    /** Called just before the alias moves, with what it pointed at (the audit trail's intent record). If it throws, the alias is not moved. */
    beforeAlias?: (change: { from?: string }) => Promise<void>;
}

export async function rollback(request: RollbackRequest, options: RollbackOptions): Promise<RollbackResult> {
    const log = options.log ?? (() => undefined);
    const { call, versionOf } = unityCatalogCalls({ permissionHint: ROLLBACK_PERMISSIONS, ...options });
    const what = `read version ${request.version} of ${request.model}`;
    const answer = await call("GET", "model-versions/get", { name: request.model, version: request.version }, what, (a) => a.status === 200 || a.data?.error_code === "RESOURCE_DOES_NOT_EXIST");
    if (answer.status !== 200) {
        throw new PromoteError(`${request.model} has no version ${request.version} (RESOURCE_DOES_NOT_EXIST): roll back to a version prd has served, listed by \`npm run plan -- prd\` or in the model's page in Catalog Explorer`);
    }
    const target = versionOf(answer, what);
    if (target.status !== "READY") throw new PromoteError(`version ${request.version} of ${request.model} is ${target.status ?? "in an unknown state"}: only a READY version can serve`);
    // Only the documented answer (the alias exists) is read; anything else leaves `from` unknown.
    const current = await call("GET", "registered-models/alias", { name: request.model, alias: request.alias }, `read alias ${request.alias} of ${request.model}`, () => true);
    const from = current.status === 200 ? String(current.data?.model_version?.version ?? "") || undefined : undefined;
    if (from === request.version) {
        log(`alias ${request.alias} of ${request.model} already points at version ${request.version}: nothing to do`);
        return { model: request.model, alias: request.alias, from, to: request.version };
    }
    const beforeAlias = options.beforeAlias;
    await beforeAliasMoves(beforeAlias && (() => beforeAlias({ from })), "prd is unchanged");
    await call("POST", "registered-models/alias", { name: request.model, alias: request.alias, version: request.version }, `set alias ${request.alias} of ${request.model}`);
    log(`alias ${request.alias} of ${request.model} now points at version ${request.version}${from ? ` (was ${from})` : ""}: no copy, no new version; the next pulumi up on prd serves it`);
    return { model: request.model, alias: request.alias, from, to: request.version };
}
