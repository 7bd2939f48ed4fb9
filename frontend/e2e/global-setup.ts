// Waits for the server, then indexes the test images (idempotent: same bytes, same ids).
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { FullConfig } from "@playwright/test";
import { preindexedImages } from "./support";

async function waitForServer(base: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${base}/api/v1/health`);
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`visearch at ${base} did not become healthy: ${last}`);
}

export default async function globalSetup(config: FullConfig): Promise<void> {
  const base = String(config.projects[0].use.baseURL);
  await waitForServer(base);
  const byLabel = new Map<string, string[]>();
  for (const { path, label } of preindexedImages()) byLabel.set(label, [...(byLabel.get(label) ?? []), path]);
  let indexed = 0;
  for (const [label, paths] of byLabel) {
    const form = new FormData();
    for (const p of paths) form.append("files", new Blob([readFileSync(p)], { type: "image/jpeg" }), basename(p));
    form.append("label", label);
    const res = await fetch(`${base}/api/v1/index/upload`, { method: "POST", body: form });
    if (!res.ok) throw new Error(`pre-indexing ${label} failed: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { indexed: number; duplicates: number; failed: number };
    if (body.failed) throw new Error(`pre-indexing ${label}: ${body.failed} failed`);
    indexed += body.indexed + body.duplicates;
  }
  console.log(`global-setup: ${indexed} images ready at ${base}`);
}
