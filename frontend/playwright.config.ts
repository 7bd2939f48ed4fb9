// End-to-end tests against a real visearch server (scripts/test_frontend.sh starts one and
// sets VISEARCH_E2E_URL). The browser is Debian's Chromium; Playwright never downloads one.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "e2e",
  testMatch: "**/*.spec.ts",
  timeout: 90_000,
  expect: { timeout: 20_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [["list"]],
  outputDir: "test-results",
  globalSetup: "./e2e/global-setup.ts",
  use: {
    baseURL: process.env.VISEARCH_E2E_URL ?? "http://127.0.0.1:8000",
    viewport: { width: 1280, height: 820 },
    screenshot: "only-on-failure",
    trace: "off",
  },
});
