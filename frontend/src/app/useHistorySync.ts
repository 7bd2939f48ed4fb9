// Browser history for searches: each new query is an entry (typing replaces its own entry,
// refinement changes replace the current one), the address bar mirrors it (lib/url), and
// Back, Forward and reload restore it.
import { useCallback, useEffect, useRef } from "react";
import { isEmptyQuery, queryKey, type Query, type QueryImage, type Refinement } from "../lib/query";
import { parseSearch, searchFor } from "../lib/url";

export type CommitMode = "push" | "typing" | "replace";

/** What goes into `history.state`: enough to restore a query (file bytes stay in memory). */
interface HistoryEntry {
  visearch: 1;
  text: string;
  image: Omit<QueryImage, "dataUrl"> | null;
  refine: Refinement;
  typing: boolean;
}

function entryFor(q: Query, r: Refinement, typing: boolean): HistoryEntry {
  const image = q.image ? (({ dataUrl: _drop, ...rest }) => rest)(q.image as QueryImage & { dataUrl?: string }) : null;
  return { visearch: 1, text: q.text, image, refine: r, typing };
}

function isEntry(st: unknown): st is HistoryEntry {
  return typeof st === "object" && st !== null && (st as HistoryEntry).visearch === 1;
}

const hrefFor = (q: Query, r: Refinement) => `${window.location.pathname}${searchFor(q, r)}`;

/**
 * Returns `record(query, refine, mode)`, to call with every query that runs. `onRestore`
 * runs for the query in the URL on first render and for each Back/Forward step.
 */
export function useHistorySync(onRestore: (q: Query, r: Refinement) => void) {
  const restoreRef = useRef(onRestore);
  restoreRef.current = onRestore;
  // the bytes of dropped/pasted files, so Back can bring their queries back in this tab
  const fileData = useRef(new Map<string, string>());

  const record = useCallback((q: Query, r: Refinement, mode: CommitMode = "push") => {
    // clearing the box on the way to the next query is not a place to go back to
    if (mode === "typing" && isEmptyQuery(q)) return;
    if (q.image?.kind === "file") fileData.current.set(q.image.key, q.image.dataUrl);
    const prev: unknown = window.history.state;
    const sameKey =
      isEntry(prev) && queryKey({ text: prev.text, image: prev.image as QueryImage | null }, prev.refine) === queryKey(q, r);
    const entry = entryFor(q, r, mode === "typing");
    if (mode === "replace" || sameKey || (mode === "typing" && isEntry(prev) && prev.typing)) {
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
      let image = st.image as QueryImage | null;
      if (image?.kind === "file") {
        const dataUrl = fileData.current.get(image.key);
        image = dataUrl ? { ...image, dataUrl } : null;
      }
      restoreRef.current({ text: st.text, image }, st.refine);
    };
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);

  return record;
}
