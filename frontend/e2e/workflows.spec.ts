// Issue 15's everyday workflows against the real server: every query kind survives a reload
// and opens the same in a new browser (the URL holds it all, dropped images included), the
// library with infinite scroll, selection and bulk delete with undo, uploads that stay
// visible with the sheet closed, and delivery (compressed, cacheable assets). Screenshots:
// rt-*.png, library-*.png, select-*.png, upload-closed-*.png.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Page } from "@playwright/test";
import { dropImage, expect, freshImages, preindexedImages, screenshot, test, withFreshPage } from "./support";

test.describe.configure({ mode: "serial" });

const results = (page: Page) => page.getByTestId("result");

/** The ids on screen once a query has settled (none when it found nothing). */
async function settledIds(page: Page): Promise<string[]> {
  await expect(results(page).first().or(page.getByTestId("no-results"))).toBeVisible();
  await expect(page.getByTestId("result-summary")).not.toHaveText("Searching…");
  // pages that scrolling into view loads on its own have arrived: the count holds still
  let count = -1;
  for (let i = 0; i < 20 && count !== (await results(page).count()); i++) {
    count = await results(page).count();
    await page.waitForLoadState("networkidle");
    await page.waitForTimeout(400);
  }
  return results(page).evaluateAll((els) => els.map((e) => e.getAttribute("data-image-id") ?? ""));
}

/** The state on screen, then after a reload, then in a new browser profile: the same ids. */
async function roundTrip(page: Page, kind: string, baseURL: string): Promise<void> {
  const ids = await settledIds(page);
  const url = page.url();
  await screenshot(page, `rt-${kind}`);
  await page.reload();
  expect(await settledIds(page), `${kind}: after a reload of ${url}`).toEqual(ids);
  const fresh = await withFreshPage({ baseURL, viewport: { width: 1280, height: 820 } }, async (other) => {
    await other.goto(url);
    return settledIds(other);
  });
  expect(fresh, `${kind}: ${url} in a new browser`).toEqual(ids);
}

async function uploadViaApi(page: Page, paths: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const path of paths) {
    const res = await page.request.post("/api/v1/index/upload", {
      multipart: { files: { name: basename(path), mimeType: "image/jpeg", buffer: readFileSync(path) } },
    });
    expect(res.ok(), await res.text()).toBe(true);
    ids.push(((await res.json()) as { results: Array<{ image_id: string }> }).results[0].image_id);
  }
  return ids;
}

test("every query kind round-trips through the URL", async ({ page, baseURL }) => {
  const base = baseURL!;
  // words, with a word pushed away
  await page.goto("/");
  await page.getByRole("searchbox").fill("a striped shirt -shoes");
  await page.getByRole("searchbox").press("Enter");
  await expect(page).toHaveURL(/\?q=a\+striped\+shirt&not=shoes$/);
  await roundTrip(page, "text-without", base);

  // a dropped image: stored by the server under a query id
  await dropImage(page, preindexedImages()[13].path);
  await expect(page).toHaveURL(/\?q=a\+striped\+shirt&not=shoes&qid=[0-9a-f]{32}$/);
  await page.getByRole("button", { name: /remove image/i }).click();
  await page.getByRole("button", { name: "Clear search" }).click();
  await dropImage(page, preindexedImages()[13].path);
  await expect(page).toHaveURL(/\?qid=[0-9a-f]{32}$/);
  await roundTrip(page, "dropped-image", base);
  // the chip's preview comes from the server too
  await expect.poll(() => page.getByTestId("query-chip").locator("img").evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);

  // more like an indexed image, with refinements: a label, a date sort, varied, all results
  await results(page).nth(1).getByRole("button").click();
  await page.getByRole("dialog").getByRole("button", { name: /more like this/i }).click();
  await expect(page).toHaveURL(/\?like=/);
  await page.getByLabel("Sort").selectOption("indexed_at");
  await page.getByLabel("Varied results").check();
  await expect(page).toHaveURL(/&sort=indexed_at&div=1$/);
  await roundTrip(page, "like-refined", base);

  // an image URL (the server's own image, allowed by VISEARCH_FETCH_ALLOW_HOSTS in the test run)
  const [id] = await settledIds(page);
  await page.getByRole("searchbox").fill(`${base}/api/v1/images/${id}`);
  await page.getByRole("searchbox").press("Enter");
  await expect(page).toHaveURL(/\?url=http/);
  await roundTrip(page, "image-url", base);

  // several images as examples ("search by these"), from a selection in the library
  await page.goto("/?view=library");
  await expect(results(page).nth(2)).toBeVisible();
  await page.locator(".tile").nth(0).getByRole("checkbox").click();
  await page.locator(".tile").nth(2).getByRole("checkbox").click();
  await page.getByTestId("selection-bar").getByRole("button", { name: /search by these/i }).click();
  await expect(page).toHaveURL(/\?pos=[^&]+%2C[^&]+$/);
  await roundTrip(page, "search-by-these", base);

  // the library by capture date, and an image's near-duplicates
  await page.goto("/?view=library&sort=taken_at");
  await roundTrip(page, "library-taken", base);
  await page.goto(`/?dupes=${id}`);
  await roundTrip(page, "duplicates", base);
});

