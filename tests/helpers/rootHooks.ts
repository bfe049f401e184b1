// Mocha root hooks: whatever the suite started for all tests is stopped when it ends, also after
// a failure.
//
// realMlflow is imported only when the hook runs: mocha loads this file before any spec, and
// realMlflow's imports (fixtures -> lib/plan) reach lib/registry and more. Loaded here, those
// modules would be evaluated before StrykerJS activates a module-level ("static") mutant in
// a fresh test process, so such mutants could never be seen by any test.
export const mochaHooks = {
    async afterAll(this: Mocha.Context) {
        this.timeout(30_000);
        const { stopRealMlflow } = await import("./realMlflow");
        await stopRealMlflow();
    },
};
