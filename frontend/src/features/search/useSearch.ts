// Runs queries: one in flight at a time (a new query aborts the old one), pages with
// `offset` + `has_more` (or the library's cursor), and answers repeated queries from the
// session cache at once. Searches ask for the relevance cutoff; when nothing passes it, the
// nearest images are fetched instead and marked as such ("no close matches").
import { useCallback, useRef, useState } from "react";
import { ApiError, isAbortError, type ApiClient } from "../../api/client";
import type { CutoffInfo, Item } from "../../api/types";
import type { CachedResults, ResultCache } from "../../lib/cache";
import { buildSearchRequest, filterFor, isEmptyQuery, queryKey, type Query, type Refinement } from "../../lib/query";

export type SearchStatus = "idle" | "loading" | "ready" | "error";

export interface SearchState extends CachedResults {
  status: SearchStatus;
  key: string | null;
  loadingMore: boolean;
  error: ApiError | null;
  /** An error from loading a further page; the results so far stay. */
  moreError: ApiError | null;
  /** Answered from a cache (this tab's or the server's): the search time says nothing then. */
  fromCache: boolean;
}

const NO_RESULTS: CachedResults = {
  results: [],
  hasMore: false,
  searchTimeMs: null,
  cutoff: null,
  nearest: false,
  cursor: null,
  total: null,
};

export const IDLE: SearchState = {
  ...NO_RESULTS,
  status: "idle",
  key: null,
  loadingMore: false,
  error: null,
  moreError: null,
  fromCache: false,
};

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(0, "unknown", err instanceof Error ? err.message : String(err));
}

function appendUnique(a: Item[], b: Item[]): Item[] {
  const seen = new Set(a.map((r) => r.image_id));
  return a.concat(b.filter((r) => !seen.has(r.image_id)));
}

interface Page extends CachedResults {
  fromCache: boolean;
}

/** One page of any query kind: a search (offset), the library (cursor), duplicates (all). */
/**
 * `known`: where the cutoff fell for this query, if a search without "show all" told us; for
 * a first "show all" page without it, the cutoff is asked for alongside, so the line can be
 * drawn (a reload, a shared link).
 */
async function fetchPage(
  client: ApiClient,
  q: Query,
  r: Refinement,
  from: CachedResults | null,
  signal: AbortSignal,
  known?: CutoffInfo,
): Promise<Page> {
  if (q.view === "library") {
    const sort = r.sort === "taken_at" ? "taken_at" : "indexed_at";
    const page = await client.listImages({ cursor: from?.cursor, limit: r.topK, sort, filter: filterFor(r) }, signal);
    return { ...NO_RESULTS, results: page.items, hasMore: page.next_cursor !== null, cursor: page.next_cursor ?? null, total: page.total, fromCache: false };
  }
  if (q.view === "duplicates" && q.image?.kind === "id") {
    const found = await client.duplicates(q.image.imageId, signal);
    return { ...NO_RESULTS, results: found.duplicates, total: found.duplicates.length, fromCache: false };
  }
  // nothing passed the cutoff on the first page: later pages are of the nearest too
  const all = r.all || !!from?.nearest;
  const offset = from?.results.length ?? 0;
  const probe = r.all && !from && !known ? client.search(buildSearchRequest(q, { ...r, all: false }, 0), signal) : null;
  let res = await client.search(buildSearchRequest(q, { ...r, all }, offset), signal);
  if (r.all && !from) res = { ...res, cutoff: known ?? (await probe)?.cutoff ?? res.cutoff };
  let nearest = !!from?.nearest;
  if (!all && offset === 0 && res.cutoff && res.cutoff.kept === 0 && res.cutoff.cut > 0) {
    nearest = true;
    const first = res.cutoff;
    res = await client.search(buildSearchRequest(q, { ...r, all: true }, 0), signal);
    res = { ...res, cutoff: first };
  }
  return {
    results: res.results,
    hasMore: res.has_more,
    searchTimeMs: res.search_time_ms,
    cutoff: mergeCutoff(from, res.cutoff ?? null, nearest),
    nearest,
    cursor: null,
    total: null,
    fromCache: res.cached,
  };
}

/** The cutoff over all pages so far: kept adds up, the last page says what was cut. */
function mergeCutoff(from: CachedResults | null, page: CutoffInfo | null, nearest: boolean): CutoffInfo | null {
  if (!from) return page;
  if (nearest || !page || !from.cutoff || page.method === "off") return from.cutoff ?? page;
  return { ...page, kept: from.cutoff.kept + page.kept };
}

