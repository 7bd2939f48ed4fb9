// A modal question with a destructive answer: focus starts on Cancel, Esc cancels, Tab stays
// inside, Enter on the focused button answers.
import { useEffect, useRef, type ReactNode } from "react";
import { Modal } from "../../ui/Modal";

interface Props {
  title: string;
  children: ReactNode;
  confirm: string;
  onConfirm: () => void;
  onCancel: () => void;
}

export function ConfirmDialog({ title, children, confirm, onConfirm, onCancel }: Props) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    cancelRef.current?.focus();
    return () => before?.focus?.();
  }, []);
  return (
    <Modal backdrop="sheet-backdrop" className="sheet confirm" role="alertdialog" labelledBy="confirm-title" describedBy="confirm-body" testId="confirm-dialog" onClose={onCancel}>
        <h2 id="confirm-title">{title}</h2>
        <div id="confirm-body">{children}</div>
        <div className="row end">
          <button ref={cancelRef} type="button" className="btn" onClick={onCancel}>
            Cancel
          </button>
          <button type="button" className="btn btn-danger" onClick={onConfirm}>
            {confirm}
          </button>
        </div>
    </Modal>
  );
}
