// The full image with its metadata and "more like this". A modal dialog: focus moves in
// on open, Tab stays inside, ←/→ step through results, Esc closes (focus then returns
// to the tile that opened it; the caller owns that element). The keys are heard on the
// whole document while it is open, and ‹ › stay focusable at either end (aria-disabled),
// so focus never falls out of the dialog and the keys keep working.
import { useEffect, useRef, useState } from "react";
import type { ApiClient } from "../../api/client";
import type { ImageInfo, Json, SearchResult } from "../../api/types";
import { formatBytes } from "../../lib/files";
import { ChevronLeft, ChevronRight, CloseIcon, SparkIcon } from "../../ui/icons";
import { trapTab } from "../../ui/focus";
import { altText, displayName } from "./labels";

interface Props {
  client: ApiClient;
  results: SearchResult[];
  index: number;
  hasMore: boolean;
  onNavigate: (index: number) => void;
  onClose: () => void;
  onMoreLikeThis: (r: SearchResult) => void;
  onNeedMore: () => void;
}

/** How far a finger must travel sideways to count as a swipe. */
const SWIPE_PX = 50;

function fmtValue(v: Json): string {
  if (v === null) return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function Lightbox({ client, results, index, hasMore, onNavigate, onClose, onMoreLikeThis, onNeedMore }: Props) {
  const r = results[index];
  const dialogRef = useRef<HTMLDivElement>(null);
  const closeRef = useRef<HTMLButtonElement>(null);
  const [info, setInfo] = useState<ImageInfo | null>(null);
  const [loaded, setLoaded] = useState(false);
  const swipe = useRef<{ x: number; y: number } | null>(null);

  useEffect(() => {
    closeRef.current?.focus();
    const prev = document.body.style.overflow;
    document.body.style.overflow = "hidden";
    return () => {
      document.body.style.overflow = prev;
    };
  }, []);

  useEffect(() => {
    if (!r) return;
    setInfo(null);
    setLoaded(false);
    const c = new AbortController();
    client.imageInfo(r.image_id, c.signal).then(
      (i) => !c.signal.aborted && setInfo(i),
      () => undefined, // the result's own fields are shown instead
    );
    return () => c.abort();
  }, [client, r]);

  // stepping onto the last tile fetches the next page so → keeps working
  useEffect(() => {
    if (hasMore && index >= results.length - 2) onNeedMore();
  }, [hasMore, index, results.length, onNeedMore]);

  const hasPrev = index > 0;
  const hasNext = index < results.length - 1;
  const keys = useRef({ index, hasPrev, hasNext, onNavigate, onClose });
  keys.current = { index, hasPrev, hasNext, onNavigate, onClose };

  useEffect(() => {
    const onKeyDown = (e: KeyboardEvent) => {
      const k = keys.current;
      if (e.defaultPrevented) return;
      if (e.key === "Escape") {
        e.preventDefault();
        k.onClose();
      } else if (e.key === "ArrowLeft" && k.hasPrev) {
        e.preventDefault();
        k.onNavigate(k.index - 1);
      } else if (e.key === "ArrowRight" && k.hasNext) {
        e.preventDefault();
        k.onNavigate(k.index + 1);
      } else {
        trapTab(e, dialogRef.current);
      }
    };
    document.addEventListener("keydown", onKeyDown);
    return () => document.removeEventListener("keydown", onKeyDown);
  }, []);

  if (!r) return null;

  const name = displayName(r);
  const meta = info?.metadata ?? r.metadata ?? {};
  const rows: Array<[string, string]> = [
    ["Score", r.score.toFixed(3)],
    ["Size", info?.width || r.width ? `${info?.width ?? r.width} × ${info?.height ?? r.height}` : "—"],
  ];
  if (info?.format) rows.push(["Format", info.format]);
  if (info?.bytes) rows.push(["File size", formatBytes(info.bytes)]);
  if (info?.indexed_at) rows.push(["Indexed", new Date(info.indexed_at).toLocaleString()]);
  if (info?.label ?? r.label) rows.push(["Label", String(info?.label ?? r.label)]);
  for (const [k, v] of Object.entries(meta)) rows.push([k, fmtValue(v)]);
  rows.push(["ID", r.image_id]);

  return (
    <div className="lightbox-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={dialogRef}
        className="lightbox"
        role="dialog"
        aria-modal="true"
        aria-labelledby="lightbox-title"
        data-testid="lightbox"
      >
        <div
          className="lightbox-stage"
          // a horizontal swipe steps through the results, like ← and →
          onPointerDown={(e) => {
            swipe.current = e.pointerType === "mouse" ? null : { x: e.clientX, y: e.clientY };
          }}
          onPointerUp={(e) => {
            const start = swipe.current;
            swipe.current = null;
            if (!start) return;
            const dx = e.clientX - start.x;
            if (Math.abs(dx) < SWIPE_PX || Math.abs(dx) < 2 * Math.abs(e.clientY - start.y)) return;
            if (dx < 0 && hasNext) onNavigate(index + 1);
            if (dx > 0 && hasPrev) onNavigate(index - 1);
          }}
          onPointerCancel={() => (swipe.current = null)}
        >
          {!loaded && <img className="lightbox-img is-placeholder" src={r.thumbnail_url} alt="" aria-hidden="true" />}
          <img
            key={r.image_id}
            className={`lightbox-img${loaded ? "" : " is-loading"}`}
            src={r.image_url}
            alt={altText(info ?? r)}
            onLoad={() => setLoaded(true)}
          />
          <button
            type="button"
            className="nav nav-prev"
            aria-label="Previous image"
            onClick={() => hasPrev && onNavigate(index - 1)}
            aria-disabled={!hasPrev}
          >
            <ChevronLeft width={28} height={28} />
          </button>
          <button
            type="button"
            className="nav nav-next"
            aria-label="Next image"
            onClick={() => hasNext && onNavigate(index + 1)}
            aria-disabled={!hasNext}
          >
            <ChevronRight width={28} height={28} />
          </button>
        </div>
        <aside className="lightbox-side">
          <div className="lightbox-head">
            <h2 id="lightbox-title" title={name}>
              {name}
            </h2>
            <button ref={closeRef} type="button" className="icon-btn" aria-label="Close" onClick={onClose}>
              <CloseIcon />
            </button>
          </div>
          <p className="muted small" aria-live="polite">
            {index + 1} of {results.length}
            {hasMore ? "+" : ""} · ← → to browse, Esc to close
          </p>
          <button type="button" className="btn btn-primary btn-block" onClick={() => onMoreLikeThis(r)}>
            <SparkIcon /> More like this
          </button>
          <dl className="meta" data-testid="lightbox-meta">
            {rows.map(([k, v]) => (
              <div key={k} className="meta-row">
                <dt>{k}</dt>
                <dd title={v}>{v}</dd>
              </div>
            ))}
          </dl>
          <a className="link small" href={r.image_url} target="_blank" rel="noreferrer">
            Open original
          </a>
        </aside>
      </div>
    </div>
  );
}
