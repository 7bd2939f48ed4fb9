/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The API runs on :8000 in development; the dev server forwards to it so the UI uses
// same-origin relative URLs everywhere (as it does when FastAPI serves frontend/dist).
const api = process.env.VISEARCH_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": { target: api, changeOrigin: true },
      "/metrics": { target: api, changeOrigin: true },
    },
  },
  build: {
    target: "es2022",
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["tests/setup.ts"],
    include: ["tests/**/*.test.{ts,tsx}"],
    css: false,
    // generous: the machines these run on are often busy (2 shared cores)
    testTimeout: 20_000,
  },
});
