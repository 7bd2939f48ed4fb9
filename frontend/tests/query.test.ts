import { describe, expect, it } from "vitest";
import { ResultCache } from "../src/lib/cache";
import { altText } from "../src/features/search/labels";
import {
  DEFAULT_REFINEMENT,
  buildSearchRequest,
  imageFromIndexed,
  imageFromUrl,
  looksLikeUrl,
  queryKey,
  type QueryImage,
} from "../src/lib/query";
import { fakeImages } from "./fakeApi";

const file: QueryImage = { kind: "file", key: "file:a.jpg:3:1", name: "a.jpg", dataUrl: "data:image/jpeg;base64,AAA" };

describe("buildSearchRequest", () => {
  it("sends text alone without a text weight", () => {
    expect(buildSearchRequest({ text: "  red dress ", image: null }, DEFAULT_REFINEMENT)).toEqual({
      text: "red dress",
      top_k: 24,
      offset: 0,
    });
  });

  it("sends each kind of image the way the API names it", () => {
    expect(buildSearchRequest({ text: "", image: file }, DEFAULT_REFINEMENT).image_data).toBe(file.kind === "file" && file.dataUrl);
    expect(buildSearchRequest({ text: "", image: imageFromUrl("https://x.org/a.png") }, DEFAULT_REFINEMENT).image_url).toBe("https://x.org/a.png");
    expect(buildSearchRequest({ text: "", image: imageFromIndexed("abc", "a", "/t") }, DEFAULT_REFINEMENT).image_id).toBe("abc");
  });

  it("combines text and image with the text weight, plus threshold, label and paging", () => {
    const req = buildSearchRequest({ text: "blue", image: file }, { topK: 12, threshold: 0.25, label: "hat", textWeight: 0.3 }, 24);
    expect(req).toEqual({
      text: "blue",
      image_data: "data:image/jpeg;base64,AAA",
      text_weight: 0.3,
      top_k: 12,
      threshold: 0.25,
      offset: 24,
      filter: { label: "hat" },
    });
  });
});

describe("queryKey", () => {
  it("differs when anything that changes the answer differs", () => {
    const base = queryKey({ text: "a", image: null }, DEFAULT_REFINEMENT);
    expect(queryKey({ text: "a ", image: null }, DEFAULT_REFINEMENT)).toBe(base);
    expect(queryKey({ text: "a", image: file }, DEFAULT_REFINEMENT)).not.toBe(base);
    expect(queryKey({ text: "a", image: null }, { ...DEFAULT_REFINEMENT, topK: 48 })).not.toBe(base);
    expect(queryKey({ text: "a", image: null }, { ...DEFAULT_REFINEMENT, label: "hat" })).not.toBe(base);
    expect(queryKey({ text: "a", image: null }, { ...DEFAULT_REFINEMENT, threshold: 0.2 })).not.toBe(base);
  });
});

describe("looksLikeUrl", () => {
  it("accepts one http(s) URL only", () => {
    expect(looksLikeUrl(" https://example.org/cat.jpg ")).toBe(true);
    expect(looksLikeUrl("http://x/y")).toBe(true);
    expect(looksLikeUrl("a photo of https://x")).toBe(false);
    expect(looksLikeUrl("ftp://x/y.jpg")).toBe(false);
  });
});

describe("ResultCache", () => {
  it("evicts the least recently used entry and survives a reload via sessionStorage", () => {
    const entry = (n: number) => ({ results: fakeImages(n), hasMore: false, searchTimeMs: 1 });
    const c = new ResultCache(2, sessionStorage);
    c.set("a", entry(1));
    c.set("b", entry(2));
    c.get("a");
    c.set("c", entry(3));
    expect(c.get("b")).toBeUndefined();
    expect(c.get("a")?.results).toHaveLength(1);
    const reloaded = new ResultCache(2, sessionStorage);
    expect(reloaded.get("c")?.results).toHaveLength(3);
    reloaded.clear();
    expect(new ResultCache(2, sessionStorage).size).toBe(0);
  });
});

describe("altText", () => {
  it("prefers a caption from metadata, else the label, never the file name", () => {
    const [first, second] = fakeImages(2);
    expect(altText(first)).toBe("a red dress on a hanger");
    expect(altText(second)).toBe("hat");
    expect(altText({ ...second, label: null })).toBe("Image without a description");
  });
});
