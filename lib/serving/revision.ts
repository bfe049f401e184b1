// The identity of a serving revision (a Container Apps revision suffix, an ACI group's DNS label):
// a pure function of everything that makes the revision, so the same spec gives the same name on
// any machine, in a preview as in an update, and any change gives a new name.
import { createHash } from "crypto";

export interface RevisionSpec {
    /** `models/<service>:<content-addressed tag>`: the image without the registry host. */
    image: string;
    /**
     * Every environment variable: plain values as they are; a secret by its name and a hash of the
     * secret it references, never its value (a new secret value is not a new revision in Container Apps).
     */
    env: { name: string; value?: string; secretRefSha256?: string }[];
    cpu: number;
    memoryGb: number;
    workers: number;
    /** The probes exactly as the platform receives them. */
    probes: unknown;
    /** Container Apps only: replicas and the scale rule. */
    scale?: { minReplicas: number; maxReplicas: number; concurrentRequests: number };
}

/** JSON with object keys sorted at every level: one text per value, whatever the key order. */
export function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    if (value && typeof value === "object") {
        const entries = Object.entries(value as Record<string, unknown>)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : 1)); // an object's keys are distinct: never equal
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
    }
    return JSON.stringify(value);
}

export function specHash(spec: RevisionSpec, length = 10): string {
    return createHash("sha256").update(canonicalJson(spec)).digest("hex").slice(0, length);
}

/** A secret reference's stand-in in a spec: a hash of the referenced secret's name. */
export function secretRefFingerprint(secretName: string): string {
    return createHash("sha256").update(secretName).digest("hex");
}

/**
 * `v7-1a2b3c4d5e`: the model version first, so a reviewer reads it. Container Apps names the
 * revision `<app>--<suffix>`, a DNS label (lowercase letters, digits and '-', at most 63), and app
 * names have at most 32 characters, so a suffix of up to 29 characters always fits.
 */
export function revisionSuffix(version: string, spec: RevisionSpec): string {
    const suffix = `v${version}-${specHash(spec)}`;
    if (suffix.length > 29) throw new Error(`model version ${version} is too long for a Container Apps revision suffix (${suffix})`);
    return suffix;
}

/**
 * An ACI group's public DNS label: `<prefix>-<service>-v<version>-<hash>`, 3-63 lowercase letters,
 * digits and '-', starting with a letter (Azure's rule for dnsNameLabel). The prefix and service are
 * shortened, never the version or hash.
 */
export function aciDnsLabel(prefix: string, service: string, version: string, spec: RevisionSpec): string {
    const tail = `-v${version}-${specHash(spec, 8)}`;
    const head = `${prefix}-${service}`.toLowerCase().replace(/[^a-z0-9-]/g, "-");
    return `${head.slice(0, 63 - tail.length).replace(/-+$/, "")}${tail}`; // no run of dashes before the version
}
