// Why a revision never became ready, in `pulumi up`'s own words: its last console lines from the
// environment's Log Analytics workspace (ContainerAppConsoleLogs: ContainerAppName, RevisionName,
// Stream, Log, TimeGenerated; learn.microsoft.com/azure/azure-monitor/reference/tables/containerappconsolelogs).
// serve_model.py and payload_log.py say there what stopped the server (a refused config names its
// key), so the failure names the key instead of only "look at the logs". Request records are left out.
import { looksLikeSecret, redactUrls } from "../config/text";
import { kqlString } from "../observability/alerts";

export const LAST_LINES = 5;
const MAX_LINE = 400;

/** The KQL for a revision's last console lines that are not request records, oldest first once read. */
export function revisionLogQuery(appName: string, revision: string): string {
    return [
        "ContainerAppConsoleLogs",
        `| where ContainerAppName == ${kqlString(appName)} and RevisionName == ${kqlString(revision)}`,
        `| where not(Log startswith "{")`,
        `| top ${LAST_LINES} by TimeGenerated desc`,
        "| project TimeGenerated, Log",
    ].join("\n");
}

/** A console line as a message may show it: URL credentials and queries out, words that look like secrets hidden, long lines cut after that. */
export function shownLogLine(line: string): string {
    // A word between blanks, quotes, brackets and key=value separators is one candidate.
    const words = redactUrls(line.trim()).replace(/[^\s=,;:()[\]{}"'<>]+/g, (word) => (looksLikeSecret(word) ? "***" : word));
    return words.length > MAX_LINE ? `${words.slice(0, MAX_LINE)}…` : words;
}

/** The lines of a Log Analytics answer ({tables: [{columns, rows}]}) to that query, oldest first; [] when it has none it can read. */
export function logLinesFromAnswer(body: unknown): string[] {
    const table = (body as { tables?: { columns?: { name?: unknown }[]; rows?: unknown[] }[] } | null)?.tables?.[0];
    if (!table || !Array.isArray(table.columns) || !Array.isArray(table.rows)) return [];
    const time = table.columns.findIndex((c) => c?.name === "TimeGenerated");
    const log = table.columns.findIndex((c) => c?.name === "Log");
    if (log < 0) return [];
    return table.rows
        .filter((row): row is unknown[] => Array.isArray(row) && typeof row[log] === "string" && (row[log] as string).trim() !== "")
        // By instant, not text: datetimes whose fractions differ in length (…:05.1Z, …:05.12Z) sort wrongly as text.
        .map((row) => ({ at: time >= 0 ? Date.parse(String(row[time])) || 0 : 0, line: shownLogLine(row[log] as string) }))
        .sort((a, b) => a.at - b.at)
        .map((entry) => entry.line);
}

/** The sentence a not-ready failure ends with. */
export function lastLinesSentence(revision: string, lines: readonly string[] | { unreadable: string }): string {
    if ("unreadable" in lines) return ` (${revision}'s console log could not be read from Log Analytics: ${lines.unreadable}.)`;
    if (lines.length === 0) return ` (Log Analytics holds no console line of ${revision} yet: lines arrive 20 s to 3 min after they are written.)`;
    return `\n${revision}'s last console lines (Log Analytics):\n${lines.map((l) => `  ${l}`).join("\n")}`;
}
