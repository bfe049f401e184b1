// A drift report (serving/drift.py's JSON) as a person reads it: a table for the terminal and a bar
// chart as SVG (written by code, no charting library), for `npm run drift`.

export type DriftLevel = "stable" | "moderate" | "significant";

export interface DriftEntry {
    feature?: string;
    output?: string;
    kind: "numeric" | "categorical" | null;
    statistic: "psi" | "jensen_shannon" | null;
    value: number | null;
    level: DriftLevel | null;
    note?: string;
    unseen?: string[];
    unseen_count?: number;
}

export interface DriftReport {
    model: string;
    version: string;
    window: { start: string; end: string; length: string };
    baseline: { kind: string; source: string; rows: number };
    requests: number;
    rows: number;
    thresholds: { psi: { moderate: number; significant: number }; jensen_shannon: { moderate: number; significant: number } };
    features: DriftEntry[];
    prediction: { source?: string; outputs?: DriftEntry[]; note?: string } | null;
    drifted_features: string[];
    level: DriftLevel | null;
    status: "ok" | "drift" | "no-data";
}

const STATISTIC_NAME = { psi: "PSI", jensen_shannon: "JS distance" } as const;

function entryName(entry: DriftEntry): string {
    return entry.feature ?? entry.output ?? "?";
}

function rowsOf(report: DriftReport): { name: string; entry: DriftEntry }[] {
    return [...report.features.map((entry) => ({ name: entryName(entry), entry })), ...(report.prediction?.outputs ?? []).map((entry) => ({ name: entryName(entry), entry }))];
}

/** The terminal table: one line per feature and per prediction output, then a summary. */
export function driftTable(report: DriftReport): string {
    const header = ["column", "kind", "statistic", "value", "level", "note"];
    const body = rowsOf(report).map(({ name, entry }) => [
        name,
        entry.kind ?? "-",
        entry.statistic ? STATISTIC_NAME[entry.statistic] : "-",
        entry.value === null ? "-" : entry.value.toFixed(4),
        entry.level ?? "-",
        entry.note ?? (entry.unseen_count ? `${entry.unseen_count} new categor${entry.unseen_count === 1 ? "y" : "ies"}: ${(entry.unseen ?? []).slice(0, 5).join(", ")}` : ""),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 3 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ").trimEnd();
    const t = report.thresholds;
    return [
        `model ${report.model} version ${report.version}, window ${report.window.start} to ${report.window.end} (${report.window.length}): ${report.requests} requests, ${report.rows} rows`,
        `baseline: ${report.baseline.kind === "dataset" ? report.baseline.source : "the registered sample"} (${report.baseline.rows} rows)`,
        "",
        line(header),
        line(widths.map((w) => "-".repeat(w))),
        ...body.map(line),
        "",
        report.prediction?.note ? `predictions: ${report.prediction.note}` : `predictions compared with: ${report.prediction?.source ?? "-"}`,
        `levels: PSI >= ${t.psi.moderate} moderate, >= ${t.psi.significant} significant; JS distance >= ${t.jensen_shannon.moderate} moderate, >= ${t.jensen_shannon.significant} significant`,
        report.status === "no-data"
            ? "no logged requests in the window: nothing compared"
            : report.status === "drift"
              ? `DRIFT: significant in ${rowsOf(report).filter((r) => r.entry.level === "significant").map((r) => r.name).join(", ")}`
              : `no significant drift (worst level: ${report.level ?? "-"})`,
    ].join("\n");
}

const COLOURS: Record<DriftLevel, string> = { stable: "#4c9a2a", moderate: "#e0a800", significant: "#c0392b" };

function escapeXml(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * A horizontal bar per column, its length the statistic as a share of the significant threshold
 * (so PSI and JS distance share one scale: 1 = significant), capped at 2, with the thresholds drawn.
 */
export function driftChart(report: DriftReport): string {
    const rows = rowsOf(report);
    const width = 720;
    const labelWidth = 200;
    const barArea = width - labelWidth - 120;
    const rowHeight = 24;
    const top = 48;
    const height = top + rows.length * rowHeight + 40;
    const x = (share: number) => labelWidth + (Math.min(share, 2) / 2) * barArea;
    const parts: string[] = [
        `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
        `<title>${escapeXml(`drift of ${report.model} version ${report.version}, ${report.window.start} to ${report.window.end}`)}</title>`,
        `<text x="8" y="20" font-size="14">${escapeXml(`${report.model} v${report.version}: ${report.window.start} to ${report.window.end} (${report.rows} rows)`)}</text>`,
        `<text x="8" y="38" fill="#555">bar: statistic / significant threshold (PSI ${report.thresholds.psi.significant}, JS ${report.thresholds.jensen_shannon.significant})</text>`,
    ];
    for (const [share, label] of [
        [0.4, "PSI moderate"],
        [1, "significant"],
    ] as const) {
        parts.push(`<line x1="${x(share)}" y1="${top - 4}" x2="${x(share)}" y2="${top + rows.length * rowHeight}" stroke="#888" stroke-dasharray="4 3"/>`);
        parts.push(`<text x="${x(share) + 3}" y="${top + rows.length * rowHeight + 14}" fill="#555">${label}</text>`);
    }
    rows.forEach(({ name, entry }, i) => {
        const y = top + i * rowHeight;
        const threshold = entry.statistic ? report.thresholds[entry.statistic].significant : 1;
        const share = entry.value === null ? 0 : entry.value / threshold;
        parts.push(`<text x="8" y="${y + 15}">${escapeXml(name)}</text>`);
        if (entry.value !== null && entry.level) {
            parts.push(`<rect class="bar" data-column="${escapeXml(name)}" data-level="${entry.level}" x="${labelWidth}" y="${y + 4}" width="${(x(share) - labelWidth).toFixed(1)}" height="${rowHeight - 8}" fill="${COLOURS[entry.level]}"/>`);
            parts.push(`<text x="${x(share) + 4}" y="${y + 15}">${entry.statistic ? STATISTIC_NAME[entry.statistic] : ""} ${entry.value.toFixed(3)}</text>`);
        } else {
            parts.push(`<text x="${labelWidth}" y="${y + 15}" fill="#888">${escapeXml(entry.note ?? "not compared")}</text>`);
        }
    });
    parts.push("</svg>");
    return parts.join("\n");
}
