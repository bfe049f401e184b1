// Role assignment names follow from (principal, role, scope): the same grant gets the same name
// on every run and machine, so Resource Manager never sees a second assignment of it (409).
import * as assert from "assert";
import { nameBasedGuid, roleAssignmentName } from "../lib/access/roleAssignmentName";

const ROLE = "/subscriptions/0000/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe";
const SCOPE = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct";

describe("role assignment names", () => {
    it("are RFC 4122 version 5 GUIDs (the RFC's own example)", () => {
        assert.strictEqual(nameBasedGuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com"), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
    });

    it("depend on principal, role and scope, and on nothing else", () => {
        const name = roleAssignmentName("11111111-1111-1111-1111-111111111111", ROLE, SCOPE);
        assert.match(name, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.strictEqual(roleAssignmentName("11111111-1111-1111-1111-111111111111", ROLE, SCOPE), name, "a rerun");
        assert.strictEqual(roleAssignmentName("11111111-1111-1111-1111-111111111111".toUpperCase(), ROLE.toUpperCase(), `${SCOPE.toUpperCase()}/`), name, "ARM ids compare without case");
        assert.notStrictEqual(roleAssignmentName("22222222-2222-2222-2222-222222222222", ROLE, SCOPE), name);
        assert.notStrictEqual(roleAssignmentName("11111111-1111-1111-1111-111111111111", ROLE.replace("ba92f5b4", "2a2b9908"), SCOPE), name);
        assert.notStrictEqual(roleAssignmentName("11111111-1111-1111-1111-111111111111", ROLE, `${SCOPE}/blobServices/default/containers/data`), name);
    });
});
