// Uploads files one request each, a few at a time, so every file gets its own progress
// bar and its own outcome (indexed / duplicate / failed with the API's reason).
import { useCallback, useRef, useState } from "react";
import { ApiError, type ApiClient } from "../../api/client";
import { humanMessage } from "../../api/messages";
import { isImageFile } from "../../lib/files";

export type UploadItemStatus = "queued" | "uploading" | "processing" | "indexed" | "duplicate" | "failed";

export interface UploadItem {
  id: number;
  name: string;
  size: number;
  status: UploadItemStatus;
  /** Bytes sent, 0..1. */
  progress: number;
  imageId: string | null;
  error: string | null;
}

export interface UploadSummary {
  total: number;
  indexed: number;
  duplicates: number;
  failed: number;
  pending: number;
}

export function summarize(items: UploadItem[]): UploadSummary {
  const s = { total: items.length, indexed: 0, duplicates: 0, failed: 0, pending: 0 };
  for (const i of items) {
    if (i.status === "indexed") s.indexed += 1;
    else if (i.status === "duplicate") s.duplicates += 1;
    else if (i.status === "failed") s.failed += 1;
    else s.pending += 1;
  }
  return s;
}

export const UPLOAD_CONCURRENCY = 3;

export function useUploader(client: ApiClient, onBatchDone?: (s: UploadSummary) => void, concurrency = UPLOAD_CONCURRENCY) {
  const [items, setItems] = useState<UploadItem[]>([]);
  const nextId = useRef(1);
  const queue = useRef<Array<{ id: number; file: File }>>([]);
  const active = useRef(0);
  const controllers = useRef(new Map<number, AbortController>());
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const doneRef = useRef(onBatchDone);
  doneRef.current = onBatchDone;

  const patch = useCallback((id: number, p: Partial<UploadItem>) => {
    setItems((list) => {
      const next = list.map((i) => (i.id === id ? { ...i, ...p } : i));
      itemsRef.current = next;
      return next;
    });
  }, []);

  const pump = useCallback(() => {
    while (active.current < concurrency && queue.current.length > 0) {
      const job = queue.current.shift()!;
      active.current += 1;
      const ctrl = new AbortController();
      controllers.current.set(job.id, ctrl);
      patch(job.id, { status: "uploading", progress: 0 });
      client
        .upload([job.file], {
          signal: ctrl.signal,
          onProgress: ({ loaded, total }) => {
            const progress = total > 0 ? loaded / total : 0;
            patch(job.id, progress >= 1 ? { progress: 1, status: "processing" } : { progress });
          },
        })
        .then((res) => {
          const r = res.results[0];
          if (!r) patch(job.id, { status: "failed", progress: 1, error: "The API returned no result for this file." });
          else if (r.status === "failed")
            patch(job.id, {
              status: "failed",
              progress: 1,
              error: r.error ? humanMessage(r.error.code, r.error.message) : "Indexing failed.",
              imageId: r.image_id,
            });
          else patch(job.id, { status: r.status, progress: 1, imageId: r.image_id });
        })
        .catch((err: unknown) => {
          const msg = err instanceof ApiError ? err.message : String(err);
          patch(job.id, { status: "failed", progress: 1, error: msg });
        })
        .finally(() => {
          controllers.current.delete(job.id);
          active.current -= 1;
          if (active.current === 0 && queue.current.length === 0) {
            // let the last patch land before reporting
            setTimeout(() => doneRef.current?.(summarize(itemsRef.current)), 0);
          }
          pump();
        });
    }
  }, [client, concurrency, patch]);

  const add = useCallback(
    (files: File[]) => {
      const fresh: UploadItem[] = [];
      for (const file of files) {
        const id = nextId.current++;
        if (!isImageFile(file)) {
          fresh.push({ id, name: file.name, size: file.size, status: "failed", progress: 0, imageId: null, error: "Skipped: not an image file." });
          continue;
        }
        fresh.push({ id, name: file.name, size: file.size, status: "queued", progress: 0, imageId: null, error: null });
        queue.current.push({ id, file });
      }
      setItems((list) => {
        const next = [...list, ...fresh];
        itemsRef.current = next;
        return next;
      });
      if (queue.current.length === 0 && active.current === 0 && fresh.length > 0) {
        setTimeout(() => doneRef.current?.(summarize(itemsRef.current)), 0);
      }
      pump();
    },
    [pump],
  );

  const cancelAll = useCallback(() => {
    for (const { id } of queue.current) patch(id, { status: "failed", error: "Cancelled." });
    queue.current = [];
    for (const c of controllers.current.values()) c.abort();
  }, [patch]);

  const clearFinished = useCallback(() => {
    setItems((list) => {
      const next = list.filter((i) => i.status === "queued" || i.status === "uploading" || i.status === "processing");
      itemsRef.current = next;
      return next;
    });
  }, []);

  return { items, summary: summarize(items), add, cancelAll, clearFinished };
}
