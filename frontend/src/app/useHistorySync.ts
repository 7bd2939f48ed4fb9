// Browser history for searches: each new query is an entry (typing replaces its own entry,
// refinement changes replace the current one), the address bar mirrors it (lib/url), and
// Back, Forward and reload restore it.
import { useCallback, useEffect, useRef } from "react";
import { isEmptyQuery, queryKey, type Query, type Refinement } from "../lib/query";
import { parseSearch, searchFor } from "../lib/url";

/** push: a new entry; typing: replaces the entry typing made last; commit (Enter): ends the
 * typing, in its entry; replace: the current entry (a refinement). */
export type CommitMode = "push" | "typing" | "commit" | "replace";

/** What goes into `history.state`: the whole query (images are ids or URLs, never bytes). */
interface HistoryEntry {
  visearch: 2;
  query: Query;
  refine: Refinement;
  typing: boolean;
}

function entryFor(query: Query, refine: Refinement, typing: boolean): HistoryEntry {
  return { visearch: 2, query, refine, typing };
}

function isEntry(st: unknown): st is HistoryEntry {
  return typeof st === "object" && st !== null && (st as HistoryEntry).visearch === 2;
}

const hrefFor = (q: Query, r: Refinement) => `${window.location.pathname}${searchFor(q, r)}`;

/**
 * Returns `record(query, refine, mode)`, to call with every query that runs. `onRestore`
 * runs for the query in the URL on first render and for each Back/Forward step.
 */
export function useHistorySync(onRestore: (q: Query, r: Refinement) => void) {
  const restoreRef = useRef(onRestore);
  restoreRef.current = onRestore;

  const record = useCallback((q: Query, r: Refinement, mode: CommitMode = "push") => {
    // clearing the box on the way to the next query is not a place to go back to
    if (mode === "typing" && isEmptyQuery(q)) return;
    const prev: unknown = window.history.state;
    const sameKey = isEntry(prev) && queryKey(prev.query, prev.refine) === queryKey(q, r);
    const entry = entryFor(q, r, mode === "typing");
    const afterTyping = (mode === "typing" || mode === "commit") && isEntry(prev) && prev.typing;
    if (mode === "replace" || sameKey || afterTyping) {
      window.history.replaceState(entry, "", hrefFor(q, r));
    } else {
      window.history.pushState(entry, "", hrefFor(q, r));
    }
  }, []);

  // first render: restore the query in the URL (?q=, ?like=, ?url= and refinements)
  useEffect(() => {
    const { query, refine } = parseSearch(window.location.search);
    if (!isEmptyQuery(query)) restoreRef.current(query, refine);
    window.history.replaceState(entryFor(query, refine, false), "", hrefFor(query, refine));
  }, []);

  // Back/Forward. An entry without our state (a #fragment link, a foreign entry) still has
  // the query in its URL: restore that rather than wiping the search.
  useEffect(() => {
    const onPop = (e: PopStateEvent) => {
      const st: unknown = e.state;
      if (!isEntry(st)) {
        const { query, refine } = parseSearch(window.location.search);
        restoreRef.current(query, refine);
        return;
      }
      restoreRef.current(st.query, st.refine);
    };
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  return record;
}
