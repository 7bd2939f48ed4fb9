import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import App from "../src/App";
import { ApiClient } from "../src/api/client";
import { ResultCache } from "../src/lib/cache";
import { startFakeApi, type FakeApi } from "./fakeApi";
import { renderApp } from "./helpers";

let api: FakeApi;
beforeEach(async () => {
  api = await startFakeApi();
});
afterEach(() => api.close());

const results = () => screen.queryAllByTestId("result");
const tileButton = (i: number) => within(results()[i]).getByRole("button");
const calls = (path: string) => api.log.filter((l) => l.path === path);

/** The app with a short undo window, opened at `path`. */
function renderWithUndo(path: string, undoMs: number) {
  window.history.replaceState(null, "", path);
  const client = new ApiClient({ base: api.base });
  return render(<App client={client} cache={new ResultCache(30, null)} statsIntervalMs={0} debounceMs={40} undoMs={undoMs} />);
}

describe("library", () => {
  it("lists every image newest first, a page at a time, from the header link", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.click(screen.getByRole("link", { name: "Library" }));
    await waitFor(() => expect(results()).toHaveLength(40));
    expect(window.location.search).toBe("?view=library&k=48");
    expect(screen.getByRole("link", { name: "Library" })).toHaveAttribute("aria-current", "page");
    expect(screen.getByTestId("result-summary")).toHaveTextContent("40 images in the library");
    // library tiles have no score
    expect(tileButton(0)).toHaveAccessibleName("Open photo_0.jpg, labelled dress");
    expect(calls("/api/v1/images").at(-1)?.method).toBe("GET");
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Library");
  });

  it("pages with the cursor and sorts by capture date", async () => {
    const user = userEvent.setup();
    renderApp(api.base, "/?view=library&k=12");
    await waitFor(() => expect(results()).toHaveLength(12));
    await user.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(results()).toHaveLength(24));
    await user.selectOptions(screen.getByLabelText("Sort"), "taken_at");
    await waitFor(() => expect(window.location.search).toBe("?view=library&k=12&sort=taken_at"));
    const urls = api.log.filter((l) => l.path === "/api/v1/images").length;
    expect(urls).toBe(3);
  });
});

describe("selection and bulk actions", () => {
  it("selects with Ctrl+click, Shift+click and the keyboard; Esc clears", async () => {
    const user = userEvent.setup();
    renderApp(api.base, "/?view=library");
    await waitFor(() => expect(results().length).toBeGreaterThan(10));
    await user.keyboard("{Control>}");
    await user.click(tileButton(1));
    await user.keyboard("{/Control}");
    expect(screen.getByTestId("selection-bar")).toHaveTextContent("1 selected");
    // with a selection, a click selects; Shift+click takes the range
    await user.keyboard("{Shift>}");
    await user.click(tileButton(4));
    await user.keyboard("{/Shift}");
    expect(screen.getByTestId("selection-bar")).toHaveTextContent("4 selected");
    expect(tileButton(3)).toHaveAccessibleName(/, selected$/);
    expect(screen.queryByRole("dialog")).toBeNull();
    // Space on a focused tile toggles it
    tileButton(6).focus();
    await user.keyboard(" ");
    expect(screen.getByTestId("selection-bar")).toHaveTextContent("5 selected");
    await user.keyboard("{Control>}a{/Control}");
    expect(screen.getByTestId("selection-bar")).toHaveTextContent(`${results().length} selected`);
    await user.keyboard("{Escape}");
    expect(screen.queryByTestId("selection-bar")).toBeNull();
  });

  it("deletes after a confirmation, with an undo window; undo sends nothing", async () => {
    const user = userEvent.setup();
    renderWithUndo("/?view=library", 60_000);
    await waitFor(() => expect(results().length).toBeGreaterThan(10));
    const ids = [0, 1].map((i) => results()[i].getAttribute("data-image-id"));
    for (const i of [0, 1]) await user.click(within(results()[i].closest("li")!).getByRole("checkbox"));
    await user.click(within(screen.getByTestId("selection-bar")).getByRole("button", { name: /Delete/ }));
    const confirm = screen.getByRole("alertdialog", { name: "Delete 2 images?" });
    expect(within(confirm).getByRole("button", { name: "Cancel" })).toHaveFocus();
    await user.click(within(confirm).getByRole("button", { name: "Delete" }));
    // gone from the page at once, nothing sent yet
    expect(results().map((r) => r.getAttribute("data-image-id"))).not.toContain(ids[0]);
    expect(screen.getByTestId("undo-toast")).toHaveTextContent("Deleted 2 images.");
    await user.click(within(screen.getByTestId("undo-toast")).getByRole("button", { name: "Undo" }));
    expect(results()[0].getAttribute("data-image-id")).toBe(ids[0]);
    expect(calls("/api/v1/images/delete")).toHaveLength(0);
  });

  it("sends the delete when the undo window closes", async () => {
    const user = userEvent.setup();
    renderWithUndo("/?view=library", 200);
    await waitFor(() => expect(results().length).toBeGreaterThan(10));
    const id = results()[2].getAttribute("data-image-id");
    await user.click(within(results()[2].closest("li")!).getByRole("checkbox"));
    await user.click(within(screen.getByTestId("selection-bar")).getByRole("button", { name: /Delete/ }));
    await user.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(calls("/api/v1/images/delete")).toHaveLength(1));
    expect(calls("/api/v1/images/delete")[0].body).toEqual({ ids: [id] });
    await waitFor(() => expect(screen.queryByTestId("undo-toast")).toBeNull());
    // counts are refreshed from the server
    await waitFor(() => expect(screen.getByTestId("image-count")).toHaveTextContent("39"));
  });

  it("leaving the page sends a pending delete at once", async () => {
    const user = userEvent.setup();
    renderWithUndo("/?view=library", 60_000);
    await waitFor(() => expect(results().length).toBeGreaterThan(10));
    await user.click(within(results()[0].closest("li")!).getByRole("checkbox"));
    await user.click(within(screen.getByTestId("selection-bar")).getByRole("button", { name: /Delete/ }));
    await user.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    act(() => void window.dispatchEvent(new Event("pagehide")));
    await waitFor(() => expect(calls("/api/v1/images/delete")).toHaveLength(1));
  });

  it("downloads the selection as one zip, and searches by it", async () => {
    const user = userEvent.setup();
    const saved: string[] = [];
    const click = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function (this: HTMLAnchorElement) {
      saved.push(this.download);
    };
    URL.createObjectURL = () => "blob:zip";
    URL.revokeObjectURL = () => undefined;
    try {
      renderApp(api.base, "/?view=library");
      await waitFor(() => expect(results().length).toBeGreaterThan(10));
      for (const i of [0, 3, 5]) await user.click(within(results()[i].closest("li")!).getByRole("checkbox"));
      const ids = [0, 3, 5].map((i) => results()[i].getAttribute("data-image-id"));
      await user.click(within(screen.getByTestId("selection-bar")).getByRole("button", { name: /Download/ }));
      await waitFor(() => expect(saved).toEqual(["visearch-3-images.zip"]));
      expect(calls("/api/v1/images/archive")[0].body).toEqual({ ids });

      await user.click(within(screen.getByTestId("selection-bar")).getByRole("button", { name: /Search by these/ }));
      await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ positive_ids: ids }));
      expect(window.location.search).toBe(`?pos=${ids.join("%2C")}`);
      expect(screen.getByTestId("feedback-chip")).toHaveTextContent("3 liked");
    } finally {
      HTMLAnchorElement.prototype.click = click;
    }
  });
});

