// Justified photo rows (each tile grows in proportion to its aspect ratio; three square
// columns on phones), thumbnails in two sizes (srcset), the name and score on hover/focus
// (always on touch screens), and a "load more" that also fires on scroll. Where the relevance
// cutoff falls, a line splits the results ("below the cutoff"). The grid is one tab stop:
// arrow keys move between tiles (↑/↓ to the nearest tile in the row above/below), Home/End
// jump, Space selects (Shift+Space: a range), Ctrl+A selects all, Esc clears the selection.
// With a selection, a click selects too (Shift+click: a range; Ctrl/⌘+click always toggles).
import { useEffect, useRef, useState, type CSSProperties, type KeyboardEvent, type MouseEvent, type ReactNode } from "react";
import type { Item } from "../../api/types";
import { DislikeIcon, LikeIcon } from "../../ui/icons";
import { altText, displayName, scoreText, tileName } from "./labels";

export type Feedback = "like" | "dislike";

export interface SelectHow {
  /** From the last tile selected to this one. */
  range: boolean;
}

interface Props {
  results: Item[];
  hasMore: boolean;
  loadingMore: boolean;
  dimmed: boolean;
  /** Tiles from this index on lie below the relevance cutoff (null: no line). */
  cutoffAt: number | null;
  selected: ReadonlySet<string>;
  /** Like/dislike controls (search results only). */
  feedback: ReadonlyMap<string, Feedback> | null;
  /** What to show where the list ends (instead of "That's everything"). */
  footer?: ReactNode;
  onOpen: (index: number) => void;
  onSelect: (index: number, how: SelectHow) => void;
  onSelectAll: () => void;
  onClearSelection: () => void;
  onFeedback: (item: Item, value: Feedback) => void;
  onLoadMore: () => void;
}

/** Thumbnail widths for srcset: 256 and 512 px on the longer side. */
const THUMB_W = 256;
/** Rendered tile widths: a third of a phone screen, about 220–330 px in the rows elsewhere. */
const SIZES = "(max-width: 600px) 33vw, 300px";

function aspect(r: Item): number {
  if (r.width && r.height && r.width > 0 && r.height > 0) {
    return Math.min(3, Math.max(0.4, r.width / r.height));
  }
  return 1;
}

