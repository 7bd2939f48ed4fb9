import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deadBase, startFakeApi, type FakeApi } from "./fakeApi";
import { jpeg, renderApp, transfer } from "./helpers";

let api: FakeApi;

beforeEach(async () => {
  api = await startFakeApi();
});
afterEach(() => api.close());

const results = () => screen.queryAllByTestId("result");
const searchbox = () => screen.getByRole("searchbox");

/** The app with the first page of results for "a" on screen. */
async function withResults() {
  const user = userEvent.setup();
  renderApp(api.base);
  await user.type(searchbox(), "a{Enter}");
  await waitFor(() => expect(results()).toHaveLength(24));
  return user;
}

describe("search box", () => {
  it("debounces typing into one search and shows the results", async () => {
    renderApp(api.base);
    expect(screen.getByTestId("empty-state")).toBeInTheDocument();
    // keystrokes in one synchronous burst: the debounce must coalesce them
    for (const v of ["d", "dr", "dre", "dres", "dress"]) fireEvent.change(searchbox(), { target: { value: v } });
    await waitFor(() => expect(results().length).toBe(24));
    expect(api.searches().map((s) => s.text)).toEqual(["dress"]);
    const tile = within(results()[0]).getByRole("button");
    expect(tile).toHaveAccessibleName("Open dress_photo_0.jpg, score 0.90, labelled dress");
    expect(within(results()[0]).getByRole("img")).toHaveAttribute("alt", "a red dress on a hanger");
    expect(within(results()[0]).getByRole("img")).toHaveAttribute("loading", "lazy");
    expect(window.location.search).toBe("?q=dress");
  });

  it("shows only the newest query's results when an older one is still in flight", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    fireEvent.change(searchbox(), { target: { value: "slow" } });
    fireEvent.submit(searchbox().closest("form")!);
    await user.clear(searchbox());
    await user.type(searchbox(), "fast{Enter}");
    await waitFor(() => expect(results().length).toBeGreaterThan(0));
    await new Promise((r) => setTimeout(r, 500)); // the slow answer has arrived by now
    expect(screen.queryByRole("button", { name: /slow_photo/ })).toBeNull();
    expect(within(results()[0]).getByRole("button")).toHaveAccessibleName(/^Open fast_photo_0/);
  });

  it("pasting an image sets a removable chip and searches by it", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    fireEvent.paste(searchbox(), { clipboardData: transfer([jpeg("cat.jpg")]) });
    const chip = await screen.findByTestId("query-chip");
    expect(chip).toHaveTextContent("cat.jpg");
    await waitFor(() => expect(results().length).toBeGreaterThan(0));
    // the image went to the server once; searches name it by its query id, and so does the URL
    const qid = api.searches().at(-1)?.query_id;
    expect(qid).toMatch(/^[0-9a-f]{32}$/);
    expect(api.log.filter((l) => l.path === "/api/v1/queries")).toHaveLength(1);
    expect(window.location.search).toBe(`?qid=${qid}`);

    // words added to the image make a combined query with a text weight
    await user.type(searchbox(), "red");
    await waitFor(() => expect(api.searches().at(-1)?.text).toBe("red"));
    expect(api.searches().at(-1)).toMatchObject({ text: "red", text_weight: 0.5, query_id: qid });
    expect(screen.getByLabelText("Text weight in the combined query")).toBeInTheDocument();

    await user.click(screen.getByRole("button", { name: "Remove image cat.jpg from the query" }));
    expect(screen.queryByTestId("query-chip")).toBeNull();
    await waitFor(() => expect(api.searches().at(-1)).toEqual({ text: "red", top_k: 24, offset: 0, cutoff: "auto" }));
  });

  it("pasting an image URL searches by that URL", async () => {
    renderApp(api.base);
    fireEvent.paste(searchbox(), { clipboardData: transfer([], "https://example.org/pics/boots.png") });
    expect(await screen.findByTestId("query-chip")).toHaveTextContent("boots.png");
    await waitFor(() => expect(api.searches().at(-1)?.image_url).toBe("https://example.org/pics/boots.png"));
    expect(searchbox()).toHaveValue("");
  });

  it("dropping an image anywhere searches by it", async () => {
    renderApp(api.base);
    const dt = transfer([jpeg("drop.jpg")]);
    fireEvent.dragEnter(window, { dataTransfer: dt });
    expect(screen.getByTestId("drop-overlay")).toBeInTheDocument();
    fireEvent.drop(window, { dataTransfer: dt });
    expect(await screen.findByTestId("query-chip")).toHaveTextContent("drop.jpg");
    expect(screen.queryByTestId("drop-overlay")).toBeNull();
    await waitFor(() => expect(api.searches().at(-1)?.query_id).toMatch(/^[0-9a-f]{32}$/));
  });

  it("picking a file searches by it", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.upload(screen.getByTestId("query-file-input"), jpeg("picked.jpg"));
    expect(await screen.findByTestId("query-chip")).toHaveTextContent("picked.jpg");
    await waitFor(() => expect(api.searches()).toHaveLength(1));
  });

  it("answers a repeated query from the session cache", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.type(searchbox(), "hat{Enter}");
    await waitFor(() => expect(results().length).toBeGreaterThan(0));
    await user.clear(searchbox());
    await user.type(searchbox(), "shoe{Enter}");
    await waitFor(() => expect(within(results()[0]).getByRole("button")).toHaveAccessibleName(/shoe_/));
    const sent = api.searches().length;
    act(() => window.history.back());
    await waitFor(() => expect(searchbox()).toHaveValue("hat"));
    await waitFor(() => expect(screen.getByTestId("result-summary")).toHaveTextContent("cached"));
    expect(within(results()[0]).getByRole("button")).toHaveAccessibleName(/hat_/);
    expect(api.searches().length).toBe(sent);
  });
});

