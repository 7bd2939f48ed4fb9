// A small HTTP server speaking the documented API (docs/api.md) for component tests:
// real requests through fetch/XMLHttpRequest, deterministic answers, and a log of what
// the UI sent. The real backend is exercised by the Playwright suite.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { SearchRequest, SearchResult, Stats } from "../src/api/types";

export interface Logged {
  method: string;
  path: string;
  body: unknown;
}

export interface FakeApi {
  base: string;
  log: Logged[];
  searches: () => SearchRequest[];
  stats: Stats;
  close: () => Promise<void>;
}

const LABELS = ["dress", "hat", "shoes"];

export function fakeImages(n: number): SearchResult[] {
  return Array.from({ length: n }, (_, i): SearchResult => ({
    image_id: `img${String(i).padStart(3, "0")}`,
    score: Number((0.9 - i * 0.01).toFixed(3)),
    filename: `photo_${i}.jpg`,
    width: 300 + (i % 3) * 100,
    height: 300,
    label: LABELS[i % LABELS.length],
    metadata: i === 0 ? { caption: "a red dress on a hanger" } : ({} as Record<string, string>),
    thumbnail_url: `/api/v1/images/img${i}/thumbnail`,
    thumbnail_2x_url: `/api/v1/images/img${i}/thumbnail?size=512`,
    image_url: `/api/v1/images/img${i}`,
  }));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  if (res.destroyed) return;
  res.writeHead(status, {
    "Content-Type": type,
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "*",
  });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
}

const err = (code: string, message: string) => ({ error: { code, message } });

