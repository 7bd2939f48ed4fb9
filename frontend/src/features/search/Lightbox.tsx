// The full image with its details (metadata, EXIF: date taken, camera, place), "more like
// this", near-duplicates, like/dislike, download and delete. A modal dialog: focus moves in
// on open, Tab stays inside, ←/→ step through results, Esc closes (focus then returns
// to the tile that opened it; the caller owns that element). The keys are heard on the
// whole document while it is open, and ‹ › stay focusable at either end (aria-disabled),
// so focus never falls out of the dialog and the keys keep working.
import { useEffect, useRef, useState } from "react";
import type { ApiClient } from "../../api/client";
import type { ImageInfo, Item, Json } from "../../api/types";
import { formatBytes } from "../../lib/files";
import { ChevronLeft, ChevronRight, CloseIcon, CopiesIcon, DislikeIcon, DownloadIcon, LikeIcon, SparkIcon, TrashIcon } from "../../ui/icons";
import { trapTab } from "../../ui/focus";
import { Modal } from "../../ui/Modal";
import { altText, displayName } from "./labels";
import type { Feedback } from "./ResultsGrid";

interface Props {
  client: ApiClient;
  results: Item[];
  index: number;
  hasMore: boolean;
  /** Below the relevance cutoff from this index on (null: no cutoff). */
  cutoffAt: number | null;
  /** This result's like/dislike (null: no feedback controls here). */
  feedback: Feedback | null | undefined;
  onNavigate: (index: number) => void;
  onClose: () => void;
  onMoreLikeThis: (r: Item) => void;
  onDuplicates: (r: Item) => void;
  onFeedback: ((r: Item, value: Feedback) => void) | null;
  onDelete: (r: Item) => void;
  onNeedMore: () => void;
}

/** How far a finger must travel sideways to count as a swipe. */
const SWIPE_PX = 50;

function fmtValue(v: Json | unknown): string {
  if (v === null) return "—";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** When a photo was taken, as the camera's clock said (EXIF has no zone; the server keeps
 * the camera's offset where it wrote one): the written date and time, not converted. */
function fmtTaken(iso: string): string {
  const d = new Date(`${iso.slice(0, 19)}Z`);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
}

export function Lightbox(props: Props) {
  const { client, results, index, hasMore, cutoffAt, feedback, onNavigate, onClose, onMoreLikeThis, onNeedMore } = props;
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
      // a dialog opened over this one (the delete confirmation) has the keys
      if (e.defaultPrevented || (e.target instanceof Element && e.target.closest('[role="alertdialog"]'))) return;
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
  const rows: Array<[string, string]> = [];
  if (typeof r.score === "number") {
    const where = cutoffAt === null ? "" : index < cutoffAt ? " · relevant" : " · below the cutoff";
    rows.push(["Score", `${r.score.toFixed(3)}${where}`]);
  }
  rows.push(["Size", info?.width || r.width ? `${info?.width ?? r.width} × ${info?.height ?? r.height}` : "—"]);
  const taken = info?.taken_at ?? r.taken_at;
  if (taken) rows.push(["Taken", fmtTaken(taken)]);
  const camera = info?.camera ?? r.camera ?? [info?.camera_make, info?.camera_model].filter(Boolean).join(" ");
  if (camera) rows.push(["Camera", camera]);
  if (info?.gps) rows.push(["Place", `${info.gps.lat.toFixed(5)}, ${info.gps.lon.toFixed(5)}`]);
  if (info?.format) rows.push(["Format", info.format]);
  if (info?.bytes) rows.push(["File size", formatBytes(info.bytes)]);
  if (info?.indexed_at) rows.push(["Indexed", new Date(info.indexed_at).toLocaleString()]);
  if (info?.label ?? r.label) rows.push(["Label", String(info?.label ?? r.label)]);
  for (const [k, v] of Object.entries(meta)) rows.push([k, fmtValue(v)]);
  rows.push(["ID", r.image_id]);

  return (
    <Modal ref={dialogRef} backdrop="lightbox-backdrop" className="lightbox" labelledBy="lightbox-title" testId="lightbox" keys={false} onClose={onClose}>
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
          <div className="row lightbox-actions">
            {props.onFeedback && (
              <>
                <button type="button" className={`btn btn-small${feedback === "like" ? " is-on" : ""}`} aria-pressed={feedback === "like"} onClick={() => props.onFeedback?.(r, "like")}>
                  <LikeIcon width={16} height={16} /> Like
                </button>
                <button type="button" className={`btn btn-small${feedback === "dislike" ? " is-on" : ""}`} aria-pressed={feedback === "dislike"} onClick={() => props.onFeedback?.(r, "dislike")}>
                  <DislikeIcon width={16} height={16} /> Dislike
                </button>
              </>
            )}
            <button type="button" className="btn btn-small" onClick={() => props.onDuplicates(r)}>
              <CopiesIcon width={16} height={16} /> Near-duplicates
            </button>
          </div>
          <dl className="meta" data-testid="lightbox-meta">
            {rows.map(([k, v]) => (
              <div key={k} className="meta-row">
                <dt>{k}</dt>
                <dd title={v}>{v}</dd>
              </div>
            ))}
          </dl>
          <div className="row lightbox-actions">
            <a className="btn btn-small" href={r.image_url} download={r.filename ?? undefined}>
              <DownloadIcon width={16} height={16} /> Download
            </a>
            <a className="link small" href={r.image_url} target="_blank" rel="noreferrer">
              Open original
            </a>
            <span className="spacer" />
            <button type="button" className="btn btn-small btn-danger" onClick={() => props.onDelete(r)}>
              <TrashIcon width={16} height={16} /> Delete
            </button>
          </div>
        </aside>
    </Modal>
  );
}
