// Who deploys: the checks on the deploying identity and access.deployers made before any resource.
import type { PlatformConfig } from "../config";

/**
 * prd needs a deployer: one named in access.deployers, or the deploying identity as Entra ID
 * reports it. Not checked in the credential-free plan (`offline`). The problem's text, or undefined.
 */
export function missingPrdDeployerProblem(config: Pick<PlatformConfig, "project" | "environment" | "access">, deployer: { offline: boolean; found: boolean }): string | undefined {
    if (deployer.offline || deployer.found || config.environment !== "prd" || config.access.deployers.length > 0) return undefined;
    return `${config.project}:access.deployers is empty and the deploying identity cannot be found (azuread getClientConfig gave no object id): prd needs a deployer. Name one (objectId, type, name), or deploy with an identity Entra ID reports`;
}
