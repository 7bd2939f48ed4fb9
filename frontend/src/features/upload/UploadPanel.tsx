// "Add images": a drop zone for files or whole folders, a file/folder picker, the batch's
// overall progress with its rate and time left, per-file progress (failures first, with
// their reasons), and a summary of what was indexed, what was already there and what failed.
import { useEffect, useRef, useState, type DragEvent } from "react";
import { dragHasFiles, filesFromDrop, formatBytes, pickedFiles, type Picked } from "../../lib/files";
import { Modal } from "../../ui/Modal";
import { CloseIcon, FolderIcon, UploadIcon } from "../../ui/icons";
import { BatchProgress } from "./UploadIndicator";
import { FINISHED, type UploadItem, type UploadSummary } from "./useUploader";

interface Props {
  items: UploadItem[];
  summary: UploadSummary;
  startedAt: number | null;
  onAdd: (files: Picked[]) => void;
  onClose: () => void;
  onClearFinished: () => void;
  onCancel: () => void;
}

const STATUS_TEXT: Record<UploadItem["status"], string> = {
  queued: "Waiting",
  uploading: "Uploading",
  processing: "Indexing…",
  indexed: "Indexed",
  duplicate: "Already indexed",
  near_duplicate: "Near-duplicate",
  failed: "Failed",
};

/** Failed files first (they need a look), then the rest in the order they were added. */
function failuresFirst(items: UploadItem[]): UploadItem[] {
  return [...items.filter((i) => i.status === "failed"), ...items.filter((i) => i.status !== "failed")];
}

export function UploadPanel({ items, summary, startedAt, onAdd, onClose, onClearFinished, onCancel }: Props) {
  const [over, setOver] = useState(false);
  const fileRef = useRef<HTMLInputElement>(null);
  const dirRef = useRef<HTMLInputElement>(null);
  const closeRef = useRef<HTMLButtonElement>(null);
  const busy = summary.pending > 0;

  useEffect(() => {
    closeRef.current?.focus();
    // the folder picker attribute is not in React's types
    dirRef.current?.setAttribute("webkitdirectory", "");
  }, []);

  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    e.stopPropagation();
    setOver(false);
    const files = await filesFromDrop(e.dataTransfer);
    if (files.length) onAdd(files);
  };

  return (
    <Modal backdrop="sheet-backdrop" className="sheet" labelledBy="upload-title" testId="upload-panel" onClose={onClose}>
        <div className="sheet-head">
          <h2 id="upload-title">Add images</h2>
          <button ref={closeRef} type="button" className="icon-btn" aria-label="Close Add images" onClick={onClose}>
            <CloseIcon />
          </button>
        </div>
        <div
          className={`dropzone${over ? " is-over" : ""}`}
          data-testid="upload-dropzone"
          onDragEnter={(e) => {
            if (dragHasFiles(e.dataTransfer)) {
              e.preventDefault();
              e.stopPropagation();
              setOver(true);
            }
          }}
          onDragOver={(e) => {
            e.preventDefault();
            e.stopPropagation();
          }}
          onDragLeave={(e) => {
            if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOver(false);
          }}
          onDrop={onDrop}
        >
          <UploadIcon width={36} height={36} />
          <p>
            <strong>Drop images or a folder here</strong>
            <br />
            <span className="muted">JPEG, PNG, WebP, GIF… they become searchable as soon as they are indexed.</span>
          </p>
          <div className="row">
            <button type="button" className="btn btn-primary" onClick={() => fileRef.current?.click()}>
              <UploadIcon /> Choose files
            </button>
            <button type="button" className="btn" onClick={() => dirRef.current?.click()}>
              <FolderIcon /> Choose a folder
            </button>
          </div>
          <input
            ref={fileRef}
            type="file"
            accept="image/*"
            multiple
            hidden
            aria-label="Image files to add"
            data-testid="upload-file-input"
            onChange={(e) => {
              const files = pickedFiles(e.target.files);
              e.target.value = "";
              if (files.length) onAdd(files);
            }}
          />
          <input
            ref={dirRef}
            type="file"
            multiple
            hidden
            aria-label="Folder of images to add"
            onChange={(e) => {
              const files = pickedFiles(e.target.files);
              e.target.value = "";
              if (files.length) onAdd(files);
            }}
          />
        </div>

        {items.length > 0 && (
          <>
            <div className="upload-summary" role="status" aria-live="polite" data-testid="upload-summary">
              {busy ? (
                <span>
                  Uploading {summary.total - summary.pending} of {summary.total} done…
                </span>
              ) : (
                <span>Done.</span>
              )}
              <span className="pill pill-ok">{summary.indexed} indexed</span>
              <span className="pill">{summary.duplicates} duplicates</span>
              {summary.nearDuplicates > 0 && <span className="pill">{summary.nearDuplicates} near-duplicates</span>}
              <span className={`pill${summary.failed ? " pill-bad" : ""}`}>{summary.failed} failed</span>
              <span className="spacer" />
              {busy ? (
                <button type="button" className="btn btn-small" onClick={onCancel}>
                  Cancel
                </button>
              ) : (
                <button type="button" className="btn btn-small" onClick={onClearFinished}>
                  Clear list
                </button>
              )}
            </div>
            <BatchProgress summary={summary} startedAt={startedAt} />
            <ul className="upload-list" aria-label="Files">
              {failuresFirst(items).map((i) => (
                <li key={i.id} className={`upload-item is-${i.status}`} data-testid="upload-item" data-status={i.status}>
                  <div className="upload-line">
                    <span className="upload-name" title={i.path ?? i.name}>
                      {i.path ?? i.name}
                    </span>
                    <span className="muted small">{formatBytes(i.size)}</span>
                    <span className={`upload-status status-${i.status}`}>{STATUS_TEXT[i.status]}</span>
                  </div>
                  <ProgressBar item={i} />
                  {i.error && <p className="upload-error">{i.error}</p>}
                </li>
              ))}
            </ul>
          </>
        )}
    </Modal>
  );
}

function ProgressBar({ item }: { item: UploadItem }) {
  const done = FINISHED.has(item.status);
  // before the first progress event, and while the server indexes, the wait has no known length
  const indeterminate = item.status === "processing" || (item.status === "uploading" && item.progress === 0);
  const value = done ? 1 : item.status === "queued" ? 0 : item.progress;
  return (
    <div
      className={`bar${indeterminate ? " is-indeterminate" : ""}`}
      role="progressbar"
      aria-label={`${item.name}: ${STATUS_TEXT[item.status]}`}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={indeterminate ? undefined : Math.round(value * 100)}
    >
      <span className="bar-fill" style={{ width: `${value * 100}%` }} />
    </div>
  );
}