describe("results", () => {
  it("loads pages until the relevance cutoff, then offers what lies below it, under a line", async () => {
    const user = await withResults();
    expect(screen.getByTestId("result-summary")).toHaveTextContent("24 relevant results · more as you scroll");
    await user.click(screen.getByRole("button", { name: "Load more" }));
    // the fake's cutoff keeps scores of 0.55 and up: 36 of the 40 images
    await waitFor(() => expect(results()).toHaveLength(36));
    expect(api.searches().at(-1)).toMatchObject({ offset: 24, top_k: 24, cutoff: "auto" });
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
    expect(screen.getByTestId("result-summary")).toHaveTextContent(/^36 relevant results/);
    await user.click(screen.getByRole("button", { name: "Show more below the cutoff" }));
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ offset: 0, cutoff: "off" }));
    expect(window.location.search).toBe("?q=a&all=1");
    // everything is shown now, with a line where the cutoff fell
    await user.click(await screen.findByRole("button", { name: "Load more" }));
    await waitFor(() => expect(results()).toHaveLength(40));
    expect(screen.getByTestId("cutoff-line")).toHaveTextContent("Below the cutoff");
    expect(within(screen.getByTestId("results-grid-below")).getAllByTestId("result")).toHaveLength(4);
  });

  it("a shared 'show all' link still draws the cutoff line", async () => {
    const user = userEvent.setup();
    renderApp(api.base, "/?q=a&all=1");
    await waitFor(() => expect(results()).toHaveLength(24));
    // the cutoff is asked for alongside the page
    expect(api.searches().map((s) => s.cutoff).sort()).toEqual(["auto", "off"]);
    await user.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(results()).toHaveLength(40));
    expect(screen.getByTestId("cutoff-line")).toBeInTheDocument();
    expect(within(screen.getByTestId("results-grid-below")).getAllByTestId("result")).toHaveLength(4);
  });

  it("says when nothing matches well, and shows the nearest images instead", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.type(searchbox(), "vague{Enter}");
    expect(await screen.findByTestId("no-close-matches")).toHaveTextContent("No close matches for “vague”; these are the nearest images.");
    expect(results()).toHaveLength(24);
    expect(api.searches().slice(-2).map((s) => s.cutoff)).toEqual(["auto", "off"]);
  });

  it("refinement controls change top_k, threshold, sort, variety and the label facet", async () => {
    const user = await withResults();
    await user.selectOptions(screen.getByLabelText("Per page"), "12");
    await waitFor(() => expect(results()).toHaveLength(12));
    // facet chips list every label the server knows, with its count
    const labels = await screen.findByRole("group", { name: "Filter by label" });
    expect(within(labels).getByRole("button", { name: "hat 13" })).toHaveAttribute("aria-pressed", "false");
    await user.click(within(labels).getByRole("button", { name: "hat 13" }));
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ top_k: 12, filter: { label: "hat" } }));
    expect(within(screen.getByRole("group", { name: "Filter by label" })).getByRole("button", { name: /^hat/ })).toHaveAttribute("aria-pressed", "true");
    await user.selectOptions(screen.getByLabelText("Sort"), "taken_at");
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ sort: "taken_at" }));
    await user.click(screen.getByLabelText("Varied results"));
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ diversity: 0.5 }));
    expect(window.location.search).toBe("?q=a&k=12&label=hat&sort=taken_at&div=1");
    const slider = screen.getByLabelText("Minimum score");
    fireEvent.change(slider, { target: { value: "0.85" } });
    fireEvent.keyUp(slider);
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ threshold: 0.85 }));
  });

  it("explains why there are no results and offers the fix", async () => {
    const user = await withResults();
    const slider = screen.getByLabelText("Minimum score");
    fireEvent.change(slider, { target: { value: "0.99" } });
    fireEvent.keyUp(slider);
    const none = await screen.findByTestId("no-results");
    expect(none).toHaveTextContent("No image scored 0.99 or more.");
    await user.click(within(none).getByRole("button", { name: "Show all scores" }));
    // the unfiltered answer is still in the session cache: no new request
    await waitFor(() => expect(screen.getByTestId("result-summary")).toHaveTextContent("cached"));
    expect(results().length).toBeGreaterThan(0);
    expect(screen.getByLabelText("Minimum score")).toHaveValue("0");

    await user.clear(searchbox());
    await user.type(searchbox(), "nothing{Enter}");
    expect(await screen.findByTestId("no-results")).toHaveTextContent("Nothing in the index matched this query.");
  });
});

