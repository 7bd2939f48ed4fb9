// The address bar: a query and its refinements as URL parameters, so every state survives a
// reload and can be bookmarked or shared. Dropped and pasted images are stored by the server
// under a query id (`qid=`), so they have a URL form too.
//   ?q=beach&not=people      words, words pushed away        ?like=ID   more like an image
//   ?url=https://…           an image on the web             ?qid=ID    a dropped/pasted image
//   ?pos=A,B&neg=C           liked / disliked images         ?view=library   ?dupes=ID
//   k (per page) min (score) label / f.<field> (filters) w (text weight) sort div=1 all=1
import { API_BASE } from "../api/client";
import type { SortField } from "../api/types";
import {
  DEFAULT_REFINEMENT,
  EMPTY_QUERY,
  TOP_K_CHOICES,
  imageFromIndexed,
  imageFromQueryId,
  imageFromUrl,
  isEmptyQuery,
  looksLikeUrl,
  type Query,
  type QueryImage,
  type Refinement,
} from "./query";

const SORTS: readonly SortField[] = ["relevance", "taken_at", "indexed_at"];
const FILTER_PREFIX = "f.";
const ID_LIST = /^[^,]+(,[^,]+)*$/;

const thumb = (id: string) => `${API_BASE}/images/${encodeURIComponent(id)}/thumbnail`;
const queryThumb = (id: string) => `${API_BASE}/queries/${encodeURIComponent(id)}/image`;

/** `?q=…&like=…&k=…` for this query (empty when nothing is asked); defaults are left out. */
export function searchFor(q: Query, r: Refinement): string {
  const p = new URLSearchParams();
  if (isEmptyQuery(q)) return "";
  if (q.view === "library") p.set("view", "library");
  if (q.view === "duplicates" && q.image?.kind === "id") p.set("dupes", q.image.imageId);
  const text = q.text.trim();
  if (q.view === "search") {
    if (text) p.set("q", text);
    for (const t of q.not) p.append("not", t);
    if (q.image?.kind === "id") p.set("like", q.image.imageId);
    if (q.image?.kind === "url") p.set("url", q.image.url);
    if (q.image?.kind === "qid") p.set("qid", q.image.queryId);
    if (q.likes.length) p.set("pos", q.likes.join(","));
    if (q.dislikes.length) p.set("neg", q.dislikes.join(","));
  }
  if (r.topK !== DEFAULT_REFINEMENT.topK) p.set("k", String(r.topK));
  if (r.threshold !== null) p.set("min", String(r.threshold));
  for (const [field, value] of Object.entries(r.filters).sort()) {
    p.set(field === "label" ? "label" : `${FILTER_PREFIX}${field}`, value);
  }
  if (q.image && text && r.textWeight !== DEFAULT_REFINEMENT.textWeight) p.set("w", String(r.textWeight));
  if (r.sort !== DEFAULT_REFINEMENT.sort) p.set("sort", r.sort);
  if (r.diverse) p.set("div", "1");
  if (r.all) p.set("all", "1");
  const s = p.toString();
  return s ? `?${s}` : "";
}

function unitNumber(v: string | null): number | null {
  if (v === null || v.trim() === "") return null;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : null;
}

function idList(v: string | null): string[] {
  return v && ID_LIST.test(v) ? [...new Set(v.split(","))] : [];
}

function imageFrom(p: URLSearchParams): QueryImage | null {
  const like = p.get("like");
  const url = p.get("url");
  const qid = p.get("qid");
  if (like) return imageFromIndexed(like, like.slice(0, 12), thumb(like));
  if (qid && /^[0-9a-f]{32}$/.test(qid)) return imageFromQueryId(qid, "image", queryThumb(qid));
  if (url && looksLikeUrl(url)) return imageFromUrl(url);
  return null;
}

/** The query and refinements a `location.search` string asks for; unknown values fall back to defaults. */
export function parseSearch(search: string): { query: Query; refine: Refinement } {
  const p = new URLSearchParams(search);
  let query: Query;
  const dupes = p.get("dupes");
  if (p.get("view") === "library") query = { ...EMPTY_QUERY, view: "library" };
  else if (dupes) query = { ...EMPTY_QUERY, view: "duplicates", image: imageFromIndexed(dupes, dupes.slice(0, 12), thumb(dupes)) };
  else
    query = {
      view: "search",
      text: p.get("q") ?? "",
      image: imageFrom(p),
      not: p.getAll("not").map((t) => t.trim()).filter(Boolean),
      likes: idList(p.get("pos")),
      dislikes: idList(p.get("neg")),
    };
  const filters: Record<string, string> = {};
  for (const [key, value] of p) {
    if (key === "label" && value) filters.label = value;
    else if (key.startsWith(FILTER_PREFIX) && key.length > FILTER_PREFIX.length && value) filters[key.slice(FILTER_PREFIX.length)] = value;
  }
  const k = Number(p.get("k"));
  const min = unitNumber(p.get("min"));
  const w = unitNumber(p.get("w"));
  const sort = p.get("sort") as SortField | null;
  return {
    query,
    refine: {
      topK: (TOP_K_CHOICES as readonly number[]).includes(k) ? k : DEFAULT_REFINEMENT.topK,
      threshold: min !== null && min > 0 ? min : null,
      filters,
      textWeight: w ?? DEFAULT_REFINEMENT.textWeight,
      sort: sort && SORTS.includes(sort) ? sort : DEFAULT_REFINEMENT.sort,
      diverse: p.get("div") === "1",
      all: p.get("all") === "1",
    },
  };
}
