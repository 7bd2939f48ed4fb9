// What is being asked: the query (text and/or image) and its refinement, kept in step with
// the search that runs and with browser history. Typing searches once it pauses; Enter,
// an image or an example is a new query (a history entry); a refinement of the same query
// replaces the entry; the minimum score is kept per score scale (lib/query carryRefinement).
import { useCallback, useRef, useState } from "react";
import {
  DEFAULT_REFINEMENT,
  EMPTY_QUERY,
  carryRefinement,
  imageFromIndexed,
  imageFromUrl,
  isEmptyQuery,
  looksLikeUrl,
  makeQuery,
  splitNegatives,
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

  /** Text typed into the box: shown at once, searched when typing pauses (typing in the
   * library or a duplicates view starts a search). */
  const type = (text: string) => {
    const cur = queryRef.current;
    const q = cur.view === "search" ? { ...cur, text } : makeQuery({ text });
    setQuery(q);
    typing.call(q);
  };

  /** A new image query; the words stay unless `text` replaces them; feedback starts over. */
  const searchByImage = useCallback(
    (image: QueryImage, text: string = queryRef.current.view === "search" ? queryRef.current.text : "") =>
      go(makeQuery({ text, image, not: queryRef.current.view === "search" ? queryRef.current.not : [] })),
    [go],
  );

  /** Enter: search now. A lone URL in the box searches by the image at that address (in
   * place of any image in the query); words
   * written `-like-this` become "without" terms. */
  const submit = () => {
    const q = queryRef.current;
    if (q.text.trim() && looksLikeUrl(q.text)) {
      searchByImage(imageFromUrl(q.text), "");
      return;
    }
    const { text, not } = splitNegatives(q.text);
    go(not.length ? { ...q, view: "search", text, not: [...new Set([...q.not, ...not])] } : { ...q, view: q.view === "library" ? "search" : q.view }, "commit");
  };

  /** A refinement change: re-runs the same query in place (no new history entry). */
  const refineTo = (next: Refinement) => {
    if (isEmptyQuery(queryRef.current)) setRefine(next);
    else go(queryRef.current, "replace", next);
  };

  /** Relevance feedback: the query again, with these liked and disliked images added. */
  const refineWithFeedback = (likes: string[], dislikes: string[]) => {
    const q = queryRef.current;
    const merge = (a: string[], b: string[]) => [...new Set([...a, ...b])];
    go({ ...q, view: "search", likes: merge(q.likes, likes), dislikes: merge(q.dislikes, dislikes) });
  };

  return {
    query,
    refine,
    type,
    submit,
    searchByImage,
    searchText: (text: string) => go(makeQuery({ text })),
    removeImage: () => go({ ...queryRef.current, image: null }),
    removeNot: (word: string) => go({ ...queryRef.current, not: queryRef.current.not.filter((w) => w !== word) }),
    removeFeedback: () => go({ ...queryRef.current, likes: [], dislikes: [] }),
    /** "Search by these": the selected images as the examples of a new query. */
    searchByIds: (ids: string[]) => go(makeQuery({ likes: ids })),
    showLibrary: () => go({ ...EMPTY_QUERY, view: "library" }, "push", { ...DEFAULT_REFINEMENT, topK: 48 }),
    showDuplicates: (imageId: string, name: string, thumbUrl: string) =>
      go({ ...EMPTY_QUERY, view: "duplicates", image: imageFromIndexed(imageId, name, thumbUrl) }, "push", DEFAULT_REFINEMENT),
    clear: () => go(EMPTY_QUERY),
    refineTo,
    refineWithFeedback,
  };
}
