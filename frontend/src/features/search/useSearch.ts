// Runs searches: one in flight at a time (a new query aborts the old one), pages with
// `offset` + `has_more`, and answers repeated queries from the session cache at once.
import { useCallback, useRef, useState } from "react";
import { ApiError, isAbortError, type ApiClient } from "../../api/client";
import type { SearchResult } from "../../api/types";
import type { ResultCache } from "../../lib/cache";
import { buildSearchRequest, isEmptyQuery, queryKey, type Query, type Refinement } from "../../lib/query";

export type SearchStatus = "idle" | "loading" | "ready" | "error";

export interface SearchState {
  status: SearchStatus;
  key: string | null;
  results: SearchResult[];
  hasMore: boolean;
  loadingMore: boolean;
  error: ApiError | null;
  /** An error from loading a further page; the results so far stay. */
  moreError: ApiError | null;
  searchTimeMs: number | null;
  /** Answered from a cache (this tab's or the server's): the search time says nothing then. */
  fromCache: boolean;
}

export const IDLE: SearchState = {
  status: "idle",
  key: null,
  results: [],
  hasMore: false,
  loadingMore: false,
  error: null,
  moreError: null,
  searchTimeMs: null,
  fromCache: false,
};

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(0, "unknown", err instanceof Error ? err.message : String(err));
}

function appendUnique(a: SearchResult[], b: SearchResult[]): SearchResult[] {
  const seen = new Set(a.map((r) => r.image_id));
  return a.concat(b.filter((r) => !seen.has(r.image_id)));
}

export function useSearch(client: ApiClient, cache: ResultCache) {
  const [state, setState] = useState<SearchState>(IDLE);
  const stateRef = useRef(state);
  stateRef.current = state;
  const controller = useRef<AbortController | null>(null);
  const current = useRef<{ query: Query; refine: Refinement; key: string } | null>(null);

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
        setState({
          ...IDLE,
          status: "ready",
          key,
          results: hit.results,
          hasMore: hit.hasMore,
          searchTimeMs: hit.searchTimeMs,
          fromCache: true,
        });
        return;
      }
      const ctrl = new AbortController();
      controller.current = ctrl;
      // keep the previous results on screen (dimmed) until the new ones arrive
      setState((s) => ({ ...s, status: "loading", key, error: null, moreError: null, loadingMore: false }));
      client
        .search(buildSearchRequest(query, refine, 0), ctrl.signal)
        .then((res) => {
          if (ctrl.signal.aborted) return;
          controller.current = null;
          cache.set(key, { results: res.results, hasMore: res.has_more, searchTimeMs: res.search_time_ms });
          setState({
            ...IDLE,
            status: "ready",
            key,
            results: res.results,
            hasMore: res.has_more,
            searchTimeMs: res.search_time_ms,
            fromCache: res.cached,
          });
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
    const offset = s.results.length;
    setState((prev) => ({ ...prev, loadingMore: true, moreError: null }));
    client
      .search(buildSearchRequest(cur.query, cur.refine, offset), ctrl.signal)
      .then((res) => {
        if (ctrl.signal.aborted || current.current?.key !== cur.key) return;
        controller.current = null;
        setState((prev) => {
          const results = appendUnique(prev.results, res.results);
          const hasMore = res.has_more && res.results.length > 0;
          cache.set(cur.key, { results, hasMore, searchTimeMs: prev.searchTimeMs ?? res.search_time_ms });
          return { ...prev, results, hasMore, loadingMore: false };
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

  const cancel = useCallback(() => {
    controller.current?.abort();
    controller.current = null;
  }, []);

  return { state, run, loadMore, retry, cancel };
}
