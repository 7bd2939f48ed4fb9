// Time from pressing Enter in the search box to the first results painted, for 5 text
// queries, each in a fresh browser profile (cold HTTP cache, empty tab cache) and with a
// random suffix so the server's result cache cannot answer either. Prints per-query times
// and the median of each round; asserts nothing about speed (issue 15's measurement).
//   VISEARCH_E2E_URL=http://127.0.0.1:8000 npm run bench:paint   (BENCH_ROUNDS, default 3)
import { test } from "@playwright/test";
import { withFreshPage } from "../e2e/support";

const QUERIES = ["a red dress", "sneakers", "a dog on the beach", "people at a party", "a striped shirt"];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Timing {
  /** Enter → the first result tiles painted (thumbnails may still be loading). */
  tiles: number;
  /** Enter → the first thumbnail decoded and painted. */
  thumb: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function measure(baseURL: string, text: string): Promise<Timing> {
  return withFreshPage({ baseURL, viewport: { width: 1280, height: 820 } }, async (page) => {
    await page.goto("/");
    await page.getByTestId("image-count").waitFor();
    await page.waitForLoadState("networkidle");
    const box = page.getByRole("searchbox");
    await box.fill(text);
    // watch from the Enter keydown (capture phase: before the app sees it)
    const done = page.evaluate(
      () =>
        new Promise<Timing>((resolve) => {
          let t0 = -1;
          let tiles = -1;
          const afterPaint = (f: () => void) => requestAnimationFrame(() => setTimeout(f, 0));
          document.addEventListener("keydown", (e) => e.key === "Enter" && t0 < 0 && (t0 = e.timeStamp), { capture: true });
          const poll = () => {
            const img = t0 < 0 ? null : document.querySelector<HTMLImageElement>('[data-testid="result"] img');
            if (!img) return void requestAnimationFrame(poll);
            if (tiles < 0) afterPaint(() => (tiles = performance.now() - t0));
            if (!img.complete || img.naturalWidth === 0) return void requestAnimationFrame(poll);
            img
              .decode()
              .catch(() => undefined)
              .then(() => afterPaint(() => afterPaint(() => resolve({ tiles, thumb: performance.now() - t0 }))));
          };
          poll();
        }),
    );
    await box.press("Enter");
    return await done;
  });
}

test("Enter → first results painted (5 queries, median)", async ({ baseURL }) => {
  const rounds: Timing[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const row: Timing[] = [];
    for (const q of QUERIES) row.push(await measure(baseURL!, `${q} ${Math.random().toString(36).slice(2, 6)}`));
    rounds.push(row);
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0).padStart(5)).join(" ");
    console.log(`round ${r + 1}: tiles ${fmt(row.map((t) => t.tiles))} ms | thumbnail ${fmt(row.map((t) => t.thumb))} ms`);
    console.log(`         median tiles ${median(row.map((t) => t.tiles)).toFixed(0)} ms, first thumbnail ${median(row.map((t) => t.thumb)).toFixed(0)} ms`);
  }
  const all = rounds.flat();
  console.log(
    `enter-to-paint over ${all.length} searches at ${baseURL}: median tiles ${median(all.map((t) => t.tiles)).toFixed(0)} ms, ` +
      `first thumbnail ${median(all.map((t) => t.thumb)).toFixed(0)} ms`,
  );
});
