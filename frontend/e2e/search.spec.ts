// The UI against a real server and a random-weight CLIP: text queries return arbitrary
// but present results; an image query returns that same image first with score ≈ 1.
import { basename } from "node:path";
import { dropImage, expect, freshImages, pasteImage, preindexedImages, screenshot, test } from "./support";

const results = (page: import("@playwright/test").Page) => page.getByTestId("result");

test.describe.configure({ mode: "serial" });

test("empty state shows how to search and the service status", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: /find any image/i })).toBeVisible();
  await expect(page.getByTestId("image-count")).toHaveText(/\d+/);
  await expect(page.getByTestId("model-id")).not.toBeEmpty();
  await expect(page.getByTestId("device")).toHaveText(/cpu|cuda|mps/);
  await expect(page.getByTestId("fallback-warning")).toHaveCount(0);
  await screenshot(page, "01-empty-state");
});

test("typing text shows results", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("searchbox").fill("a red dress");
  await expect(results(page).first()).toBeVisible();
  const n = await results(page).count();
  expect(n).toBeGreaterThan(0);
  await expect(page.getByTestId("result-summary")).toContainText(/results?|nearest/);
  await expect(page).toHaveURL(/\?q=a\+red\+dress/);
  // the score shows on hover
  await results(page).first().hover();
  await expect(results(page).first().getByTestId("score")).toBeVisible();
  await screenshot(page, "02-text-results");
  await page.mouse.move(5, 5);
  await page.emulateMedia({ colorScheme: "dark" });
  await expect(results(page).first().locator(".tile-overlay")).toHaveCSS("opacity", "0");
  await screenshot(page, "02b-text-results-dark");
  await page.emulateMedia({ colorScheme: "light" });
  await page.setViewportSize({ width: 390, height: 844 });
  await expect(page.getByRole("searchbox")).toBeVisible();
  await screenshot(page, "02c-text-results-mobile");
});

test("dropping an image file searches by it and its own image comes first", async ({ page }) => {
  const [target] = preindexedImages().slice(4, 5);
  await page.goto("/");
  await dropImage(page, target.path);
  await expect(page.getByTestId("query-chip")).toContainText(basename(target.path));
  const first = results(page).first();
  await expect(first).toBeVisible();
  await expect(first.getByRole("button")).toHaveAccessibleName(new RegExp(`Open ${basename(target.path)}, score 1\\.00`));
  // add words to the image: a combined query still runs
  await page.getByRole("searchbox").fill("red");
  await expect(page.getByLabel("Text weight in the combined query")).toBeVisible();
  await expect(page.getByTestId("result-summary")).toContainText(/results?|nearest/);
  await page.getByRole("searchbox").fill("");
  await expect(first.getByRole("button")).toHaveAccessibleName(new RegExp(`Open ${basename(target.path)}`));
  await page.mouse.move(5, 5);
  await screenshot(page, "03-image-query-results");
});

test("pasting an image searches by it", async ({ page }) => {
  const [target] = preindexedImages().slice(10, 11);
  await page.goto("/");
  await pasteImage(page, target.path);
  await expect(page.getByTestId("query-chip")).toContainText(basename(target.path));
  await expect(results(page).first().getByRole("button")).toHaveAccessibleName(
    new RegExp(`Open ${basename(target.path)}, score 1\\.00`),
  );
  // removing the chip goes back to the empty state
  await page.getByRole("button", { name: /remove image/i }).click();
  await expect(page.getByTestId("empty-state")).toBeVisible();
});

