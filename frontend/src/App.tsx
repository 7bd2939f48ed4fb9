// The page: search box, refinement, results (or the library) and lightbox, selection with
// its bulk actions, the Add images sheet, and the status line. App only wires the parts
// together: what is being asked (query, refinement, history, URL) and page-wide behaviour
// (paste, drop, shortcuts, toast) live in src/app/, each feature in src/features/*.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api as defaultClient, ApiError, type ApiClient } from "./api/client";
import type { Item } from "./api/types";
import { useLabelMemory } from "./app/useLabelMemory";
import { usePageDrop } from "./app/usePageDrop";
import { usePasteSearch } from "./app/usePasteSearch";
import { useQueryState } from "./app/useQueryState";
import { useSlashToSearch } from "./app/useShortcuts";
import { useToast } from "./app/useToast";
import { ResultCache } from "./lib/cache";
import { downloadBlob, downloadUrl } from "./lib/download";
import {
  DEFAULT_REFINEMENT,
  imageFromIndexed,
  imageFromQueryId,
  imageFromUrl,
  isEmptyQuery,
  queryKey,
  type QueryImage,
} from "./lib/query";
import { Lightbox } from "./features/search/Lightbox";
import { EmptyState, NoCloseMatches, NoResults, SearchError, Searching } from "./features/search/Messages";
import { RefineBar } from "./features/search/RefineBar";
import { ResultsGrid, type Feedback } from "./features/search/ResultsGrid";
import { SearchBar } from "./features/search/SearchBar";
import { displayName } from "./features/search/labels";
import { resultsHeading, resultSummary } from "./features/search/summary";
import { useFacets } from "./features/search/useFacets";
import { useSearch } from "./features/search/useSearch";
import { ConfirmDialog } from "./features/selection/ConfirmDialog";
import { SelectionBar } from "./features/selection/SelectionBar";
import { useSelection } from "./features/selection/useSelection";
import { useUndoableDelete, type DeleteOutcome } from "./features/selection/useUndoableDelete";
import { ServiceBanner, StatusBar } from "./features/status/StatusBar";
import { useStats } from "./features/status/useStats";
import { UploadIndicator, useLeaveWarning } from "./features/upload/UploadIndicator";
import { UploadPanel } from "./features/upload/UploadPanel";
import { useUploader, type UploadSummary } from "./features/upload/useUploader";
import { Brand } from "./ui/Brand";
import { GridIcon, PlusIcon, UploadIcon } from "./ui/icons";

export const TYPING_DEBOUNCE_MS = 300;

interface Props {
  client?: ApiClient;
  cache?: ResultCache;
  statsIntervalMs?: number;
  debounceMs?: number;
  undoMs?: number;
}

const plural = (n: number, one: string, many: string) => `${n.toLocaleString("en")} ${n === 1 ? one : many}`;

