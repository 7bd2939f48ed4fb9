import { describe, expect, it } from "vitest";
import { humanMessage } from "../src/api/messages";
import { resultSummary, resultsHeading } from "../src/features/search/summary";
import { IDLE } from "../src/features/search/useSearch";
import {
  DEFAULT_REFINEMENT,
  carryRefinement,
  imageFromIndexed,
  imageFromUrl,
  scoreScale,
  type Query,
  type ScoreScale,
} from "../src/lib/query";
import { parseSearch, searchFor } from "../src/lib/url";
import { fakeImages } from "./fakeApi";

describe("URL state", () => {
  it("round-trips every query kind with its refinements", () => {
    const cases: Array<[Query, typeof DEFAULT_REFINEMENT]> = [
      [{ text: "red dress", image: null }, { topK: 48, threshold: 0.25, label: "dress", textWeight: 0.5 }],
      [{ text: "", image: imageFromIndexed("abc123", "abc123", "/api/v1/images/abc123/thumbnail") }, DEFAULT_REFINEMENT],
      [{ text: "blue", image: imageFromUrl("https://x.org/a%20b.png?x=1&y=2") }, { ...DEFAULT_REFINEMENT, textWeight: 0.3 }],
    ];
    for (const [q, r] of cases) {
      const back = parseSearch(searchFor(q, r));
      expect(back.query).toEqual(q);
      expect(back.refine).toEqual(r);
    }
  });

  it("writes no defaults and nothing for an empty query", () => {
    expect(searchFor({ text: " hat ", image: null }, DEFAULT_REFINEMENT)).toBe("?q=hat");
    expect(searchFor({ text: "", image: null }, { ...DEFAULT_REFINEMENT, threshold: 0.3 })).toBe("");
  });

  it("ignores values it cannot use", () => {
    expect(parseSearch("?q=a&k=7&min=3&w=-1&url=javascript:alert(1)")).toEqual({
      query: { text: "a", image: null },
      refine: DEFAULT_REFINEMENT,
    });
  });
});

describe("min score per score scale", () => {
  const text: Query = { text: "shoes", image: null };
  const image: Query = { text: "", image: imageFromIndexed("a", "a", "/t") };
  const mixed: Query = { text: "red", image: image.image };

  it("names the scale of each query kind", () => {
    expect([text, image, mixed, { text: " ", image: null }].map(scoreScale)).toEqual(["text", "image", "mixed", null]);
  });

  it("does not carry a minimum score to another scale, and brings it back on return", () => {
    const memory = new Map<ScoreScale, number | null>();
    const atImage = { ...DEFAULT_REFINEMENT, threshold: 0.62, topK: 48 };
    const toText = carryRefinement(memory, image, text, atImage);
    expect(toText).toEqual({ ...atImage, threshold: null });
    expect(carryRefinement(memory, text, { text: "hats", image: null }, { ...toText, threshold: 0.2 }).threshold).toBe(0.2);
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
  it("says 'cached' rather than a search time for cached answers", () => {
    expect(resultSummary({ ...IDLE, status: "ready", results, searchTimeMs: 0.16, fromCache: true })).toBe("3 results · cached");
    expect(resultSummary({ ...IDLE, status: "ready", results, hasMore: true, searchTimeMs: 84.6 })).toBe("3+ results · 85 ms");
    expect(resultSummary({ ...IDLE, status: "ready", results: results.slice(0, 1), searchTimeMs: 0.4 })).toBe("1 result · <1 ms");
  });

  it("headings say what was asked", () => {
    expect(resultsHeading({ text: "hat", image: null })).toBe("Results for “hat”");
    expect(resultsHeading({ text: "red", image: imageFromIndexed("a", "beach.jpg", "/t") })).toBe("Images like beach.jpg, with “red”");
  });
});
