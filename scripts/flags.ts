// Command-line flags that all take a value (`--stack dev`), as the project's commands use them.
import { parseArgs } from "util";

/** Parses `--name value` flags; throws node's own error for an unknown flag or a missing value. */
export function parseStringFlags(argv: string[], names: readonly string[]): Record<string, string | undefined> {
    const { values } = parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: Object.fromEntries(names.map((name) => [name, { type: "string" as const }])),
    });
    return values as Record<string, string | undefined>;
}

/** Whether the command was asked for its usage (`--help` or `-h`, before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
    const end = argv.indexOf("--");
    return (end === -1 ? argv : argv.slice(0, end)).some((arg) => arg === "--help" || arg === "-h");
}
