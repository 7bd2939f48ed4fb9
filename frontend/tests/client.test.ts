import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiClient, ApiError, UNREACHABLE_MESSAGE } from "../src/api/client";
import { deadBase, startFakeApi, type FakeApi } from "./fakeApi";

let api: FakeApi;
let client: ApiClient;

beforeAll(async () => {
  api = await startFakeApi();
  client = new ApiClient({ base: api.base });
});
afterAll(() => api.close());

describe("ApiClient", () => {
  it("posts the search body as JSON and parses the response", async () => {
    const res = await client.search({ text: "dress", top_k: 5, offset: 5, filter: { label: "hat" } });
    expect(api.searches().at(-1)).toEqual({ text: "dress", top_k: 5, offset: 5, filter: { label: "hat" } });
    expect(res.results.length).toBeGreaterThan(0);
    expect(res.results.every((r) => r.label === "hat")).toBe(true);
    expect(typeof res.has_more).toBe("boolean");
  });

  it("turns an error body into an ApiError carrying the API's message", async () => {
    const e = await client.search({ text: "fail" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(422);
    expect((e as ApiError).code).toBe("invalid_filter");
    expect((e as ApiError).message).toBe("unknown filter field 'colour'");
  });

  it("explains a non-JSON server error", async () => {
    const e = (await client.search({ text: "boom" }).catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(500);
    expect(e.message).toMatch(/HTTP 500/);
  });

  it("reports an HTML page where JSON was expected as the API being unreachable", async () => {
    const c = new ApiClient({ base: api.base.replace("/api/v1", "/api/v1/html#") });
    const e = (await c.stats().catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe("bad_response");
    expect(e.message).toBe(UNREACHABLE_MESSAGE);
  });

  it("says clearly when nothing is listening", async () => {
    const c = new ApiClient({ base: await deadBase() });
    const e = (await c.stats().catch((x: unknown) => x)) as ApiError;
    expect(e.isNetwork).toBe(true);
    expect(e.message).toMatch(/Can't reach the visearch API/);
  });

  it("cancels with an AbortSignal", async () => {
    const ctrl = new AbortController();
    const p = client.search({ text: "slow one" }, ctrl.signal);
    ctrl.abort();
    const e = (await p.catch((x: unknown) => x)) as ApiError;
    expect(e.isAbort).toBe(true);
  });

  it("reads image info", async () => {
    const info = await client.imageInfo("img000");
    expect(info.format).toBe("jpeg");
    expect(info.metadata).toEqual({ caption: "a red dress on a hanger" });
  });

  it("uploads files as multipart and reports progress", async () => {
    const seen: number[] = [];
    const files = [new File(["a".repeat(5000)], "one.jpg", { type: "image/jpeg" }), new File(["b"], "dup.jpg", { type: "image/jpeg" })];
    const res = await client.upload(files, { onProgress: (p) => seen.push(p.loaded / p.total) });
    expect(res.indexed).toBe(1);
    expect(res.duplicates).toBe(1);
    expect(res.results.map((r) => r.filename)).toEqual(["one.jpg", "dup.jpg"]);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.at(-1)).toBe(1);
  });

  it("rejects a single bad upload with the API's reason", async () => {
    const e = (await client.upload([new File(["x"], "bad.txt")]).catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(415);
    expect(e.message).toBe("bad.txt is not a supported image");
  });
});