export default function App({ client = defaultClient, cache: cacheProp, statsIntervalMs = 30_000, debounceMs = TYPING_DEBOUNCE_MS, undoMs }: Props) {
  const cache = useMemo(() => cacheProp ?? new ResultCache(), [cacheProp]);
  const stats = useStats(client, statsIntervalMs);
  const search = useSearch(client, cache);
  const [lightbox, setLightbox] = useState<number | null>(null);
  const [uploadOpen, setUploadOpen] = useState(false);
  const [toast, setToast] = useToast();
  const [confirmDelete, setConfirmDelete] = useState<Item[] | null>(null);
  const [feedback, setFeedback] = useState<ReadonlyMap<string, Feedback>>(new Map());
  const [downloading, setDownloading] = useState(false);
  const [dataVersion, setDataVersion] = useState(0);
  const labels = useLabelMemory(search.state.results);
  const inputRef = useRef<HTMLInputElement>(null);
  const pickRef = useRef<HTMLInputElement>(null);
  const addButtonRef = useRef<HTMLButtonElement>(null);
  const asked = useQueryState(search.run, { debounceMs, onRestore: () => setLightbox(null) });
  const { query, refine } = asked;
  const queryRef = useRef(query);
  queryRef.current = query;
  const s = search.state;
  const selection = useSelection(s.results, s.key);
  const facets = useFacets(client, refine.filters, labels, !isEmptyQuery(query) && query.view !== "duplicates", dataVersion);

  // likes and dislikes belong to the query on screen
  const askedKey = queryKey(query, DEFAULT_REFINEMENT);
  useEffect(() => setFeedback(new Map()), [askedKey]);

  // a search that worked means the API is back: clear the "unavailable" banner now
  const statsDown = stats.error !== null;
  const refreshStats = stats.refresh;
  useEffect(() => {
    if (s.status === "ready" && statsDown) void refreshStats();
  }, [s.status, statsDown, refreshStats]);

  /** The index changed (images added or deleted): cached answers and counts are stale. */
  const dataChanged = useCallback(() => {
    cache.clear();
    void refreshStats();
    setDataVersion((v) => v + 1);
  }, [cache, refreshStats]);

  const { searchByImage: askByImage } = asked;
  const searchByImage = useCallback(
    (image: QueryImage, text?: string) => {
      setLightbox(null);
      askByImage(image, text);
      window.scrollTo?.({ top: 0 });
    },
    [askByImage],
  );

  // a dropped, pasted or picked file is stored by the server first, so the URL can name it
  const searchByFile = useCallback(
    async (file: File) => {
      const name = file.name || "pasted image";
      try {
        const created = await client.createQuery(file, name);
        searchByImage(imageFromQueryId(created.query_id, name, created.image_url));
      } catch (err) {
        setToast(err instanceof ApiError ? err.message : `Could not read ${name}.`);
      }
    },
    [client, searchByImage, setToast],
  );

  usePasteSearch(inputRef, !uploadOpen, {
    onFile: (f) => void searchByFile(f),
    onUrl: (url) => searchByImage(imageFromUrl(url)),
  });
  const dragging = usePageDrop(!uploadOpen, { onFile: (f) => void searchByFile(f), onMessage: setToast });
  useSlashToSearch(inputRef, lightbox === null && !uploadOpen);

  const onUploadsDone = useCallback(
    (u: UploadSummary) => {
      void refreshStats();
      if (u.indexed + u.nearDuplicates > 0) {
        // new images can change every cached answer
        dataChanged();
        if (!isEmptyQuery(queryRef.current)) search.retry();
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [dataChanged, refreshStats, search.retry],
  );
  const uploader = useUploader(client, onUploadsDone);
  useLeaveWarning(uploader.summary.pending > 0);

  const onDeleted = useCallback(
    ({ deleted, error }: DeleteOutcome) => {
      if (error) setToast(`Nothing was deleted: ${error.message}`);
      else if (deleted > 0) dataChanged();
    },
    [dataChanged, setToast],
  );
  const deleter = useUndoableDelete(client, onDeleted, undoMs);

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

  const moreLikeThis = (r: Item) => {
    searchByImage(imageFromIndexed(r.image_id, displayName(r), r.thumbnail_url), "");
    requestAnimationFrame(() => inputRef.current?.focus());
  };

  const showDuplicates = (r: Item) => {
    setLightbox(null);
    asked.showDuplicates(r.image_id, displayName(r), r.thumbnail_url);
    window.scrollTo?.({ top: 0 });
  };

  const onFeedback = (r: Item, value: Feedback) =>
    setFeedback((prev) => {
      const next = new Map(prev);
      if (next.get(r.image_id) === value) next.delete(r.image_id);
      else next.set(r.image_id, value);
      return next;
    });
  const pending = { likes: 0, dislikes: 0 };
  for (const v of feedback.values()) pending[v === "like" ? "likes" : "dislikes"] += 1;
  const applyFeedback = () => {
    const likes = [...feedback].filter(([, v]) => v === "like").map(([id]) => id);
    const dislikes = [...feedback].filter(([, v]) => v === "dislike").map(([id]) => id);
    asked.refineWithFeedback(likes, dislikes);
    window.scrollTo?.({ top: 0 });
  };

  const selectedItems = () => s.results.filter((r) => selection.selected.has(r.image_id));

  const deleteNow = (items: Item[]) => {
    setConfirmDelete(null);
    setLightbox(null);
    const ids = new Set(items.map((r) => r.image_id));
    const restore = search.hide(ids);
    // cached pages hold these images: from now on (a reload included) pages come from the server
    cache.clear();
    selection.clear();
    deleter.schedule([...ids], restore);
  };

  const download = async () => {
    const items = selectedItems();
    if (items.length === 1) {
      downloadUrl(items[0].image_url, items[0].filename ?? items[0].image_id);
      return;
    }
    setDownloading(true);
    try {
      downloadBlob(await client.archive(items.map((r) => r.image_id)), `visearch-${items.length}-images.zip`);
    } catch (err) {
      setToast(err instanceof ApiError ? err.message : "The download failed.");
    } finally {
      setDownloading(false);
    }
  };

  const closeUpload = () => {
    setUploadOpen(false);
    requestAnimationFrame(() => addButtonRef.current?.focus());
  };

  const count = stats.stats?.count ?? null;
  const showEmpty = isEmptyQuery(query) && s.status === "idle";
  const isSearch = query.view === "search";
  // where the relevance cutoff falls among the results on screen (only when "show all" shows both sides)
  const c = s.cutoff;
  const cutoffAt =
    isSearch && refine.all && !s.nearest && c && c.method !== "off" && c.score !== null
      ? s.results.findIndex((r) => (r.score ?? 0) < (c.score as number))
      : -1;
  const hasCut = isSearch && !refine.all && !s.nearest && !!c && c.method !== "off" && c.cut > 0;
  const footer =
    query.view === "library" ? (
      <span className="muted">That's the whole library.</span>
    ) : hasCut ? (
      <div className="cutoff-more" data-testid="cutoff-more">
        <span>That's every close match. Weaker ones lie below the relevance cutoff.</span>
        <button type="button" className="btn btn-small" onClick={() => asked.refineTo({ ...refine, all: true })}>
          Show more below the cutoff
        </button>
      </div>
    ) : undefined;

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
          onRemoveNot={asked.removeNot}
          onRemoveFeedback={asked.removeFeedback}
          onClear={onClear}
        />
        <a
          href="/?view=library"
          className={`btn btn-ghost nav-btn${query.view === "library" ? " is-current" : ""}`}
          aria-current={query.view === "library" ? "page" : undefined}
          aria-label="Library"
          onClick={(e) => {
            e.preventDefault();
            asked.showLibrary();
          }}
        >
          <GridIcon /> <span className="add-label">Library</span>
        </a>
        {!uploadOpen && <UploadIndicator summary={uploader.summary} onOpen={() => setUploadOpen(true)} />}
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
          view={query.view}
          facets={facets}
          combined={isSearch && !!query.image && query.text.trim() !== ""}
          summary={resultSummary(s, query)}
          pending={pending}
          onChange={asked.refineTo}
          onApplyFeedback={applyFeedback}
          onClearFeedback={() => setFeedback(new Map())}
        />
      )}

      {selection.selected.size > 0 && (
        <SelectionBar
          count={selection.selected.size}
          busy={downloading}
          onSearchByThese={() => {
            asked.searchByIds([...selection.selected]);
            window.scrollTo?.({ top: 0 });
          }}
          onDownload={() => void download()}
          onDelete={() => setConfirmDelete(selectedItems())}
          onClear={selection.clear}
        />
      )}

      <main id="results" className="main" tabIndex={-1}>
        {showEmpty ? (
          <EmptyState
            count={count}
            onAddImages={() => setUploadOpen(true)}
            onPickFile={() => pickRef.current?.click()}
            onExample={asked.searchText}
            onLibrary={asked.showLibrary}
          />
        ) : (
          <h1 className="sr-only">{resultsHeading(query)}</h1>
        )}
        {s.status === "error" && s.error && <SearchError error={s.error} onRetry={search.retry} />}
        {s.status === "ready" && s.nearest && s.results.length > 0 && <NoCloseMatches query={query} />}
        {s.status === "ready" && s.results.length === 0 && (
          <NoResults
            refine={refine}
            view={query.view}
            count={count}
            hasImage={!!query.image}
            onClearThreshold={() => asked.refineTo({ ...refine, threshold: null })}
            onClearFilters={() => asked.refineTo({ ...refine, filters: {} })}
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
            cutoffAt={cutoffAt > 0 ? cutoffAt : null}
            selected={selection.selected}
            feedback={isSearch ? feedback : null}
            footer={footer}
            onOpen={setLightbox}
            onSelect={selection.select}
            onSelectAll={selection.selectAll}
            onClearSelection={selection.clear}
            onFeedback={onFeedback}
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
          cutoffAt={cutoffAt >= 0 ? cutoffAt : hasCut ? s.results.length : null}
          feedback={isSearch ? (feedback.get(s.results[lightbox].image_id) ?? null) : undefined}
          onNavigate={(i) => setLightbox(Math.max(0, Math.min(s.results.length - 1, i)))}
          onClose={closeLightbox}
          onMoreLikeThis={moreLikeThis}
          onDuplicates={showDuplicates}
          onFeedback={isSearch ? onFeedback : null}
          onDelete={(r) => setConfirmDelete([r])}
          onNeedMore={search.loadMore}
        />
      )}

      {confirmDelete && (
        <ConfirmDialog
          title={confirmDelete.length === 1 ? `Delete ${displayName(confirmDelete[0])}?` : `Delete ${plural(confirmDelete.length, "image", "images")}?`}
          confirm="Delete"
          onConfirm={() => deleteNow(confirmDelete)}
          onCancel={() => setConfirmDelete(null)}
        >
          <p>
            {confirmDelete.length === 1 ? "It is removed" : "They are removed"} from the index and the stored files are deleted. You can undo
            this for a few seconds.
          </p>
        </ConfirmDialog>
      )}

      {uploadOpen && (
        <UploadPanel
          items={uploader.items}
          summary={uploader.summary}
          startedAt={uploader.startedAt}
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

      {deleter.pending ? (
        <div className="toast toast-action" role="status" data-testid="undo-toast">
          <span>Deleted {plural(deleter.pending.count, "image", "images")}.</span>
          <button type="button" className="btn btn-small" onClick={deleter.undo}>
            Undo
          </button>
        </div>
      ) : (
        toast && (
          <div className="toast" role="status">
            {toast}
          </div>
        )
      )}

      <StatusBar stats={stats.stats} error={stats.error} loading={stats.loading} />
    </div>
  );
}

