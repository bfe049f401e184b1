// Issue 20: the code's layout may change, what a deployed stack sees may not. The resources each
// shipped stack declares (type, logical name, parent, and so the URN) must equal the committed list;
// a deliberate change regenerates it with `PLAN_GOLDEN_WRITE=1` and shows up in review.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { planStack, type Plan } from "../lib/plan";
import { PROJECT_DIR } from "./helpers/fixtures";

const FIXTURES = path.join(__dirname, "fixtures");

/** One line per resource, sorted: registration order is not something a stack sees. */
export function resourceLines(plan: Plan): string[] {
    return plan.resources
        .map((r) => `${r.read ? "read" : r.custom ? "resource" : "component"} ${r.type} ${r.name}${r.parent ? ` (parent: ${r.parent})` : ""} ${r.urn}`)
        .sort();
}

describe("the plan's resource list is the committed one (issue 20: moving code changes no type, name or parent)", () => {
    for (const stack of ["dev", "prd"]) {
        it(`${stack}: every resource's type, logical name, parent and URN`, async () => {
            const lines = resourceLines(await planStack(PROJECT_DIR, stack));
            const fixture = path.join(FIXTURES, `plan-resources-${stack}.txt`);
            if (process.env.PLAN_GOLDEN_WRITE === "1") fs.writeFileSync(fixture, `${lines.join("\n")}\n`);
            const expected = fs.readFileSync(fixture, "utf8").trimEnd().split("\n");
            assert.ok(expected.length > 20, `${fixture} lists the stack's resources`);
            assert.deepStrictEqual(lines, expected);
        });
    }
});
