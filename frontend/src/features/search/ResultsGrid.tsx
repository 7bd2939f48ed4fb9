// Justified photo rows (each tile grows in proportion to its aspect ratio; three square
// columns on phones), lazy thumbnails, the name and score on hover/focus (always on touch
// screens), and a "load more" that also fires on scroll. The grid is one tab stop: arrow
// keys move between tiles (↑/↓ to the nearest tile in the row above/below), Home/End jump.
import { useEffect, useRef, useState, type CSSProperties, type KeyboardEvent } from "react";
import type { SearchResult } from "../../api/types";
import { altText, displayName, tileName } from "./labels";

interface Props {
  results: SearchResult[];
  hasMore: boolean;
  loadingMore: boolean;
  dimmed: boolean;
  onOpen: (index: number) => void;
  onLoadMore: () => void;
}

function aspect(r: SearchResult): number {
  if (r.width && r.height && r.width > 0 && r.height > 0) {
    return Math.min(3, Math.max(0.4, r.width / r.height));
  }
  return 1;
}

/** The index of the tile in the next row up (dir -1) or down (+1) nearest in x, or -1. */
function verticalNeighbour(tiles: HTMLElement[], from: number, dir: 1 | -1): number {
  const cur = tiles[from].getBoundingClientRect();
  const x = cur.left + cur.width / 2;
  let rowTop: number | null = null;
  let best = -1;
  let bestDx = Infinity;
  for (let i = from + dir; i >= 0 && i < tiles.length; i += dir) {
    const r = tiles[i].getBoundingClientRect();
    const inNextRow = dir > 0 ? r.top >= cur.bottom - 1 : r.bottom <= cur.top + 1;
    if (!inNextRow) continue;
    if (rowTop === null) rowTop = r.top;
    else if (Math.abs(r.top - rowTop) > 1) break; // past that row
    const dx = Math.abs(r.left + r.width / 2 - x);
    if (dx < bestDx) [best, bestDx] = [i, dx];
  }
  return best;
}

export function ResultsGrid({ results, hasMore, loadingMore, dimmed, onOpen, onLoadMore }: Props) {
  const sentinel = useRef<HTMLDivElement>(null);
  const loadRef = useRef(onLoadMore);
  loadRef.current = onLoadMore;
  const buttons = useRef<HTMLButtonElement[]>([]);
  // the one tile in the tab order (roving tabindex): the last one focused
  const [active, setActive] = useState(0);
  const firstId = results[0]?.image_id;
  useEffect(() => setActive(0), [firstId]);
  const current = Math.min(active, results.length - 1);

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

  const onKeyDown = (e: KeyboardEvent<HTMLUListElement>) => {
    const tiles = buttons.current.slice(0, results.length);
    const from = tiles.indexOf(document.activeElement as HTMLButtonElement);
    if (from < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    const moves: Record<string, () => number> = {
      ArrowRight: () => from + 1,
      ArrowLeft: () => from - 1,
      ArrowDown: () => verticalNeighbour(tiles, from, 1),
      ArrowUp: () => verticalNeighbour(tiles, from, -1),
      Home: () => 0,
      End: () => tiles.length - 1,
    };
    const move = moves[e.key];
    if (!move) return;
    e.preventDefault();
    const to = move();
    if (to >= 0 && to < tiles.length) tiles[to].focus();
  };

  return (
    <section className={`results${dimmed ? " is-dimmed" : ""}`} aria-label="Search results" aria-busy={dimmed}>
      <ul className="grid" data-testid="results-grid" onKeyDown={onKeyDown}>
        {results.map((r, i) => {
          const name = displayName(r);
          return (
            <li
              key={r.image_id}
              className="tile"
              style={{ "--a": aspect(r) } as CSSProperties}
              data-testid="result"
              data-image-id={r.image_id}
            >
              <button
                ref={(el) => {
                  if (el) buttons.current[i] = el;
                }}
                type="button"
                className="tile-btn"
                tabIndex={i === current ? 0 : -1}
                aria-label={tileName(r)}
                onFocus={() => setActive(i)}
                onClick={() => onOpen(i)}
              >
                <span className="tile-pad" />
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
                {/* in the tile's name already; hidden here so it is not read twice */}
                {r.label && (
                  <span className="tile-label" aria-hidden="true">
                    {r.label}
                  </span>
                )}
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
