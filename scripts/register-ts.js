// `node --require ./scripts/register-ts.js`: runs the project's TypeScript without type checking.
// sucrase strips the types; each file's output is cached by content hash under
// node_modules/.cache, so a start does not redo the work for files that did not change.
// Type checking happens in `npm test` and CI (`tsc --noEmit`), not at every start.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const path = require("path");
const { addHook } = require("pirates");

const CACHE_DIR = path.join(__dirname, "..", "node_modules", ".cache", "mlflow-platform-ts");
const SUCRASE_VERSION = require("sucrase/package.json").version;
const OPTIONS = { transforms: ["imports", "typescript"] };
let transform; // sucrase itself loads only on a cache miss

function compile(code, filename) {
    const key = crypto.createHash("sha256").update(`${SUCRASE_VERSION}\0${JSON.stringify(OPTIONS)}\0${filename}\0`).update(code).digest("hex");
    const cached = path.join(CACHE_DIR, `${key}.js`);
    try {
        return fs.readFileSync(cached, "utf8");
    } catch {
        // not cached yet
    }
    transform = transform || require("sucrase").transform;
    const out = transform(code, { ...OPTIONS, filePath: filename, sourceMapOptions: { compiledFilename: filename } });
    const map = Buffer.from(JSON.stringify(out.sourceMap)).toString("base64");
    const result = `${out.code}\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,${map}`;
    try {
        // Write then rename, so concurrent starts never read a half-written file.
        fs.mkdirSync(CACHE_DIR, { recursive: true });
        const temporary = `${cached}.${process.pid}`;
        fs.writeFileSync(temporary, result);
        fs.renameSync(temporary, cached);
    } catch {
        // A read-only tree just means no cache.
    }
    return result;
}

addHook(compile, { exts: [".ts"] });
