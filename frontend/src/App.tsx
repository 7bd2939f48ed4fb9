// The page: search box, refinement, results and lightbox, the Add images sheet, and the
// status line. App wires the features together; each feature lives in src/features/*
// (a jobs panel would be one more feature next to upload/).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api as defaultClient, type ApiClient } from "./api/client";
import type { SearchResult } from "./api/types";
import { ResultCache } from "./lib/cache";
import { dragHasFiles, imageFilesFrom, readAsDataUrl } from "./lib/files";
import {
  DEFAULT_REFINEMENT,
  EMPTY_QUERY,
  fileKey,
  imageFromIndexed,
  imageFromUrl,
  isEmptyQuery,
  looksLikeUrl,
  queryKey,
  type Query,
  type QueryImage,
  type Refinement,
} from "./lib/query";
import { useDebouncedCallback } from "./lib/useDebounced";
import { Lightbox } from "./features/search/Lightbox";
import { EmptyState, NoResults, SearchError } from "./features/search/Messages";
import { RefineBar } from "./features/search/RefineBar";
import { ResultsGrid } from "./features/search/ResultsGrid";
import { SearchBar } from "./features/search/SearchBar";
import { displayName } from "./features/search/labels";
import { useSearch } from "./features/search/useSearch";
import { ServiceBanner, StatusBar } from "./features/status/StatusBar";
import { useStats } from "./features/status/useStats";
import { UploadPanel } from "./features/upload/UploadPanel";
import { useUploader, type UploadSummary } from "./features/upload/useUploader";
import { PlusIcon, UploadIcon } from "./ui/icons";

export const TYPING_DEBOUNCE_MS = 300;

interface Props {
  client?: ApiClient;
  cache?: ResultCache;
  statsIntervalMs?: number;
  debounceMs?: number;
}

/** What goes into browser history: enough to restore a query (file bytes stay in memory). */
interface HistoryEntry {
  visearch: 1;
  text: string;
  image: Omit<QueryImage, "dataUrl"> | null;
  refine: Refinement;
  typing: boolean;
}

function isEditable(el: EventTarget | null): boolean {
  if (!(el instanceof HTMLElement)) return false;
  return el.isContentEditable || el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && (el as HTMLInputElement).type !== "range");
}

function urlFor(q: Query): string {
  const p = new URLSearchParams();
  if (q.text.trim()) p.set("q", q.text.trim());
  if (q.image?.kind === "id") p.set("like", q.image.imageId);
  if (q.image?.kind === "url") p.set("url", q.image.url);
  const s = p.toString();
  return `${window.location.pathname}${s ? `?${s}` : ""}`;
}

function queryFromLocation(): Query {
  const p = new URLSearchParams(window.location.search);
  const text = p.get("q") ?? "";
  const like = p.get("like");
  const url = p.get("url");
  let image: QueryImage | null = null;
  if (like) image = imageFromIndexed(like, like.slice(0, 12), `/api/v1/images/${encodeURIComponent(like)}/thumbnail`);
  else if (url && looksLikeUrl(url)) image = imageFromUrl(url);
  return { text, image };
}

