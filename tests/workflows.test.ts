import * as assert from "assert";
import { execFile, spawn } from "child_process";
import * as http from "http";
import type { AddressInfo } from "net";
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
        assert.deepStrictEqual(step.env, { MODEL: "${{ inputs.model }}", VERSION: "${{ inputs.version }}", ALIAS: "${{ inputs.alias }}", GITHUB_TOKEN: "${{ github.token }}" });
        // The audit record: the prd store to write it to, and the run's reviews to name its approvers.
        assert.strictEqual(jobs.promote.env.AUDIT_STORE, "${{ vars.PRD_BLOB_ENDPOINT }}");
        assert.strictEqual(permissions.actions, "read");
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

    it("promotion keeps its OIDC token file fresh for the whole job, as the deployments do (issue 19, point 14)", () => {
        const job = workflow("promote.yml").jobs.promote;
        const refresh = job.steps.find((s: any) => /AZURE_FEDERATED_TOKEN_FILE=/.test(s.run ?? ""));
        assert.ok(refresh);
        assert.match(refresh.run, /ACTIONS_ID_TOKEN_REQUEST_URL&audience=api:\/\/AzureADTokenExchange/);
        assert.match(refresh.run, /while sleep 60; do fetch \|\| true; done/, "rewritten every minute: GitHub's tokens live five minutes");
        assert.match(refresh.run, /mv "\$token_file\.new" "\$token_file"/, "replaced atomically: a reader never sees half a token");
        const promote = job.steps.findIndex((s: any) => /npm run -s promote/.test(s.run ?? ""));
        assert.ok(job.steps.indexOf(refresh) < promote);
        // The same step text as the deployments', so all three refresh alike.
        for (const deployJob of Object.values<any>(workflow("deploy.yml").jobs)) {
            const theirs = deployJob.steps.find((s: any) => /AZURE_FEDERATED_TOKEN_FILE=/.test(s.run ?? ""));
            assert.strictEqual(refresh.run, theirs.run);
        }
    });

    it("the token step really rewrites the file with new tokens until the job ends", async function () {
        this.timeout(20_000);
        const step = workflow("promote.yml").jobs.promote.steps.find((s: any) => /AZURE_FEDERATED_TOKEN_FILE=/.test(s.run ?? "")).run as string;
        let issued = 0;
        const oidc = http.createServer((req, res) => {
            const ok = req.headers.authorization === "bearer fake-request-token" && /[?&]audience=api:\/\/AzureADTokenExchange$/.test(req.url ?? "");
            res.writeHead(ok ? 200 : 401, { "Content-Type": "application/json" });
            res.end(ok ? JSON.stringify({ value: `github-oidc-token-${++issued}` }) : "{}");
        });
        await new Promise<void>((resolve) => oidc.listen(0, "127.0.0.1", resolve));
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "oidc-"));
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        // A minute is a tenth of a second here.
        fs.writeFileSync(path.join(bin, "sleep"), "#!/bin/sh\nexec /bin/sleep 0.1\n", { mode: 0o755 });
        const env = {
            PATH: `${bin}:${process.env.PATH}`,
            RUNNER_TEMP: dir,
            GITHUB_ENV: path.join(dir, "github-env"),
            ACTIONS_ID_TOKEN_REQUEST_TOKEN: "fake-request-token",
            ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${(oidc.address() as AddressInfo).port}/token?api-version=2.0`,
        };
        // Its own process group, so the loop it leaves running is stopped with it.
        const child = spawn("bash", ["-e", "-c", step], { env, detached: true, stdio: "ignore" });
        try {
            await new Promise((resolve) => child.once("exit", resolve));
            const file = path.join(dir, "azure-federated-token");
            assert.strictEqual(fs.readFileSync(env.GITHUB_ENV, "utf8"), `AZURE_FEDERATED_TOKEN_FILE=${file}\n`);
            const first = fs.readFileSync(file, "utf8").trim();
            assert.match(first, /^github-oidc-token-\d+$/);
            const deadline = Date.now() + 10_000;
            while (fs.readFileSync(file, "utf8").trim() === first && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
            assert.notStrictEqual(fs.readFileSync(file, "utf8").trim(), first, "a newer token replaced the first after the step ended");
        } finally {
            try {
                process.kill(-child.pid!, "SIGTERM");
            } catch {
                // already gone
            }
            oidc.closeAllConnections();
            await new Promise((resolve) => oidc.close(resolve));
        }
    });

    it("CI signs in to Databricks only as a workspace member: each job that needs it checks before Pulumi or the promotion runs", () => {
        const script = ".github/scripts/check-databricks-member.sh";
        const jobs: [string, any, RegExp][] = [
            ...Object.entries<any>(workflow("deploy.yml").jobs).map(([name, job]): [string, any, RegExp] => [`deploy ${name}`, job, /pulumi\/actions/]),
            ["promote", workflow("promote.yml").jobs.promote, /npm run -s promote/],
        ];
        for (const [name, job, main] of jobs) {
            const check = job.steps.findIndex((s: any) => (s.run ?? "").includes(script));
            const first = job.steps.findIndex((s: any) => main.test(s.uses ?? "") && s.with?.command || main.test(s.run ?? ""));
            const token = job.steps.findIndex((s: any) => /AZURE_FEDERATED_TOKEN_FILE=/.test(s.run ?? ""));
            assert.ok(check > token && check < first, `${name}: the check runs after the token file exists and before ${main}`);
        }
        for (const job of Object.values<any>(workflow("deploy.yml").jobs)) {
            // The provider signs in as ARM_CLIENT_ID; the check as AZURE_CLIENT_ID: the same identity.
            assert.strictEqual(job.env.ARM_CLIENT_ID, job.env.AZURE_CLIENT_ID);
            const run = job.steps.find((s: any) => (s.run ?? "").includes(script)).run;
            assert.match(run, /DATABRICKS_HOST=\$\(pulumi stack output workspaceUrl --stack "\$STACK"/);
            assert.match(run, /registry\.hostFromStack/, "a stack reading another registry declares no Databricks resource: skipped");
        }
    });

    describe("check-databricks-member.sh (against a stand-in Entra ID and workspace)", () => {
        let server: http.Server;
        let base: string;
        let scim = 200;
        let entra: { status: number; body: unknown } = { status: 200, body: { access_token: "fake-databricks-token", token_type: "Bearer" } };
        const seen: { path: string; form?: URLSearchParams; authorization?: string }[] = [];
        before(async () => {
            server = http.createServer((req, res) => {
                let raw = "";
                req.on("data", (c) => (raw += c));
                req.on("end", () => {
                    const url = req.url ?? "";
                    seen.push({ path: url, form: req.method === "POST" ? new URLSearchParams(raw) : undefined, authorization: req.headers.authorization });
                    res.writeHead(url.endsWith("/oauth2/v2.0/token") ? entra.status : url === "/api/2.0/preview/scim/v2/Me" ? scim : 404, { "Content-Type": "application/json" });
                    res.end(JSON.stringify(url.endsWith("/oauth2/v2.0/token") ? entra.body : scim === 200 ? { id: "1", userName: "sp" } : { error_code: "PERMISSION_DENIED", message: "no" }));
                });
            });
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
            base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        });
        after(() => new Promise((resolve) => server.close(resolve)));
        beforeEach(() => {
            seen.length = 0;
            scim = 200;
            entra = { status: 200, body: { access_token: "fake-databricks-token", token_type: "Bearer" } };
        });

        const run = async (host: string) => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "member-"));
            fs.writeFileSync(path.join(dir, "oidc"), "fake-github-oidc-token\n");
            const env = { PATH: process.env.PATH, DATABRICKS_HOST: host, AZURE_CLIENT_ID: "11111111-0000-0000-0000-000000000001", AZURE_TENANT_ID: "tenant-1", AZURE_FEDERATED_TOKEN_FILE: path.join(dir, "oidc"), AZURE_AUTHORITY_HOST: base };
            try {
                const { stdout, stderr } = await promisify(execFile)(path.join(PROJECT_DIR, ".github/scripts/check-databricks-member.sh"), [], { env });
                return { code: 0, out: stdout + stderr };
            } catch (err) {
                const e = err as { code: number; stdout: string; stderr: string };
                return { code: e.code, out: e.stdout + e.stderr };
            }
        };

        it("a member passes: it asks Entra for a Databricks token with the OIDC assertion, then the workspace who it is", async () => {
            const { code, out } = await run(`${base}/`);
            assert.strictEqual(code, 0, out);
            assert.match(out, /::notice title=Databricks sign-in::11111111-0000-0000-0000-000000000001 signs in to http:\/\/127\.0\.0\.1:\d+ as itself/);
            const token = seen[0];
            assert.strictEqual(token.path, "/tenant-1/oauth2/v2.0/token");
            assert.deepStrictEqual(Object.fromEntries(token.form!), {
                client_id: "11111111-0000-0000-0000-000000000001",
                scope: "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default",
                grant_type: "client_credentials",
                client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                client_assertion: "fake-github-oidc-token",
            });
            assert.deepStrictEqual(seen.slice(1).map((s) => [s.path, s.authorization]), [["/api/2.0/preview/scim/v2/Me", "Bearer fake-databricks-token"]]);
            assert.doesNotMatch(out, /fake-databricks-token|fake-github-oidc-token/);
        });

        it("a service principal outside the workspace fails with what to do, never a token", async () => {
            for (const status of [401, 403]) {
                scim = status;
                const { code, out } = await run(base);
                assert.strictEqual(code, 1);
                assert.match(out, new RegExp(`::error title=Databricks sign-in::the deploying service principal 11111111-0000-0000-0000-000000000001 is not a member of the workspace http://127\\.0\\.0\\.1:\\d+ \\(HTTP ${status}\\)`));
                assert.match(out, /Add 11111111-0000-0000-0000-000000000001 to the workspace as an admin .*or let the Deploy workflow make the first pulumi up of a new workspace/);
                assert.doesNotMatch(out, /fake-databricks-token|fake-github-oidc-token/);
            }
        });

        it("Entra's refusal names its error code; no workspace yet passes with a notice", async () => {
            entra = { status: 400, body: { error: "invalid_client", error_description: "AADSTS700213: No matching federated identity record found for presented assertion subject.\r\nTrace ID: x" } };
            const refused = await run(base);
            assert.strictEqual(refused.code, 1);
            assert.match(refused.out, /gave 11111111-0000-0000-0000-000000000001 no token for Azure Databricks \(HTTP 400: invalid_client: AADSTS700213: No matching federated identity record found for presented assertion subject\.\): check its federated credential/);
            assert.doesNotMatch(refused.out, /Trace ID/);
            seen.length = 0;
            const fresh = await run("");
            assert.strictEqual(fresh.code, 0);
            assert.match(fresh.out, /::notice title=Databricks sign-in::no workspace yet: this run's pulumi up creates it as 11111111-0000-0000-0000-000000000001/);
            assert.strictEqual(seen.length, 0);
        });
    });
});
