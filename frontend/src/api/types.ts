// Shapes of the visearch REST API v1 (docs/api.md).

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface RangeFilter {
  gt?: number;
  gte?: number;
  lt?: number;
  lte?: number;
}

export type FilterValue = string | number | boolean | RangeFilter | Array<string | number>;

export interface SearchRequest {
  text?: string;
  image_data?: string;
  image_url?: string;
  image_id?: string;
  text_weight?: number;
  top_k?: number;
  threshold?: number;
  offset?: number;
  filter?: Record<string, FilterValue>;
}

export interface SearchResult {
  image_id: string;
  score: number;
  filename: string | null;
  width: number | null;
  height: number | null;
  label: string | null;
  metadata: Record<string, Json> | null;
  thumbnail_url: string;
  image_url: string;
}

export interface SearchResponse {
  query_id: string;
  results: SearchResult[];
  total_found: number;
  has_more: boolean;
  search_time_ms: number;
  cached: boolean;
  model_id: string;
}

export type IndexStatus = "indexed" | "duplicate" | "failed";

export interface ErrorBody {
  code: string;
  message: string;
}

export interface IndexItemResult {
  image_id: string | null;
  filename: string | null;
  status: IndexStatus;
  error: ErrorBody | null;
  processing_time_ms: number;
}

export interface IndexResponse {
  results: IndexItemResult[];
  indexed: number;
  duplicates: number;
  failed: number;
}

export interface ImageInfo {
  image_id: string;
  filename: string | null;
  width: number | null;
  height: number | null;
  format: string | null;
  bytes: number | null;
  indexed_at: string | null;
  label: string | null;
  metadata: Record<string, Json> | null;
}

export interface Stats {
  count: number;
  model: {
    model_id: string;
    requested_model: string;
    dim: number;
    device: string;
    fallback: boolean;
  };
  store: { backend: string; collection: string };
  uptime_s: number;
  version: string;
}