describe("refining a search", () => {
  it("likes and dislikes refine the search in one step", async () => {
    const user = userEvent.setup();
    renderApp(api.base, "/?q=dress");
    await waitFor(() => expect(results().length).toBeGreaterThan(5));
    const li = (i: number) => results()[i].closest("li")!;
    const [a, b] = [0, 2].map((i) => results()[i].getAttribute("data-image-id")!);
    await user.click(within(li(0)).getByRole("button", { name: /^More like/ }));
    await user.click(within(li(2)).getByRole("button", { name: /^Less like/ }));
    expect(within(li(0)).getByRole("button", { name: /^More like/ })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByTestId("feedback-bar")).toHaveTextContent("1 more like, 1 less like");
    await user.click(within(screen.getByTestId("feedback-bar")).getByRole("button", { name: "Refine" }));
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ text: "dress", positive_ids: [a], negative_ids: [b] }));
    expect(window.location.search).toBe(`?q=dress&pos=${a}&neg=${b}`);
    expect(screen.queryByTestId("feedback-bar")).toBeNull();
    // Back goes to the search before the feedback
    act(() => window.history.back());
    await waitFor(() => expect(window.location.search).toBe("?q=dress"));
  });

  it("words typed with a minus are pushed away, as a removable chip", async () => {
    const user = userEvent.setup();
    renderApp(api.base);
    await user.type(screen.getByRole("searchbox"), "beach -people{Enter}");
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ text: "beach", terms: [{ text: "people", weight: -0.5 }] }));
    expect(screen.getByRole("searchbox")).toHaveValue("beach");
    expect(screen.getByTestId("not-chip")).toHaveTextContent("without people");
    expect(window.location.search).toBe("?q=beach&not=people");
    await user.click(screen.getByRole("button", { name: "Stop excluding people" }));
    // "beach" alone (asked again, or from the cache when typing already searched it)
    await waitFor(() => expect(window.location.search).toBe("?q=beach"));
    expect(screen.queryByTestId("not-chip")).toBeNull();
    expect(screen.getByRole("heading", { level: 1 })).toHaveTextContent("Results for “beach”");
  });

  it("the lightbox shows near-duplicates, EXIF details, and deletes", async () => {
    const user = userEvent.setup();
    renderWithUndo("/?q=dress", 60_000);
    await waitFor(() => expect(results().length).toBeGreaterThan(5));
    await user.click(tileButton(1));
    const dialog = screen.getByRole("dialog");
    const meta = within(dialog).getByTestId("lightbox-meta");
    await waitFor(() => expect(meta).toHaveTextContent("CameraCanon EOS 5D"));
    expect(meta).toHaveTextContent(/Taken.*2021/);
    expect(meta).toHaveTextContent("Place48.85837, 2.29448");
    await user.click(within(dialog).getByRole("button", { name: "Near-duplicates" }));
    await waitFor(() => expect(window.location.search).toBe("?dupes=img001"));
    await waitFor(() => expect(results()).toHaveLength(2));
    expect(screen.getByTestId("result-summary")).toHaveTextContent("2 near-duplicates");

    await user.click(tileButton(0));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete" }));
    await user.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(results()).toHaveLength(1);
    expect(screen.getByTestId("undo-toast")).toHaveTextContent("Deleted 1 image.");
    fireEvent.click(within(screen.getByTestId("undo-toast")).getByRole("button", { name: "Undo" }));
    expect(results()).toHaveLength(2);
  });
});
