// A small typed client for the visearch API: every failure becomes an ApiError whose
// message is a sentence for a person (chosen by the API's error code, api/messages.ts),
// with the API's own `error.message` kept as `detail`.
import { humanMessage } from "./messages";
import type {
  BulkDeleteResponse,
  Duplicates,
  Facets,
  FilterValue,
  ImageInfo,
  ImagePage,
  IndexResponse,
  QueryImageCreated,
  SearchRequest,
  SearchResponse,
  Stats,
  UiConfig,
} from "./types";

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

  /** A key to send with every call (the server's `ui-config` gives the UI one when needed). */
  apiKey: string | null = null;

  constructor(opts: ClientOptions = {}) {
    this.base = opts.base ?? API_BASE;
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  private auth(): Record<string, string> {
    return this.apiKey ? { "X-API-Key": this.apiKey } : {};
  }

  private async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}${path}`, {
        ...init,
        headers: { Accept: "application/json", ...this.auth(), ...(init.headers ?? {}) },
      });
    } catch (err) {
      if (isAbortError(err)) throw new ApiError(0, "aborted", "The request was cancelled.");
      throw new ApiError(0, "network", UNREACHABLE_MESSAGE);
    }
    const text = await res.text().catch(() => "");
    if (!res.ok) throw errorFromBody(res.status, text);
    if (res.status === 204) return undefined as T;
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

  /** Stores a query image (a dropped or pasted file) so that a URL can name it. */
  createQuery(file: Blob, name = "query", signal?: AbortSignal): Promise<QueryImageCreated> {
    const form = new FormData();
    form.append("file", file, name);
    return this.sendForm<QueryImageCreated>("/queries", form, file.size, { signal });
  }

  /** A page of the library: every image, newest first (by `sort`). */
  listImages(
    opts: { cursor?: string | null; limit?: number; sort?: "indexed_at" | "taken_at"; filter?: Record<string, FilterValue> | null },
    signal?: AbortSignal,
  ): Promise<ImagePage> {
    const p = new URLSearchParams();
    if (opts.cursor) p.set("cursor", opts.cursor);
    if (opts.limit) p.set("limit", String(opts.limit));
    if (opts.sort) p.set("sort", opts.sort);
    if (opts.filter && Object.keys(opts.filter).length) p.set("filter", JSON.stringify(opts.filter));
    const qs = p.toString();
    return this.request<ImagePage>(`/images${qs ? `?${qs}` : ""}`, { signal });
  }

  /** Every value of a payload field with its count, under a filter (facet chips). */
  facets(field: string, filter: Record<string, FilterValue> | null, signal?: AbortSignal): Promise<Facets> {
    const p = new URLSearchParams({ limit: "50" });
    if (filter && Object.keys(filter).length) p.set("filter", JSON.stringify(filter));
    return this.request<Facets>(`/facets/${encodeURIComponent(field)}?${p}`, { signal });
  }

  duplicates(id: string, signal?: AbortSignal): Promise<Duplicates> {
    return this.request<Duplicates>(`/images/${encodeURIComponent(id)}/duplicates`, { signal });
  }

  /** Deletes images; `keepalive` lets the request finish while the page is being left. */
  deleteImages(ids: string[], opts: { keepalive?: boolean } = {}): Promise<BulkDeleteResponse> {
    return this.request<BulkDeleteResponse>("/images/delete", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ids }),
      keepalive: opts.keepalive,
    });
  }

  /** The originals of `ids` as one zip file. */
  async archive(ids: string[], signal?: AbortSignal): Promise<Blob> {
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.base}/images/archive`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/zip", ...this.auth() },
        body: JSON.stringify({ ids }),
        signal,
      });
    } catch (err) {
      if (isAbortError(err)) throw new ApiError(0, "aborted", "The request was cancelled.");
      throw new ApiError(0, "network", UNREACHABLE_MESSAGE);
    }
    if (!res.ok) throw errorFromBody(res.status, await res.text().catch(() => ""));
    return res.blob();
  }

  /** Whether the API wants a key, and the read key the operator gave the UI (if any). */
  uiConfig(signal?: AbortSignal): Promise<UiConfig> {
    return this.request<UiConfig>("/ui-config", { signal });
  }

  /**
   * Sends `key` with every later call, and has the server put it in a session cookie too,
   * because <img> tags (thumbnails, originals) cannot send headers.
   */
  async openSession(key: string): Promise<void> {
    this.apiKey = key;
    try {
      await this.request<void>("/session", { method: "POST" });
    } catch (err) {
      this.apiKey = null;
      throw err;
    }
  }

  stats(signal?: AbortSignal): Promise<Stats> {
    return this.request<Stats>("/stats", { signal });
  }

  imageInfo(id: string, signal?: AbortSignal): Promise<ImageInfo> {
    return this.request<ImageInfo>(`/images/${encodeURIComponent(id)}/info`, { signal });
  }

  /** Uploads files to `POST /index/upload`, reporting progress. */
  upload(files: File[], opts: UploadOptions = {}): Promise<IndexResponse> {
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    if (opts.metadata) form.append("metadata", JSON.stringify(opts.metadata));
    return this.sendForm<IndexResponse>("/index/upload", form, files.reduce((n, f) => n + f.size, 0), opts);
  }

  /**
   * Posts a multipart form with XMLHttpRequest, because fetch cannot report upload
   * progress. `size` is what to report as sent once the body is out, where progress
   * events carry no length.
   */
  private sendForm<T>(path: string, form: FormData, size: number, opts: UploadOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", `${this.base}${path}`);
      xhr.setRequestHeader("Accept", "application/json");
      if (this.apiKey) xhr.setRequestHeader("X-API-Key", this.apiKey);
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
            resolve(JSON.parse(xhr.responseText) as T);
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
