// Uploads files one request each, a few at a time, so every file gets its own progress
// bar and its own outcome (indexed / duplicate / failed with the API's reason), plus the
// batch's overall progress, rate and time left. A file from a dropped or picked folder keeps
// its path inside that folder as metadata (`{"path": "trip/day1/IMG_1.jpg"}`).
import { useCallback, useRef, useState } from "react";
import { ApiError, type ApiClient } from "../../api/client";
import { humanMessage } from "../../api/messages";
import { isImageFile, type Picked } from "../../lib/files";

export type UploadItemStatus = "queued" | "uploading" | "processing" | "indexed" | "duplicate" | "near_duplicate" | "failed";

/** Statuses of a file that is finished (the API's outcomes). */
export const FINISHED: ReadonlySet<UploadItemStatus> = new Set(["indexed", "duplicate", "near_duplicate", "failed"]);

export interface UploadItem {
  id: number;
  name: string;
  /** Where the file was inside a dropped or picked folder, else null. */
  path: string | null;
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
  /** Close to an indexed image (kept, linked or skipped as the server is configured). */
  nearDuplicates: number;
  failed: number;
  pending: number;
  /** Bytes of the batch, and how much of them is sent (0..1 of each file, weighted by size). */
  bytes: number;
  sentBytes: number;
}

export function summarize(items: UploadItem[]): UploadSummary {
  const s = { total: items.length, indexed: 0, duplicates: 0, nearDuplicates: 0, failed: 0, pending: 0, bytes: 0, sentBytes: 0 };
  for (const i of items) {
    if (i.status === "indexed") s.indexed += 1;
    else if (i.status === "duplicate") s.duplicates += 1;
    else if (i.status === "near_duplicate") s.nearDuplicates += 1;
    else if (i.status === "failed") s.failed += 1;
    else s.pending += 1;
    s.bytes += i.size;
    s.sentBytes += i.status === "queued" ? 0 : i.size * (i.status === "uploading" ? i.progress : 1);
  }
  return s;
}

export interface Pace {
  /** Files finished per second since the batch started. */
  filesPerS: number | null;
  bytesPerS: number | null;
  /** Seconds to go at that pace (null until it can be told). */
  etaS: number | null;
}

/** The batch's pace: finished files and sent bytes over the time since it started. */
export function pace(s: UploadSummary, startedAt: number | null, now: number): Pace {
  const elapsed = startedAt === null ? 0 : (now - startedAt) / 1000;
  if (elapsed < 0.5) return { filesPerS: null, bytesPerS: null, etaS: null };
  const finished = s.total - s.pending;
  const filesPerS = finished > 0 ? finished / elapsed : null;
  const bytesPerS = s.sentBytes > 0 ? s.sentBytes / elapsed : null;
  let etaS: number | null = null;
  if (s.pending === 0) etaS = 0;
  else if (filesPerS) etaS = s.pending / filesPerS;
  else if (bytesPerS) etaS = (s.bytes - s.sentBytes) / bytesPerS;
  return { filesPerS, bytesPerS, etaS };
}

export const UPLOAD_CONCURRENCY = 3;

export function useUploader(client: ApiClient, onBatchDone?: (s: UploadSummary) => void, concurrency = UPLOAD_CONCURRENCY) {
  const [items, setItems] = useState<UploadItem[]>([]);
  const nextId = useRef(1);
  const queue = useRef<Array<{ id: number; file: File; path: string | null }>>([]);
  const active = useRef(0);
  const controllers = useRef(new Map<number, AbortController>());
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const doneRef = useRef(onBatchDone);
  doneRef.current = onBatchDone;
  /** When the current batch started (reset when a batch begins with nothing pending). */
  const [startedAt, setStartedAt] = useState<number | null>(null);

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
          metadata: job.path ? { path: job.path } : undefined,
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
    (picked: Array<File | Picked>) => {
      const fresh: UploadItem[] = [];
      if (queue.current.length === 0 && active.current === 0) setStartedAt(Date.now());
      for (const entry of picked) {
        const { file, path } = entry instanceof File ? { file: entry, path: null } : entry;
        const id = nextId.current++;
        const base = { id, name: file.name, path, size: file.size, progress: 0, imageId: null };
        if (!isImageFile(file)) {
          fresh.push({ ...base, status: "failed", error: "Skipped: not an image file." });
          continue;
        }
        fresh.push({ ...base, status: "queued", error: null });
        queue.current.push({ id, file, path });
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

  return { items, summary: summarize(items), startedAt, add, cancelAll, clearFinished };
}
