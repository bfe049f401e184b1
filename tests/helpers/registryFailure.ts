// The RegistryError a registry call must fail with, of the given kind (tests share it).
import * as assert from "assert";
import { RegistryError, type RegistryErrorKind } from "../../lib/registry/errors";

export async function failure(promise: Promise<unknown>, kind: RegistryErrorKind): Promise<RegistryError> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof RegistryError, `expected a RegistryError, got ${err}`);
        assert.strictEqual(err.kind, kind, err.message);
        return err;
    }
    assert.fail(`expected a ${kind} failure`);
}
