// The words above the results: how many, how good, how fast, and what was asked (for the
// page heading). A count says what it means: "12 relevant results" when the cutoff ended the
// list, "more as you scroll" while pages remain, never a bare "24+".
import { imageLabel, type Query } from "../../lib/query";
import type { SearchState } from "./useSearch";

const plural = (n: number, one: string, many: string) => `${n.toLocaleString("en")} ${n === 1 ? one : many}`;

function timing(s: SearchState): string {
  if (s.fromCache) return " · cached";
  if (s.searchTimeMs === null) return "";
  return ` · ${s.searchTimeMs < 1 ? "<1" : Math.round(s.searchTimeMs)} ms`;
}

/** "12 relevant results · 85 ms"; a cached answer says "cached" instead of a meaningless "0 ms". */
export function resultSummary(s: SearchState, q: Query): string | null {
  if (s.status === "loading") return "Searching…";
  if (s.status !== "ready") return null;
  const n = s.results.length;
  if (q.view === "library") return s.total === null ? plural(n, "image", "images") : plural(s.total, "image", "images") + " in the library";
  if (q.view === "duplicates") return n ? plural(n, "near-duplicate", "near-duplicates") : null;
  if (n === 0) return null;
  const more = s.hasMore ? " · more as you scroll" : "";
  if (s.nearest) return `No close matches · the ${plural(n, "nearest image", "nearest images")}${more}${timing(s)}`;
  const c = s.cutoff;
  if (c && c.method !== "off") {
    const kept = s.results.length > c.kept && c.cut > 0 ? c.kept : n;
    return `${plural(kept, "relevant result", "relevant results")}${more}${timing(s)}`;
  }
  return `${plural(n, "result", "results")}${more}${timing(s)}`;
}

/** The page's top-level heading while a query is shown. */
export function resultsHeading(q: Query): string {
  if (q.view === "library") return "Library";
  if (q.view === "duplicates") return `Near-duplicates of ${q.image ? imageLabel(q.image) : "an image"}`;
  const text = q.text.trim();
  const parts: string[] = [];
  if (q.image) parts.push(`Images like ${imageLabel(q.image)}`);
  if (q.likes.length) parts.push(`Images like ${plural(q.likes.length, "chosen image", "chosen images")}`);
  if (text) parts.push(parts.length ? `with “${text}”` : `Results for “${text}”`);
  if (q.not.length) parts.push(`without ${q.not.map((w) => `“${w}”`).join(", ")}`);
  return parts.join(", ") || "Results";
}
