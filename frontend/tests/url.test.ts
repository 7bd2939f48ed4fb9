import { describe, expect, it } from "vitest";
import { humanMessage } from "../src/api/messages";
import { resultSummary, resultsHeading } from "../src/features/search/summary";
import { IDLE } from "../src/features/search/useSearch";
import {
  DEFAULT_REFINEMENT,
  EMPTY_QUERY,
  carryRefinement,
  imageFromIndexed,
  imageFromQueryId,
  imageFromUrl,
  makeQuery,
  scoreScale,
  type Query,
  type Refinement,
  type ScoreScale,
} from "../src/lib/query";
import { parseSearch, searchFor } from "../src/lib/url";
import { fakeImages } from "./fakeApi";

describe("URL state", () => {
  const qid = imageFromQueryId("0123456789abcdef0123456789abcdef", "image", "/api/v1/queries/0123456789abcdef0123456789abcdef/image");
  it("round-trips every query kind with its refinements", () => {
    const cases: Array<[Query, Refinement]> = [
      [makeQuery({ text: "red dress" }), { ...DEFAULT_REFINEMENT, topK: 48, threshold: 0.25, filters: { label: "dress", camera: "Canon EOS" } }],
      [makeQuery({ image: imageFromIndexed("abc123", "abc123", "/api/v1/images/abc123/thumbnail") }), DEFAULT_REFINEMENT],
      [makeQuery({ text: "blue", image: imageFromUrl("https://x.org/a%20b.png?x=1&y=2") }), { ...DEFAULT_REFINEMENT, textWeight: 0.3 }],
      [makeQuery({ image: qid }), { ...DEFAULT_REFINEMENT, sort: "taken_at" }],
      [makeQuery({ text: "beach", not: ["people", "dogs"], likes: ["a1", "b2"], dislikes: ["c3"] }), { ...DEFAULT_REFINEMENT, diverse: true, all: true }],
      [makeQuery({ likes: ["a1", "b2"] }), DEFAULT_REFINEMENT],
      [{ ...EMPTY_QUERY, view: "library" }, { ...DEFAULT_REFINEMENT, sort: "taken_at", filters: { label: "hat" } }],
      [{ ...EMPTY_QUERY, view: "duplicates", image: imageFromIndexed("abc123", "abc123", "/api/v1/images/abc123/thumbnail") }, DEFAULT_REFINEMENT],
    ];
    for (const [q, r] of cases) {
      const back = parseSearch(searchFor(q, r));
      expect(back.query).toEqual(q);
      expect(back.refine).toEqual(r);
    }
  });

  it("writes no defaults and nothing for an empty query", () => {
    expect(searchFor(makeQuery({ text: " hat " }), DEFAULT_REFINEMENT)).toBe("?q=hat");
    expect(searchFor(EMPTY_QUERY, { ...DEFAULT_REFINEMENT, threshold: 0.3 })).toBe("");
    expect(searchFor({ ...EMPTY_QUERY, view: "library" }, DEFAULT_REFINEMENT)).toBe("?view=library");
  });

  it("ignores values it cannot use", () => {
    expect(parseSearch("?q=a&k=7&min=3&w=-1&url=javascript:alert(1)&qid=../../etc&sort=size&pos=,,")).toEqual({
      query: makeQuery({ text: "a" }),
      refine: DEFAULT_REFINEMENT,
    });
  });
});

describe("min score per score scale", () => {
  const text: Query = makeQuery({ text: "shoes" });
  const image: Query = makeQuery({ image: imageFromIndexed("a", "a", "/t") });
  const mixed: Query = makeQuery({ text: "red", image: image.image });

  it("names the scale of each query kind", () => {
    expect([text, image, mixed, makeQuery({ text: " " }), makeQuery({ likes: ["a"] })].map(scoreScale)).toEqual(["text", "image", "mixed", null, "image"]);
  });

  it("does not carry a minimum score to another scale, and brings it back on return", () => {
    const memory = new Map<ScoreScale, number | null>();
    const atImage = { ...DEFAULT_REFINEMENT, threshold: 0.62, topK: 48 };
    const toText = carryRefinement(memory, image, text, atImage);
    expect(toText).toEqual({ ...atImage, threshold: null });
    expect(carryRefinement(memory, text, makeQuery({ text: "hats" }), { ...toText, threshold: 0.2 }).threshold).toBe(0.2);
    expect(carryRefinement(memory, text, image, { ...toText, threshold: 0.2 }).threshold).toBe(0.62);
    expect(carryRefinement(memory, image, mixed, atImage).threshold).toBeNull();
  });
});

describe("humanMessage", () => {
  it("turns validator messages into sentences", () => {
    expect(humanMessage("invalid_request", "text: String should have at most 2000 characters")).toBe(
      "The search text is too long: use at most 2,000 characters.",
    );
    expect(humanMessage("invalid_request", "filter.x: whatever pydantic says")).not.toContain("pydantic");
    expect(humanMessage("blocked_url", "10.0.0.1 is a private, loopback, link-local, reserved or metadata address")).toMatch(
      /private or local network/,
    );
  });

  it("keeps the API's message for codes it has no sentence for", () => {
    expect(humanMessage("invalid_filter", "unknown filter field 'colour'")).toBe("unknown filter field 'colour'");
  });
});

describe("resultSummary", () => {
  const results = fakeImages(3);
  const q = makeQuery({ text: "hat" });
  const ready = { ...IDLE, status: "ready" as const, results };
  it("says 'cached' rather than a search time for cached answers, and never '24+'", () => {
    expect(resultSummary({ ...ready, searchTimeMs: 0.16, fromCache: true }, q)).toBe("3 results · cached");
    expect(resultSummary({ ...ready, hasMore: true, searchTimeMs: 84.6 }, q)).toBe("3 results · more as you scroll · 85 ms");
    expect(resultSummary({ ...ready, results: results.slice(0, 1), searchTimeMs: 0.4 }, q)).toBe("1 result · <1 ms");
  });

  it("counts what the relevance cutoff kept, and says when nothing matched well", () => {
    const cutoff = { method: "relative" as const, score: 0.5, kept: 3, cut: 21 };
    expect(resultSummary({ ...ready, cutoff, searchTimeMs: 12 }, q)).toBe("3 relevant results · 12 ms");
    expect(resultSummary({ ...ready, cutoff: { ...cutoff, kept: 0, cut: 24 }, nearest: true, searchTimeMs: 12 }, q)).toBe(
      "No close matches · the 3 nearest images · 12 ms",
    );
    expect(resultSummary({ ...ready, total: 1234 }, { ...EMPTY_QUERY, view: "library" })).toBe("1,234 images in the library");
  });

  it("headings say what was asked", () => {
    expect(resultsHeading(makeQuery({ text: "hat" }))).toBe("Results for “hat”");
    expect(resultsHeading(makeQuery({ text: "red", image: imageFromIndexed("a", "beach.jpg", "/t") }))).toBe("Images like beach.jpg, with “red”");
    expect(resultsHeading(makeQuery({ text: "beach", not: ["people"] }))).toBe("Results for “beach”, without “people”");
    expect(resultsHeading({ ...EMPTY_QUERY, view: "library" })).toBe("Library");
  });
});
