// The phone layout (390×844, touch): no state scrolls sideways, results are three columns
// with names and scores shown without hover, the lightbox swipes, and the model banner
// folds (saying "English only" for the fallback model). Screenshots: phone-*.png.
import type { Page } from "@playwright/test";
import { dropImage, expect, preindexedImages, screenshot, test } from "./support";

test.use({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });

const results = (page: Page) => page.getByTestId("result");

async function expectNoSidewaysScroll(page: Page, state: string): Promise<void> {
  const widths = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    view: document.documentElement.clientWidth,
  }));
  expect(widths.doc, `${state}: page width`).toBeLessThanOrEqual(widths.view);
  expect(widths.body, `${state}: body width`).toBeLessThanOrEqual(widths.view);
}

test("no state scrolls sideways at 390 px", async ({ page }) => {
  const states: Array<[string, () => Promise<void>]> = [
    ["empty", async () => {
      await page.goto("/");
      await expect(page.getByTestId("image-count")).toHaveText(/\d+/);
    }],
    ["text-results", async () => {
      await page.goto("/?q=a+long+query+about+a+red+dress+with+white+dots");
      await expect(results(page).first()).toBeVisible();
    }],
    ["image-query", async () => {
      await dropImage(page, preindexedImages()[7].path);
      await expect(page.getByTestId("query-chip")).toBeVisible();
      await page.getByRole("searchbox").fill("with some words");
      await expect(page.getByLabel("Text weight in the combined query")).toBeVisible();
    }],
    ["lightbox", async () => {
      await results(page).first().getByRole("button").click();
      await expect(page.getByRole("dialog").getByTestId("lightbox-meta")).toContainText("Format");
    }],
    ["no-results", async () => {
      await page.goto("/?q=shoes&min=0.99");
      await expect(page.getByTestId("no-results")).toBeVisible();
    }],
    ["error", async () => {
      await page.goto("/?url=https://127.0.0.1/a-very-long-path/that-goes-on-and-on/and-on/not-an-image.jpg");
      await expect(page.getByTestId("search-error")).toBeVisible();
      await page.getByText("Details").click();
    }],
    ["library", async () => {
      await page.goto("/?view=library");
      await expect(results(page).nth(2)).toBeVisible();
    }],
    ["selection", async () => {
      await page.locator(".tile").nth(0).getByRole("checkbox").click();
      await page.locator(".tile").nth(1).getByRole("checkbox").click();
      await expect(page.getByTestId("selection-bar")).toContainText("2 selected");
    }],
    ["confirm-delete", async () => {
      await page.getByTestId("selection-bar").getByRole("button", { name: /Delete/ }).click();
      await expect(page.getByRole("alertdialog")).toBeVisible();
      await page.getByRole("alertdialog").getByRole("button", { name: "Cancel" }).click();
    }],
    ["refined", async () => {
      await page.goto("/?q=a+long+query+about+clothes&not=hat&not=shoes&label=dress&sort=indexed_at&div=1&all=1");
      await expect(page.getByTestId("not-chip").first()).toBeVisible();
      await expect(page.getByTestId("result-summary")).not.toHaveText("Searching…");
    }],
    ["feedback", async () => {
      await results(page).first().waitFor();
      await page.locator(".tile").nth(0).getByRole("button", { name: /^More like/ }).click();
      await expect(page.getByTestId("feedback-bar")).toBeVisible();
    }],
    ["lightbox-details", async () => {
      await results(page).first().getByRole("button").click();
      await expect(page.getByRole("dialog").getByRole("button", { name: "Near-duplicates" })).toBeVisible();
      await expect(page.getByRole("dialog").getByTestId("lightbox-meta")).toContainText("Format");
      // every action is reachable on a phone: the details scroll, the image gives way
      await page.getByRole("dialog").locator(".lightbox-side").evaluate((el) => el.scrollTo(0, el.scrollHeight));
      await expect(page.getByRole("dialog").getByRole("button", { name: "Delete" })).toBeInViewport({ ratio: 1 });
    }],
    ["upload", async () => {
      await page.goto("/");
      await page.getByRole("button", { name: "Add images" }).first().click();
      await page.getByTestId("upload-file-input").setInputFiles(preindexedImages()[0].path);
      await expect(page.getByTestId("upload-summary")).toContainText("Done.");
    }],
    ["upload-indicator", async () => {
      await page.keyboard.press("Escape");
      await expect(page.getByTestId("upload-indicator")).toBeVisible();
    }],
  ];
  for (const [state, open] of states) {
    await open();
    await screenshot(page, `phone-${state}`);
    await expectNoSidewaysScroll(page, state);
  }
});

test("results are three columns with names and scores shown on touch", async ({ page }) => {
  await page.goto("/?q=shoes");
  await expect(results(page).nth(3)).toBeVisible();
  const boxes = await results(page).evaluateAll((els) => els.slice(0, 4).map((e) => e.getBoundingClientRect().toJSON() as DOMRect));
  expect(new Set(boxes.slice(0, 3).map((b) => Math.round(b.top))).size).toBe(1);
  expect(boxes[3].top).toBeGreaterThan(boxes[0].bottom - 1);
  for (const b of boxes.slice(0, 3)) expect(b.width).toBeGreaterThan(100);
  // nothing hovered: the name and score still show
  const first = results(page).first();
  await expect(first.locator(".tile-overlay")).toHaveCSS("opacity", "1");
  await expect(first.getByTestId("score")).toBeVisible();
  await expect(first.locator(".tile-name")).toBeVisible();
});

test("a sideways swipe steps through the lightbox", async ({ page }) => {
  await page.goto("/?q=shoes");
  await results(page).first().getByRole("button").click();
  const dialog = page.getByRole("dialog");
  await expect(dialog.getByText(/^1 of /)).toBeVisible();
  const stage = dialog.locator(".lightbox-stage");
  const swipe = async (from: number, to: number) => {
    const box = (await stage.boundingBox())!;
    const y = box.y + box.height / 2;
    const ev = { pointerType: "touch", isPrimary: true, pointerId: 1, clientY: y };
    await stage.dispatchEvent("pointerdown", { ...ev, clientX: box.x + from });
    await stage.dispatchEvent("pointerup", { ...ev, clientX: box.x + to });
  };
  await swipe(300, 80); // right to left: the next image
  await expect(dialog.getByText(/^2 of /)).toBeVisible();
  await swipe(80, 300);
  await expect(dialog.getByText(/^1 of /)).toBeVisible();
});

test("the fallback-model banner folds on phones and says 'English only'", async ({ page }) => {
  // the test server runs the requested model; answer /stats as a server on its fallback would
  await page.route("**/api/v1/stats", async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    body.model = { ...body.model, fallback: true, requested_model: "openai/clip-vit-base-patch32" };
    await route.fulfill({ response: res, json: body });
  });
  await page.goto("/");
  const banner = page.getByTestId("fallback-warning");
  await expect(banner).toContainText("English only");
  await expect(banner).not.toHaveAttribute("open");
  await expect(banner.getByText("could not be loaded")).toBeHidden();
  await screenshot(page, "phone-fallback-folded");
  await expectNoSidewaysScroll(page, "fallback banner");
  await banner.getByText("Running a fallback model").click();
  await expect(banner.getByText("could not be loaded")).toBeVisible();
  await screenshot(page, "phone-fallback-open");
  await expectNoSidewaysScroll(page, "fallback banner, open");
});
