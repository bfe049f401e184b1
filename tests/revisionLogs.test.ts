// lib/serving/revisionLogs: the query for a revision's last console lines, how its answer is read,
// and what a not-ready failure shows of them (never a secret, never a request record).
import * as assert from "assert";
import { lastLinesSentence, logLinesFromAnswer, revisionLogQuery, shownLogLine } from "../lib/serving/revisionLogs";

const answer = (rows: unknown[][], columns = ["TimeGenerated", "Log"]) => ({ tables: [{ name: "PrimaryResult", columns: columns.map((name) => ({ name, type: "string" })), rows }] });

describe("a revision's last console lines", () => {
    it("asks for one app's one revision, without request records, the newest five", () => {
        assert.strictEqual(
            revisionLogQuery("prd-fraud", 'prd-fraud--v2"x'),
            [
                "ContainerAppConsoleLogs",
                '| where ContainerAppName == "prd-fraud" and RevisionName == "prd-fraud--v2\\"x"',
                '| where not(Log startswith "{")',
                "| top 5 by TimeGenerated desc",
                "| project TimeGenerated, Log",
            ].join("\n"),
        );
    });

    it("reads the rows oldest first, finding the columns by name; an answer it cannot read has no lines", () => {
        const rows = [
            ["2026-12-02T10:00:09Z", "third"],
            ["2026-12-02T10:00:01Z", "first"],
            ["2026-12-02T10:00:05Z", "  second  "],
            ["2026-12-02T10:00:06Z", "   "],
            ["2026-12-02T10:00:07Z", 42],
            "not a row",
        ];
        assert.deepStrictEqual(logLinesFromAnswer(answer(rows as unknown[][])), ["first", "second", "third"]);
        assert.deepStrictEqual(logLinesFromAnswer(answer([["b", "2026-12-02T10:00:02Z"], ["a", "2026-12-02T10:00:01Z"]], ["Log", "TimeGenerated"])), ["a", "b"]);
        // Fractions of different lengths are ordered by instant (0.12 s after 0.1 s), not as text.
        assert.deepStrictEqual(logLinesFromAnswer(answer([["2026-12-02T10:00:05.12Z", "later"], ["2026-12-02T10:00:05.1Z", "sooner"], ["2026-12-02T10:00:05.1234567Z", "latest"]])), ["sooner", "later", "latest"]);
        for (const body of [null, {}, { tables: [] }, { tables: [{ columns: [{ name: "TimeGenerated" }], rows: [["x"]] }] }, { tables: [{ columns: "x", rows: [] }] }]) {
            assert.deepStrictEqual(logLinesFromAnswer(body), [], JSON.stringify(body));
        }
    });

    it("hides what looks like a secret and URL credentials, and cuts long lines after that", () => {
        assert.strictEqual(shownLogLine("token=(dapi0123456789abcdef0123456789abcdef), next"), "token=(***), next");
        assert.strictEqual(shownLogLine("secret: abc8Q~0123456789abcdefghijABCDEFGHIJ.kl_mn"), "secret: ***");
        assert.strictEqual(shownLogLine('auth "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc" ok'), 'auth "***" ok');
        assert.strictEqual(shownLogLine("GET https://u:p@h.example/x?sig=1 done"), "GET https://…@h.example/… done");
        assert.strictEqual(shownLogLine("a plain line about 3 workers"), "a plain line about 3 workers");
        const long = shownLogLine(`${"x ".repeat(300)}`);
        assert.strictEqual(long.length, 401);
        assert.ok(long.endsWith("…"));
    });

    it("ends a not-ready failure with the lines, or says why there are none", () => {
        assert.strictEqual(lastLinesSentence("r", ["one", "two"]), "\nr's last console lines (Log Analytics):\n  one\n  two");
        assert.strictEqual(lastLinesSentence("r", []), " (Log Analytics holds no console line of r yet: lines arrive 20 s to 3 min after they are written.)");
        assert.strictEqual(lastLinesSentence("r", { unreadable: "HTTP 403" }), " (r's console log could not be read from Log Analytics: HTTP 403.)");
    });
});
