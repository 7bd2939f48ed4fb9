import { useEffect, useRef, type RefObject } from "react";
import { isEditable } from "../lib/dom";
import { imageFilesFrom } from "../lib/files";
import { looksLikeUrl } from "../lib/query";

interface Handlers {
  /** An image pasted anywhere on the page. */
  onFile: (file: File) => void;
  /** An http(s) URL pasted into the search box or outside any text field. */
  onUrl: (url: string) => void;
}

/** Ctrl+V anywhere searches by the pasted image or image URL (off while `enabled` is false). */
export function usePasteSearch(inputRef: RefObject<HTMLInputElement | null>, enabled: boolean, handlers: Handlers): void {
  const h = useRef(handlers);
  h.current = handlers;
  useEffect(() => {
    if (!enabled) return;
    const onPaste = (e: ClipboardEvent) => {
      const files = imageFilesFrom(e.clipboardData);
      if (files.length > 0) {
        e.preventDefault();
        h.current.onFile(files[0]);
        return;
      }
      const text = e.clipboardData?.getData("text/plain") ?? "";
      if (looksLikeUrl(text) && (e.target === inputRef.current || !isEditable(e.target))) {
        e.preventDefault();
        h.current.onUrl(text);
      }
    };
    document.addEventListener("paste", onPaste);
    return () => document.removeEventListener("paste", onPaste);
  }, [inputRef, enabled]);
}
