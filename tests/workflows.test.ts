import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { parse } from "yaml";
import { PROJECT_DIR } from "./helpers/fixtures";

const workflow = (file: string) => parse(fs.readFileSync(path.join(PROJECT_DIR, ".github/workflows", file), "utf8"));
const uses = (job: any) => (job.steps as any[]).map((s) => s.uses).filter(Boolean);
const runs = (job: any) => (job.steps as any[]).map((s) => s.run ?? "").join("\n");

describe("GitHub workflows", () => {
    it("pass the workflow schema check that .ci/run runs, which rejects a broken file", async () => {
        const validator = path.join(PROJECT_DIR, "node_modules/.bin/action-validator");
        for (const file of ["pull-request.yml", "deploy.yml"]) {
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

    it("pull requests: pulumi preview per stack with the Pulumi action, commented on the PR, skipped with a notice without credentials", () => {
        const { preview } = workflow("pull-request.yml").jobs;
        assert.deepStrictEqual(preview.strategy.matrix.stack, ["dev", "prd"]);
        assert.strictEqual(preview.permissions["id-token"], "write");
        assert.ok(uses(preview).includes("azure/login@v2"));
        const action = preview.steps.find((s: any) => s.uses === "pulumi/actions@v6");
        assert.strictEqual(action.with.command, "preview");
        assert.strictEqual(action.with["comment-on-pr"], true);
        assert.strictEqual(action.with.policyPacks, "policy");
        assert.strictEqual(action.with["cloud-url"], "${{ vars.PULUMI_BACKEND_URL }}");
        assert.match(runs(preview), /::notice title=Cloud preview skipped::/);
        for (const step of preview.steps.slice(1)) assert.strictEqual(step.if, "steps.credentials.outputs.available == 'true'", step.uses ?? step.run);
    });

    it("deployments: dev on push to main with a smoke test, then prd behind the protected environment", () => {
        const { on, jobs, permissions } = workflow("deploy.yml");
        assert.deepStrictEqual(on.push.branches, ["main"]);
        assert.strictEqual(permissions["id-token"], "write");
        assert.strictEqual(jobs.prd.needs, "dev");
        assert.strictEqual(jobs.prd.environment, "production");
        for (const [name, job] of Object.entries<any>(jobs)) {
            assert.deepStrictEqual(job.concurrency, { group: `deploy-${name}`, "cancel-in-progress": false }, `${name} never overlaps itself`);
            const upIndex = job.steps.findIndex((s: any) => s.with?.command === "up");
            const smokeIndex = job.steps.findIndex((s: any) => /npm run smoke -- --stack "\$STACK"/.test(s.run ?? ""));
            assert.ok(upIndex >= 0 && smokeIndex > upIndex, `${name}: smoke test after pulumi up`);
            assert.strictEqual(job.steps[upIndex].with.policyPacks, "policy");
        }
    });

    it("store no cloud password: Azure by OpenID Connect, everything else from secrets and variables", () => {
        for (const file of ["pull-request.yml", "deploy.yml"]) {
            const text = fs.readFileSync(path.join(PROJECT_DIR, ".github/workflows", file), "utf8");
            assert.doesNotMatch(text, /client-secret|AZURE_CLIENT_SECRET|creds:/, file);
            assert.ok([...text.matchAll(/\$\{\{ secrets\.(\w+) \}\}/g)].every(([, name]) => ["PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE", "GITHUB_TOKEN"].includes(name)), file);
        }
    });
});
