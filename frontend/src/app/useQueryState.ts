// What is being asked: the query (text and/or image) and its refinement, kept in step with
// the search that runs and with browser history. Typing searches once it pauses; Enter,
// an image or an example is a new query (a history entry); a refinement of the same query
// replaces the entry; the minimum score is kept per score scale (lib/query carryRefinement).
import { useCallback, useRef, useState } from "react";
import {
  DEFAULT_REFINEMENT,
  EMPTY_QUERY,
  carryRefinement,
  imageFromUrl,
  isEmptyQuery,
  looksLikeUrl,
  type Query,
  type QueryImage,
  type Refinement,
  type ScoreScale,
} from "../lib/query";
import { useDebouncedCallback } from "../lib/useDebounced";
import { useHistorySync, type CommitMode } from "./useHistorySync";

interface Options {
  /** Pause in typing before the text is searched. */
  debounceMs: number;
  /** Runs before a query from Back/Forward or the URL is shown (e.g. to close the lightbox). */
  onRestore?: () => void;
}

export function useQueryState(run: (q: Query, r: Refinement) => void, { debounceMs, onRestore }: Options) {
  const [query, setQuery] = useState<Query>(EMPTY_QUERY);
  const [refine, setRefine] = useState<Refinement>(DEFAULT_REFINEMENT);
  const queryRef = useRef(query);
  queryRef.current = query;
  const refineRef = useRef(refine);
  refineRef.current = refine;
  // the last query that ran, and the minimum score last used on each score scale
  const ran = useRef<Query | null>(null);
  const thresholds = useRef(new Map<ScoreScale, number | null>());

  /** Shows a query with its refinement and runs it. */
  const show = useCallback(
    (q: Query, r: Refinement) => {
      setQuery(q);
      setRefine(r);
      if (!isEmptyQuery(q)) ran.current = q;
      run(q, r);
    },
    [run],
  );

  const typing = useDebouncedCallback((q: Query) => go(q, "typing"), debounceMs);
  const { cancel: cancelTyping } = typing;

  const record = useHistorySync((q, r) => {
    cancelTyping();
    onRestore?.();
    show(q, r);
  });

  /** Runs a query and records it in history (`r`: the refinement, else carried from the last query). */
  const go = useCallback(
    (q: Query, mode: CommitMode = "push", r?: Refinement) => {
      cancelTyping();
      const next = r ?? carryRefinement(thresholds.current, ran.current, q, refineRef.current);
      show(q, next);
      record(q, next, mode);
    },
    [show, record, cancelTyping],
  );

  /** Text typed into the box: shown at once, searched when typing pauses. */
  const type = (text: string) => {
    const q = { ...queryRef.current, text };
    setQuery(q);
    typing.call(q);
  };

  /** A new image query; the words stay unless `text` replaces them. */
  const searchByImage = useCallback(
    (image: QueryImage, text: string = queryRef.current.text) => go({ text, image }),
    [go],
  );

  /** Enter: search now. A lone URL in the box searches by the image at that address. */
  const submit = () => {
    const q = queryRef.current;
    if (q.text.trim() && !q.image && looksLikeUrl(q.text)) searchByImage(imageFromUrl(q.text), "");
    else go(q);
  };

  /** A refinement change: re-runs the same query in place (no new history entry). */
  const refineTo = (next: Refinement) => {
    if (isEmptyQuery(queryRef.current)) setRefine(next);
    else go(queryRef.current, "replace", next);
  };

  return {
    query,
    refine,
    type,
    submit,
    searchByImage,
    searchText: (text: string) => go({ text, image: null }),
    removeImage: () => go({ ...queryRef.current, image: null }),
    clear: () => go(EMPTY_QUERY),
    refineTo,
  };
}
