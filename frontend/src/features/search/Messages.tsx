// What the results area says when there is nothing to show, and why.
import type { ReactNode } from "react";
import type { ApiError } from "../../api/client";
import type { Query, Refinement, View } from "../../lib/query";
import { AlertIcon, GridIcon, ImageIcon, PlusIcon, SearchIcon, UploadIcon } from "../../ui/icons";

interface EmptyProps {
  count: number | null;
  onAddImages: () => void;
  onPickFile: () => void;
  onExample: (text: string) => void;
  onLibrary: () => void;
}

const EXAMPLES = ["a red dress", "sneakers", "a dog on the beach", "people at a party"];

export function EmptyState({ count, onAddImages, onPickFile, onExample, onLibrary }: EmptyProps) {
  return (
    <section className="empty" data-testid="empty-state" aria-labelledby="empty-title">
      <div className="empty-art" aria-hidden="true">
        <span />
        <span />
        <span />
      </div>
      <h1 id="empty-title">Find any image by describing it, or by showing one.</h1>
      <ul className="tips">
        <li>
          <SearchIcon /> <span><strong>Type</strong> what you're looking for</span>
        </li>
        <li>
          <UploadIcon /> <span><strong>Drop</strong> an image anywhere on this page</span>
        </li>
        <li>
          <ImageIcon /> <span><strong>Paste</strong> an image or an image URL (Ctrl+V)</span>
        </li>
      </ul>
      <div className="row center">
        {EXAMPLES.map((e) => (
          <button key={e} type="button" className="btn btn-ghost" onClick={() => onExample(e)}>
            {e}
          </button>
        ))}
      </div>
      <div className="row center">
        <button type="button" className="btn" onClick={onPickFile}>
          <ImageIcon /> Search by an image file
        </button>
        <button type="button" className="btn" onClick={onLibrary}>
          <GridIcon /> Browse the library
        </button>
        <button type="button" className="btn btn-primary" onClick={onAddImages}>
          <PlusIcon /> Add images
        </button>
      </div>
      {count !== null && (
        <p className="muted">
          {count === 0
            ? "The index is empty: add some images first."
            : `${count.toLocaleString()} ${count === 1 ? "image" : "images"} indexed.`}
        </p>
      )}
    </section>
  );
}

interface ErrorProps {
  error: ApiError;
  onRetry: () => void;
}

export function SearchError({ error, onRetry }: ErrorProps) {
  const title = error.isNetwork || error.code === "bad_response"
    ? "Can't reach the search service"
    : error.status >= 500
      ? "The search service had a problem"
      : "This search didn't work";
  return (
    <section className="notice notice-error" role="alert" data-testid="search-error">
      <AlertIcon width={32} height={32} />
      <h2>{title}</h2>
      <p data-testid="error-message">{error.message}</p>
      {error.detail && (
        <details className="error-detail small">
          <summary>Details</summary>
          <code>{error.detail}</code>
        </details>
      )}
      {error.status >= 400 && error.status < 500 ? (
        <p className="muted small">Change the query and try again.</p>
      ) : (
        <button type="button" className="btn btn-primary" onClick={onRetry}>
          Try again
        </button>
      )}
    </section>
  );
}

interface NoResultsProps {
  refine: Refinement;
  view: View;
  count: number | null;
  hasImage: boolean;
  onClearThreshold: () => void;
  onClearFilters: () => void;
  onAddImages: () => void;
}

/** Nothing passed the relevance cutoff: say so, above the nearest images shown instead. */
export function NoCloseMatches({ query }: { query: Query }) {
  const what = query.text.trim() ? `“${query.text.trim()}”` : "this query";
  return (
    <p className="notice-inline" role="status" data-testid="no-close-matches">
      <SearchIcon width={18} height={18} /> No close matches for {what}; these are the nearest images.
    </p>
  );
}

export function NoResults({ refine, view, count, hasImage, onClearThreshold, onClearFilters, onAddImages }: NoResultsProps) {
  const filters = Object.entries(refine.filters);
  let why: string;
  let action: ReactNode = null;
  if (count === 0) {
    why = "The index is empty, so there is nothing to match yet.";
    action = (
      <button type="button" className="btn btn-primary" onClick={onAddImages}>
        <PlusIcon /> Add images
      </button>
    );
  } else if (refine.threshold !== null) {
    why = `No image scored ${refine.threshold.toFixed(2)} or more.`;
    action = (
      <button type="button" className="btn btn-primary" onClick={onClearThreshold}>
        Show all scores
      </button>
    );
  } else if (filters.length) {
    why = `No image with ${filters.map(([k, v]) => `${k} “${v}”`).join(" and ")} matches.`;
    action = (
      <button type="button" className="btn btn-primary" onClick={onClearFilters}>
        Clear the filters
      </button>
    );
  } else if (view === "duplicates") {
    why = "No other image is a near-duplicate of this one.";
  } else {
    why = "Nothing in the index matched this query.";
  }
  return (
    <section className="notice" role="status" data-testid="no-results">
      <SearchIcon width={32} height={32} />
      <h2>No results</h2>
      <p>{why}</p>
      <p className="muted small">
        {hasImage
          ? "Try another image, or add a few words to steer the search."
          : "Try fewer or more general words, or search with an example image."}
      </p>
      {action}
    </section>
  );
}

/** Placeholder tiles while the first page of a query loads. */
export function Searching() {
  return (
    <div className="loading" role="status" aria-label="Searching">
      {Array.from({ length: 12 }, (_, i) => (
        <span key={i} className="skeleton" style={{ flexGrow: 100 + ((i * 37) % 60), flexBasis: 180 + ((i * 53) % 90) }} />
      ))}
    </div>
  );
}
