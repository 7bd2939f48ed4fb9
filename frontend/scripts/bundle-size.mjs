// Prints the gzipped size of every JS asset in dist/ and fails above the budget,
// so a heavy dependency can't slip into the UI unnoticed.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";

const LIMIT_KB = Number(process.env.VISEARCH_UI_JS_BUDGET_KB ?? 300);
const dist = new URL("../dist/", import.meta.url).pathname;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const files = walk(dist).filter((p) => p.endsWith(".js"));
if (files.length === 0) {
  console.error("bundle-size: no JS assets found in dist/ (did vite build run?)");
  process.exit(1);
}
let total = 0;
for (const file of files) {
  const raw = readFileSync(file);
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`  ${relative(dist, file).padEnd(40)} ${(raw.length / 1024).toFixed(1).padStart(8)} kB  gzip ${(gz / 1024).toFixed(1).padStart(7)} kB`);
}
const totalKb = total / 1024;
console.log(`bundle-size: total JS gzipped ${totalKb.toFixed(1)} kB (limit ${LIMIT_KB} kB)`);
if (totalKb > LIMIT_KB) {
  console.error(`bundle-size: FAILED, ${totalKb.toFixed(1)} kB is over the ${LIMIT_KB} kB budget`);
  process.exit(1);
}