test("lightbox: keyboard navigation, metadata and more like this", async ({ page }) => {
  await page.goto("/?q=shoes");
  await expect(results(page).first()).toBeVisible();
  const names = await results(page).getByRole("button").evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")));
  await results(page).nth(0).getByRole("button").click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Close" })).toBeFocused();
  await expect(dialog.getByTestId("lightbox-meta")).toContainText("Format");
  await expect(dialog.locator("img.lightbox-img:not(.is-placeholder)")).toHaveJSProperty("complete", true);
  const firstTitle = await dialog.getByRole("heading").textContent();
  expect(names[0]).toContain(firstTitle ?? "???");
  await screenshot(page, "04-lightbox");

  await page.keyboard.press("ArrowRight");
  await expect(dialog.getByRole("heading")).not.toHaveText(firstTitle ?? "");
  expect(names[1]).toContain((await dialog.getByRole("heading").textContent()) ?? "???");
  await page.keyboard.press("ArrowLeft");
  await expect(dialog.getByRole("heading")).toHaveText(firstTitle ?? "");
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  await expect(results(page).nth(0).getByRole("button")).toBeFocused();

  // more like this: the chosen image becomes the query; the API leaves the image itself out
  await page.keyboard.press("ArrowRight"); // nothing happens outside the lightbox
  await results(page).nth(2).getByRole("button").click();
  const chosen = (await dialog.getByRole("heading").textContent()) ?? "";
  await dialog.getByRole("button", { name: /more like this/i }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByTestId("query-chip")).toContainText(`Like ${chosen}`);
  await expect(page.getByTestId("result-summary")).toContainText(/results?|nearest/);
  await expect(results(page).first()).toBeVisible();
  const likeNames = await results(page).getByRole("button").evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")));
  expect(likeNames.length).toBeGreaterThan(0);
  expect(likeNames.some((n) => n?.startsWith(`Open ${chosen},`))).toBe(false);

  // back goes to the text results at once (from the session cache)
  await page.goBack();
  await expect(page.getByRole("searchbox")).toHaveValue("shoes");
  await expect(page.getByTestId("result-summary")).toContainText("cached");
});

test("uploading 5 files shows progress, then they are searchable", async ({ page }) => {
  const files = freshImages(5);
  await page.goto("/");
  const before = Number((await page.getByTestId("image-count").textContent())?.replace(/\D/g, ""));
  // hold each upload's response briefly so the in-progress state is visible
  await page.route("**/api/v1/index/upload", async (route) => {
    await new Promise((r) => setTimeout(r, 1500));
    await route.continue();
  });
  await page.getByRole("button", { name: "Add images" }).first().click();
  const panel = page.getByTestId("upload-panel");
  await expect(panel).toBeVisible();
  await page.getByTestId("upload-file-input").setInputFiles(files);
  await expect(panel.getByTestId("upload-item")).toHaveCount(5);
  await expect(panel.locator('[data-status="uploading"], [data-status="processing"]').first()).toBeVisible();
  await expect(panel.getByTestId("upload-summary")).toContainText("Uploading");
  await screenshot(page, "05-upload-progress", { settle: false });

  await expect(panel.getByTestId("upload-summary")).toContainText("Done.", { timeout: 60_000 });
  const statuses = await panel.getByTestId("upload-item").evaluateAll((els) => els.map((e) => e.getAttribute("data-status")));
  expect(statuses.every((s) => s === "indexed" || s === "duplicate" || s === "near_duplicate")).toBe(true);
  await expect(panel.getByTestId("upload-summary")).toContainText("0 failed");
  await screenshot(page, "06-upload-done");
  // near-duplicates are indexed too (linked to their original: the server's default)
  const indexedNow = statuses.filter((s) => s === "indexed" || s === "near_duplicate").length;
  await expect(page.getByTestId("image-count")).toHaveText(String(before + indexedNow));

  await page.unroute("**/api/v1/index/upload");
  await page.keyboard.press("Escape");
  await expect(panel).toHaveCount(0);
  // every uploaded image is found by itself
  for (const f of files.slice(0, 2)) {
    await dropImage(page, f);
    await expect(page.getByTestId("query-chip")).toContainText(basename(f));
    await expect(results(page).first().getByRole("button")).toHaveAccessibleName(new RegExp(`Open ${basename(f)}, score 1\\.00`));
  }
});

test("a failing query says why in words, with the API's message one click away", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("searchbox").fill("https://127.0.0.1/not-an-image.jpg");
  await page.getByRole("searchbox").press("Enter");
  await expect(page.getByTestId("query-chip")).toBeVisible();
  await expect(page.getByTestId("search-error")).toBeVisible();
  await expect(page.getByTestId("error-message")).toContainText("private or local network addresses");
  await page.getByText("Details").click();
  await expect(page.getByTestId("search-error").locator("code")).toContainText("127.0.0.1");
});

test("API down shows a clear message", async ({ page }) => {
  await page.route("**/api/**", (route) => route.abort("connectionrefused"));
  await page.goto("/");
  await expect(page.getByTestId("api-down")).toContainText("unavailable");
  await page.getByRole("searchbox").fill("a hat");
  await page.getByRole("searchbox").press("Enter");
  await expect(page.getByTestId("search-error")).toContainText("Can't reach");
  await screenshot(page, "07-error-api-down");
  // it recovers once the API is back
  await page.unroute("**/api/**");
  await page.getByRole("button", { name: "Try again" }).click();
  await expect(results(page).first()).toBeVisible();
  await expect(page.getByTestId("api-down")).toHaveCount(0);
});
