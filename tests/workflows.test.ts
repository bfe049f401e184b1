import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as semver from "semver";
import { promisify } from "util";
import { parse } from "yaml";
import { PROJECT_DIR } from "./helpers/fixtures";

const workflow = (file: string) => parse(fs.readFileSync(path.join(PROJECT_DIR, ".github/workflows", file), "utf8"));
const uses = (job: any) => (job.steps as any[]).map((s) => s.uses).filter(Boolean);
const runs = (job: any) => (job.steps as any[]).map((s) => s.run ?? "").join("\n");

describe("GitHub workflows", () => {
    it("pass the workflow schema check that .ci/run runs, which rejects a broken file", async () => {
        const validator = path.join(PROJECT_DIR, "node_modules/.bin/action-validator");
        for (const file of ["pull-request.yml", "deploy.yml", "promote.yml"]) {
            await promisify(execFile)(validator, [path.join(PROJECT_DIR, ".github/workflows", file)]);
        }
        const broken = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "wf-")), "broken.yml");
        fs.writeFileSync(broken, fs.readFileSync(path.join(PROJECT_DIR, ".github/workflows/deploy.yml"), "utf8").replace("runs-on:", "runs_on:"));
        await assert.rejects(promisify(execFile)(validator, [broken]));
    });

    it("pull requests: install, type-check, test and plan both stacks without credentials", () => {
        const { jobs, on, permissions } = workflow("pull-request.yml");
        assert.deepStrictEqual(on.pull_request.branches, ["main"]);
        assert.deepStrictEqual(permissions, { contents: "read" });
        const checks = runs(jobs.checks);
        for (const command of ["npm ci", "npm run typecheck", "npm run lint:workflows", "npm test", 'npm run -s plan -- "$stack" --format markdown', "npm run -s plan -- --compare dev prd"]) {
            assert.ok(checks.includes(command), command);
        }
        assert.strictEqual(jobs.checks.env, undefined, "the checks job reads no secret, so forks run it");
    });

    it("pull requests: pulumi preview per stack with the policy pack, as a read-only identity, commented on the PR, skipped with a notice without credentials", () => {
        const { preview } = workflow("pull-request.yml").jobs;
        assert.deepStrictEqual(preview.strategy.matrix.stack, ["dev", "prd"]);
        assert.strictEqual(preview.permissions["id-token"], "write");
        const action = preview.steps.find((s: any) => s.uses === "pulumi/actions@v7");
        assert.strictEqual(action.with.command, "preview");
        assert.strictEqual(action.with["comment-on-pr"], true);
        assert.strictEqual(action.with.policyPacks, "policy");
        assert.strictEqual(action.with["cloud-url"], "${{ vars.PULUMI_BACKEND_URL }}");
        // A pull request's code runs in the preview: it gets the read-only identity, never the deploying one.
        assert.strictEqual(preview.env.ARM_CLIENT_ID, "${{ vars.AZURE_PREVIEW_CLIENT_ID }}");
        assert.strictEqual(preview.env.AZURE_CLIENT_ID, "${{ vars.AZURE_PREVIEW_CLIENT_ID }}");
        assert.doesNotMatch(JSON.stringify(preview), /vars\.AZURE_CLIENT_ID/);
        assert.ok(!uses(preview).some((u: string) => u.startsWith("azure/login")), "no az CLI session in previews");
        assert.match(runs(preview), /::notice title=Cloud preview skipped::/);
        for (const step of preview.steps.slice(1)) assert.strictEqual(step.if, "steps.credentials.outputs.available == 'true'", step.uses ?? step.run);
    });

    it("deployments: dev on push to main with a smoke test, then prd behind the protected environment; a policy gate before each up", () => {
        const { on, jobs, permissions } = workflow("deploy.yml");
        assert.deepStrictEqual(on.push.branches, ["main"]);
        assert.strictEqual(permissions["id-token"], "write");
        assert.strictEqual(jobs.prd.needs, "dev");
        assert.strictEqual(jobs.prd.environment, "production");
        for (const [name, job] of Object.entries<any>(jobs)) {
            assert.deepStrictEqual(job.concurrency, { group: `deploy-${name}`, "cancel-in-progress": false }, `${name} never overlaps itself`);
            const upIndex = job.steps.findIndex((s: any) => s.with?.command === "up");
            const gateIndex = job.steps.findIndex((s: any) => s.with?.command === "preview");
            const smokeIndex = job.steps.findIndex((s: any) => /npm run smoke -- --stack "\$STACK"/.test(s.run ?? ""));
            assert.ok(gateIndex >= 0 && gateIndex < upIndex, `${name}: preview --policy-pack runs before up`);
            assert.strictEqual(job.steps[gateIndex].with.policyPacks, "policy");
            assert.strictEqual(job.steps[gateIndex].with["stack-name"], job.steps[upIndex].with["stack-name"]);
            assert.ok(upIndex >= 0 && smokeIndex > upIndex, `${name}: smoke test after pulumi up`);
            assert.strictEqual(job.steps[upIndex].with.policyPacks, "policy");
        }
    });

    it("azure-native and @azure/identity use workload identity federation directly, with a token file kept fresh", () => {
        const jobs = [...Object.values<any>(workflow("deploy.yml").jobs), workflow("pull-request.yml").jobs.preview];
        for (const job of jobs) {
            assert.strictEqual(job.env.ARM_USE_OIDC, "true");
            for (const key of ["ARM_CLIENT_ID", "ARM_TENANT_ID", "ARM_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"]) assert.ok(job.env[key], key);
            const refresh = job.steps.find((s: any) => /AZURE_FEDERATED_TOKEN_FILE=/.test(s.run ?? ""));
            assert.ok(refresh, "a step provides AZURE_FEDERATED_TOKEN_FILE");
            assert.match(refresh.run, /ACTIONS_ID_TOKEN_REQUEST_URL&audience=api:\/\/AzureADTokenExchange/);
            assert.match(refresh.run, /while sleep 60; do fetch/);
            const firstPulumi = job.steps.findIndex((s: any) => /pulumi\/actions/.test(s.uses ?? "") && s.with?.command);
            assert.ok(job.steps.indexOf(refresh) < firstPulumi, "the token file exists before Pulumi runs");
        }
    });

    it("each smoke test calls with an Entra token for the stack's own scoring API, and says why it skips where the runner cannot reach it", () => {
        for (const job of Object.values<any>(workflow("deploy.yml").jobs)) {
            const smoke = job.steps.find((s: any) => /npm run smoke/.test(s.run ?? ""));
            assert.match(smoke.run, /scope=\$\(pulumi stack output scoringApi --json --stack "\$STACK" \| jq -r \.scope\)/);
            assert.match(smoke.run, /npm run smoke -- --stack "\$STACK" --entra-scope "\$scope"/);
            for (const reason of ["ingress is internal", "serving.ipAllowList"]) assert.ok(smoke.run.includes(reason), reason);
            assert.match(smoke.run, /::notice title=\$STACK smoke test skipped::/);
        }
        // The shipped stacks set no allow-list, so the workflow runs the smoke test on them.
        for (const stack of ["dev", "prd"]) assert.doesNotMatch(fs.readFileSync(path.join(PROJECT_DIR, `Pulumi.${stack}.yaml`), "utf8"), /^\s+ipAllowList:/m);
    });

    it("promotion: started by hand, behind the production approval, runs npm run promote with the inputs as data", () => {
        const { on, jobs, permissions } = workflow("promote.yml");
        assert.deepStrictEqual(Object.keys(on), ["workflow_dispatch"]);
        assert.deepStrictEqual(Object.keys(on.workflow_dispatch.inputs), ["model", "version", "alias"]);
        assert.strictEqual(permissions["id-token"], "write");
        assert.strictEqual(jobs.promote.environment, "production");
        const step = jobs.promote.steps.find((s: any) => /npm run -s promote/.test(s.run ?? ""));
        assert.deepStrictEqual(step.env, { MODEL: "${{ inputs.model }}", VERSION: "${{ inputs.version }}", ALIAS: "${{ inputs.alias }}" });
        assert.doesNotMatch(step.run, /\$\{\{/, "no input is spliced into the script");
        assert.match(step.run, /GITHUB_STEP_SUMMARY/, "what it did is kept in the run's summary");
    });

    it("deployments build images with a BuildKit builder and push with the program's own registry token: no az login", () => {
        for (const job of Object.values<any>(workflow("deploy.yml").jobs)) {
            const steps = job.steps.map((step: any) => step.uses ?? step.run ?? "");
            assert.ok(steps.some((u: string) => u.startsWith("docker/setup-buildx-action")), "a buildx builder");
            assert.ok(!steps.some((u: string) => u.startsWith("azure/login") || u.includes("acr login")), "no az CLI session");
        }
    });

    it("use supported versions: Node.js 24 in workflows and actions on their Node 24 majors", () => {
        const supported: Record<string, string> = { "actions/checkout": "v6", "actions/setup-node": "v6", "actions/setup-python": "v6", "pulumi/actions": "v7", "docker/setup-buildx-action": "v4" };
        for (const file of ["pull-request.yml", "deploy.yml", "promote.yml"]) {
            for (const job of Object.values<any>(workflow(file).jobs)) {
                for (const step of job.steps) {
                    if (step.uses) {
                        const [action, version] = step.uses.split("@");
                        assert.strictEqual(version, supported[action], `${file}: ${step.uses}`);
                    }
                    if (step.uses === "actions/setup-node@v6") assert.strictEqual(step.with["node-version"], 24);
                }
            }
        }
    });

    it("declare one Node.js version that every locked package accepts, the workflows use, and CI tests with", () => {
        const declared = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package.json"), "utf8")).engines.node as string;
        const lowest = semver.minVersion(declared)!;
        const lock = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package-lock.json"), "utf8"));
        const refused = Object.entries<any>(lock.packages)
            .filter(([, p]) => typeof p.engines?.node === "string" && !semver.satisfies(lowest, p.engines.node))
            .map(([name, p]) => `${name} (${p.engines.node})`);
        assert.deepStrictEqual(refused, [], `packages that refuse Node.js ${lowest}`);
        const ciNode = /^NODE_VERSION=(\S+)$/m.exec(fs.readFileSync(path.join(PROJECT_DIR, ".ci/run"), "utf8"))?.[1];
        assert.ok(ciNode && semver.satisfies(ciNode, declared), `.ci/run's Node.js ${ciNode} satisfies ${declared}`);
        assert.strictEqual(semver.major(ciNode), 24, "CI tests the major the workflows use");
        assert.match(fs.readFileSync(path.join(PROJECT_DIR, ".npmrc"), "utf8"), /^engine-strict=true$/m, "npm refuses an older Node.js");
    });

    it("store no cloud password: Azure by OpenID Connect, everything else from secrets and variables", () => {
        for (const file of ["pull-request.yml", "deploy.yml", "promote.yml"]) {
            const text = fs.readFileSync(path.join(PROJECT_DIR, ".github/workflows", file), "utf8");
            assert.doesNotMatch(text, /client-secret|AZURE_CLIENT_SECRET|creds:/, file);
            assert.ok([...text.matchAll(/\$\{\{ secrets\.(\w+) \}\}/g)].every(([, name]) => ["PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE", "GITHUB_TOKEN"].includes(name)), file);
        }
    });
});