export default function App({ client = defaultClient, cache: cacheProp, statsIntervalMs = 30_000, debounceMs = TYPING_DEBOUNCE_MS }: Props) {
  const cache = useMemo(() => cacheProp ?? new ResultCache(), [cacheProp]);
  const stats = useStats(client, statsIntervalMs);
  const search = useSearch(client, cache);
  const [query, setQuery] = useState<Query>(EMPTY_QUERY);
  const [refine, setRefine] = useState<Refinement>(DEFAULT_REFINEMENT);
  const [lightbox, setLightbox] = useState<number | null>(null);
  const [uploadOpen, setUploadOpen] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [toast, setToast] = useState<string | null>(null);
  const [labels, setLabels] = useState<string[]>([]);
  const inputRef = useRef<HTMLInputElement>(null);
  const pickRef = useRef<HTMLInputElement>(null);
  const addButtonRef = useRef<HTMLButtonElement>(null);
  const fileData = useRef(new Map<string, string>());
  const queryRef = useRef(query);
  queryRef.current = query;
  const refineRef = useRef(refine);
  refineRef.current = refine;

  const { run } = search;

  /** Runs a query and records it in history (typing replaces its own entry, actions push). */
  const commit = useCallback(
    (q: Query, r: Refinement, mode: "push" | "typing" | "replace" = "push") => {
      run(q, r);
      // clearing the box on the way to the next query is not a place to go back to
      if (mode === "typing" && isEmptyQuery(q)) return;
      const entry: HistoryEntry = {
        visearch: 1,
        text: q.text,
        image: q.image ? (({ dataUrl: _drop, ...rest }) => rest)(q.image as QueryImage & { dataUrl?: string }) : null,
        refine: r,
        typing: mode === "typing",
      };
      const prev = window.history.state as HistoryEntry | null;
      const sameKey = prev?.visearch === 1 && queryKey({ text: prev.text, image: prev.image as QueryImage | null }, prev.refine) === queryKey(q, r);
      if (mode === "replace" || sameKey || (mode === "typing" && prev?.typing)) {
        window.history.replaceState(entry, "", urlFor(q));
      } else {
        window.history.pushState(entry, "", urlFor(q));
      }
    },
    [run],
  );

  const debounced = useDebouncedCallback((q: Query) => commit(q, refineRef.current, "typing"), debounceMs);

  // first render: restore a query from the URL (?q=, ?like=, ?url=)
  useEffect(() => {
    const q = queryFromLocation();
    if (!isEmptyQuery(q)) {
      setQuery(q);
      commit(q, refineRef.current, "replace");
    } else {
      window.history.replaceState({ visearch: 1, text: "", image: null, refine: refineRef.current, typing: false }, "", urlFor(q));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // back/forward: restore the query; the cache makes this instant
  useEffect(() => {
    const onPop = (e: PopStateEvent) => {
      const st = e.state as HistoryEntry | null;
      debounced.cancel();
      setLightbox(null);
      if (!st || st.visearch !== 1) {
        setQuery(EMPTY_QUERY);
        run(EMPTY_QUERY, refineRef.current);
        return;
      }
      let image = st.image as QueryImage | null;
      if (image?.kind === "file") {
        const dataUrl = fileData.current.get(image.key);
        image = dataUrl ? { ...image, dataUrl } : null;
      }
      const q = { text: st.text, image };
      setQuery(q);
      setRefine(st.refine);
      run(q, st.refine);
    };
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, [run, debounced]);

  // a search that worked means the API is back: clear the "unavailable" banner now
  const statsDown = stats.error !== null;
  const refreshStats = stats.refresh;
  useEffect(() => {
    if (search.state.status === "ready" && statsDown) void refreshStats();
  }, [search.state.status, statsDown, refreshStats]);

  // remember labels seen this session for the label filter
  useEffect(() => {
    const found = search.state.results.map((r) => r.label).filter((l): l is string => !!l);
    if (found.length === 0) return;
    setLabels((prev) => {
      const merged = new Set([...prev, ...found]);
      return merged.size === prev.length ? prev : [...merged].sort();
    });
  }, [search.state.results]);

  useEffect(() => {
    if (!toast) return;
    const t = setTimeout(() => setToast(null), 5000);
    return () => clearTimeout(t);
  }, [toast]);

  const searchByImage = useCallback(
    (image: QueryImage, text: string = queryRef.current.text) => {
      debounced.cancel();
      setLightbox(null);
      const q = { text, image };
      setQuery(q);
      commit(q, refineRef.current);
      window.scrollTo?.({ top: 0 });
    },
    [commit, debounced],
  );

  const searchByFile = useCallback(
    async (file: File) => {
      try {
        const dataUrl = await readAsDataUrl(file);
        const key = fileKey(file);
        fileData.current.set(key, dataUrl);
        searchByImage({ kind: "file", key, name: file.name || "pasted image", dataUrl });
      } catch {
        setToast(`Could not read ${file.name || "that image"}.`);
      }
    },
    [searchByImage],
  );

  // paste anywhere: an image searches by it (or adds it while Add images is open); a URL
  // pasted into the search box searches by the image at that URL
  useEffect(() => {
    const onPaste = (e: ClipboardEvent) => {
      const files = imageFilesFrom(e.clipboardData);
      if (uploadOpen) return;
      if (files.length > 0) {
        e.preventDefault();
        void searchByFile(files[0]);
        return;
      }
      const text = e.clipboardData?.getData("text/plain") ?? "";
      const target = e.target;
      if (looksLikeUrl(text) && (target === inputRef.current || !isEditable(target))) {
        e.preventDefault();
        searchByImage(imageFromUrl(text));
      }
    };
    document.addEventListener("paste", onPaste);
    return () => document.removeEventListener("paste", onPaste);
  }, [searchByFile, searchByImage, uploadOpen]);

  // drop anywhere on the page: search by the image
  useEffect(() => {
    if (uploadOpen) return;
    let depth = 0;
    const onEnter = (e: DragEvent) => {
      if (!dragHasFiles(e.dataTransfer)) return;
      e.preventDefault();
      depth += 1;
      setDragging(true);
    };
    const onOver = (e: DragEvent) => {
      if (!dragHasFiles(e.dataTransfer)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    };
    const onLeave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const onDrop = (e: DragEvent) => {
      e.preventDefault();
      depth = 0;
      setDragging(false);
      const files = imageFilesFrom(e.dataTransfer);
      if (files.length === 0) {
        if (e.dataTransfer?.files.length) setToast("That isn't an image file. Drop a JPEG, PNG, WebP or GIF.");
        return;
      }
      if (files.length > 1) setToast(`Searching by ${files[0].name}. To add ${files.length} images to the index, use Add images.`);
      void searchByFile(files[0]);
    };
    window.addEventListener("dragenter", onEnter);
    window.addEventListener("dragover", onOver);
    window.addEventListener("dragleave", onLeave);
    window.addEventListener("drop", onDrop);
    return () => {
      window.removeEventListener("dragenter", onEnter);
      window.removeEventListener("dragover", onOver);
      window.removeEventListener("dragleave", onLeave);
      window.removeEventListener("drop", onDrop);
    };
  }, [searchByFile, uploadOpen]);

  // "/" focuses the search box, like most search UIs
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "/" && !isEditable(e.target) && lightbox === null && !uploadOpen) {
        e.preventDefault();
        inputRef.current?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [lightbox, uploadOpen]);

  const onUploadsDone = useCallback(
    (s: UploadSummary) => {
      void stats.refresh();
      if (s.indexed > 0) {
        // new images can change every cached answer
        cache.clear();
        if (!isEmptyQuery(queryRef.current)) search.retry();
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [cache, stats.refresh, search.retry],
  );
  const uploader = useUploader(client, onUploadsDone);

  const onTextChange = (text: string) => {
    const q = { ...query, text };
    setQuery(q);
    debounced.call(q);
  };

  const onSubmit = () => {
    debounced.cancel();
    if (query.text.trim() && !query.image && looksLikeUrl(query.text)) {
      searchByImage(imageFromUrl(query.text), "");
      return;
    }
    commit(query, refine);
  };

  const onRemoveImage = () => {
    debounced.cancel();
    const q = { ...query, image: null };
    setQuery(q);
    commit(q, refine);
    inputRef.current?.focus();
  };

  const onClear = () => {
    debounced.cancel();
    setQuery(EMPTY_QUERY);
    commit(EMPTY_QUERY, refine);
    inputRef.current?.focus();
  };

  const onRefine = (next: Refinement) => {
    setRefine(next);
    if (!isEmptyQuery(query)) commit(query, next);
  };

  const openLightbox = (i: number) => setLightbox(i);
  const closeLightbox = useCallback(() => {
    setLightbox((i) => {
      // focus the tile of the image last shown, so keyboard users continue from there
      if (i !== null) {
        requestAnimationFrame(() => {
          const btn = document.querySelectorAll<HTMLButtonElement>('[data-testid="result"] .tile-btn')[i];
          btn?.focus();
        });
      }
      return null;
    });
  }, []);

  const moreLikeThis = (r: SearchResult) => {
    searchByImage(imageFromIndexed(r.image_id, displayName(r), r.thumbnail_url), "");
    requestAnimationFrame(() => inputRef.current?.focus());
  };

  const closeUpload = () => {
    setUploadOpen(false);
    requestAnimationFrame(() => addButtonRef.current?.focus());
  };

  const s = search.state;
  const count = stats.stats?.count ?? null;
  const showEmpty = isEmptyQuery(query) && s.status === "idle";
  const summary =
    s.status === "ready" && s.results.length > 0
      ? `${s.results.length}${s.hasMore ? "+" : ""} results${s.searchTimeMs !== null ? ` · ${Math.round(s.searchTimeMs)} ms` : ""}${s.fromCache ? " · cached" : ""}`
      : s.status === "loading"
        ? "Searching…"
        : null;

  return (
    <div className="app">
      <a href="#results" className="skip-link">
        Skip to results
      </a>
      <header className="topbar">
        <a
          className="brand"
          href="/"
          onClick={(e) => {
            e.preventDefault();
            onClear();
          }}
          aria-label="visearch home"
        >
          <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
            <defs>
              <linearGradient id="brand-g" x1="0" y1="0" x2="1" y2="1">
                <stop offset="0" stopColor="#6366f1" />
                <stop offset="1" stopColor="#ec4899" />
              </linearGradient>
            </defs>
            <rect width="32" height="32" rx="9" fill="url(#brand-g)" />
            <circle cx="14" cy="14" r="6" fill="none" stroke="#fff" strokeWidth="3" />
            <path d="m19 19 6 6" stroke="#fff" strokeWidth="3" strokeLinecap="round" />
          </svg>
          visearch
        </a>
        <SearchBar
          ref={inputRef}
          query={query}
          busy={s.status === "loading"}
          onTextChange={onTextChange}
          onSubmit={onSubmit}
          onPickFile={(f) => void searchByFile(f)}
          onRemoveImage={onRemoveImage}
          onClear={onClear}
        />
        <button
          ref={addButtonRef}
          type="button"
          className="btn btn-primary add-btn"
          aria-label="Add images"
          onClick={() => setUploadOpen(true)}
        >
          <PlusIcon /> <span className="add-label">Add images</span>
        </button>
      </header>

      <ServiceBanner stats={stats.stats} error={stats.error} onRetry={() => void stats.refresh()} />

      {!showEmpty && (
        <RefineBar
          refine={refine}
          labels={labels}
          combined={!!query.image && query.text.trim() !== ""}
          summary={summary}
          onChange={onRefine}
        />
      )}

      <main id="results" className="main" tabIndex={-1}>
        {showEmpty && (
          <EmptyState
            count={count}
            onAddImages={() => setUploadOpen(true)}
            onPickFile={() => pickRef.current?.click()}
            onExample={(t) => {
              const q = { text: t, image: null };
              setQuery(q);
              commit(q, refine);
            }}
          />
        )}
        {s.status === "error" && s.error && <SearchError error={s.error} onRetry={search.retry} />}
        {s.status === "ready" && s.results.length === 0 && (
          <NoResults
            refine={refine}
            count={count}
            hasImage={!!query.image}
            onClearThreshold={() => onRefine({ ...refine, threshold: null })}
            onClearLabel={() => onRefine({ ...refine, label: null })}
            onAddImages={() => setUploadOpen(true)}
          />
        )}
        {s.status === "loading" && s.results.length === 0 && (
          <div className="loading" role="status" aria-label="Searching">
            {Array.from({ length: 12 }, (_, i) => (
              <span key={i} className="skeleton" style={{ flexGrow: 100 + ((i * 37) % 60), flexBasis: 180 + ((i * 53) % 90) }} />
            ))}
          </div>
        )}
        {(s.status === "ready" || s.status === "loading") && s.results.length > 0 && (
          <ResultsGrid
            results={s.results}
            hasMore={s.hasMore && s.status === "ready"}
            loadingMore={s.loadingMore}
            dimmed={s.status === "loading"}
            onOpen={openLightbox}
            onLoadMore={search.loadMore}
          />
        )}
        {s.moreError && (
          <p className="inline-error" role="alert">
            Couldn't load more: {s.moreError.message}
          </p>
        )}
      </main>

      <input
        ref={pickRef}
        type="file"
        accept="image/*"
        hidden
        aria-label="Image file to search by"
        onChange={(e) => {
          const f = e.target.files?.[0];
          e.target.value = "";
          if (f) void searchByFile(f);
        }}
      />

      {lightbox !== null && s.results[lightbox] && (
        <Lightbox
          client={client}
          results={s.results}
          index={lightbox}
          hasMore={s.hasMore}
          onNavigate={(i) => setLightbox(Math.max(0, Math.min(s.results.length - 1, i)))}
          onClose={closeLightbox}
          onMoreLikeThis={moreLikeThis}
          onNeedMore={search.loadMore}
        />
      )}

      {uploadOpen && (
        <UploadPanel
          items={uploader.items}
          summary={uploader.summary}
          onAdd={uploader.add}
          onClose={closeUpload}
          onClearFinished={uploader.clearFinished}
          onCancel={uploader.cancelAll}
        />
      )}

      {dragging && (
        <div className="drop-overlay" aria-hidden="true" data-testid="drop-overlay">
          <div className="drop-card">
            <UploadIcon width={40} height={40} />
            <strong>Drop an image to search by it</strong>
          </div>
        </div>
      )}

      {toast && (
        <div className="toast" role="status">
          {toast}
        </div>
      )}

      <StatusBar stats={stats.stats} error={stats.error} loading={stats.loading} />
    </div>
  );
}
