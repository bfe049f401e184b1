// The deployer's Entra sign-in (lib/azure/signIn): in GitHub Actions every assertion is a GitHub ID
// token asked for at that moment, never a file read minutes earlier.
import * as assert from "assert";
import * as http from "http";
import type { AddressInfo } from "net";
import { azureSignIn, githubAssertion, githubFederation, GITHUB_OIDC_AUDIENCE } from "../lib/azure/signIn";

const REQUEST_TOKEN = "runner-request-token-0123456789";
const GITHUB_ENV = { ACTIONS_ID_TOKEN_REQUEST_URL: "", ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN, AZURE_TENANT_ID: "11111111-2222-4333-8444-555555555555", AZURE_CLIENT_ID: "66666666-7777-4888-9999-000000000000" };

/** GitHub's runner token endpoint: answers `{"value": jwt}` to its request token, counting requests. */
async function runnerEndpoint(answer: (req: http.IncomingMessage) => { status: number; body: unknown }) {
    const requests: { url: string; authorization?: string }[] = [];
    const server = http.createServer((req, res) => {
        requests.push({ url: req.url ?? "", authorization: req.headers.authorization });
        const { status, body } = answer(req);
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_apis/pipelines/workflows/1/idtoken?api-version=2.0`;
    return { url, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("Entra sign-in (lib/azure/signIn)", () => {
    it("uses GitHub federation only when the runner's token request and the application are all there", () => {
        const env = { ...GITHUB_ENV, ACTIONS_ID_TOKEN_REQUEST_URL: "https://pipelines.actions.githubusercontent.com/x?api-version=2.0" };
        assert.deepStrictEqual(githubFederation(env), { requestUrl: env.ACTIONS_ID_TOKEN_REQUEST_URL, requestToken: REQUEST_TOKEN, tenantId: env.AZURE_TENANT_ID, clientId: env.AZURE_CLIENT_ID });
        assert.strictEqual(githubFederation({ ...env, ARM_TENANT_ID: "t", AZURE_TENANT_ID: "" })?.tenantId, "t", "ARM_TENANT_ID as the azure-native provider reads it");
        for (const missing of ["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"] as const) {
            assert.strictEqual(githubFederation({ ...env, [missing]: undefined }), undefined, missing);
        }
        assert.strictEqual(azureSignIn(env).constructor.name, "ClientAssertionCredential");
        assert.strictEqual(azureSignIn({}).constructor.name, "DefaultAzureCredential");
    });

    it("asks the runner for a new token on every assertion, for Entra's audience, with the request token as bearer", async () => {
        let issued = 0;
        const runner = await runnerEndpoint(() => ({ status: 200, body: { value: `header.payload${++issued}.signature`, count: issued } }));
        try {
            const assertion = githubAssertion(runner.url, REQUEST_TOKEN);
            assert.strictEqual(await assertion(), "header.payload1.signature");
            assert.strictEqual(await assertion(), "header.payload2.signature", "no cached token");
            assert.strictEqual(runner.requests.length, 2);
            for (const r of runner.requests) {
                const url = new URL(r.url, "http://x");
                assert.strictEqual(url.searchParams.get("audience"), GITHUB_OIDC_AUDIENCE);
                assert.strictEqual(url.searchParams.get("api-version"), "2.0", "the runner's own parameters are kept");
                assert.strictEqual(r.authorization, `bearer ${REQUEST_TOKEN}`);
            }
        } finally {
            await runner.close();
        }
    });

    it("fails clearly, without the request token, when the runner refuses, answers no token, or does not answer", async () => {
        for (const answer of [{ status: 403, body: { message: "forbidden" } }, { status: 200, body: { value: 42 } }, { status: 200, body: {} }]) {
            const runner = await runnerEndpoint(() => answer);
            try {
                await assert.rejects(githubAssertion(runner.url, REQUEST_TOKEN)(), (err: Error) => {
                    assert.match(err.message, new RegExp(`^GitHub's OIDC token endpoint http://127\\.0\\.0\\.1:\\d+ answered ${answer.status} without a token: check \`permissions: id-token: write\``));
                    assert.ok(!err.message.includes(REQUEST_TOKEN));
                    return true;
                });
            } finally {
                await runner.close();
            }
        }
        const closed = await runnerEndpoint(() => ({ status: 200, body: {} }));
        await closed.close();
        await assert.rejects(githubAssertion(closed.url, REQUEST_TOKEN)(), /^Error: could not get a GitHub OIDC token for Microsoft Entra from http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): is `permissions: id-token: write` set on the job\?$/);
    });
});
