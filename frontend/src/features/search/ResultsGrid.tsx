// Justified photo rows (each tile grows in proportion to its aspect ratio), lazy
// thumbnails, the score on hover/focus, and a "load more" that also fires on scroll.
import { useEffect, useRef } from "react";
import type { SearchResult } from "../../api/types";
import { altText, displayName } from "./labels";

interface Props {
  results: SearchResult[];
  hasMore: boolean;
  loadingMore: boolean;
  dimmed: boolean;
  onOpen: (index: number, el: HTMLElement) => void;
  onLoadMore: () => void;
}

const ROW_HEIGHT = 220;

function aspect(r: SearchResult): number {
  if (r.width && r.height && r.width > 0 && r.height > 0) {
    return Math.min(3, Math.max(0.4, r.width / r.height));
  }
  return 1;
}

export function ResultsGrid({ results, hasMore, loadingMore, dimmed, onOpen, onLoadMore }: Props) {
  const sentinel = useRef<HTMLDivElement>(null);
  const loadRef = useRef(onLoadMore);
  loadRef.current = onLoadMore;

  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasMore || typeof IntersectionObserver === "undefined") return;
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) loadRef.current();
      },
      { rootMargin: "600px 0px" },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [hasMore, results.length]);

  return (
    <section className={`results${dimmed ? " is-dimmed" : ""}`} aria-label="Search results" aria-busy={dimmed}>
      <ul className="grid" data-testid="results-grid">
        {results.map((r, i) => {
          const a = aspect(r);
          const name = displayName(r);
          return (
            <li
              key={r.image_id}
              className="tile"
              style={{ flexGrow: a * 100, flexBasis: `${a * ROW_HEIGHT}px` }}
              data-testid="result"
              data-image-id={r.image_id}
            >
              <button
                type="button"
                className="tile-btn"
                aria-label={`Open ${name}, score ${r.score.toFixed(2)}`}
                onClick={(e) => onOpen(i, e.currentTarget)}
              >
                <span className="tile-pad" style={{ paddingBottom: `${100 / a}%` }} />
                <img
                  src={r.thumbnail_url}
                  alt={altText(r)}
                  loading="lazy"
                  decoding="async"
                  width={r.width ?? undefined}
                  height={r.height ?? undefined}
                />
                <span className="tile-overlay" aria-hidden="true">
                  <span className="tile-name">{name}</span>
                  <span className="score" data-testid="score">
                    {r.score.toFixed(2)}
                  </span>
                </span>
                {r.label && <span className="tile-label">{r.label}</span>}
              </button>
            </li>
          );
        })}
        <li className="grid-filler" aria-hidden="true" />
      </ul>
      <div ref={sentinel} className="more">
        {hasMore && (
          <button type="button" className="btn" onClick={onLoadMore} disabled={loadingMore}>
            {loadingMore ? "Loading…" : "Load more"}
          </button>
        )}
        {!hasMore && results.length > 0 && <span className="muted">That's everything for this search.</span>}
      </div>
    </section>
  );
}
