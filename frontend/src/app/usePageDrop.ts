import { useEffect, useRef, useState } from "react";
import { dragHasFiles, imageFilesFrom } from "../lib/files";

interface Handlers {
  /** The (first) image dropped on the page. */
  onFile: (file: File) => void;
  /** Something to tell the person: not an image, or several images at once. */
  onMessage: (message: string) => void;
}

/** Dropping an image anywhere on the page searches by it; returns whether a file drag is over the page. */
export function usePageDrop(enabled: boolean, handlers: Handlers): boolean {
  const [dragging, setDragging] = useState(false);
  const h = useRef(handlers);
  h.current = handlers;
  useEffect(() => {
    if (!enabled) return;
    let depth = 0;
    const onEnter = (e: DragEvent) => {
      if (!dragHasFiles(e.dataTransfer)) return;
      e.preventDefault();
      depth += 1;
      setDragging(true);
    };
    const onOver = (e: DragEvent) => {
      if (!dragHasFiles(e.dataTransfer)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
    };
    const onLeave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const onDrop = (e: DragEvent) => {
      e.preventDefault();
      depth = 0;
      setDragging(false);
      const files = imageFilesFrom(e.dataTransfer);
      if (files.length === 0) {
        if (e.dataTransfer?.files.length) h.current.onMessage("That isn't an image file. Drop a JPEG, PNG, WebP or GIF.");
        return;
      }
      if (files.length > 1) h.current.onMessage(`Searching by ${files[0].name}. To add ${files.length} images to the index, use Add images.`);
      h.current.onFile(files[0]);
    };
    window.addEventListener("dragenter", onEnter);
    window.addEventListener("dragover", onOver);
    window.addEventListener("dragleave", onLeave);
    window.addEventListener("drop", onDrop);
    return () => {
      window.removeEventListener("dragenter", onEnter);
      window.removeEventListener("dragover", onOver);
      window.removeEventListener("dragleave", onLeave);
      window.removeEventListener("drop", onDrop);
      setDragging(false);
    };
  }, [enabled]);
  return dragging;
}
