// lib/serving/payloadLog.ts: the variables serving/payload_log.py reads, per served model.
import * as assert from "assert";
import { blobEndpointOf, describePayloadLog, PAYLOAD_LOG_ENV, payloadLogOn, payloadLogVariables } from "../lib/serving/payloadLog";

describe("payload log variables", () => {
    it("a model that logs gets its rate, deny-list as JSON, the store's blob endpoint and the container; plain strings only", () => {
        const vars = payloadLogVariables({ payloadLog: { sampleRate: 0.25, excludeColumns: ["email", "a,b"] } }, "mlplatprdmodels");
        assert.deepStrictEqual(vars, [
            { name: "PAYLOAD_LOG_SAMPLE_RATE", value: "0.25" },
            { name: "PAYLOAD_LOG_EXCLUDE_COLUMNS", value: '["email","a,b"]' },
            { name: "PAYLOAD_LOG_ACCOUNT_URL", value: "https://mlplatprdmodels.blob.core.windows.net" },
            { name: "PAYLOAD_LOG_CONTAINER", value: "payloads" },
        ]);
        for (const v of vars) assert.strictEqual(typeof v.value, "string");
        assert.deepStrictEqual(
            payloadLogVariables({ payloadLog: { sampleRate: 1, excludeColumns: [] } }, "a").map((v) => v.name),
            [PAYLOAD_LOG_ENV.sampleRate, PAYLOAD_LOG_ENV.accountUrl, PAYLOAD_LOG_ENV.container],
            "no deny-list variable when nothing is excluded",
        );
    });

    it("rate 0 or no settings: off, no variables", () => {
        assert.deepStrictEqual(payloadLogVariables({ payloadLog: { sampleRate: 0, excludeColumns: ["email"] } }, "a"), []);
        assert.deepStrictEqual(payloadLogVariables({}, "a"), []);
        assert.strictEqual(payloadLogOn({}), false);
        assert.strictEqual(payloadLogOn({ payloadLog: { sampleRate: 0.001, excludeColumns: [] } }), true);
    });

    it("describes the share, the excluded columns and the blob path", () => {
        assert.strictEqual(blobEndpointOf("acct"), "https://acct.blob.core.windows.net");
        assert.strictEqual(
            describePayloadLog({ model: "main.risk.fraud", payloadLog: { sampleRate: 0.125, excludeColumns: ["email"] } }, "acct", 90),
            "12.5% of requests, without columns email, to acct/payloads/main.risk.fraud/<version>/date=YYYY-MM-DD/hour=HH/ (kept 90 days)",
        );
        assert.strictEqual(describePayloadLog({ model: "m" }, "acct", 30), "off (sampleRate 0)");
    });
});