describe("history, URL and keyboard", () => {
  it("slider keys in a row run one search and replace the history entry", async () => {
    await withResults();
    const entries = window.history.length;
    const sent = api.searches().length;
    const slider = screen.getByLabelText("Minimum score");
    for (const v of ["0.81", "0.82", "0.83", "0.84", "0.85"]) fireEvent.change(slider, { target: { value: v } });
    expect(slider.closest("label")).toHaveTextContent("0.85"); // the value shows at once
    await waitFor(() => expect(api.searches()).toHaveLength(sent + 1));
    expect(api.searches().at(-1)).toMatchObject({ text: "a", threshold: 0.85 });
    expect(window.history.length).toBe(entries);
    expect(window.location.search).toBe("?q=a&min=0.85");
  });

  it("Enter ends typing in its own history entry: Back skips the words searched while typing", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.type(searchbox(), "hat{Enter}");
    await waitFor(() => expect(results().length).toBeGreaterThan(0));
    fireEvent.change(searchbox(), { target: { value: "sh" } });
    await waitFor(() => expect(api.searches().at(-1)?.text).toBe("sh"));
    const entries = window.history.length;
    fireEvent.change(searchbox(), { target: { value: "shoe" } });
    fireEvent.submit(searchbox().closest("form")!);
    await waitFor(() => expect(window.location.search).toBe("?q=shoe"));
    expect(window.history.length).toBe(entries);
    act(() => window.history.back());
    await waitFor(() => expect(searchbox()).toHaveValue("hat"));
  });

  it("restores the query and its refinements from the URL", async () => {
    renderApp(api.base, "/?q=a&k=12&min=0.85&label=hat");
    await waitFor(() => expect(results().length).toBeGreaterThan(0));
    expect(api.searches().at(-1)).toEqual({ text: "a", top_k: 12, offset: 0, threshold: 0.85, filter: { label: "hat" }, cutoff: "auto" });
    expect(searchbox()).toHaveValue("a");
    expect(screen.getByLabelText("Per page")).toHaveValue("12");
    const labels = await screen.findByRole("group", { name: "Filter by label" });
    expect(within(labels).getByRole("button", { name: /^hat/ })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Results for “a”");
  });

  it("a min score set on an image query is not carried to a text query", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    fireEvent.paste(searchbox(), { clipboardData: transfer([jpeg("cat.jpg")]) });
    await waitFor(() => expect(results().length).toBeGreaterThan(0));
    const slider = screen.getByLabelText("Minimum score");
    fireEvent.change(slider, { target: { value: "0.62" } });
    fireEvent.blur(slider);
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ threshold: 0.62 }));
    await user.click(screen.getByRole("button", { name: /remove image/i }));
    await user.type(searchbox(), "shoes{Enter}");
    await waitFor(() => expect(api.searches().at(-1)).toEqual({ text: "shoes", top_k: 24, offset: 0, cutoff: "auto" }));
    expect(screen.getByLabelText("Minimum score")).toHaveValue("0");
  });

  it("'Skip to results' focuses the results and keeps the search", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.type(searchbox(), "hat{Enter}");
    await waitFor(() => expect(results().length).toBeGreaterThan(0));
    const entries = window.history.length;
    await user.click(screen.getByRole("link", { name: "Skip to results" }));
    expect(document.activeElement).toBe(document.getElementById("results"));
    expect(window.history.length).toBe(entries);
    expect(window.location.search).toBe("?q=hat");
    expect(searchbox()).toHaveValue("hat");
  });

  it("the grid is one tab stop and arrow keys move between tiles", async () => {
    const user = await withResults();
    const tiles = results().map((t) => within(t).getByRole("button"));
    expect(tiles.filter((t) => t.tabIndex === 0)).toEqual([tiles[0]]);
    tiles[0].focus();
    await user.keyboard("{ArrowRight}{ArrowRight}");
    expect(tiles[2]).toHaveFocus();
    await user.keyboard("{ArrowLeft}");
    expect(tiles[1]).toHaveFocus();
    expect(tiles.filter((t) => t.tabIndex === 0)).toEqual([tiles[1]]);
    await user.keyboard("{End}");
    expect(tiles[23]).toHaveFocus();
    await user.keyboard("{Home}");
    expect(tiles[0]).toHaveFocus();
  });
});

