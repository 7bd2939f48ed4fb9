// Names and alt text for results, from their metadata where it says something useful.
import type { ImageInfo, Item } from "../../api/types";

type Named = Pick<Item, "image_id" | "filename" | "label" | "metadata"> | ImageInfo;

export function displayName(r: Named): string {
  return r.filename || r.image_id.slice(0, 12);
}

/**
 * Alt text says what the image shows: a caption or title from metadata if present, else
 * its label. A file name ("IMG_2041.jpg") describes nothing, so it is never used.
 */
export function altText(r: Named): string {
  const m = r.metadata ?? {};
  for (const k of ["alt", "caption", "title", "description"]) {
    const v = m[k];
    if (typeof v === "string" && v.trim()) return v.trim();
  }
  return r.label ? r.label : "Image without a description";
}

/** The exact score, for a tooltip or a screen reader ("score 0.873"). */
export function scoreText(score: number): string {
  return `score ${score.toFixed(2)}`;
}

/** A tile's accessible name: what opening it shows, with the label its corner displays. */
export function tileName(r: Item, selected = false): string {
  const label = r.label ? `, labelled ${r.label}` : "";
  const score = typeof r.score === "number" ? `, ${scoreText(r.score)}` : "";
  return `Open ${displayName(r)}${score}${label}${selected ? ", selected" : ""}`;
}
