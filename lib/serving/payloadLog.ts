// The payload log ("inference table") of a served model, as plain decisions: the container
// variables serving/payload_log.py reads, where its blobs go, and how the plan describes it.
// The blob path and line format are the shared design of issue 21 (payload_log.py's docstring).
import type { ServedModel } from "../config/models";

/** The model store container that holds every model's payload log. */
export const PAYLOAD_CONTAINER = "payloads";

/** The variables payload_log.py reads (serving/payload_log.py: RATE_ENV and the rest). */
export const PAYLOAD_LOG_ENV = {
    sampleRate: "PAYLOAD_LOG_SAMPLE_RATE",
    excludeColumns: "PAYLOAD_LOG_EXCLUDE_COLUMNS",
    accountUrl: "PAYLOAD_LOG_ACCOUNT_URL",
    container: "PAYLOAD_LOG_CONTAINER",
    clientId: "PAYLOAD_LOG_CLIENT_ID",
} as const;

/** A storage account's blob endpoint in Azure's public cloud (as the registry's login server is derived). */
export function blobEndpointOf(accountName: string): string {
    return `https://${accountName}.blob.core.windows.net`;
}

/** Whether a model's requests are logged at all. */
export function payloadLogOn(model: Pick<ServedModel, "payloadLog">): boolean {
    return (model.payloadLog?.sampleRate ?? 0) > 0;
}

/**
 * The revision's payload-log variables, plain strings (they are part of the revision's spec, so a
 * new rate or deny-list is a new revision). Empty when the model's log is off. The identity's
 * client id is not here: it is an output of the identity, added by the serving component beside
 * the identity itself.
 */
export function payloadLogVariables(model: Pick<ServedModel, "payloadLog">, accountName: string): { name: string; value: string }[] {
    if (!payloadLogOn(model)) return [];
    const log = model.payloadLog!;
    return [
        { name: PAYLOAD_LOG_ENV.sampleRate, value: String(log.sampleRate) },
        ...(log.excludeColumns.length ? [{ name: PAYLOAD_LOG_ENV.excludeColumns, value: JSON.stringify(log.excludeColumns) }] : []),
        { name: PAYLOAD_LOG_ENV.accountUrl, value: blobEndpointOf(accountName) },
        { name: PAYLOAD_LOG_ENV.container, value: PAYLOAD_CONTAINER },
    ];
}

/** The plan's line for a model's payload log. */
export function describePayloadLog(model: Pick<ServedModel, "model" | "payloadLog">, accountName: string, retentionDays: number): string {
    if (!payloadLogOn(model)) return "off (sampleRate 0)";
    const log = model.payloadLog!;
    const share = `${Math.round(log.sampleRate * 10000) / 100}% of requests`;
    const excluded = log.excludeColumns.length ? `without columns ${log.excludeColumns.join(", ")}` : "every input column";
    return `${share}, ${excluded}, to ${accountName}/${PAYLOAD_CONTAINER}/${model.model}/<version>/date=YYYY-MM-DD/hour=HH/ (kept ${retentionDays} days)`;
}
