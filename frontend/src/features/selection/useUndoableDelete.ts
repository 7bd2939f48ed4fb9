// Deleting with an undo window: the images leave the page at once, and the delete is sent
// when the window closes (or at once when the page is left, with a keepalive request).
// Undo puts them back; nothing was sent, so nothing is lost.
import { useCallback, useEffect, useRef, useState } from "react";
import type { ApiClient } from "../../api/client";
import { ApiError } from "../../api/client";

export const UNDO_MS = 8000;

interface Pending {
  ids: string[];
  restore: () => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface DeleteOutcome {
  deleted: number;
  error: ApiError | null;
}

export function useUndoableDelete(client: ApiClient, onDone: (o: DeleteOutcome) => void, undoMs = UNDO_MS) {
  const [pending, setPending] = useState<{ count: number } | null>(null);
  const current = useRef<Pending | null>(null);
  const done = useRef(onDone);
  done.current = onDone;

  /** Ends the window: the pending delete (if any), no longer pending. */
  const take = useCallback((): Pending | null => {
    const p = current.current;
    if (p) clearTimeout(p.timer);
    current.current = null;
    setPending(null);
    return p;
  }, []);

  const commit = useCallback(() => {
    const p = take();
    if (!p) return;
    client.deleteImages(p.ids).then(
      (res) => done.current({ deleted: res.deleted, error: null }),
      (err: unknown) => {
        p.restore();
        const e = err instanceof ApiError ? err : new ApiError(0, "unknown", String(err));
        done.current({ deleted: 0, error: e });
      },
    );
  }, [client, take]);

  /** Starts the window for `ids` (already hidden by the caller; `restore` shows them again). */
  const schedule = useCallback(
    (ids: string[], restore: () => void) => {
      commit(); // one window at a time: an earlier delete goes now
      current.current = { ids, restore, timer: setTimeout(commit, undoMs) };
      setPending({ count: ids.length });
    },
    [commit, undoMs],
  );

  const undo = useCallback(() => take()?.restore(), [take]);

  // leaving the page ends the window: the delete goes out with the page
  useEffect(() => {
    const onHide = () => {
      const p = take();
      if (p) void client.deleteImages(p.ids, { keepalive: true }).catch(() => undefined);
    };
    window.addEventListener("pagehide", onHide);
    return () => window.removeEventListener("pagehide", onHide);
  }, [client, take]);

  return { pending, schedule, undo, commitNow: commit };
}
