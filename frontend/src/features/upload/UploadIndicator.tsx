// Uploads stay visible with the sheet closed: a compact indicator in the header (files done,
// overall progress, failures), which opens the sheet; and the batch's progress bar with its
// rate and time left, shared with the sheet. While files are still going, leaving the page
// asks first.
import { useEffect, useState } from "react";
import { formatBytes } from "../../lib/files";
import { AlertIcon, UploadIcon } from "../../ui/icons";
import { pace, type UploadSummary } from "./useUploader";

/** "1 min 20 s", "12 s", "under a second". */
export function formatDuration(s: number): string {
  if (s < 1) return "under a second";
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m > 0 ? `${m} min ${sec} s` : `${sec} s`;
}

/** Re-renders every `ms` while `on` (for a pace measured against the clock). */
function useTick(on: boolean, ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [on, ms]);
  return on ? Date.now() : now;
}

export function BatchProgress({ summary, startedAt }: { summary: UploadSummary; startedAt: number | null }) {
  const busy = summary.pending > 0;
  const now = useTick(busy);
  const done = summary.total - summary.pending;
  const p = pace(summary, startedAt, now);
  const share = summary.total ? done / summary.total : 0;
  const parts = [`${done} of ${summary.total} files`];
  if (p.filesPerS) parts.push(`${p.filesPerS >= 1 ? p.filesPerS.toFixed(1) : p.filesPerS.toFixed(2)} files/s`);
  if (p.bytesPerS) parts.push(`${formatBytes(p.bytesPerS)}/s`);
  if (busy && p.etaS !== null) parts.push(`about ${formatDuration(p.etaS)} left`);
  return (
    <div className="batch" data-testid="upload-batch">
      <div
        className="bar bar-batch"
        role="progressbar"
        aria-label="All files"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(share * 100)}
        aria-valuetext={parts.join(", ")}
      >
        <span className="bar-fill" style={{ width: `${share * 100}%` }} />
      </div>
      <p className="muted small" data-testid="upload-pace">
        {parts.join(" · ")}
      </p>
    </div>
  );
}

interface IndicatorProps {
  summary: UploadSummary;
  onOpen: () => void;
}

export function UploadIndicator({ summary, onOpen }: IndicatorProps) {
  if (summary.total === 0) return null;
  const busy = summary.pending > 0;
  const done = summary.total - summary.pending;
  const pct = summary.total ? Math.round((done / summary.total) * 100) : 0;
  const text = busy
    ? `Uploading ${done} of ${summary.total}`
    : `${summary.indexed + summary.nearDuplicates} added${summary.failed ? `, ${summary.failed} failed` : ""}`;
  return (
    <button
      type="button"
      className={`upload-indicator${summary.failed ? " has-failed" : ""}`}
      onClick={onOpen}
      data-testid="upload-indicator"
      aria-label={`${text}. Show uploads`}
    >
      {summary.failed ? <AlertIcon width={16} height={16} /> : <UploadIcon width={16} height={16} />}
      <span className="upload-indicator-text" aria-hidden="true">
        {busy ? `${done}/${summary.total}` : text}
      </span>
      {busy && (
        <span className="mini-bar" aria-hidden="true">
          <span style={{ width: `${pct}%` }} />
        </span>
      )}
    </button>
  );
}

/** Asks before the page is left (closed, reloaded, navigated away) while `active`. */
export function useLeaveWarning(active: boolean): void {
  useEffect(() => {
    if (!active) return;
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      e.preventDefault();
      e.returnValue = ""; // older browsers need it set
    };
    window.addEventListener("beforeunload", onBeforeUnload);
    return () => window.removeEventListener("beforeunload", onBeforeUnload);
  }, [active]);
}