export function useSearch(client: ApiClient, cache: ResultCache) {
  const [state, setState] = useState<SearchState>(IDLE);
  const stateRef = useRef(state);
  stateRef.current = state;
  const controller = useRef<AbortController | null>(null);
  const current = useRef<{ query: Query; refine: Refinement; key: string } | null>(null);
  // where the cutoff fell for each query, so "show all" can still draw the line
  const cutoffs = useRef(new Map<string, CutoffInfo>());

  const run = useCallback(
    (query: Query, refine: Refinement, opts: { force?: boolean } = {}) => {
      controller.current?.abort();
      controller.current = null;
      if (isEmptyQuery(query)) {
        current.current = null;
        setState(IDLE);
        return;
      }
      const key = queryKey(query, refine);
      current.current = { query, refine, key };
      const hit = opts.force ? undefined : cache.get(key);
      if (hit) {
        setState({ ...IDLE, ...hit, status: "ready", key, fromCache: true });
        return;
      }
      const ctrl = new AbortController();
      controller.current = ctrl;
      // keep the previous results on screen (dimmed) until the new ones arrive
      setState((s) => ({ ...s, status: "loading", key, error: null, moreError: null, loadingMore: false }));
      const base = queryKey(query, { ...refine, all: false });
      fetchPage(client, query, refine, null, ctrl.signal, cutoffs.current.get(base))
        .then(({ fromCache, ...page }) => {
          if (ctrl.signal.aborted) return;
          controller.current = null;
          if (!refine.all && page.cutoff && page.cutoff.method !== "off") cutoffs.current.set(base, page.cutoff);
          cache.set(key, page);
          setState({ ...IDLE, ...page, status: "ready", key, fromCache });
        })
        .catch((err: unknown) => {
          if (ctrl.signal.aborted || isAbortError(err)) return;
          controller.current = null;
          setState({ ...IDLE, status: "error", key, error: toApiError(err) });
        });
    },
    [client, cache],
  );

  const loadMore = useCallback(() => {
    const cur = current.current;
    const s = stateRef.current;
    if (!cur || s.status !== "ready" || !s.hasMore || s.loadingMore) return;
    const ctrl = new AbortController();
    controller.current?.abort();
    controller.current = ctrl;
    setState((prev) => ({ ...prev, loadingMore: true, moreError: null }));
    fetchPage(client, cur.query, cur.refine, s, ctrl.signal)
      .then((page) => {
        if (ctrl.signal.aborted || current.current?.key !== cur.key) return;
        controller.current = null;
        setState((prev) => {
          const results = appendUnique(prev.results, page.results);
          const next: CachedResults = {
            ...prev,
            results,
            hasMore: page.hasMore && page.results.length > 0,
            cursor: page.cursor,
            cutoff: page.cutoff,
            total: page.total ?? prev.total,
            searchTimeMs: prev.searchTimeMs ?? page.searchTimeMs,
          };
          cache.set(cur.key, pick(next));
          return { ...prev, ...next, loadingMore: false };
        });
      })
      .catch((err: unknown) => {
        if (ctrl.signal.aborted || isAbortError(err)) return;
        controller.current = null;
        setState((prev) => ({ ...prev, loadingMore: false, moreError: toApiError(err) }));
      });
  }, [client, cache]);

  const retry = useCallback(() => {
    const cur = current.current;
    if (cur) run(cur.query, cur.refine, { force: true });
  }, [run]);

  /** Takes images off the page at once (deleted, or about to be); `back` puts them back. */
  const hide = useCallback((ids: Set<string>) => {
    const removed: Array<[number, Item]> = [];
    setState((prev) => {
      const kept: Item[] = [];
      prev.results.forEach((r, i) => (ids.has(r.image_id) ? removed.push([i, r]) : kept.push(r)));
      return { ...prev, results: kept, total: prev.total === null ? null : prev.total - removed.length };
    });
    return () =>
      setState((prev) => {
        const results = [...prev.results];
        for (const [i, r] of removed) if (!results.some((x) => x.image_id === r.image_id)) results.splice(i, 0, r);
        return { ...prev, results, total: prev.total === null ? null : prev.total + removed.length };
      });
  }, []);

  const cancel = useCallback(() => {
    controller.current?.abort();
    controller.current = null;
  }, []);

  return { state, run, loadMore, retry, hide, cancel };
}

function pick(s: CachedResults): CachedResults {
  const { results, hasMore, searchTimeMs, cutoff, nearest, cursor, total } = s;
  return { results, hasMore, searchTimeMs, cutoff, nearest, cursor, total };
}

