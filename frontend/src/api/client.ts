// A small typed client for the visearch API: every failure becomes an ApiError whose
// message is a sentence for a person (chosen by the API's error code, api/messages.ts),
// with the API's own `error.message` kept as `detail`.
import { humanMessage } from "./messages";
import type { ImageInfo, IndexResponse, SearchRequest, SearchResponse, Stats } from "./types";

export const API_BASE = "/api/v1";

export class ApiError extends Error {
  /** HTTP status, or 0 when the API could not be reached at all. */
  readonly status: number;
  /** The API's machine code (`invalid_image`, ...), or `network` / `aborted` / `bad_response`. */
  readonly code: string;
  /** The API's own message when it differs from `message` (for a "details" line), else null. */
  readonly detail: string | null;

  constructor(status: number, code: string, message: string, detail: string | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail !== null && detail !== message ? detail : null;
  }

  get isNetwork(): boolean {
    return this.code === "network";
  }

  get isAbort(): boolean {
    return this.code === "aborted";
  }
}

export const UNREACHABLE_MESSAGE =
  "Can't reach the visearch API. Check that the server is running (visearch serve), then try again.";

export function isAbortError(err: unknown): boolean {
  return (
    (err instanceof ApiError && err.isAbort) ||
    (err instanceof DOMException && err.name === "AbortError") ||
    (err instanceof Error && err.name === "AbortError")
  );
}

/** Turns an error response into an ApiError, reading `{"error": {code, message}}` when present. */
export function errorFromBody(status: number, bodyText: string): ApiError {
  try {
    const body = JSON.parse(bodyText) as { error?: { code?: string; message?: string }; detail?: unknown };
    if (body.error?.message) {
      const code = body.error.code ?? `http_${status}`;
      return new ApiError(status, code, humanMessage(code, body.error.message), body.error.message);
    }
    if (typeof body.detail === "string") return new ApiError(status, `http_${status}`, body.detail);
  } catch {
    // not JSON: a proxy or server error page
  }
  if (status === 502 || status === 503 || status === 504) {
    return new ApiError(status, `http_${status}`, "The visearch API is not ready or a dependency is down. Try again in a moment.");
  }
  return new ApiError(status, `http_${status}`, `The API answered with an unexpected error (HTTP ${status}).`);
}

export type FetchLike = typeof fetch;

export interface ClientOptions {
  base?: string;
  fetch?: FetchLike;
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

export interface UploadOptions {
  metadata?: Record<string, unknown>;
  onProgress?: (p: UploadProgress) => void;
  signal?: AbortSignal;
}

export class ApiClient {
  private readonly base: string;
  private readonly fetchImpl: FetchLike;

  constructor(opts: ClientOptions = {}) {
    this.base = opts.base ?? API_BASE;
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  private async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}${path}`, {
        ...init,
        headers: { Accept: "application/json", ...(init.headers ?? {}) },
      });
    } catch (err) {
      if (isAbortError(err)) throw new ApiError(0, "aborted", "The request was cancelled.");
      throw new ApiError(0, "network", UNREACHABLE_MESSAGE);
    }
    const text = await res.text().catch(() => "");
    if (!res.ok) throw errorFromBody(res.status, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      // An HTML page where JSON was expected: usually a dev server without the API behind it.
      throw new ApiError(res.status, "bad_response", UNREACHABLE_MESSAGE);
    }
  }

  search(req: SearchRequest, signal?: AbortSignal): Promise<SearchResponse> {
    return this.request<SearchResponse>("/search", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(req),
      signal,
    });
  }

  stats(signal?: AbortSignal): Promise<Stats> {
    return this.request<Stats>("/stats", { signal });
  }

  imageInfo(id: string, signal?: AbortSignal): Promise<ImageInfo> {
    return this.request<ImageInfo>(`/images/${encodeURIComponent(id)}/info`, { signal });
  }

  /**
   * Uploads files to `POST /index/upload` with XMLHttpRequest, because fetch cannot
   * report upload progress.
   */
  upload(files: File[], opts: UploadOptions = {}): Promise<IndexResponse> {
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    if (opts.metadata) form.append("metadata", JSON.stringify(opts.metadata));
    return new Promise<IndexResponse>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.base}/index/upload`);
      xhr.setRequestHeader("Accept", "application/json");
      const size = files.reduce((n, f) => n + f.size, 0);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) opts.onProgress?.({ loaded: e.loaded, total: e.total });
      };
      // the body is fully sent: say so even where progress events carry no length
      xhr.upload.onload = (e) => {
        const total = e.lengthComputable && e.total > 0 ? e.total : size;
        opts.onProgress?.({ loaded: total, total });
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          try {
            resolve(JSON.parse(xhr.responseText) as IndexResponse);
          } catch {
            reject(new ApiError(xhr.status, "bad_response", UNREACHABLE_MESSAGE));
          }
        } else {
          reject(errorFromBody(xhr.status, xhr.responseText));
        }
      };
      xhr.onerror = () => reject(new ApiError(0, "network", UNREACHABLE_MESSAGE));
      xhr.onabort = () => reject(new ApiError(0, "aborted", "The upload was cancelled."));
      if (opts.signal) {
        if (opts.signal.aborted) {
          reject(new ApiError(0, "aborted", "The upload was cancelled."));
          return;
        }
        opts.signal.addEventListener("abort", () => xhr.abort(), { once: true });
      }
      xhr.send(form);
    });
  }
}

export const api = new ApiClient();