describe("errors and status", () => {
  it("shows the API's error message for a failed query", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.type(searchbox(), "fail{Enter}");
    expect(await screen.findByTestId("error-message")).toHaveTextContent("unknown filter field 'colour'");
    expect(screen.getByTestId("search-error")).toHaveTextContent("This search didn't work");
  });

  it("says in words why the API rejected a query, keeping its message as the detail", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.type(searchbox(), "too long{Enter}");
    expect(await screen.findByTestId("error-message")).toHaveTextContent("The search text is too long: use at most 2,000 characters.");
    expect(screen.getByText("text: String should have at most 2000 characters")).not.toBeVisible();
  });

  it("says the API is down, in the banner and for a query", async () => {
    const user = userEvent.setup();
    renderApp(await deadBase());
    expect(await screen.findByTestId("api-down")).toHaveTextContent("The search service is unavailable.");
    expect(screen.getByText("API unreachable")).toBeInTheDocument();
    await user.type(searchbox(), "hat{Enter}");
    expect(await screen.findByTestId("search-error")).toHaveTextContent("Can't reach the search service");
    expect(screen.getByRole("button", { name: "Try again" })).toBeInTheDocument();
  });

  it("shows model, device and count, and warns about a fallback model", async () => {
    await api.close();
    api = await startFakeApi({ fallback: true });
    renderApp(api.base);
    expect(await screen.findByTestId("image-count")).toHaveTextContent("40");
    expect(screen.getByTestId("model-id")).toHaveTextContent("openai/clip-vit-base-patch32");
    expect(screen.getByTestId("device")).toHaveTextContent("cpu");
    expect(screen.getByTestId("fallback-warning")).toHaveTextContent("Running a fallback model: English only.");
    expect(screen.getByTestId("fallback-badge")).toHaveTextContent("English only");
    expect(screen.getByTestId("fallback-warning")).toHaveTextContent("openai/clip-vit-large-patch14");
  });
});
