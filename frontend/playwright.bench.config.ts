// Benchmarks (not tests): `npm run bench:paint` against a running server with
// VISEARCH_E2E_URL set. They print numbers and assert nothing about speed.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "bench",
  testMatch: "**/*.bench.ts",
  timeout: 300_000,
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results/bench",
  globalSetup: "./e2e/global-setup.ts",
  use: { baseURL: process.env.VISEARCH_E2E_URL ?? "http://127.0.0.1:8000", viewport: { width: 1280, height: 820 } },
});
