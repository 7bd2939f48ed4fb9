// Shared pieces of the e2e suite: the browser launch (Debian Chromium, fresh profile per
// test), the test images from shared/data/clothing10, and screenshot paths.
import { test as base, chromium, type BrowserContextOptions, type Page, type Request } from "@playwright/test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
export const REPO_ROOT = resolve(here, "../..");
export const SHARED_DATA = process.env.VISEARCH_SHARED_DATA ?? resolve(REPO_ROOT, "../shared/data");
export const CLOTHING = join(SHARED_DATA, "clothing10", "images");
export const SCREENSHOTS = process.env.VISEARCH_SCREENSHOT_DIR ?? resolve(REPO_ROOT, "artifacts/screenshots");

export const CHROMIUM = process.env.VISEARCH_CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The images the global setup indexes: the first 3 of every class in the train split. */
export function preindexedImages(): Array<{ path: string; label: string }> {
  const root = join(CLOTHING, "train");
  return readdirSync(root)
    .sort()
    .flatMap((label) =>
      readdirSync(join(root, label))
        .filter((f) => f.endsWith(".jpg"))
        .sort()
        .slice(0, 3)
        .map((f) => ({ path: join(root, label, f), label })),
    );
}

/** Images that are not pre-indexed (validation split), for the upload test. */
export function freshImages(n: number): string[] {
  const root = join(CLOTHING, "validation");
  return readdirSync(root)
    .sort()
    .flatMap((label) =>
      readdirSync(join(root, label))
        .filter((f) => f.endsWith(".jpg"))
        .sort()
        .slice(0, 1)
        .map((f) => join(root, label, f)),
    )
    .slice(0, n);
}

export function fileAsBase64(path: string): { name: string; b64: string } {
  return { name: basename(path), b64: readFileSync(path).toString("base64") };
}

export async function screenshot(page: Page, name: string, opts: { settle?: boolean } = {}): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // let lazy thumbnails and fade-ins settle (not for a state that exists only mid-request)
  if (opts.settle !== false) await page.waitForLoadState("networkidle").catch(() => undefined);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** A file dropped on the page the way a real drag from the desktop arrives. */
export async function dropImage(page: Page, path: string): Promise<void> {
  const file = fileAsBase64(path);
  await page.getByRole("searchbox").waitFor(); // the app is up (it renders once access is settled)
  await page.evaluate(({ name, b64 }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type: "image/jpeg" }));
    for (const type of ["dragenter", "dragover", "drop"]) {
      document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, file);
}

/** Ctrl+V of an image: a paste event whose clipboard holds an image file. */
export async function pasteImage(page: Page, path: string): Promise<void> {
  const file = fileAsBase64(path);
  await page.getByRole("searchbox").focus();
  await page.evaluate(({ name, b64 }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type: "image/jpeg" }));
    const target = document.activeElement ?? document.body;
    target.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  }, file);
}

type LaunchOptions = Pick<BrowserContextOptions, "baseURL" | "viewport" | "hasTouch" | "isMobile">;

/**
 * Runs `fn` with a page of Debian's Chromium on a fresh profile (a persistent context on a
 * new user-data dir), so no cache, storage or cookies carry over; removes the profile after.
 */
export async function withFreshPage<T>(opts: LaunchOptions, fn: (page: Page) => Promise<T>): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), "visearch-e2e-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    colorScheme: "light",
    ...opts,
  });
  try {
    return await fn(context.pages()[0] ?? (await context.newPage()));
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

export const test = base.extend<{ page: Page }>({
  page: async ({ baseURL, viewport, hasTouch, isMobile }, use) => {
    await withFreshPage({ baseURL, viewport, hasTouch, isMobile }, use);
  },
});

export { expect } from "@playwright/test";

/** The JSON bodies of the search requests the page sends from now on. */
export function recordSearches(page: Page): Array<Record<string, unknown>> {
  const sent: Array<Record<string, unknown>> = [];
  page.on("request", (r: Request) => {
    if (r.method() === "POST" && r.url().endsWith("/api/v1/search")) sent.push(r.postDataJSON() as Record<string, unknown>);
  });
  return sent;
}
