// A role assignment's name (a GUID) follows from what it grants: the principal, the role and the
// scope. Resource Manager keeps one assignment per (principal, role, scope) and answers
// 409 RoleAssignmentExists to a second one under another name, so a random name makes every rerun
// after an interrupted run, or after an assignment made by hand, fail. A name derived from the
// content is the same in a preview and an update, on any machine, on a rerun.
import { createHash } from "crypto";

/** The namespace of these name-based GUIDs (RFC 4122 version 5), fixed for this project. */
const NAMESPACE = "5b1c7a52-8e0f-4f62-9a43-6d2f1e7c9b30";

/** RFC 4122 version 5 (SHA-1, name-based) GUID of `name` in `namespace`. */
export function nameBasedGuid(namespace: string, name: string): string {
    const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
    const hash = createHash("sha1").update(ns).update(name, "utf8").digest();
    hash[6] = (hash[6] & 0x0f) | 0x50;
    hash[8] = (hash[8] & 0x3f) | 0x80;
    const hex = hash.subarray(0, 16).toString("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The name of the assignment of `roleDefinitionId` to `principalId` at `scope`. ARM ids are
 * compared case-insensitively, so they are lower-cased first: the same grant always gets one name.
 */
export function roleAssignmentName(principalId: string, roleDefinitionId: string, scope: string): string {
    const role = roleDefinitionId.toLowerCase().split("/").pop() ?? "";
    return nameBasedGuid(NAMESPACE, `${principalId.toLowerCase()}\n${role}\n${scope.toLowerCase().replace(/\/+$/, "")}`);
}
