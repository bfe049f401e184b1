// Preloaded into a measured process (`node -r ./bench/peakRss.js …`): on exit, appends the
// process's peak resident memory (KB) to the file named by BENCH_RSS_FILE.
const fs = require("fs");
process.on("exit", () => {
    if (process.env.BENCH_RSS_FILE) fs.appendFileSync(process.env.BENCH_RSS_FILE, `${process.resourceUsage().maxRSS}\n`);
});
