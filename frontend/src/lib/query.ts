// What the person asked for, independent of how it is sent: words (and words to push away),
// an image (a stored query image, a URL, or an indexed image for "more like this"), liked and
// disliked images (relevance feedback), or a whole view (the library, an image's
// near-duplicates); plus the refinement controls.
import type { FilterValue, SearchRequest, SortField } from "../api/types";

export type QueryImage =
  /** A dropped, pasted or picked file, stored by the server under a query id (`POST /queries`). */
  | { kind: "qid"; key: string; queryId: string; name: string; thumbUrl: string }
  | { kind: "url"; key: string; url: string }
  | { kind: "id"; key: string; imageId: string; name: string; thumbUrl: string };

/** search: ranked by similarity; library: every image, newest first; duplicates: of `image`. */
export type View = "search" | "library" | "duplicates";

export interface Query {
  view: View;
  text: string;
  image: QueryImage | null;
  /** Words to push away ("without …"). */
  not: string[];
  /** Relevance feedback: image ids liked and disliked. */
  likes: string[];
  dislikes: string[];
}

export interface Refinement {
  topK: number;
  /** Minimum score, or null for none. */
  threshold: number | null;
  /** Facet filters: field → value (label, format, camera, metadata.<key>). */
  filters: Record<string, string>;
  /** Weight of the text when text and an image are combined (0..1). */
  textWeight: number;
  sort: SortField;
  /** Spread the results out (MMR) so near-identical photos don't fill the page. */
  diverse: boolean;
  /** Also show what lies below the relevance cutoff. */
  all: boolean;
}

export const DEFAULT_REFINEMENT: Refinement = {
  topK: 24,
  threshold: null,
  filters: {},
  textWeight: 0.5,
  sort: "relevance",
  diverse: false,
  all: false,
};
export const TOP_K_CHOICES = [12, 24, 48, 96] as const;
/** Diversity sent when "varied results" is on (0 = off, 1 = only variety). */
export const DIVERSITY = 0.5;
/** Weight of each "without …" word against the query's own terms. */
export const NOT_WEIGHT = -0.5;

export const EMPTY_QUERY: Query = { view: "search", text: "", image: null, not: [], likes: [], dislikes: [] };

/** A search query from its parts (the rest empty). */
export function makeQuery(parts: Partial<Query>): Query {
  return { ...EMPTY_QUERY, ...parts };
}

export function isEmptyQuery(q: Query): boolean {
  if (q.view === "library") return false;
  if (q.view === "duplicates") return q.image === null;
  return q.text.trim() === "" && q.image === null && q.likes.length === 0;
}

/**
 * Scores of different query kinds live on different scales (with CLIP, image→image tops
 * out near 1.0 while text→image rarely passes 0.4), so a minimum score means something
 * only within one kind.
 */
export type ScoreScale = "text" | "image" | "mixed";

export function scoreScale(q: Query): ScoreScale | null {
  if (q.view !== "search") return null;
  const text = q.text.trim() !== "";
  const image = q.image !== null || q.likes.length > 0;
  if (image) return text ? "mixed" : "image";
  return text ? "text" : null;
}

/**
 * The refinement for a new query `to` after `from` ran with `r`: the minimum score is
 * kept per score scale (`memory` remembers the last one used on each), "show all" is per
 * query, the rest carries.
 */
export function carryRefinement(memory: Map<ScoreScale, number | null>, from: Query | null, to: Query, r: Refinement): Refinement {
  const base = r.all ? { ...r, all: false } : r;
  const a = from ? scoreScale(from) : null;
  const b = scoreScale(to);
  if (a === null || b === null || a === b) return base;
  memory.set(a, r.threshold);
  const threshold = memory.get(b) ?? null;
  return threshold === base.threshold ? base : { ...base, threshold };
}

const URL_RE = /^https?:\/\/\S+$/i;

/** True for a pasted string that is a single http(s) URL (treated as an image URL query). */
export function looksLikeUrl(text: string): boolean {
  return URL_RE.test(text.trim());
}

/**
 * Splits typed words into the words to search and words to push away: `beach -people`
 * searches "beach" without "people" (a lone "-" or a hyphen inside a word stays).
 */
export function splitNegatives(text: string): { text: string; not: string[] } {
  const keep: string[] = [];
  const not: string[] = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (word.length > 1 && word.startsWith("-")) not.push(word.slice(1));
    else keep.push(word);
  }
  return { text: keep.join(" "), not };
}

export function imageFromUrl(url: string): QueryImage {
  const u = url.trim();
  return { kind: "url", key: `url:${u}`, url: u };
}

export function imageFromIndexed(imageId: string, name: string, thumbUrl: string): QueryImage {
  return { kind: "id", key: `id:${imageId}`, imageId, name, thumbUrl };
}

export function imageFromQueryId(queryId: string, name: string, thumbUrl: string): QueryImage {
  return { kind: "qid", key: `qid:${queryId}`, queryId, name, thumbUrl };
}

export function imageLabel(image: QueryImage): string {
  switch (image.kind) {
    case "qid":
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
  return image.kind === "url" ? image.url : image.thumbUrl;
}

/** The filter object for the API: the facet filters (null when there are none). */
export function filterFor(r: Refinement): Record<string, FilterValue> | null {
  const entries = Object.entries(r.filters);
  return entries.length ? Object.fromEntries(entries) : null;
}

/** The JSON body of `POST /search` for one page of this query. */
export function buildSearchRequest(q: Query, r: Refinement, offset = 0): SearchRequest {
  const req: SearchRequest = { top_k: r.topK, offset };
  const text = q.text.trim();
  if (text) req.text = text;
  if (q.image) {
    if (q.image.kind === "qid") req.query_id = q.image.queryId;
    else if (q.image.kind === "url") req.image_url = q.image.url;
    else req.image_id = q.image.imageId;
    if (text) req.text_weight = r.textWeight;
  }
  if (q.not.length) req.terms = q.not.map((t) => ({ text: t, weight: NOT_WEIGHT }));
  if (q.likes.length) req.positive_ids = q.likes;
  if (q.dislikes.length) req.negative_ids = q.dislikes;
  if (r.threshold !== null) req.threshold = r.threshold;
  const filter = filterFor(r);
  if (filter) req.filter = filter;
  if (r.sort !== "relevance") req.sort = r.sort;
  if (r.diverse) req.diversity = DIVERSITY;
  req.cutoff = r.all ? "off" : "auto";
  return req;
}

/** Identifies a query + refinement for the result cache and browser history. */
export function queryKey(q: Query, r: Refinement): string {
  const parts = [
    `v=${q.view}`,
    `t=${q.text.trim()}`,
    `i=${q.image?.key ?? ""}`,
    `n=${q.not.join(",")}`,
    `p=${q.likes.join(",")}`,
    `d=${q.dislikes.join(",")}`,
    `k=${r.topK}`,
    `th=${r.threshold ?? ""}`,
    `f=${JSON.stringify(Object.entries(r.filters).sort())}`,
    `s=${r.sort}`,
    `x=${r.diverse ? 1 : 0}`,
    `a=${r.all ? 1 : 0}`,
  ];
  if (q.image && q.text.trim()) parts.push(`w=${r.textWeight}`);
  return parts.join("|");
}