export async function startFakeApi(opts: { images?: number; fallback?: boolean; keys?: { valid: string; uiKey: string | null } } = {}): Promise<FakeApi> {
  const images = fakeImages(opts.images ?? 40);
  const log: Logged[] = [];
  const stats: Stats = {
    count: images.length,
    model: {
      model_id: "openai/clip-vit-base-patch32",
      requested_model: opts.fallback ? "openai/clip-vit-large-patch14" : "openai/clip-vit-base-patch32",
      dim: 512,
      device: "cpu",
      fallback: !!opts.fallback,
    },
    store: { backend: "edge", collection: "clip-512" },
    cache: {},
    uptime_s: 12,
    version: "0.1.0",
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const raw = await readBody(req);
    if (req.method === "OPTIONS") return send(res, 204, "");
    const ct = req.headers["content-type"] ?? "";
    let body: unknown = raw.toString("latin1");
    if (ct.startsWith("application/json")) body = JSON.parse(raw.toString("utf8"));
    log.push({ method: req.method ?? "", path: url.pathname, body });
    const p = url.pathname;

    if (p === "/api/v1/ui-config") return send(res, 200, { keys_required: !!opts.keys, api_key: opts.keys?.uiKey ?? null });
    if (p === "/api/v1/session" && req.method === "POST") {
      if (opts.keys && req.headers["x-api-key"] !== opts.keys.valid) return send(res, 401, err("unauthorized", "a valid API key is needed"));
      res.writeHead(204, { "Access-Control-Allow-Origin": "*" });
      return res.end();
    }
    if (p === "/api/v1/stats") return send(res, 200, stats);
    if (p === "/api/v1/queries" && req.method === "POST") {
      const query_id = createHash("md5").update(raw).digest("hex");
      if ((body as string).includes('filename="bad')) return send(res, 415, err("unsupported_format", "not a supported image"));
      return send(res, 201, { query_id, expires_at: "2030-01-01T00:00:00+00:00", image_url: `/api/v1/queries/${query_id}/image` });
    }
    if (p === "/api/v1/images" && req.method === "GET") {
      const offset = Number(url.searchParams.get("cursor") ?? 0);
      const limit = Number(url.searchParams.get("limit") ?? 60);
      const items = images.slice(offset, offset + limit).map(({ score: _s, ...item }) => item);
      const next = offset + limit < images.length ? String(offset + limit) : null;
      return send(res, 200, { items, next_cursor: next, total: images.length });
    }
    if (p === "/api/v1/images/delete" && req.method === "POST") {
      const ids = (body as { ids: string[] }).ids;
      const results = ids.map((id) => {
        const at = images.findIndex((i) => i.image_id === id);
        if (at >= 0) images.splice(at, 1);
        return { image_id: id, status: at >= 0 ? "deleted" : "not_found" };
      });
      const deleted = results.filter((r) => r.status === "deleted").length;
      stats.count -= deleted;
      return send(res, 200, { results, deleted, not_found: results.length - deleted });
    }
    if (p === "/api/v1/images/archive" && req.method === "POST") {
      const ids = (body as { ids: string[] }).ids;
      return send(res, 200, `PK fake zip of ${ids.join(",")}`, "application/zip");
    }
    const facet = p.match(/^\/api\/v1\/facets\/([^/]+)$/);
    if (facet) {
      const flt = JSON.parse(url.searchParams.get("filter") ?? "{}") as Record<string, string>;
      const counts = new Map<string, number>();
      for (const i of images) {
        if (Object.entries(flt).some(([k, v]) => (i as unknown as Record<string, unknown>)[k] !== v)) continue;
        const v = (i as unknown as Record<string, unknown>)[facet[1]];
        if (typeof v === "string") counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      return send(res, 200, { field: facet[1], values: [...counts].map(([value, count]) => ({ value, count })) });
    }
    const dupes = p.match(/^\/api\/v1\/images\/([^/]+)\/duplicates$/);
    if (dupes) return send(res, 200, { image_id: dupes[1], duplicates: images.filter((i) => i.image_id !== dupes[1]).slice(0, 2) });
    if (p === "/api/v1/html") return send(res, 200, "<!doctype html><p>hi</p>", "text/html");
    const info = p.match(/^\/api\/v1\/images\/([^/]+)\/info$/);
    if (info) {
      const img = images.find((i) => i.image_id === info[1]);
      if (!img) return send(res, 404, err("not_found", `no image ${info[1]}`));
      return send(res, 200, {
        image_id: img.image_id,
        filename: img.filename,
        width: img.width,
        height: img.height,
        format: "jpeg",
        bytes: 12345,
        indexed_at: "2024-05-01T10:00:00Z",
        taken_at: "2021-06-05T14:30:00",
        camera_make: "Canon",
        camera_model: "EOS 5D",
        gps: { lat: 48.858370, lon: 2.294481 },
        label: img.label,
        metadata: img.metadata,
      });
    }
    if (p === "/api/v1/search" && req.method === "POST") {
      const q = body as SearchRequest;
      const text = q.text ?? "";
      if (text === "fail") return send(res, 422, err("invalid_filter", "unknown filter field 'colour'"));
      if (text === "boom") return send(res, 500, "Internal Server Error", "text/plain");
      if (text === "too long") return send(res, 422, err("invalid_request", "text: String should have at most 2000 characters"));
      if (text.startsWith("slow")) await new Promise((r) => setTimeout(r, 400));
      let found = text === "nothing" ? [] : images.slice();
      if (q.image_id) found = found.filter((i) => i.image_id !== q.image_id);
      const label = q.filter?.label;
      if (typeof label === "string") found = found.filter((i) => i.label === label);
      if (typeof q.threshold === "number") found = found.filter((i) => i.score >= q.threshold!);
      const offset = q.offset ?? 0;
      const k = q.top_k ?? 10;
      let page = found.slice(offset, offset + k).map((r) => (text ? { ...r, filename: `${text}_${r.filename}` } : r));
      // the cutoff: "vague" matches nothing well; otherwise scores of 0.55 and up are relevant
      const line = text === "vague" ? 2 : 0.55;
      let cutoff = { method: "off", score: null as number | null, kept: page.length, cut: 0 };
      if (q.cutoff === "auto") {
        const kept = page.filter((r) => r.score >= line);
        cutoff = { method: "relative", score: line, kept: kept.length, cut: page.length - kept.length };
        page = kept;
      }
      return send(res, 200, {
        cutoff,
        query_id: "q1",
        results: page,
        total_found: page.length,
        has_more: cutoff.cut === 0 && offset + k < found.length,
        search_time_ms: 4.2,
        cached: false,
        model_id: stats.model.model_id,
      });
    }
    if (p === "/api/v1/index/upload" && req.method === "POST") {
      const names = [...(body as string).matchAll(/filename="([^"]+)"/g)].map((m) => m[1]);
      if (names.some((n) => n.startsWith("slow"))) await new Promise((r) => setTimeout(r, 300));
      const results = names.map((name, i) => {
        if (name.includes("bad"))
          return { image_id: null, filename: name, status: "failed", error: { code: "unsupported_image", message: `${name} is not a supported image` }, processing_time_ms: 1 };
        if (name.includes("dup")) return { image_id: `dup${i}`, filename: name, status: "duplicate", error: null, processing_time_ms: 1 };
        return { image_id: `new_${name}`, filename: name, status: "indexed", error: null, processing_time_ms: 5 };
      });
      const out = {
        results,
        indexed: results.filter((r) => r.status === "indexed").length,
        duplicates: results.filter((r) => r.status === "duplicate").length,
        failed: results.filter((r) => r.status === "failed").length,
      };
      if (names.length === 1 && out.failed === 1) return send(res, 415, { ...out, ...err("unsupported_image", results[0].error!.message) });
      stats.count += out.indexed;
      return send(res, 200, out);
    }
    return send(res, 404, err("not_found", `no route ${p}`));
  });

  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}/api/v1`,
    log,
    stats,
    searches: () => log.filter((l) => l.path === "/api/v1/search").map((l) => l.body as SearchRequest),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A base URL where nothing listens: the API is down. */
export async function deadBase(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/api/v1`;
}
