// The words above the results: how many, how fast, and what was asked (for the page heading).
import { imageLabel, type Query } from "../../lib/query";
import type { SearchState } from "./useSearch";

/** "24+ results · 85 ms"; a cached answer says "cached" instead of a meaningless "0 ms". */
export function resultSummary(s: SearchState): string | null {
  if (s.status === "loading") return "Searching…";
  if (s.status !== "ready" || s.results.length === 0) return null;
  const n = `${s.results.length}${s.hasMore ? "+" : ""} ${s.results.length === 1 && !s.hasMore ? "result" : "results"}`;
  if (s.fromCache) return `${n} · cached`;
  if (s.searchTimeMs === null) return n;
  return `${n} · ${s.searchTimeMs < 1 ? "<1" : Math.round(s.searchTimeMs)} ms`;
}

/** The page's top-level heading while a query is shown. */
export function resultsHeading(q: Query): string {
  const text = q.text.trim();
  if (!q.image) return `Results for “${text}”`;
  const like = `Images like ${imageLabel(q.image)}`;
  return text ? `${like}, with “${text}”` : like;
}