/** srcset widths are of the longer side; for a tall image that is its height. */
function srcSet(r: Item): string {
  const a = aspect(r);
  const w = (px: number) => Math.max(1, Math.round(a >= 1 ? px : px * a));
  return `${r.thumbnail_url} ${w(THUMB_W)}w, ${r.thumbnail_2x_url} ${w(2 * THUMB_W)}w`;
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

export function ResultsGrid(props: Props) {
  const { results, hasMore, loadingMore, dimmed, cutoffAt, selected, feedback, footer, onLoadMore } = props;
  const sentinel = useRef<HTMLDivElement>(null);
  const loadRef = useRef(onLoadMore);
  loadRef.current = onLoadMore;
  const buttons = useRef<HTMLButtonElement[]>([]);
  // the one tile in the tab order (roving tabindex): the last one focused
  const [active, setActive] = useState(0);
  const firstId = results[0]?.image_id;
  useEffect(() => setActive(0), [firstId]);
  const current = Math.min(active, results.length - 1);
  const selecting = selected.size > 0;

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

  const onKeyDown = (e: KeyboardEvent<HTMLElement>) => {
    const tiles = buttons.current.slice(0, results.length);
    const from = tiles.indexOf(document.activeElement as HTMLButtonElement);
    if (from < 0 || e.altKey) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "a") {
      e.preventDefault();
      props.onSelectAll();
      return;
    }
    if (e.ctrlKey || e.metaKey) return;
    if (e.key === " ") {
      e.preventDefault();
      props.onSelect(from, { range: e.shiftKey });
      return;
    }
    if (e.key === "Escape" && selecting) {
      e.preventDefault();
      props.onClearSelection();
      return;
    }
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

  const onTileClick = (i: number, e: MouseEvent) => {
    if (e.shiftKey && selecting) props.onSelect(i, { range: true });
    else if (e.ctrlKey || e.metaKey || selecting) props.onSelect(i, { range: false });
    else props.onOpen(i);
  };

  const tile = (r: Item, i: number) => {
    const name = displayName(r);
    const isSelected = selected.has(r.image_id);
    const fb = feedback?.get(r.image_id);
    return (
      <li
        key={r.image_id}
        className={`tile${isSelected ? " is-selected" : ""}${i >= (cutoffAt ?? Infinity) ? " is-below" : ""}`}
        style={{ "--a": aspect(r) } as CSSProperties}
      >
        <div className="tile-main" data-testid="result" data-image-id={r.image_id} title={typeof r.score === "number" ? `${name} · ${scoreText(r.score)} (${r.score.toFixed(4)})` : name}>
          <button
            ref={(el) => {
              if (el) buttons.current[i] = el;
            }}
            type="button"
            className="tile-btn"
            tabIndex={i === current ? 0 : -1}
            aria-label={tileName(r, isSelected)}
            onFocus={() => setActive(i)}
            onClick={(e) => onTileClick(i, e)}
          >
            <span className="tile-pad" />
            <img
              src={r.thumbnail_url}
              srcSet={srcSet(r)}
              sizes={SIZES}
              alt={altText(r)}
              loading="lazy"
              decoding="async"
              width={r.width ?? undefined}
              height={r.height ?? undefined}
            />
            <span className="tile-overlay" aria-hidden="true">
              <span className="tile-name">{name}</span>
              {typeof r.score === "number" && (
                <span className="score" data-testid="score">
                  {r.score.toFixed(2)}
                </span>
              )}
            </span>
            {/* in the tile's name already; hidden here so it is not read twice */}
            {r.label && (
              <span className="tile-label" aria-hidden="true">
                {r.label}
              </span>
            )}
          </button>
        </div>
        <input
          type="checkbox"
          className="tile-check"
          tabIndex={-1}
          checked={isSelected}
          readOnly
          aria-label={`Select ${name}`}
          onClick={(e) => props.onSelect(i, { range: e.shiftKey })}
        />
        {feedback && (
          <span className="tile-actions">
            <button type="button" tabIndex={-1} className={`fb-btn${fb === "like" ? " is-on" : ""}`} aria-pressed={fb === "like"} aria-label={`More like ${name}`} title="More like this" onClick={() => props.onFeedback(r, "like")}>
              <LikeIcon width={16} height={16} />
            </button>
            <button type="button" tabIndex={-1} className={`fb-btn${fb === "dislike" ? " is-on" : ""}`} aria-pressed={fb === "dislike"} aria-label={`Less like ${name}`} title="Less like this" onClick={() => props.onFeedback(r, "dislike")}>
              <DislikeIcon width={16} height={16} />
            </button>
          </span>
        )}
      </li>
    );
  };

  const split = cutoffAt !== null && cutoffAt > 0 && cutoffAt < results.length ? cutoffAt : null;
  const above = split === null ? results : results.slice(0, split);
  const below = split === null ? [] : results.slice(split);

  return (
    <section className={`results${dimmed ? " is-dimmed" : ""}`} aria-label="Search results" aria-busy={dimmed} onKeyDown={onKeyDown}>
      <ul className={`grid${selecting ? " is-selecting" : ""}`} data-testid="results-grid">
        {above.map((r, i) => tile(r, i))}
        <li className="grid-filler" aria-hidden="true" />
      </ul>
      {split !== null && (
        <>
          <p className="cutoff-line" data-testid="cutoff-line">
            <span>Below the cutoff: weaker matches</span>
          </p>
          <ul className={`grid${selecting ? " is-selecting" : ""}`} data-testid="results-grid-below">
            {below.map((r, i) => tile(r, i + split))}
            <li className="grid-filler" aria-hidden="true" />
          </ul>
        </>
      )}
      <div ref={sentinel} className="more">
        {hasMore && (
          <button type="button" className="btn" onClick={onLoadMore} disabled={loadingMore}>
            {loadingMore ? "Loading…" : "Load more"}
          </button>
        )}
        {!hasMore && results.length > 0 && (footer ?? <span className="muted">That's everything for this search.</span>)}
      </div>
    </section>
  );
}
