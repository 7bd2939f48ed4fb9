// The page: search box, refinement, results and lightbox, the Add images sheet, and the
// status line. App only wires the parts together: what is being asked (query, refinement,
// history, URL) and page-wide behaviour (paste, drop, shortcuts, toast) live in src/app/,
// each feature in src/features/* (a jobs panel would be one more feature next to upload/).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api as defaultClient, type ApiClient } from "./api/client";
import type { SearchResult } from "./api/types";
import { useLabelMemory } from "./app/useLabelMemory";
import { usePageDrop } from "./app/usePageDrop";
import { usePasteSearch } from "./app/usePasteSearch";
import { useQueryState } from "./app/useQueryState";
import { useSlashToSearch } from "./app/useShortcuts";
import { useToast } from "./app/useToast";
import { ResultCache } from "./lib/cache";
import { readAsDataUrl } from "./lib/files";
import { fileKey, imageFromIndexed, imageFromUrl, isEmptyQuery, type QueryImage } from "./lib/query";
import { Lightbox } from "./features/search/Lightbox";
import { EmptyState, NoResults, SearchError, Searching } from "./features/search/Messages";
import { RefineBar } from "./features/search/RefineBar";
import { ResultsGrid } from "./features/search/ResultsGrid";
import { SearchBar } from "./features/search/SearchBar";
import { displayName } from "./features/search/labels";
import { resultsHeading, resultSummary } from "./features/search/summary";
import { useSearch } from "./features/search/useSearch";
import { ServiceBanner, StatusBar } from "./features/status/StatusBar";
import { useStats } from "./features/status/useStats";
import { UploadPanel } from "./features/upload/UploadPanel";
import { useUploader, type UploadSummary } from "./features/upload/useUploader";
import { Brand } from "./ui/Brand";
import { PlusIcon, UploadIcon } from "./ui/icons";

export const TYPING_DEBOUNCE_MS = 300;

interface Props {
  client?: ApiClient;
  cache?: ResultCache;
  statsIntervalMs?: number;
  debounceMs?: number;
}

export default function App({ client = defaultClient, cache: cacheProp, statsIntervalMs = 30_000, debounceMs = TYPING_DEBOUNCE_MS }: Props) {
  const cache = useMemo(() => cacheProp ?? new ResultCache(), [cacheProp]);
  const stats = useStats(client, statsIntervalMs);
  const search = useSearch(client, cache);
  const [lightbox, setLightbox] = useState<number | null>(null);
  const [uploadOpen, setUploadOpen] = useState(false);
  const [toast, setToast] = useToast();
  const labels = useLabelMemory(search.state.results);
  const inputRef = useRef<HTMLInputElement>(null);
  const pickRef = useRef<HTMLInputElement>(null);
  const addButtonRef = useRef<HTMLButtonElement>(null);
  const asked = useQueryState(search.run, { debounceMs, onRestore: () => setLightbox(null) });
  const { query, refine } = asked;
  const queryRef = useRef(query);
  queryRef.current = query;

  // a search that worked means the API is back: clear the "unavailable" banner now
  const statsDown = stats.error !== null;
  const refreshStats = stats.refresh;
  useEffect(() => {
    if (search.state.status === "ready" && statsDown) void refreshStats();
  }, [search.state.status, statsDown, refreshStats]);

  const { searchByImage: askByImage } = asked;
  const searchByImage = useCallback(
    (image: QueryImage, text?: string) => {
      setLightbox(null);
      askByImage(image, text);
      window.scrollTo?.({ top: 0 });
    },
    [askByImage],
  );

  const searchByFile = useCallback(
    async (file: File) => {
      try {
        const dataUrl = await readAsDataUrl(file);
        searchByImage({ kind: "file", key: fileKey(file), name: file.name || "pasted image", dataUrl });
      } catch {
        setToast(`Could not read ${file.name || "that image"}.`);
      }
    },
    [searchByImage, setToast],
  );

  usePasteSearch(inputRef, !uploadOpen, {
    onFile: (f) => void searchByFile(f),
    onUrl: (url) => searchByImage(imageFromUrl(url)),
  });
  const dragging = usePageDrop(!uploadOpen, { onFile: (f) => void searchByFile(f), onMessage: setToast });
  useSlashToSearch(inputRef, lightbox === null && !uploadOpen);

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

  const onRemoveImage = () => {
    asked.removeImage();
    inputRef.current?.focus();
  };

  const onClear = () => {
    asked.clear();
    inputRef.current?.focus();
  };

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

  return (
    <div className="app">
      <a
        href="#results"
        className="skip-link"
        onClick={(e) => {
          // move focus without a #fragment navigation: that would add a history entry
          e.preventDefault();
          document.getElementById("results")?.focus();
        }}
      >
        Skip to results
      </a>
      <header className="topbar">
        <Brand onHome={onClear} />
        <SearchBar
          ref={inputRef}
          query={query}
          busy={s.status === "loading"}
          onTextChange={asked.type}
          onSubmit={asked.submit}
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
          summary={resultSummary(s)}
          onChange={asked.refineTo}
        />
      )}

      <main id="results" className="main" tabIndex={-1}>
        {showEmpty ? (
          <EmptyState
            count={count}
            onAddImages={() => setUploadOpen(true)}
            onPickFile={() => pickRef.current?.click()}
            onExample={asked.searchText}
          />
        ) : (
          <h1 className="sr-only">{resultsHeading(query)}</h1>
        )}
        {s.status === "error" && s.error && <SearchError error={s.error} onRetry={search.retry} />}
        {s.status === "ready" && s.results.length === 0 && (
          <NoResults
            refine={refine}
            count={count}
            hasImage={!!query.image}
            onClearThreshold={() => asked.refineTo({ ...refine, threshold: null })}
            onClearLabel={() => asked.refineTo({ ...refine, label: null })}
            onAddImages={() => setUploadOpen(true)}
          />
        )}
        {s.status === "loading" && s.results.length === 0 && <Searching />}
        {(s.status === "ready" || s.status === "loading") && s.results.length > 0 && (
          <ResultsGrid
            results={s.results}
            hasMore={s.hasMore && s.status === "ready"}
            loadingMore={s.loadingMore}
            dimmed={s.status === "loading"}
            onOpen={setLightbox}
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