test("the library lists every image and loads more as it scrolls", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("link", { name: "Library" }).click();
  await expect(page).toHaveURL(/\?view=library&k=48$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Library");
  const total = Number((await page.getByTestId("image-count").textContent())?.replace(/\D/g, ""));
  await expect(page.getByTestId("result-summary")).toHaveText(`${total} images in the library`);
  await screenshot(page, "library-1");
  // pages of 12: the end of the list coming near fetches the next page (by cursor), until all are there
  const pages: string[] = [];
  page.on("request", (r) => {
    if (r.url().includes("/api/v1/images?")) pages.push(new URL(r.url()).searchParams.get("cursor") ?? "");
  });
  await page.goto("/?view=library&k=12");
  await expect(results(page).first()).toBeVisible();
  for (let i = 0; i < 10 && (await results(page).count()) < total; i++) await page.mouse.wheel(0, 20_000);
  await expect(results(page)).toHaveCount(total);
  await expect(page.getByText("That's the whole library.")).toBeVisible();
  expect(pages.length).toBeGreaterThanOrEqual(Math.ceil(total / 12));
  expect(pages[0]).toBe("");
  expect(new Set(pages).size).toBe(pages.length); // each page asked for once, each with the last one's cursor
  const ids = await results(page).evaluateAll((els) => els.map((e) => e.getAttribute("data-image-id")));
  expect(new Set(ids).size).toBe(total);
  await screenshot(page, "library-2-scrolled");
});

test("selection: click, shift-click and keys; bulk delete asks, can be undone, then deletes", async ({ page }) => {
  await page.goto("/");
  const ids = await uploadViaApi(page, freshImages(9).slice(6, 9));
  await page.goto("/?view=library");
  const tile = (id: string) => page.locator(`.tile:has([data-image-id="${id}"])`);
  await expect(tile(ids[0])).toBeVisible();
  // newest first: the three just added lead the library (in the order the store breaks ties)
  const shown = await results(page).evaluateAll((els) => els.map((e) => e.getAttribute("data-image-id") ?? ""));
  expect(new Set(shown.slice(0, 3))).toEqual(new Set(ids));
  ids.splice(0, 3, ...shown.slice(0, 3));
  // keyboard: Space on a focused tile selects it; Shift+click extends; Esc clears
  await tile(ids[2]).getByRole("button").focus();
  await page.keyboard.press("Space");
  await expect(page.getByTestId("selection-bar")).toContainText("1 selected");
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("selection-bar")).toHaveCount(0);
  await tile(ids[0]).getByRole("checkbox").click();
  await tile(ids[2]).getByRole("button").click({ modifiers: ["Shift"] });
  const selected = await page.locator(".tile.is-selected [data-image-id]").evaluateAll((els) => els.map((e) => e.getAttribute("data-image-id")));
  expect(new Set(selected)).toEqual(new Set(ids));
  await expect(page.getByTestId("selection-bar")).toContainText("3 selected");
  await screenshot(page, "select-1-selected");

  await page.getByTestId("selection-bar").getByRole("button", { name: /Delete/ }).click();
  const confirm = page.getByRole("alertdialog", { name: "Delete 3 images?" });
  await expect(confirm.getByRole("button", { name: "Cancel" })).toBeFocused();
  await screenshot(page, "select-2-confirm");
  await confirm.getByRole("button", { name: "Delete" }).click();
  await expect(tile(ids[0])).toHaveCount(0);
  await expect(page.getByTestId("undo-toast")).toContainText("Deleted 3 images.");
  await screenshot(page, "select-3-undo");
  await page.getByTestId("undo-toast").getByRole("button", { name: "Undo" }).click();
  await expect(tile(ids[0])).toBeVisible();
  expect((await page.request.get(`/api/v1/images/${ids[0]}/info`)).status()).toBe(200);

  // again, and let the undo window close: now they are gone from the server
  for (const id of ids) await tile(id).getByRole("checkbox").click();
  await page.getByTestId("selection-bar").getByRole("button", { name: /Delete/ }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Delete" }).click();
  await expect(page.getByTestId("undo-toast")).toHaveCount(0, { timeout: 15_000 });
  for (const id of ids) await expect.poll(async () => (await page.request.get(`/api/v1/images/${id}/info`)).status()).toBe(404);
  await page.reload();
  await expect(results(page).first()).toBeVisible();
  await expect(tile(ids[1])).toHaveCount(0);
});

