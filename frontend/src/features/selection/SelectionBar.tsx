// What can be done with the selected images: search by them (as liked examples), download
// their originals (one file, or a zip), delete them (asked first, then undoable).
import { CloseIcon, DownloadIcon, SparkIcon, TrashIcon } from "../../ui/icons";

interface Props {
  count: number;
  busy: boolean;
  onSearchByThese: () => void;
  onDownload: () => void;
  onDelete: () => void;
  onClear: () => void;
}

export function SelectionBar({ count, busy, onSearchByThese, onDownload, onDelete, onClear }: Props) {
  return (
    <section className="selection-bar" aria-label="Selected images" data-testid="selection-bar">
      <button type="button" className="icon-btn" aria-label="Clear the selection" onClick={onClear}>
        <CloseIcon />
      </button>
      <strong aria-live="polite">{count.toLocaleString("en")} selected</strong>
      <span className="spacer" />
      <button type="button" className="btn btn-small" onClick={onSearchByThese}>
        <SparkIcon width={16} height={16} /> Search by these
      </button>
      <button type="button" className="btn btn-small" onClick={onDownload} disabled={busy}>
        <DownloadIcon width={16} height={16} /> {busy ? "Preparing…" : "Download"}
      </button>
      <button type="button" className="btn btn-small btn-danger" onClick={onDelete}>
        <TrashIcon width={16} height={16} /> Delete
      </button>
    </section>
  );
}
