// No path may print a secret (issue 19 point 23, issue 29): each test feeds a secret in and
// asserts that no part of it (no window of four characters) comes out.
import * as assert from "assert";
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { stringify, parse } from "yaml";
import { planStack } from "../lib/plan";
import { resolvePlannedModelVersions } from "../lib/plan/modelVersions";
import { RegistryClient, parseRegistryUrl } from "../lib/registry/client";
import { basicAuth, bearerToken } from "../lib/registry/credentials";
import { bodyExcerpt, redact, urlForMessage } from "../lib/registry/errors";
import { score } from "../lib/scoring/client";
import { workspaceHost } from "../scripts/registryFlags";
import { runScript } from "./helpers/cli";
import { PROJECT_DIR } from "./helpers/fixtures";

const TOKEN = "dapiZq9XkW7vRj3PmT5yLc8NbH2gF4dS6aQ1";

function assertNoPartOf(secret: string, text: string, size = 4): void {
    for (let i = 0; i + size <= secret.length; i++) {
        const part = secret.slice(i, i + size);
        assert.ok(!text.includes(part), `the output shows ${JSON.stringify(part)} of the secret:\n${text}`);
    }
}

/** A local server that answers every request with `status` and `body`. */
async function answering(status: number, body: string, contentType = "text/plain"): Promise<{ url: string; close: () => Promise<void> }> {
    const server = http.createServer((_req, res) => {
        res.writeHead(status, { "Content-Type": contentType });
        res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe("redaction", () => {
    it("replaces a secret that appears twice, and one inside another, everywhere", () => {
        const text = `first ${TOKEN} then ${TOKEN}, and ${TOKEN.slice(0, 20)}`;
        const out = redact(text, [TOKEN.slice(0, 20), TOKEN]);
        assert.strictEqual(out, "first *** then ***, and ***");
    });

    it("replaces a Basic credential's base64 form (user:password), padded or not, and base64url", () => {
        const credential = basicAuth("svc-user", "pa+ss/word?>>~~", "test");
        const encoded = Buffer.from("svc-user:pa+ss/word?>>~~").toString("base64");
        assert.ok(encoded.includes("+") || encoded.includes("/") || encoded.endsWith("="), "the sample exercises base64's special characters");
        const forms = [encoded, encoded.replace(/=+$/, ""), encoded.replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")];
        for (const form of forms) {
            const out = redact(`Authorization: Basic ${form} was refused for pa+ss/word?>>~~`, credential.secrets());
            assertNoPartOf(form, out);
            assertNoPartOf("pa+ss/word?>>~~", out);
        }
    });

    it("replaces a secret inside JSON text and percent-encoded inside a URL", () => {
        const secret = 'se"cr\\et/with spaces&more';
        const json = JSON.stringify({ message: `bad token ${secret}` });
        assertNoPartOf(secret.replace(/["\\ ]/g, ""), redact(json, [secret]).replace(/\*\*\*/g, ""), 6);
        assert.ok(!redact(`https://h/?t=${encodeURIComponent(secret)}`, [secret]).includes(encodeURIComponent(secret)));
    });

    it("redacts before it shortens, so a secret cut by the shortening leaves no part", () => {
        const body = `{"error":"invalid token ${TOKEN} for this workspace"}`;
        for (let max = 10; max < body.length; max++) {
            assertNoPartOf(TOKEN, bodyExcerpt(body, max, [TOKEN]));
            // Text shortened before it was redacted (as a caller may do) hides the cut start too.
            const cut = body.length > max ? `${body.slice(0, max)}…` : body;
            assertNoPartOf(TOKEN, redact(cut, [TOKEN]), 2 + 2);
        }
    });

    it("shows a URL in a message by its scheme and host only", () => {
        assert.strictEqual(urlForMessage(`https://adb-1.2.azuredatabricks.net/${TOKEN}/x?o=${TOKEN}#${TOKEN}`), "https://adb-1.2.azuredatabricks.net/…");
        assert.strictEqual(urlForMessage(`https://user:${TOKEN}@adb-1.2.azuredatabricks.net`), "https://…@adb-1.2.azuredatabricks.net");
        assert.strictEqual(urlForMessage(`adb-1.2.azuredatabricks.net/?o=${TOKEN}`), "adb-1.2.azuredatabricks.net/…");
        assert.strictEqual(urlForMessage("https://adb-1.2.azuredatabricks.net/"), "https://adb-1.2.azuredatabricks.net/");
    });
});

describe("redaction: which forms of a secret are hidden, and nothing else", () => {
    it("hides base64 text unpadded and in base64url, but does not transliterate a secret that is not base64", () => {
        assert.strictEqual(redact("Basic YWJjZA, YWJjZA==", ["YWJjZA=="]), "Basic ***, ***", "two padding characters dropped");
        assert.strictEqual(redact("a-b_c-d_ and a+b/c+d/", ["a+b/c+d/"]), "*** and ***", "'+' as '-' and '/' as '_'");
        // Not base64 text: a length that is not a multiple of 4, or other characters before or after.
        for (const secret of ["pa+ss/word", "pa+ss/word?>", "?>pa+ss/word"]) {
            const lookalike = secret.replace(/\+/g, "-").replace(/\//g, "_");
            assert.strictEqual(redact(`${secret} ${lookalike}`, [secret]), `*** ${lookalike}`, secret);
        }
    });

    it("hides secrets of four characters or more, and no form shorter than that", () => {
        assert.strictEqual(redact("key abcd", ["abcd"]), "key ***");
        assert.strictEqual(redact("abc is short", ["abc"]), "abc is short");
        assert.strictEqual(redact("a b or a%20b", ["a b"]), "a b or a%20b", "a short secret is not hidden in a longer form either");
        assert.strictEqual(redact("YQ and YQ==", ["YQ=="]), "YQ and ***", "the unpadded form of YQ== has two characters");
        assert.strictEqual(redact("nothing to hide", [undefined as unknown as string]), "nothing to hide", "a missing secret is skipped");
    });

    it("hides a secret's start of two characters or more before an excerpt's '…'", () => {
        assert.strictEqual(redact("token ab…", ["abcdef"]), "token ***…");
        assert.strictEqual(redact("token a…", ["abcdef"]), "token a…");
        assert.strictEqual(redact("token abcde… and more", ["abcdef"]), "token ***… and more");
    });

    it("an excerpt: nothing for no body, tags as spaces, '…' only when it was cut", () => {
        assert.strictEqual(bodyExcerpt(undefined), "");
        assert.strictEqual(bodyExcerpt("<p>one</p><p>two</p>"), "one two");
        assert.strictEqual(bodyExcerpt({ error_code: "X" }), '{"error_code":"X"}');
        assert.strictEqual(bodyExcerpt("abc", 3), "abc");
        assert.strictEqual(bodyExcerpt("abcd", 3), "abc…");
    });

    it("shows a URL with surrounding spaces by its scheme and host too", () => {
        assert.strictEqual(urlForMessage(`  https://adb-1.2.azuredatabricks.net/${TOKEN}  `), "https://adb-1.2.azuredatabricks.net/…");
        assert.strictEqual(urlForMessage(""), "");
    });
});

describe("secrets in answers and addresses never reach a message", () => {
    it("a registry's 401 body that echoes the token, cut at any length", async () => {
        for (const padding of [0, 20, 27, 33, 40]) {
            const server = await answering(401, `${"x".repeat(padding)} invalid access token ${TOKEN} (expired)`);
            try {
                const client = new RegistryClient({ kind: "mlflow", url: server.url, credential: bearerToken(TOKEN, "MLFLOW_TRACKING_TOKEN"), retry: { maxAttempts: 1 } });
                await assert.rejects(client.resolve("fraud", { alias: "champion" }), (err: Error) => {
                    assert.match(err.message, /HTTP 401/);
                    assertNoPartOf(TOKEN, err.message);
                    return true;
                });
            } finally {
                await server.close();
            }
        }
    });

    it("a registry's 401 body that echoes a Basic credential", async () => {
        const encoded = Buffer.from(`svc:${TOKEN}`).toString("base64");
        const server = await answering(401, JSON.stringify({ error_code: "UNAUTHENTICATED", message: `header Basic ${encoded} not accepted` }), "application/json");
        try {
            const client = new RegistryClient({ kind: "mlflow", url: server.url, credential: basicAuth("svc", TOKEN, "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD"), retry: { maxAttempts: 1 } });
            await assert.rejects(client.resolve("fraud", { alias: "champion" }), (err: Error) => {
                assertNoPartOf(encoded, err.message);
                assertNoPartOf(TOKEN, err.message);
                return true;
            });
        } finally {
            await server.close();
        }
    });

    it("a scoring endpoint's 401 body that echoes the bearer token, cut at any length", async () => {
        for (const padding of [0, 30, 55, 62, 70]) {
            const server = await answering(401, `${"y".repeat(padding)} Bearer ${TOKEN} is not valid`);
            try {
                await assert.rejects(score(`${server.url}/invocations`, { inputs: [[1]] }, { bearerToken: TOKEN, maxAttempts: 1 }), (err: Error) => {
                    assert.match(err.message, /HTTP 401/);
                    assertNoPartOf(TOKEN, err.message);
                    return true;
                });
            } finally {
                await server.close();
            }
        }
    });

    it("a token in DATABRICKS_HOST's query, path or a malformed value: the plan's note and the flags", async () => {
        const plan = { project: "p", stack: "dev", outputs: {}, resources: [{ urn: "", type: "pulumi-nodejs:dynamic/registry:ModelVersion", name: "v", custom: true, protect: false, inputs: { registryKind: "unity-catalog", model: "c.s.m", registryUrl: "(known after deploy)", selector: { alias: "champion" } } }] };
        for (const host of [
            `https://adb-1.2.azuredatabricks.net/?o=${TOKEN}`,
            `https://adb-1.2.azuredatabricks.net/${TOKEN}`,
            `https://adb-1.2.azuredatabricks.net/api/2.0/${TOKEN}`,
            `adb-1.2.azuredatabricks.net/?o=${TOKEN}`,
            `https://adb 1.net/?o=${TOKEN}`,
            `https://x:${TOKEN}@adb-1.2.azuredatabricks.net`,
        ]) {
            const notes = await resolvePlannedModelVersions(plan, { DATABRICKS_HOST: host, DATABRICKS_TOKEN: "dapi-other-token-0000" });
            assert.strictEqual(notes[0].outcome, "failed", host);
            assertNoPartOf(TOKEN, notes[0].text);
            assert.throws(() => parseRegistryUrl(host, "DATABRICKS_HOST"), (err: Error) => (assertNoPartOf(TOKEN, err.message), true));
            try {
                // A self-hosted MLflow server may sit under a path, which is then its base URL.
                parseRegistryUrl(host, "MLFLOW_TRACKING_URI", true);
            } catch (err) {
                assertNoPartOf(TOKEN, (err as Error).message);
            }
            try {
                workspaceHost(undefined, { DATABRICKS_HOST: host });
            } catch (err) {
                assertNoPartOf(TOKEN, (err as Error).message);
            }
        }
    });

    describe("the plan command (text and the markdown the PR workflow publishes)", function () {
        // Each case runs `npm run plan` as a child process (a few seconds each, more on a loaded machine).
        this.timeout(120_000);
        let dir: string;
        before(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-secrets-"));
            for (const entry of ["Pulumi.yaml", "index.ts", "package.json", "tsconfig.json"]) fs.cpSync(path.join(PROJECT_DIR, entry), path.join(dir, entry));
            for (const folder of ["components", "lib", "policy", "scripts", "serving"]) fs.cpSync(path.join(PROJECT_DIR, folder), path.join(dir, folder), { recursive: true });
            fs.symlinkSync(path.join(PROJECT_DIR, "node_modules"), path.join(dir, "node_modules"));
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        it("never prints a token written into registry.host's path or query", async () => {
            const doc = parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.prd.yaml"), "utf8"));
            const registry = doc.config["mlflow-platform:registry"];
            delete registry.hostFromStack;
            registry.host = `https://adb-1.2.azuredatabricks.net/${TOKEN}/ml?o=${TOKEN}#${TOKEN}`;
            fs.writeFileSync(path.join(dir, "Pulumi.prd.yaml"), stringify(doc));
            const env = { ...process.env, DATABRICKS_TOKEN: undefined, MLFLOW_TRACKING_TOKEN: undefined };
            for (const format of ["text", "markdown"]) {
                const { code, stdout, stderr } = await runScript("scripts/plan.ts", ["prd", "--format", format], { cwd: dir, env });
                assert.strictEqual(code, 0, stderr);
                assert.match(stdout, /registry\.host: using https:\/\/adb-1\.2\.azuredatabricks\.net; what was written after it .* is not shown/);
                assertNoPartOf(TOKEN, stdout + stderr);
            }
        });
    });

    it("the plan text never shows a registry.host token in a resource's settings either", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-secrets-program-"));
        try {
            fs.copyFileSync(path.join(PROJECT_DIR, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
            const doc = parse(fs.readFileSync(path.join(PROJECT_DIR, "Pulumi.prd.yaml"), "utf8"));
            delete doc.config["mlflow-platform:registry"].hostFromStack;
            doc.config["mlflow-platform:registry"].host = `https://adb-1.2.azuredatabricks.net/?token=${TOKEN}`;
            fs.writeFileSync(path.join(dir, "Pulumi.prd.yaml"), stringify(doc));
            const plan = await planStack(dir, "prd", path.join(PROJECT_DIR, "index.ts"));
            assertNoPartOf(TOKEN, JSON.stringify(plan));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
