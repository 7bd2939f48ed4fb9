// What the person asked for, independent of how it is sent: text, an image (a file they
// dropped, a URL, or an indexed image for "more like this"), and the refinement controls.
import type { SearchRequest } from "../api/types";

export type QueryImage =
  | { kind: "file"; key: string; name: string; dataUrl: string }
  | { kind: "url"; key: string; url: string }
  | { kind: "id"; key: string; imageId: string; name: string; thumbUrl: string };

export interface Query {
  text: string;
  image: QueryImage | null;
}

export interface Refinement {
  topK: number;
  /** Minimum score, or null for none. */
  threshold: number | null;
  /** Only results with this label, or null for all. */
  label: string | null;
  /** Weight of the text when text and an image are combined (0..1). */
  textWeight: number;
}

export const DEFAULT_REFINEMENT: Refinement = { topK: 24, threshold: null, label: null, textWeight: 0.5 };
export const TOP_K_CHOICES = [12, 24, 48, 96] as const;

export const EMPTY_QUERY: Query = { text: "", image: null };

export function isEmptyQuery(q: Query): boolean {
  return q.text.trim() === "" && q.image === null;
}

/**
 * Scores of different query kinds live on different scales (with CLIP, image→image tops
 * out near 1.0 while text→image rarely passes 0.4), so a minimum score means something
 * only within one kind.
 */
export type ScoreScale = "text" | "image" | "mixed";

export function scoreScale(q: Query): ScoreScale | null {
  const text = q.text.trim() !== "";
  if (q.image) return text ? "mixed" : "image";
  return text ? "text" : null;
}

/**
 * The refinement for a new query `to` after `from` ran with `r`: the minimum score is
 * kept per score scale (`memory` remembers the last one used on each), the rest carries.
 */
export function carryRefinement(memory: Map<ScoreScale, number | null>, from: Query | null, to: Query, r: Refinement): Refinement {
  const a = from ? scoreScale(from) : null;
  const b = scoreScale(to);
  if (a === null || b === null || a === b) return r;
  memory.set(a, r.threshold);
  const threshold = memory.get(b) ?? null;
  return threshold === r.threshold ? r : { ...r, threshold };
}

const URL_RE = /^https?:\/\/\S+$/i;

/** True for a pasted string that is a single http(s) URL (treated as an image URL query). */
export function looksLikeUrl(text: string): boolean {
  return URL_RE.test(text.trim());
}

export function imageFromUrl(url: string): QueryImage {
  const u = url.trim();
  return { kind: "url", key: `url:${u}`, url: u };
}

export function imageFromIndexed(imageId: string, name: string, thumbUrl: string): QueryImage {
  return { kind: "id", key: `id:${imageId}`, imageId, name, thumbUrl };
}

/** A stable key for a file without hashing its bytes: name, size and modification time. */
export function fileKey(file: File): string {
  return `file:${file.name}:${file.size}:${file.lastModified}`;
}

export function imageLabel(image: QueryImage): string {
  switch (image.kind) {
    case "file":
    case "id":
      return image.name;
    case "url": {
      try {
        const u = new URL(image.url);
        return u.pathname.split("/").filter(Boolean).pop() || u.hostname;
      } catch {
        return image.url;
      }
    }
  }
}

export function imagePreview(image: QueryImage): string {
  switch (image.kind) {
    case "file":
      return image.dataUrl;
    case "url":
      return image.url;
    case "id":
      return image.thumbUrl;
  }
}

/** The JSON body of `POST /search` for one page of this query. */
export function buildSearchRequest(q: Query, r: Refinement, offset = 0): SearchRequest {
  const req: SearchRequest = { top_k: r.topK, offset };
  const text = q.text.trim();
  if (text) req.text = text;
  if (q.image) {
    if (q.image.kind === "file") req.image_data = q.image.dataUrl;
    else if (q.image.kind === "url") req.image_url = q.image.url;
    else req.image_id = q.image.imageId;
    if (text) req.text_weight = r.textWeight;
  }
  if (r.threshold !== null) req.threshold = r.threshold;
  if (r.label) req.filter = { label: r.label };
  return req;
}

/** Identifies a query + refinement for the result cache and browser history. */
export function queryKey(q: Query, r: Refinement): string {
  const parts = [
    `t=${q.text.trim()}`,
    `i=${q.image?.key ?? ""}`,
    `k=${r.topK}`,
    `th=${r.threshold ?? ""}`,
    `l=${r.label ?? ""}`,
  ];
  if (q.image && q.text.trim()) parts.push(`w=${r.textWeight}`);
  return parts.join("|");
}
