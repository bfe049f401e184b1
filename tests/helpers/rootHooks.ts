// Mocha root hooks: whatever the suite started for all tests is stopped when it ends, also after
// a failure.
import { stopRealMlflow } from "./realMlflow";

export const mochaHooks = {
    async afterAll(this: Mocha.Context) {
        this.timeout(30_000);
        await stopRealMlflow();
    },
};
