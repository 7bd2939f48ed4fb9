// A modal dialog: a backdrop that closes it when pressed, and the dialog itself. With `keys`,
// Esc closes and Tab stays inside (a dialog that hears keys on the whole document, like the
// lightbox, handles them itself).
import { forwardRef, type ReactNode } from "react";
import { trapTab } from "./focus";

interface Props {
  backdrop: string;
  className: string;
  role?: "dialog" | "alertdialog";
  labelledBy: string;
  describedBy?: string;
  testId?: string;
  keys?: boolean;
  onClose: () => void;
  children: ReactNode;
}

export const Modal = forwardRef<HTMLDivElement, Props>(function Modal(
  { backdrop, className, role = "dialog", labelledBy, describedBy, testId, keys = true, onClose, children },
  ref,
) {
  return (
    <div className={backdrop} onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={ref}
        className={className}
        role={role}
        aria-modal="true"
        aria-labelledby={labelledBy}
        aria-describedby={describedBy}
        data-testid={testId}
        onKeyDown={
          keys
            ? (e) => {
                if (e.key === "Escape") {
                  e.preventDefault();
                  e.stopPropagation();
                  onClose();
                } else trapTab(e, e.currentTarget);
              }
            : undefined
        }
      >
        {children}
      </div>
    </div>
  );
});
