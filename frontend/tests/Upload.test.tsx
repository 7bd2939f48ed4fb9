import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deadBase, startFakeApi, type FakeApi } from "./fakeApi";
import { jpeg, renderApp, transfer } from "./helpers";

let api: FakeApi;
beforeEach(async () => {
  api = await startFakeApi();
});
afterEach(() => api.close());

async function openPanel() {
  // as if "All files" were chosen in the picker, so a non-image reaches the UI
  const user = userEvent.setup({ applyAccept: false });
  renderApp(api.base);
  await user.click(screen.getAllByRole("button", { name: /add images/i })[0]);
  const panel = screen.getByRole("dialog", { name: "Add images" });
  return { user, panel };
}

describe("Add images", () => {
  it("uploads each file with its own progress and sums up the outcome with reasons", async () => {
    const { user, panel } = await openPanel();
    expect(within(panel).getByRole("button", { name: "Close Add images" })).toHaveFocus();
    const files = [
      jpeg("a.jpg"),
      jpeg("b.jpg"),
      jpeg("dup.jpg"),
      jpeg("bad.jpg"),
      new File(["text"], "notes.txt", { type: "text/plain" }),
    ];
    await user.upload(within(panel).getByTestId("upload-file-input"), files);
    expect(within(panel).getAllByTestId("upload-item")).toHaveLength(5);
    const summary = within(panel).getByTestId("upload-summary");
    await waitFor(() => expect(summary).toHaveTextContent("Done."));
    expect(summary).toHaveTextContent("2 indexed");
    expect(summary).toHaveTextContent("1 duplicates");
    expect(summary).toHaveTextContent("2 failed");
    // failures first, with their reasons
    const items = within(panel).getAllByTestId("upload-item");
    expect(items.map((i) => i.getAttribute("data-status"))).toEqual(["failed", "failed", "indexed", "indexed", "duplicate"]);
    expect(items[0]).toHaveTextContent("bad.jpg is not a supported image");
    expect(items[1]).toHaveTextContent("Skipped: not an image file.");
    expect(within(panel).getByTestId("upload-pace")).toHaveTextContent(/^5 of 5 files/);
    for (const bar of within(panel).getAllByRole("progressbar")) expect(bar).toHaveAttribute("aria-valuenow", "100");
    // one request per image file; the text file never left the browser
    expect(api.log.filter((l) => l.path === "/api/v1/index/upload")).toHaveLength(4);
    // the status bar refreshes its count
    await waitFor(() => expect(screen.getByTestId("image-count")).toHaveTextContent("42"));
  });

  it("accepts files dropped on the drop zone", async () => {
    const { panel } = await openPanel();
    const zone = within(panel).getByTestId("upload-dropzone");
    fireEvent.dragEnter(zone, { dataTransfer: transfer([jpeg("x.jpg")]) });
    expect(zone).toHaveClass("is-over");
    fireEvent.drop(zone, { dataTransfer: transfer([jpeg("x.jpg"), jpeg("y.jpg")]) });
    await waitFor(() => expect(within(panel).getByTestId("upload-summary")).toHaveTextContent("2 indexed"));
    // a drop on the panel uploads; it does not start a search
    expect(api.searches()).toHaveLength(0);
  });

  it("marks every file failed with a clear reason when the API is down", async () => {
    const user = userEvent.setup();
    renderApp(await deadBase());
    await user.click(screen.getAllByRole("button", { name: /add images/i })[0]);
    const panel = screen.getByRole("dialog", { name: "Add images" });
    await user.upload(within(panel).getByTestId("upload-file-input"), [jpeg("a.jpg")]);
    await waitFor(() => expect(within(panel).getByTestId("upload-summary")).toHaveTextContent("1 failed"));
    expect(within(panel).getByTestId("upload-item")).toHaveTextContent("Can't reach the visearch API");
  });

  it("keeps Tab inside the sheet", async () => {
    const { user, panel } = await openPanel();
    for (let i = 0; i < 6; i++) {
      await user.tab();
      expect(panel.contains(document.activeElement)).toBe(true);
    }
  });

  it("closes with Esc and gives focus back to the button", async () => {
    const { user } = await openPanel();
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
    await waitFor(() => expect(screen.getAllByRole("button", { name: /add images/i })[0]).toHaveFocus());
  });

  it("stays visible in the header with the sheet closed, and asks before the page is left", async () => {
    const { user, panel } = await openPanel();
    await user.upload(within(panel).getByTestId("upload-file-input"), [jpeg("slow1.jpg"), jpeg("slow2.jpg")]);
    await user.click(within(panel).getByRole("button", { name: "Close Add images" }));
    const indicator = screen.getByTestId("upload-indicator");
    expect(indicator).toHaveAccessibleName(/^Uploading \d of 2\. Show uploads$/);
    const leave = new Event("beforeunload", { cancelable: true });
    window.dispatchEvent(leave);
    expect(leave.defaultPrevented).toBe(true);
    await waitFor(() => expect(screen.getByTestId("upload-indicator")).toHaveAccessibleName("2 added. Show uploads"));
    const after = new Event("beforeunload", { cancelable: true });
    window.dispatchEvent(after);
    expect(after.defaultPrevented).toBe(false);
    await user.click(screen.getByTestId("upload-indicator"));
    expect(screen.getByRole("dialog", { name: "Add images" })).toBeInTheDocument();
  });

  it("keeps the path of each file of a dropped folder as metadata", async () => {
    const { panel } = await openPanel();
    const file = (name: string) => ({ name, isFile: true, isDirectory: false, fullPath: `/trip/day1/${name}`, file: (ok: (f: File) => void) => ok(jpeg(name)) });
    const folder = {
      name: "trip",
      isFile: false,
      isDirectory: true,
      fullPath: "/trip",
      createReader: () => {
        const batches = [[{ name: "day1", isFile: false, isDirectory: true, fullPath: "/trip/day1", createReader: () => {
          const inner = [[file("x.jpg")], []];
          return { readEntries: (ok: (e: unknown[]) => void) => ok(inner.shift() ?? []) };
        } }], []];
        return { readEntries: (ok: (e: unknown[]) => void) => ok(batches.shift() ?? []) };
      },
    };
    const dt = { items: [{ kind: "file", webkitGetAsEntry: () => folder }], files: [], types: ["Files"] };
    fireEvent.drop(within(panel).getByTestId("upload-dropzone"), { dataTransfer: dt });
    await waitFor(() => expect(within(panel).getByTestId("upload-summary")).toHaveTextContent("Done."));
    expect(within(panel).getByTestId("upload-item")).toHaveTextContent("trip/day1/x.jpg");
    const sent = api.log.filter((l) => l.path === "/api/v1/index/upload").map((l) => String(l.body));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('{"path":"trip/day1/x.jpg"}');
  });
});
