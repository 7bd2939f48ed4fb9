// Writes Brotli (.br) and gzip (.gz) copies beside every text asset in dist/assets, which the
// API sends as they are to browsers that accept them (backend/visearch/api/static.py): no
// compression work per request, and Brotli's best level, too slow to run per request.
// index.html is left alone: it is small, and revalidated on every visit.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const assets = new URL("../dist/assets/", import.meta.url).pathname;
const TEXT = /\.(js|mjs|css|svg|json|txt|map)$/;
let count = 0;
for (const name of readdirSync(assets)) {
  if (!TEXT.test(name)) continue;
  const raw = readFileSync(join(assets, name));
  if (raw.length < 1024) continue;
  writeFileSync(join(assets, `${name}.br`), brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } }));
  writeFileSync(join(assets, `${name}.gz`), gzipSync(raw, { level: 9 }));
  count += 1;
}
console.log(`compress: wrote .br and .gz copies of ${count} assets`);
