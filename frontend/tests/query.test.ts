import { describe, expect, it } from "vitest";
import { ResultCache } from "../src/lib/cache";
import { altText } from "../src/features/search/labels";
import {
  DEFAULT_REFINEMENT,
  NOT_WEIGHT,
  buildSearchRequest,
  imageFromIndexed,
  imageFromQueryId,
  imageFromUrl,
  isEmptyQuery,
  looksLikeUrl,
  makeQuery,
  queryKey,
  splitNegatives,
} from "../src/lib/query";
import { fakeImages } from "./fakeApi";

const qid = imageFromQueryId("0123456789abcdef0123456789abcdef", "a.jpg", "/api/v1/queries/x/image");

describe("buildSearchRequest", () => {
  it("sends text alone without a text weight, asking for the relevance cutoff", () => {
    expect(buildSearchRequest(makeQuery({ text: "  red dress " }), DEFAULT_REFINEMENT)).toEqual({
      text: "red dress",
      top_k: 24,
      offset: 0,
      cutoff: "auto",
    });
  });

  it("sends each kind of image the way the API names it", () => {
    expect(buildSearchRequest(makeQuery({ image: qid }), DEFAULT_REFINEMENT).query_id).toBe("0123456789abcdef0123456789abcdef");
    expect(buildSearchRequest(makeQuery({ image: imageFromUrl("https://x.org/a.png") }), DEFAULT_REFINEMENT).image_url).toBe("https://x.org/a.png");
    expect(buildSearchRequest(makeQuery({ image: imageFromIndexed("abc", "a", "/t") }), DEFAULT_REFINEMENT).image_id).toBe("abc");
  });

  it("combines text and image with the text weight, plus threshold, filters, sort, variety and paging", () => {
    const r = { ...DEFAULT_REFINEMENT, topK: 12, threshold: 0.25, filters: { label: "hat" }, textWeight: 0.3, sort: "taken_at" as const, diverse: true, all: true };
    expect(buildSearchRequest(makeQuery({ text: "blue", image: qid }), r, 24)).toEqual({
      text: "blue",
      query_id: "0123456789abcdef0123456789abcdef",
      text_weight: 0.3,
      top_k: 12,
      threshold: 0.25,
      offset: 24,
      filter: { label: "hat" },
      sort: "taken_at",
      diversity: 0.5,
      cutoff: "off",
    });
  });

  it("sends words to push away as negative terms, and likes and dislikes as feedback", () => {
    const req = buildSearchRequest(makeQuery({ text: "beach", not: ["people", "dogs"], likes: ["a", "b"], dislikes: ["c"] }), DEFAULT_REFINEMENT);
    expect(req).toMatchObject({
      text: "beach",
      terms: [
        { text: "people", weight: NOT_WEIGHT },
        { text: "dogs", weight: NOT_WEIGHT },
      ],
      positive_ids: ["a", "b"],
      negative_ids: ["c"],
    });
    // "search by these": the examples alone are a query
    expect(isEmptyQuery(makeQuery({ likes: ["a"] }))).toBe(false);
    expect(buildSearchRequest(makeQuery({ likes: ["a"] }), DEFAULT_REFINEMENT)).toEqual({ positive_ids: ["a"], top_k: 24, offset: 0, cutoff: "auto" });
  });
});

describe("splitNegatives", () => {
  it("takes -words out of the text", () => {
    expect(splitNegatives("beach -people  -dogs sunset")).toEqual({ text: "beach sunset", not: ["people", "dogs"] });
    expect(splitNegatives("t-shirt - red")).toEqual({ text: "t-shirt - red", not: [] });
  });
});

describe("queryKey", () => {
  it("differs when anything that changes the answer differs", () => {
    const a = makeQuery({ text: "a" });
    const base = queryKey(a, DEFAULT_REFINEMENT);
    expect(queryKey(makeQuery({ text: "a " }), DEFAULT_REFINEMENT)).toBe(base);
    const variants = [
      queryKey(makeQuery({ text: "a", image: qid }), DEFAULT_REFINEMENT),
      queryKey(makeQuery({ text: "a", not: ["b"] }), DEFAULT_REFINEMENT),
      queryKey(makeQuery({ text: "a", likes: ["x"] }), DEFAULT_REFINEMENT),
      queryKey(makeQuery({ text: "a", dislikes: ["x"] }), DEFAULT_REFINEMENT),
      queryKey({ ...a, view: "library" }, DEFAULT_REFINEMENT),
      queryKey(a, { ...DEFAULT_REFINEMENT, topK: 48 }),
      queryKey(a, { ...DEFAULT_REFINEMENT, filters: { label: "hat" } }),
      queryKey(a, { ...DEFAULT_REFINEMENT, threshold: 0.2 }),
      queryKey(a, { ...DEFAULT_REFINEMENT, sort: "taken_at" }),
      queryKey(a, { ...DEFAULT_REFINEMENT, diverse: true }),
      queryKey(a, { ...DEFAULT_REFINEMENT, all: true }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
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
    const entry = (n: number) => ({ results: fakeImages(n), hasMore: false, searchTimeMs: 1, cutoff: null, nearest: false, cursor: null, total: null });
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
