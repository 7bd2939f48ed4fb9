// The full image with its metadata and "more like this". A modal dialog: focus moves in
// on open, Tab stays inside, ←/→ step through results, Esc closes (focus then returns
// to the tile that opened it; the caller owns that element).
import { useEffect, useRef, useState, type KeyboardEvent } from "react";
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

  if (!r) return null;
  const hasPrev = index > 0;
  const hasNext = index < results.length - 1;

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === "Escape") {
      e.preventDefault();
      onClose();
    } else if (e.key === "ArrowLeft" && hasPrev) {
      e.preventDefault();
      onNavigate(index - 1);
    } else if (e.key === "ArrowRight" && hasNext) {
      e.preventDefault();
      onNavigate(index + 1);
    } else {
      trapTab(e, dialogRef.current);
    }
  };

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
        onKeyDown={onKeyDown}
        data-testid="lightbox"
      >
        <div className="lightbox-stage">
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
            onClick={() => onNavigate(index - 1)}
            disabled={!hasPrev}
          >
            <ChevronLeft width={28} height={28} />
          </button>
          <button
            type="button"
            className="nav nav-next"
            aria-label="Next image"
            onClick={() => onNavigate(index + 1)}
            disabled={!hasNext}
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
