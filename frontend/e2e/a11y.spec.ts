// Accessibility: axe-core (every rule it runs by default: WCAG 2.x A/AA and best practices)
// finds nothing on the empty, results, lightbox and upload states, in light and dark; plus
// what axe cannot see: the grid's arrow keys, tile names with labels, alt text. Each state's
// screenshot goes to artifacts/screenshots/.
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";
import { expect, preindexedImages, screenshot, test } from "./support";

const results = (page: Page) => page.getByTestId("result");

/** axe's findings, reduced to what a person needs to fix them. */
async function violations(page: Page): Promise<string[]> {
  const { violations: found } = await new AxeBuilder({ page }).analyze();
  return found.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(" ")} — ${n.failureSummary ?? v.help}`));
}

const STATES: Record<string, (page: Page) => Promise<void>> = {
  empty: async (page) => {
    await page.goto("/");
    await expect(page.getByTestId("image-count")).toHaveText(/\d+/);
  },
  results: async (page) => {
    await page.goto("/?q=shoes");
    await expect(results(page).first()).toBeVisible();
  },
  lightbox: async (page) => {
    await page.goto("/?q=shoes");
    await results(page).first().getByRole("button").click();
    await expect(page.getByRole("dialog").getByTestId("lightbox-meta")).toContainText("Format");
  },
  refined: async (page) => {
    // a "without" chip, liked/disliked images, a label facet, date sort, all results
    const ids = await page.request.get("/api/v1/images?limit=3").then(async (r) => ((await r.json()) as { items: Array<{ image_id: string }> }).items.map((i) => i.image_id));
    await page.goto(`/?q=clothes&not=hat&pos=${ids[0]}&neg=${ids[1]}&label=shoes&sort=indexed_at&div=1&all=1`);
    await expect(page.getByTestId("not-chip")).toBeVisible();
    await expect(page.getByTestId("result-summary")).not.toHaveText("Searching…");
  },
  library: async (page) => {
    await page.goto("/?view=library");
    await expect(results(page).nth(2)).toBeVisible();
  },
  selection: async (page) => {
    await page.goto("/?view=library");
    await page.locator(".tile").nth(0).getByRole("checkbox").click();
    await page.locator(".tile").nth(1).getByRole("checkbox").click();
    await expect(page.getByTestId("selection-bar")).toContainText("2 selected");
  },
  confirm: async (page) => {
    await page.goto("/?view=library");
    await page.locator(".tile").nth(0).getByRole("checkbox").click();
    await page.getByTestId("selection-bar").getByRole("button", { name: /Delete/ }).click();
    await expect(page.getByRole("alertdialog")).toBeVisible();
  },
  upload: async (page) => {
    await page.goto("/");
    await page.getByRole("button", { name: "Add images" }).first().click();
    // an image that is already indexed: the list shows an outcome, the index is unchanged
    await page.getByTestId("upload-file-input").setInputFiles(preindexedImages()[0].path);
    await expect(page.getByTestId("upload-summary")).toContainText("Done.");
  },
  "upload-indicator": async (page) => {
    await page.goto("/");
    await page.getByRole("button", { name: "Add images" }).first().click();
    await page.getByTestId("upload-file-input").setInputFiles(preindexedImages()[1].path);
    await expect(page.getByTestId("upload-summary")).toContainText("Done.");
    await page.keyboard.press("Escape");
    await expect(page.getByTestId("upload-indicator")).toBeVisible();
  },
};

for (const scheme of ["light", "dark"] as const) {
  for (const [state, open] of Object.entries(STATES)) {
    test(`axe finds no violations: ${state}, ${scheme}`, async ({ page }) => {
      await page.emulateMedia({ colorScheme: scheme });
      await open(page);
      await page.waitForLoadState("networkidle");
      // fade-ins and the lightbox's full image settle before colours are measured
      await page.waitForTimeout(400);
      await screenshot(page, `a11y-${state}-${scheme}`);
      expect(await violations(page)).toEqual([]);
    });
  }
}

test("every state has one top-level heading", async ({ page }) => {
  for (const [state, open] of Object.entries(STATES)) {
    await open(page);
    await expect(page.getByRole("heading", { level: 1 }), state).toHaveCount(1);
  }
});

test("result tiles are named with their label; alt text never falls back to the file name", async ({ page }) => {
  await page.goto("/?q=shoes");
  await expect(results(page).first()).toBeVisible();
  const tiles = await results(page).evaluateAll((els) =>
    els.map((el) => ({
      name: el.querySelector("button")?.getAttribute("aria-label") ?? "",
      label: el.querySelector(".tile-label")?.textContent ?? "",
      alt: el.querySelector("img")?.getAttribute("alt") ?? "",
    })),
  );
  const labelled = tiles.filter((t) => t.label);
  expect(labelled.length).toBeGreaterThan(0);
  for (const t of labelled) {
    expect(t.name).toContain(t.label);
    expect(t.alt).toContain(t.label);
    expect(t.alt).not.toMatch(/\.jpe?g$/i);
  }
});

test("arrow keys move between result tiles; Tab leaves the grid in one step", async ({ page }) => {
  await page.goto("/?q=shoes");
  await expect(results(page).first()).toBeVisible();
  const tile = (i: number) => results(page).nth(i).getByRole("button");
  await tile(0).focus();
  await page.keyboard.press("ArrowRight");
  await expect(tile(1)).toBeFocused();
  await page.keyboard.press("ArrowLeft");
  await expect(tile(0)).toBeFocused();
  // Down lands on the tile below: the next row, nearest in x
  const first = (await tile(0).boundingBox())!;
  await page.keyboard.press("ArrowDown");
  const below = await page.evaluate(() => document.activeElement?.getBoundingClientRect().toJSON() as DOMRect);
  expect(below.top).toBeGreaterThan(first.y + first.height - 1);
  expect(below.left).toBeLessThan(first.x + first.width);
  await page.keyboard.press("ArrowUp");
  await expect(tile(0)).toBeFocused();
  await page.keyboard.press("End");
  await expect(tile((await results(page).count()) - 1)).toBeFocused();
  await page.keyboard.press("Home");
  await expect(tile(0)).toBeFocused();
  // one tab stop for the whole grid: Tab goes on past it
  await page.keyboard.press("Tab");
  expect(await page.evaluate(() => !!document.activeElement?.closest('[data-testid="result"]'))).toBe(false);
  // Enter opens the focused tile
  await tile(0).focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("dialog")).toBeVisible();
});