test("uploads stay visible with the sheet closed, and leaving asks first", async ({ page }) => {
  await page.goto("/");
  await page.route("**/api/v1/index/upload", async (route) => {
    await new Promise((r) => setTimeout(r, 1500));
    await route.continue();
  });
  await page.getByRole("button", { name: "Add images" }).first().click();
  await page.getByTestId("upload-file-input").setInputFiles(freshImages(5));
  await expect(page.getByTestId("upload-batch")).toBeVisible();
  await page.keyboard.press("Escape");
  const indicator = page.getByTestId("upload-indicator");
  await expect(indicator).toHaveAccessibleName(/^Uploading \d of 5\. Show uploads$/);
  await screenshot(page, "upload-closed-1-progress", { settle: false });
  // searching goes on meanwhile
  await page.getByRole("searchbox").fill("hat");
  await page.getByRole("searchbox").press("Enter");
  await expect(results(page).first()).toBeVisible();
  await expect(indicator).toHaveAccessibleName(/^\d+ added\. Show uploads$/, { timeout: 60_000 });
  await screenshot(page, "upload-closed-2-done");
  await indicator.click();
  await expect(page.getByTestId("upload-pace")).toContainText("5 of 5 files");
  await expect(page.getByTestId("upload-summary")).toContainText("Done.");

  // while files are still going, leaving the page asks
  await page.keyboard.press("Escape");
  await page.getByRole("button", { name: "Add images" }).first().click();
  await page.getByTestId("upload-file-input").setInputFiles(freshImages(6).slice(5));
  await page.keyboard.press("Escape");
  await expect(indicator).toHaveAccessibleName(/^Uploading/);
  const asked = new Promise<string>((resolve) => page.once("dialog", (d) => void d.dismiss().then(() => resolve(d.type()))));
  await page.close({ runBeforeUnload: true });
  expect(await asked).toBe("beforeunload");
});

test("the bundle is sent compressed and hashed assets are cacheable", async ({ page }) => {
  const assets: Array<{ url: string; encoding: string; cache: string; sent: number }> = [];
  page.on("requestfinished", async (req) => {
    if (!/\/assets\/.+\.(js|css)$/.test(req.url())) return;
    const res = await req.response();
    const sizes = await req.sizes();
    assets.push({ url: req.url(), encoding: res?.headers()["content-encoding"] ?? "", cache: res?.headers()["cache-control"] ?? "", sent: sizes.responseBodySize });
  });
  const doc = await page.goto("/");
  expect(doc?.headers()["cache-control"]).toBe("no-cache");
  await expect(page.getByTestId("image-count")).toHaveText(/\d+/);
  await expect.poll(() => assets.filter((a) => a.url.endsWith(".js")).length).toBeGreaterThan(0);
  for (const a of assets) {
    const raw = (await (await page.request.get(a.url, { headers: { "Accept-Encoding": "identity" } })).body()).length;
    console.log(`delivery: ${a.url.split("/").pop()} ${raw} B raw, ${a.sent} B sent (${a.encoding}), ${a.cache}`);
    expect(["br", "gzip"]).toContain(a.encoding);
    expect(a.sent).toBeLessThan(raw / 2.5);
    expect(a.cache).toBe("public, max-age=31536000, immutable");
  }
  // and the API's JSON is compressed too
  const search = page.waitForResponse((r) => r.url().endsWith("/api/v1/search"));
  await page.getByRole("searchbox").fill("a long sleeve shirt");
  await page.getByRole("searchbox").press("Enter");
  expect((await search).headers()["content-encoding"]).toBe("gzip");
});
