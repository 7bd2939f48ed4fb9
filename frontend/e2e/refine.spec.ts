// Issue 14's controls in the UI, driven in Chromium against the real server: like/dislike
// then "Refine" (the feedback query), a "without" term, a facet chip, sort by date, varied
// results, the relevance cutoff line and near-duplicates. Screenshots: refine-*.png.
import type { Page } from "@playwright/test";
import { expect, recordSearches, screenshot, test } from "./support";

const results = (page: Page) => page.getByTestId("result");

async function settled(page: Page): Promise<string[]> {
  await expect(results(page).first()).toBeVisible();
  await expect(page.getByTestId("result-summary")).not.toHaveText("Searching…");
  return results(page).evaluateAll((els) => els.map((e) => e.getAttribute("data-image-id") ?? ""));
}

test("like and dislike, then Refine runs the feedback query", async ({ page }) => {
  await page.goto("/?q=a+shirt&all=1");
  const before = await settled(page);
  const sent = recordSearches(page);
  const tile = (i: number) => page.locator(".tile").nth(i);
  await tile(0).hover();
  await tile(0).getByRole("button", { name: /^More like/ }).click();
  await tile(3).hover();
  await tile(3).getByRole("button", { name: /^Less like/ }).click();
  await expect(page.getByTestId("feedback-bar")).toContainText("1 more like, 1 less like");
  await screenshot(page, "refine-1-feedback-marked");
  await page.getByTestId("feedback-bar").getByRole("button", { name: "Refine" }).click();
  await expect.poll(() => sent.at(-1)).toMatchObject({ text: "a shirt", positive_ids: [before[0]], negative_ids: [before[3]] });
  await expect(page).toHaveURL(new RegExp(`pos=${before[0]}&neg=${before[3]}`));
  await settled(page);
  await expect(page.getByTestId("feedback-chip")).toHaveText(/1 liked, 1 disliked/);
  await screenshot(page, "refine-2-feedback-applied");
});

test("a word pushed away becomes a 'without' chip and a negative term", async ({ page }) => {
  await page.goto("/");
  const sent = recordSearches(page);
  await page.getByRole("searchbox").fill("clothes -hat");
  await page.getByRole("searchbox").press("Enter");
  await expect(page.getByTestId("not-chip")).toHaveText("without hat");
  await expect(page.getByRole("searchbox")).toHaveValue("clothes");
  await expect.poll(() => sent.at(-1)).toMatchObject({ text: "clothes", terms: [{ text: "hat", weight: -0.5 }] });
  await settled(page);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("Results for “clothes”, without “hat”");
  await screenshot(page, "refine-3-without");
});

test("a facet chip filters by a label, with counts from the server", async ({ page }) => {
  await page.goto("/?q=clothes");
  await settled(page);
  const labels = page.getByRole("group", { name: "Filter by label" });
  const hat = labels.getByRole("button", { name: /^hat \d+$/ });
  await expect(hat).toBeVisible();
  const count = Number((await hat.textContent())?.replace(/\D/g, ""));
  const server = (await (await page.request.get('/api/v1/images?limit=200&filter={"label":"hat"}')).json()) as { total: number };
  expect(count).toBe(server.total);
  await hat.click();
  await expect(hat).toHaveAttribute("aria-pressed", "true");
  await expect(page).toHaveURL(/label=hat/);
  await settled(page);
  const shown = await page.locator(".tile .tile-label").allTextContents();
  expect(shown.length).toBeGreaterThan(0);
  expect(new Set(shown)).toEqual(new Set(["hat"]));
  await screenshot(page, "refine-4-facet");
});

test("sort by date orders the relevant results by when they were added", async ({ page }) => {
  await page.goto("/?q=clothes&all=1");
  await settled(page);
  const sent = recordSearches(page);
  await page.getByLabel("Sort").selectOption("indexed_at");
  await expect.poll(() => sent.at(-1)?.sort).toBe("indexed_at");
  await expect(page).toHaveURL(/sort=indexed_at/);
  const ids = await settled(page);
  const dates: string[] = [];
  for (const id of ids.slice(0, 12)) dates.push(((await (await page.request.get(`/api/v1/images/${id}/info`)).json()) as { indexed_at: string }).indexed_at);
  expect(dates).toEqual([...dates].sort().reverse());
  await screenshot(page, "refine-5-sorted-by-date");
});

test("varied results, the cutoff line and near-duplicates", async ({ page }) => {
  await page.goto("/?q=a+red+dress");
  await settled(page);
  const sent = recordSearches(page);
  await page.getByLabel("Varied results").check();
  await expect.poll(() => sent.at(-1)?.diversity).toBe(0.5);
  await settled(page);
  await screenshot(page, "refine-6-varied");
  // all results: when the cutoff kept only part of them, a line marks where it fell
  await page.goto("/?q=a+red+dress&all=1");
  await settled(page);
  await screenshot(page, "refine-7-all-results");
  await results(page).first().getByRole("button").click();
  await page.getByRole("dialog").getByRole("button", { name: "Near-duplicates" }).click();
  await expect(page).toHaveURL(/\?dupes=/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(/^Near-duplicates of /);
  await expect(results(page).first().or(page.getByTestId("no-results"))).toBeVisible();
  await screenshot(page, "refine-8-near-duplicates");
});
