// Names and alt text for results, from their metadata where it says something useful.
import type { ImageInfo, SearchResult } from "../../api/types";

type Named = Pick<SearchResult, "image_id" | "filename" | "label" | "metadata"> | ImageInfo;

export function displayName(r: Named): string {
  return r.filename || r.image_id.slice(0, 12);
}

/** Alt text: a caption or title from metadata if present, else label and file name. */
export function altText(r: Named): string {
  const m = r.metadata ?? {};
  for (const k of ["alt", "caption", "title", "description"]) {
    const v = m[k];
    if (typeof v === "string" && v.trim()) return v.trim();
  }
  const name = r.filename ? r.filename.replace(/\.[a-z0-9]+$/i, "").replace(/[_-]+/g, " ") : "image";
  return r.label ? `${r.label}: ${name}` : name;
}
