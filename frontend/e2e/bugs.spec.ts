// Regression tests for the bugs found in the UI trial (issue 15, "Bugs found" 1–5 and the
// client-side parts of 7). Each failed on the UI before its fix.
import type { Page } from "@playwright/test";
import { dropImage, expect, preindexedImages, recordSearches, test } from "./support";

const results = (page: Page) => page.getByTestId("result");

/** Two animation frames: Chromium moves focus off a button that became disabled in between. */
async function frames(page: Page): Promise<void> {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

async function textSearch(page: Page, text: string): Promise<void> {
  await page.getByRole("searchbox").fill(text);
  await page.getByRole("searchbox").press("Enter");
  await expect(page.getByTestId("result-summary")).toContainText(/results?|nearest/);
}


test("bug 1: the lightbox answers Esc and arrows after its own ‹ button reaches the first image", async ({ page }) => {
  await page.goto("/");
  await textSearch(page, "shoes");
  await results(page).nth(1).getByRole("button").click();
  const dialog = page.getByRole("dialog");
  const second = await dialog.getByRole("heading").textContent();
  await dialog.getByRole("button", { name: "Previous image" }).click();
  await expect(dialog.getByRole("heading")).not.toHaveText(second ?? "");
  // the ‹ button can go no further now; focus must stay in the dialog and the keys work
  await frames(page);
  expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  await page.keyboard.press("ArrowRight");
  await expect(dialog.getByRole("heading")).toHaveText(second ?? "");
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
});

test("bug 1: → on a focused › button to the last image keeps the keyboard working", async ({ page }) => {
  await page.goto("/");
  await textSearch(page, "shoes");
  // one label, everything shown: a short list with nothing more to load
  await page.goto("/?q=shoes&label=shoes&all=1");
  await expect(page.getByRole("group", { name: "Filter by label" }).getByRole("button", { name: /^shoes/ })).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByTestId("result-summary")).toHaveText(/^\d+ (relevant )?results? ·/);
  const n = await results(page).count();
  expect(n).toBeGreaterThan(1);
  await results(page).nth(n - 2).getByRole("button").click();
  const dialog = page.getByRole("dialog");
  await dialog.getByRole("button", { name: "Next image" }).focus();
  await page.keyboard.press("ArrowRight");
  await expect(dialog.getByText(`${n} of ${n} ·`)).toBeVisible();
  await frames(page);
  await page.keyboard.press("ArrowLeft");
  await expect(dialog.getByText(`${n - 1} of ${n} ·`)).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
});

test("bug 2: 'Skip to results' keeps the search", async ({ page }) => {
  await page.goto("/?q=shoes");
  await expect(results(page).first()).toBeVisible();
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to results" });
  await expect(skip).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.locator("main#results")).toBeFocused();
  await page.waitForTimeout(300); // a history event, if any, has fired by now
  await expect(page.getByRole("searchbox")).toHaveValue("shoes");
  await expect(results(page).first()).toBeVisible();
  await expect(page).toHaveURL(/\?q=shoes$/);
});

test("bug 3: at 390 px an image in the query keeps the search form on screen", async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto("/");
  await dropImage(page, preindexedImages()[4].path);
  await expect(page.getByTestId("query-chip")).toBeVisible();
  await expect(results(page).first()).toBeVisible();
  const form = await page.getByRole("search").boundingBox();
  expect(form && form.x >= 0 && form.x + form.width <= 390).toBe(true);
  await expect(page.getByRole("button", { name: "Search by an image file" })).toBeInViewport({ ratio: 1 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
});

test("bug 4: arrow keys on the min-score slider run one search and add no history entries", async ({ page }) => {
  await page.goto("/");
  await textSearch(page, "shoes");
  const entries = await page.evaluate(() => history.length);
  const sent = recordSearches(page);
  await page.waitForTimeout(500); // a request of the text search still on its way is seen by now
  const before = sent.length;
  const slider = page.getByLabel("Minimum score");
  await slider.focus();
  for (let i = 0; i < 10; i++) await page.keyboard.press("ArrowRight");
  await expect.poll(() => sent.length).toBeGreaterThan(before);
  await page.waitForTimeout(1000); // any late searches have been sent by now
  expect(sent.slice(before).map((b) => b.threshold)).toEqual([0.1]);
  expect(await page.evaluate(() => history.length)).toBe(entries);
  await expect(page.getByRole("searchbox")).toHaveValue("shoes");
});

test("bug 5: a min score set on an image query does not carry to a text query", async ({ page }) => {
  await page.goto("/");
  await dropImage(page, preindexedImages()[4].path);
  await expect(results(page).first()).toBeVisible();
  const sent = recordSearches(page);
  await page.getByLabel("Minimum score").fill("0.62");
  await page.getByLabel("Minimum score").blur();
  await expect.poll(() => sent.at(-1)?.threshold).toBe(0.62);
  await page.getByRole("button", { name: /remove image/i }).click();
  await page.getByRole("searchbox").fill("shoes");
  await page.getByRole("searchbox").press("Enter");
  await expect(page.getByTestId("result-summary")).toContainText(/results?|nearest/);
  expect(sent.at(-1)?.text).toBe("shoes");
  expect(sent.at(-1)?.threshold).toBeUndefined();
  await expect(page.getByLabel("Minimum score")).toHaveValue("0");
});

test("bug 7: a server-cached answer says 'cached', not '0 ms'", async ({ page }) => {
  await page.goto("/");
  await textSearch(page, "a cached hat");
  // a new tab: its own cache is empty, the server's has the answer
  const tab = await page.context().newPage();
  await tab.goto("/?q=a+cached+hat");
  await expect(tab.getByTestId("result-summary")).toContainText(/results?|nearest/);
  await expect(tab.getByTestId("result-summary")).toContainText("cached");
  await expect(tab.getByTestId("result-summary")).not.toContainText(/\b0 ms/);
});

test("bug 7: a rejected query is explained in words, not the validator's message", async ({ page }) => {
  await page.goto("/");
  await page.getByRole("searchbox").fill("a long query ".repeat(200));
  await page.getByRole("searchbox").press("Enter");
  await expect(page.getByTestId("search-error")).toBeVisible();
  await expect(page.getByTestId("error-message")).toContainText(/too long/i);
  await expect(page.getByTestId("error-message")).not.toContainText("String should have");
});
