// Shapes of the visearch REST API v1. The API's own types are generated from its OpenAPI
// schema into schema.d.ts (`npm run api:types`; scripts/test_frontend.sh fails when stale);
// this file only names them, and adds the few things the schema leaves open.
import type { components } from "./schema";

type Schemas = components["schemas"];

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface RangeFilter {
  gt?: number | string;
  gte?: number | string;
  lt?: number | string;
  lte?: number | string;
}

export type FilterValue = string | number | boolean | RangeFilter | Array<string | number>;

export type SearchTerm = Schemas["SearchTerm"];
export type SortField = NonNullable<Schemas["SearchRequest"]["sort"]>;
export type SearchRequest = Schemas["SearchRequest"];

/** What the relevance cutoff did to a search. */
export type CutoffInfo = Schemas["CutoffReport"];
export type ImageItem = Schemas["ImageItem"];
export type SearchResult = Schemas["SearchResult"];
/** A tile: a search result, or a library image (no score). */
export type Item = ImageItem & { score?: number };
export type SearchResponse = Schemas["SearchResponse"];
export type ImagePage = Schemas["ImagePage"];
export type BulkDeleteResponse = Schemas["BulkDeleteResponse"];
export type QueryImageCreated = Schemas["QueryImageCreated"];
export type IndexStatus = Schemas["IndexItemResult"]["status"];
export type IndexItemResult = Schemas["IndexItemResult"];
export type IndexResponse = Schemas["IndexResponse"];
export type Stats = Schemas["StatsResponse"];
export type UiConfig = Schemas["UiConfig"];

export type FacetValue = Schemas["FacetValue"];
export type Facets = Schemas["FacetResponse"];
export type Duplicates = Schemas["DuplicatesResponse"];

/** `GET /images/{id}/info`: the stored payload (the schema leaves it open). */
export interface ImageInfo {
  image_id: string;
  filename?: string | null;
  width?: number | null;
  height?: number | null;
  format?: string | null;
  bytes?: number | null;
  indexed_at?: string | null;
  taken_at?: string | null;
  camera?: string | null;
  camera_make?: string | null;
  camera_model?: string | null;
  gps?: { lat: number; lon: number } | null;
  label?: string | null;
  duplicate_of?: string | null;
  metadata?: Record<string, Json> | null;
}
