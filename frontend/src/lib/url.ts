// The address bar: a query and its refinements as URL parameters, so a search survives a
// reload and can be bookmarked or shared. A dropped or pasted file has no URL form (its
// bytes stay in this tab), so only its text and refinements are written.
import { API_BASE } from "../api/client";
import {
  DEFAULT_REFINEMENT,
  TOP_K_CHOICES,
  imageFromIndexed,
  imageFromUrl,
  looksLikeUrl,
  type Query,
  type QueryImage,
  type Refinement,
} from "./query";

/** `?q=…&like=…&k=…` for this query (empty when nothing is asked); defaults are left out. */
export function searchFor(q: Query, r: Refinement): string {
  const p = new URLSearchParams();
  const text = q.text.trim();
  if (text) p.set("q", text);
  if (q.image?.kind === "id") p.set("like", q.image.imageId);
  if (q.image?.kind === "url") p.set("url", q.image.url);
  if ([...p.keys()].length > 0) {
    if (r.topK !== DEFAULT_REFINEMENT.topK) p.set("k", String(r.topK));
    if (r.threshold !== null) p.set("min", String(r.threshold));
    if (r.label) p.set("label", r.label);
    if (q.image && text && r.textWeight !== DEFAULT_REFINEMENT.textWeight) p.set("w", String(r.textWeight));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

function unitNumber(v: string | null): number | null {
  if (v === null || v.trim() === "") return null;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : null;
}

/** The query and refinements a `location.search` string asks for; unknown values fall back to defaults. */
export function parseSearch(search: string): { query: Query; refine: Refinement } {
  const p = new URLSearchParams(search);
  const like = p.get("like");
  const url = p.get("url");
  let image: QueryImage | null = null;
  if (like) image = imageFromIndexed(like, like.slice(0, 12), `${API_BASE}/images/${encodeURIComponent(like)}/thumbnail`);
  else if (url && looksLikeUrl(url)) image = imageFromUrl(url);
  const k = Number(p.get("k"));
  const min = unitNumber(p.get("min"));
  const w = unitNumber(p.get("w"));
  return {
    query: { text: p.get("q") ?? "", image },
    refine: {
      topK: (TOP_K_CHOICES as readonly number[]).includes(k) ? k : DEFAULT_REFINEMENT.topK,
      threshold: min !== null && min > 0 ? min : null,
      label: p.get("label") || null,
      textWeight: w ?? DEFAULT_REFINEMENT.textWeight,
    },
  };
}
