// Which payload files a drift window reads: the hour folders of the payload log's layout
// (`<model>/<version>/date=YYYY-MM-DD/hour=HH/…`, UTC) that can hold its requests. The same rule
// as serving/drift.py hour_folders, so `npm run drift` downloads what the computation reads.

export interface DriftWindow {
    start: Date;
    end: Date;
}

/** The window of `hours` ending at `end`, or at the start of the current hour. */
export function driftWindow(hours: number, end?: Date, now: Date = new Date()): DriftWindow {
    const until = end ?? new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000);
    return { start: new Date(until.getTime() - hours * 3_600_000), end: until };
}

const two = (n: number) => String(n).padStart(2, "0");

/** `<model>/<version>/date=…/hour=…/` of every hour that overlaps [start, end). */
export function hourPrefixes(model: string, version: string, window: DriftWindow): string[] {
    const prefixes: string[] = [];
    let hour = Math.floor(window.start.getTime() / 3_600_000) * 3_600_000;
    for (; hour < window.end.getTime(); hour += 3_600_000) {
        const t = new Date(hour);
        prefixes.push(`${model}/${version}/date=${t.getUTCFullYear()}-${two(t.getUTCMonth() + 1)}-${two(t.getUTCDate())}/hour=${two(t.getUTCHours())}/`);
    }
    return prefixes;
}

/** `2026-12-02T12:00:00Z`, the form report names and the Python take. */
export function isoSeconds(moment: Date): string {
    return moment.toISOString().replace(/\.\d{3}Z$/, "Z");
}
