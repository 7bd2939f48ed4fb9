import { useEffect, type RefObject } from "react";
import { isEditable } from "../lib/dom";

/** "/" focuses the search box, like most search UIs (not while typing or in a dialog). */
export function useSlashToSearch(inputRef: RefObject<HTMLInputElement | null>, enabled: boolean): void {
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "/" && !isEditable(e.target)) {
        e.preventDefault();
        inputRef.current?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [inputRef, enabled]);
}
