// Evaluates the Pulumi program for a stack the way the Node.js language host does, with the
// project's loader (as Pulumi.yaml configures) or, with --typecheck, with ts-node type checking
// exactly as the language host registers it by default. The engine is Pulumi's mock monitor.
// usage: node [-r ./scripts/register-ts.js] bench/programStart.js <stack> [--typecheck]
const path = require("path");
const projectDir = path.resolve(__dirname, "..");
if (process.argv.includes("--typecheck")) {
    // @pulumi/pulumi/cmd/run: ts-node with the project's tsconfig, type checking on.
    require("ts-node").register({
        project: path.join(projectDir, "tsconfig.json"),
        transpileOnly: false,
        compilerOptions: { target: "ES2020", module: "commonjs", moduleResolution: "node", sourceMap: true },
    });
}
const { planStack } = require("../lib/plan");
planStack(projectDir, process.argv[2]).then(
    (plan) => {
        if (plan.resources.length === 0) throw new Error("the program declared nothing");
        process.exit(0);
    },
    (err) => {
        console.error(err.message);
        process.exit(1);
    },
);
