// The scoring client's and smoke test's edges that the behaviour suites leave open (found by
// `npm run mutation -- lib/scoring`): how a URL is shown and taken apart, which transport errors
// are retried and how long each pause is, how odd bodies and error fields are read, the exact
// refusals of a scoring URI, and how stack outputs and a held /ping are handled.
// Transport errors a real server cannot produce on demand (EPIPE, ETIMEDOUT, a resolver failure)
// are injected with an axios request interceptor: axios rejects the request with that error
// before anything is sent, exactly as its HTTP adapter does when the socket fails.
import * as assert from "assert";
import * as http from "http";
import type { AddressInfo } from "net";
import axios, { AxiosError } from "axios";
import { displayUrl, endpointRoute, hostOf, parseScoringUri, schemaColumns, score, scoringHint, ScoringError, urlSecrets, type ScoringErrorKind } from "../lib/scoring/client";
import { emptyStackNotice, runSmoke, SmokeError, targetsFromStackOutputs, waitUntilReady, type SmokeIO } from "../lib/scoring/smoke";

interface Seen {
    method?: string;
    url?: string;
    headers: http.IncomingHttpHeaders;
}

/** A loopback server answering each request with `answer`; records what it was sent. */
async function server(answer: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
    const seen: Seen[] = [];
    const sockets = new Set<import("net").Socket>();
    const srv = http.createServer((req, res) => {
        seen.push({ method: req.method, url: req.url, headers: req.headers });
        req.resume();
        req.on("end", () => answer(req, res, seen.length));
    });
    srv.on("connection", (s) => {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    const { port } = srv.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        seen,
        close: () =>
            new Promise<void>((resolve) => {
                for (const s of sockets) s.destroy();
                srv.close(() => resolve());
            }),
    };
}

function reply(res: http.ServerResponse, status: number, body: string, contentType = "application/json") {
    res.writeHead(status, { "Content-Type": contentType });
    res.end(body);
}

async function failure(promise: Promise<unknown>, kind: ScoringErrorKind): Promise<ScoringError> {
    try {
        await promise;
    } catch (err) {
        assert.ok(err instanceof ScoringError, `expected a ScoringError, got ${err}`);
        assert.strictEqual(err.kind, kind, err.message);
        return err;
    }
    assert.fail(`expected a ${kind} failure`);
}

/** Makes the next `times` axios requests fail with `code` before they are sent; returns the count of requests seen. */
function injectTransportError(code: string | undefined, times: number): { calls: () => number; remove(): void } {
    let calls = 0;
    const id = axios.interceptors.request.use((config) => {
        calls++;
        if (calls <= times) return Promise.reject(new AxiosError(`injected ${code ?? "error without a code"}`, code, config));
        return config;
    });
    return { calls: () => calls, remove: () => axios.interceptors.request.eject(id) };
}

const INPUT = { dataframe_split: { columns: ["a"], data: [[1]] } };
const OK = JSON.stringify({ predictions: [0] });

describe("scoring client edges", () => {
    describe("displayUrl and urlSecrets", () => {
        it("hides user info and the query of a text that is not a URL, keeping the rest", () => {
            assert.strictEqual(displayUrl("no-scheme//scorer:tok-77@host/p?code=abc&x=1#frag"), "no-scheme//***@host/p?***#frag");
        });

        it("hides a user name alone, a password alone, and a query alone, each only where it was", () => {
            assert.strictEqual(displayUrl("https://tok-only@h.example/invocations"), "https://***@h.example/invocations");
            assert.strictEqual(displayUrl("https://:pw-only@h.example/invocations"), "https://***@h.example/invocations");
            assert.strictEqual(displayUrl("https://h.example/invocations?code=q-1"), "https://h.example/invocations?***");
        });

        it("returns a URL with nothing to hide exactly as given; a fragment alone is dropped", () => {
            // new URL() would normalise these (scheme and host case, default port, dot segments).
            assert.strictEqual(displayUrl("HTTP://Example.NET:80/a/../invocations"), "HTTP://Example.NET:80/a/../invocations");
            assert.strictEqual(displayUrl("https://h.example/invocations#part"), "https://h.example/invocations");
        });

        it("takes a URL's secrets apart raw and decoded, once each, and nothing from a non-URL", () => {
            assert.deepStrictEqual(urlSecrets("https://user-1@h.example/x"), ["user-1"]);
            assert.deepStrictEqual(urlSecrets("https://u%2Fa:p%20w@h.example/x?code=c%2B1"), ["u%2Fa", "p%20w", "c+1", "code=c%2B1", "u/a", "p w", "code=c+1"]);
            // A broken percent escape cannot be decoded: the raw text is kept.
            assert.deepStrictEqual(urlSecrets("https://%E0%A4%A@h.example/x"), ["%E0%A4%A"]);
            assert.deepStrictEqual(urlSecrets("not a url"), []);
            assert.deepStrictEqual(urlSecrets(undefined), []);
            assert.deepStrictEqual(urlSecrets("https://h.example/x"), []);
        });

        it("hostOf gives the host name, or the hidden text when it is not a URL", () => {
            assert.strictEqual(hostOf("https://u:p@h.example:8443/x?y=1"), "h.example");
            assert.strictEqual(hostOf("nope//u:p@x?y=1"), "nope//***@x?***");
        });
    });

    describe("MLflow's schema errors", () => {
        it("reads names with spaces, commas and escaped quotes, and bare numbers of several digits", () => {
            const message = "Error: Model is missing inputs ['first name', 'a,b', 'it\\'s', 12].";
            assert.deepStrictEqual(schemaColumns(message)?.missing, ["first name", "a,b", "it's", "12"]);
        });

        it("reads extra inputs only after the missing ones", () => {
            assert.deepStrictEqual(schemaColumns("there were extra inputs: ['z']. Error: Model is missing inputs ['a']."), { missing: ["a"], extra: [] });
        });

        it("names at most 20 columns, then how many more", () => {
            const names = (n: number) => Array.from({ length: n }, (_, i) => `c${i}`);
            const hint = (n: number) => scoringHint(`Error: Model is missing inputs [${names(n).map((c) => `'${c}'`).join(", ")}].`);
            assert.ok(hint(20).includes(`requires: ${names(20).join(", ")}.`), hint(20));
            assert.ok(hint(25).includes(`requires: ${names(20).join(", ")} and 5 more.`), hint(25));
        });

        it("names the extra columns, and asks to check the unexpected ones only beside a misspelling", () => {
            assert.strictEqual(
                scoringHint("Error: Model is missing inputs ['a']. Note that there were extra inputs: ['zz']."),
                "The input lacks a column the model's signature requires: a. It has a column the model does not know: zz. " +
                    "Send named columns (dataframe_split with columns, dataframe_records, or inputs as records or a dict of columns), not lists of lists.",
            );
        });
    });

    describe("transport errors", () => {
        let injected: ReturnType<typeof injectTransportError> | undefined;
        let up: Awaited<ReturnType<typeof server>> | undefined;
        afterEach(async () => {
            injected?.remove();
            injected = undefined;
            await up?.close();
            up = undefined;
        });

        for (const code of ["ECONNREFUSED", "ECONNRESET", "EPIPE", "EAI_AGAIN"]) {
            it(`retries ${code} with doubling pauses, then answers`, async () => {
                up = await server((_req, res) => reply(res, 200, OK));
                injected = injectTransportError(code, 2);
                const pauses: number[] = [];
                const predictions = await score(`${up.url}/invocations`, INPUT, { maxAttempts: 3, baseDelayMs: 40, sleep: async (ms) => void pauses.push(ms) });
                assert.deepStrictEqual(predictions, [0]);
                assert.deepStrictEqual(pauses, [40, 80]);
                assert.strictEqual(up.seen.length, 1);
            });
        }

        it("gives up on a retried error after maxAttempts, saying how many", async () => {
            injected = injectTransportError("ECONNRESET", 5);
            const err = await failure(score("http://127.0.0.1:9/invocations", INPUT, { maxAttempts: 2, sleep: async () => {} }), "connection");
            assert.strictEqual(err.message, "cannot connect (ECONNRESET) after 2 attempts. Endpoint: http://127.0.0.1:9/invocations. Check the URL and that the endpoint is running (npm run smoke waits for readiness).");
            assert.strictEqual(injected.calls(), 2);
        });

        it("does not retry an error that is not transient (EHOSTUNREACH), nor one without a code", async () => {
            injected = injectTransportError("EHOSTUNREACH", 5);
            const err = await failure(score("http://127.0.0.1:9/invocations", INPUT, { maxAttempts: 3, sleep: async () => {} }), "connection");
            assert.ok(err.message.startsWith("cannot connect (EHOSTUNREACH). Endpoint:"), err.message);
            assert.strictEqual(injected.calls(), 1);
            injected.remove();
            injected = injectTransportError(undefined, 5);
            const noCode = await failure(score("http://127.0.0.1:9/invocations", INPUT, { maxAttempts: 3, sleep: async () => {} }), "connection");
            assert.ok(noCode.message.startsWith("cannot connect (injected error without a code). Endpoint:"), noCode.message);
            assert.strictEqual(injected.calls(), 1);
        });

        it("fails at once on a name that does not resolve, saying which", async () => {
            injected = injectTransportError("ENOTFOUND", 5);
            const err = await failure(score("https://scorer.invalid/invocations", INPUT, { sleep: async () => {} }), "connection");
            assert.strictEqual(err.message, "the host name scorer.invalid does not resolve (ENOTFOUND). Endpoint: https://scorer.invalid/invocations. Check the URL: a typo, or an endpoint that was removed.");
            assert.strictEqual(injected.calls(), 1);
        });

        it("reports ETIMEDOUT and a request timeout as a timeout, not retried", async () => {
            injected = injectTransportError("ETIMEDOUT", 5);
            const err = await failure(score("http://127.0.0.1:9/invocations", INPUT, { timeoutMs: 1234, sleep: async () => {} }), "timeout");
            assert.strictEqual(err.message, "no answer within 1234 ms. Endpoint: http://127.0.0.1:9/invocations. The model may be overloaded: try a larger size, or a smaller input.");
            assert.strictEqual(injected.calls(), 1);
            injected.remove();
            injected = undefined;
            up = await server(() => {
                /* never answers */
            });
            await failure(score(`${up.url}/invocations`, INPUT, { timeoutMs: 150, sleep: async () => {} }), "timeout");
            assert.strictEqual(up.seen.length, 1, "a timed-out prediction may still run: it is not sent again");
        });

        it("pauses for real between attempts when no sleep is given", async () => {
            up = await server((_req, res, n) => (n === 1 ? reply(res, 503, "") : reply(res, 200, OK)));
            const started = Date.now();
            await score(`${up.url}/invocations`, INPUT, { baseDelayMs: 120 });
            assert.ok(Date.now() - started >= 110, `waited ${Date.now() - started} ms`);
        });
    });

    describe("answers", () => {
        let up: Awaited<ReturnType<typeof server>> | undefined;
        afterEach(async () => {
            await up?.close();
            up = undefined;
        });
        const at = async (status: number, body: string, contentType?: string, options = {}) => {
            up = await server((_req, res) => reply(res, status, body, contentType));
            return score(`${up.url}/invocations`, INPUT, { maxAttempts: 1, ...options });
        };

        it("asks for JSON and sends the bearer token", async () => {
            await at(200, OK, "application/json", { bearerToken: "tok-123" });
            assert.strictEqual(up!.seen[0].headers.accept, "application/json");
            assert.strictEqual(up!.seen[0].headers.authorization, "Bearer tok-123");
            assert.strictEqual(up!.seen[0].headers["content-type"], "application/json");
        });

        it("a 200 in plain text, or JSON of only whitespace, has no predictions", async () => {
            const text = await failure(at(200, "hello", "text/plain"), "bad-response");
            assert.ok(text.message.startsWith("HTTP 200 without predictions: hello. Endpoint:"), text.message);
            await up!.close();
            const blank = await failure(at(200, "  \n", "application/json"), "bad-response");
            assert.ok(blank.message.startsWith("HTTP 200 without predictions: (empty). Endpoint:"), blank.message);
        });

        it("a JSON null is no answer: no predictions on a 200, nothing to read on a 500", async () => {
            const ok = await failure(at(200, "null"), "bad-response");
            assert.ok(ok.message.startsWith("HTTP 200 without predictions: null. Endpoint:"), ok.message);
            await up!.close();
            const failed = await failure(at(500, "null"), "server-error");
            assert.ok(failed.message.startsWith("the server failed (HTTP 500: null). Endpoint:"), failed.message);
        });

        it("reads error_code and message only when they are strings, from an object only", async () => {
            const odd = await failure(at(500, JSON.stringify({ error_code: 5, message: 7 })), "server-error");
            assert.ok(odd.message.startsWith('the server failed (HTTP 500: {"error_code":5,"message":7}). Endpoint:'), odd.message);
            await up!.close();
            const list = await failure(at(500, JSON.stringify(["error_code", "message"])), "server-error");
            assert.ok(list.message.startsWith('the server failed (HTTP 500: ["error_code","message"]). Endpoint:'), list.message);
            await up!.close();
            const text = await failure(at(500, "boom", "text/plain"), "server-error");
            assert.ok(text.message.startsWith("the server failed (HTTP 500: boom). Endpoint:"), text.message);
        });

        it("a 400 without an error code reads cleanly", async () => {
            const err = await failure(at(400, JSON.stringify({ message: "bad input" })), "bad-request");
            assert.ok(err.message.startsWith("the model refused the input (HTTP 400: bad input). Endpoint:"), err.message);
        });

        it("never repeats the bearer token or a URL secret that a server echoes", async () => {
            up = await server((req, res) => reply(res, 500, JSON.stringify({ error_code: "INTERNAL_ERROR", message: `auth was ${req.headers.authorization}, saw ${String(req.headers.authorization).slice(7)} for ${new URL(req.url!, "http://x").searchParams.get("code")}` })));
            const err = await failure(score(`${up.url}/invocations?code=qsecret-1`, INPUT, { maxAttempts: 1, bearerToken: "tok-echo-9" }), "server-error");
            assert.ok(!err.message.includes("tok-echo-9") && !err.message.includes("qsecret-1"), err.message);
            assert.ok(err.message.includes("auth was Bearer ***, saw *** for ***"), err.message);
        });
    });

    describe("scoring URIs", () => {
        const refusal = (uri: string) => {
            try {
                parseScoringUri(uri, "the URL");
            } catch (err) {
                assert.ok(err instanceof ScoringError);
                assert.strictEqual(err.kind, "invalid-input");
                return err.message;
            }
            assert.fail(`${uri} was accepted`);
        };

        it("refuses what is not an http(s) URL, with the way to write one", () => {
            assert.strictEqual(refusal("scorer:8080"), 'the URL "scorer:8080" is not an http(s) URL: use http(s)://<host>[:port]/invocations');
            assert.strictEqual(refusal("no url at all"), 'the URL "no url at all" is not a URL: use http(s)://<host>[:port]/invocations');
        });

        it("completes a URL without a path, trims the one trailing slash allowed, and trims all of them in the example", () => {
            assert.deepStrictEqual(parseScoringUri("https://h.example"), { uri: "https://h.example/invocations", completed: true });
            assert.deepStrictEqual(parseScoringUri("https://h.example/invocations/"), { uri: "https://h.example/invocations", completed: false });
            assert.match(refusal("https://h.example/invocations//"), /does not end in \/invocations/);
            assert.strictEqual(
                refusal("https://h.example/score//"),
                "the URL https://h.example/score// does not end in /invocations: MLflow scoring servers take predictions at <base>/invocations, for example https://h.example/score/invocations",
            );
        });

        it("turns only the final /invocations into another route", () => {
            assert.strictEqual(endpointRoute("https://h.example/invocations/x/invocations", "ping"), "https://h.example/invocations/x/ping");
        });
    });
});

describe("smoke test edges", () => {
    const clock = (start: number) => {
        let t = start;
        const lines: string[] = [];
        const io: SmokeIO = { log: (l) => void lines.push(l), now: () => t, sleep: async (ms) => void (t += ms) };
        return { io, lines, advance: (ms: number) => (t += ms) };
    };

    describe("stack outputs", () => {
        it("refuses outputs that are not a map, and models that are not maps with an http(s) scoringUri", () => {
            for (const outputs of [null, "text", 3]) assert.throws(() => targetsFromStackOutputs(outputs, "dev"), (e: Error) => e instanceof SmokeError && e.message === 'stack dev has no "models" output: deploy it with `pulumi up` first, or pass --url');
            for (const value of [null, "https://h.example/invocations", { scoringUri: "ftp://h.example/invocations" }, { scoringUri: 7 }, { scoringUri: ["https://h.example/invocations"] }]) {
                assert.throws(() => targetsFromStackOutputs({ models: { fraud: value } }, "dev"), (e: Error) => e instanceof SmokeError && e.message === "stack dev: model fraud has no scoringUri output", JSON.stringify(value));
            }
        });

        it("keeps only well-formed skipped models, naming a model by its name when it has no model string", () => {
            const { skipped } = targetsFromStackOutputs({ models: {}, skippedModels: [null, 3, "x", { model: "m" }, { name: 4 }, { name: "a" }, { name: "b", model: 5 }, { name: "c", model: "cat.s.c" }] }, "dev");
            assert.deepStrictEqual(skipped, [
                { name: "a", model: "a" },
                { name: "b", model: "b" },
                { name: "c", model: "cat.s.c" },
            ]);
            assert.deepStrictEqual(targetsFromStackOutputs({ models: {}, skippedModels: "a" }, "dev").skipped, []);
        });

        it("the empty-stack notice names what waits, or says the list is empty", () => {
            const tail = " Register a version, run `pulumi up` again, and the smoke test checks it.";
            assert.strictEqual(emptyStackNotice("dev", []), `smoke: notice: stack dev serves no models yet, so there is nothing to check. mlflow-platform:models is empty.${tail}`);
            assert.strictEqual(emptyStackNotice("dev", [{ name: "fraud", model: "m.dev.fraud" }]), `smoke: notice: stack dev serves no models yet, so there is nothing to check. fraud (m.dev.fraud) is not registered yet.${tail}`);
            assert.strictEqual(
                emptyStackNotice("dev", [
                    { name: "a", model: "m.a" },
                    { name: "b", model: "m.b" },
                ]),
                `smoke: notice: stack dev serves no models yet, so there is nothing to check. a (m.a), b (m.b) are not registered yet.${tail}`,
            );
        });
    });

    describe("readiness", () => {
        let injected: ReturnType<typeof injectTransportError> | undefined;
        let up: Awaited<ReturnType<typeof server>> | undefined;
        afterEach(async () => {
            injected?.remove();
            injected = undefined;
            await up?.close();
            up = undefined;
        });

        it("counts seconds from the start of the wait, on a clock that does not start at zero", async () => {
            injected = injectTransportError("ECONNREFUSED", 100);
            const { io, lines } = clock(1_000_000);
            await assert.rejects(
                waitUntilReady({ name: "fraud", scoringUri: "http://127.0.0.1:9/invocations" }, { readyTimeoutMs: 2000, readyPollMs: 1000 }, io),
                (e: Error) => e instanceof SmokeError && e.message.startsWith("fraud: not ready after 2 s (last answer from http://127.0.0.1:9/ping: ECONNREFUSED)"),
            );
            assert.deepStrictEqual(lines, ["fraud: waiting for http://127.0.0.1:9/ping (ECONNREFUSED, 0 s of 2 s)", "fraud: waiting for http://127.0.0.1:9/ping (ECONNREFUSED, 1 s of 2 s)"]);
        });

        it("ends the wait at the deadline, even when the endpoint would answer just after it", async () => {
            up = await server((_req, res) => reply(res, 200, ""));
            injected = injectTransportError("ECONNREFUSED", 2);
            const { io } = clock(0);
            await assert.rejects(
                waitUntilReady({ name: "fraud", scoringUri: `${up.url}/invocations` }, { readyTimeoutMs: 2000, readyPollMs: 1000 }, io),
                (e: Error) => e instanceof SmokeError && e.message.startsWith("fraud: not ready after 2 s"),
            );
            assert.strictEqual(injected.calls(), 2, "no attempt at the deadline itself");
        });

        it("names an answer without an error code a network error", async () => {
            injected = injectTransportError(undefined, 100);
            const { io, lines } = clock(0);
            await assert.rejects(waitUntilReady({ name: "fraud", scoringUri: "http://127.0.0.1:9/invocations" }, { readyTimeoutMs: 1000, readyPollMs: 1000 }, io), SmokeError);
            assert.strictEqual(lines[0], "fraud: waiting for http://127.0.0.1:9/ping (network error, 0 s of 1 s)");
        });

        it("lets an error that is not a request's failure through, instead of waiting on it", async () => {
            const id = axios.interceptors.request.use(() => Promise.reject(new TypeError("a bug, not an answer")));
            try {
                const { io, lines } = clock(0);
                await assert.rejects(waitUntilReady({ name: "fraud", scoringUri: "http://127.0.0.1:9/invocations" }, { readyTimeoutMs: 1000, readyPollMs: 100 }, io), (e: Error) => e instanceof TypeError && e.message === "a bug, not an answer");
                assert.deepStrictEqual(lines, []);
            } finally {
                axios.interceptors.request.eject(id);
            }
        });

        it("cuts a /ping held past the deadline at the deadline", async () => {
            up = await server(() => {
                /* holds every request */
            });
            const started = Date.now();
            const io: SmokeIO = { log: () => {}, now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };
            await assert.rejects(waitUntilReady({ name: "fraud", scoringUri: `${up.url}/invocations` }, { readyTimeoutMs: 400, readyPollMs: 100 }, io), SmokeError);
            assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
        });
    });

    describe("runSmoke", () => {
        let up: Awaited<ReturnType<typeof server>> | undefined;
        afterEach(async () => {
            await up?.close();
            up = undefined;
        });

        it("sends the bearer token on every request, sequential and concurrent", async () => {
            up = await server((req, res) => (req.headers.authorization === "Bearer tok-smoke" ? reply(res, 200, req.url === "/ping" ? "" : OK) : reply(res, 401, "")));
            const { io } = clock(0);
            const [result] = await runSmoke(
                { targets: [{ name: "fraud", scoringUri: `${up.url}/invocations` }], input: INPUT, requests: 3, concurrency: 2, readyTimeoutMs: 1000, readyPollMs: 100, requestTimeoutMs: 2000, bearerToken: "tok-smoke" },
                io,
            );
            assert.strictEqual(result.capacity?.failures, 0);
            assert.strictEqual(up.seen.length, 1 + 3 + 3);
            assert.ok(up.seen.every((s) => s.headers.authorization === "Bearer tok-smoke"));
        });

        it("gives each sequential request the request timeout and retries through the injected sleep", async () => {
            up = await server((req, res, n) => {
                if (req.url === "/ping") return reply(res, 200, "");
                if (n === 2) return reply(res, 503, "");
                if (n === 4) return; // held: the request timeout ends it
                reply(res, 200, OK);
            });
            const pauses: number[] = [];
            const io: SmokeIO = { log: () => {}, now: () => Date.now(), sleep: async (ms) => void pauses.push(ms) };
            await assert.rejects(
                runSmoke({ targets: [{ name: "fraud", scoringUri: `${up.url}/invocations` }], input: INPUT, requests: 3, readyTimeoutMs: 1000, readyPollMs: 100, requestTimeoutMs: 300 }, io),
                (e: Error) => e instanceof SmokeError && e.message.startsWith("fraud: no answer within 300 ms."),
            );
            assert.deepStrictEqual(pauses, [500], "the 503 was retried through io.sleep");
        });
    });
});
