// A stand-in `pulumi` for commands that read stack outputs (`pulumi stack output --json --stack
// <stack>`), which needs the Pulumi CLI and a backend: it prints the given outputs for each stack,
// and for any other stack what the CLI prints for an unknown one, with its exit code 255.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** A folder holding the stand-in; put it first on PATH. */
export function fakePulumi(outputs: Record<string, unknown>): string {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-pulumi-"));
    const cases = Object.entries(outputs)
        .map(([stack, out]) => `  "stack output --json --stack ${stack}") cat <<'JSON'\n${JSON.stringify(out)}\nJSON\n  ;;`)
        .join("\n");
    fs.writeFileSync(
        path.join(bin, "pulumi"),
        `#!/bin/sh\ncase "$1 $2 $3 $4 $5" in\n${cases}\n  *) echo "error: no stack named '$5' found" >&2; exit 255;;\nesac\n`,
        { mode: 0o755 },
    );
    return bin;
}
