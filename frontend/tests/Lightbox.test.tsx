import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeApi, type FakeApi } from "./fakeApi";
import { renderApp } from "./helpers";

let api: FakeApi;
beforeEach(async () => {
  api = await startFakeApi({ images: 30 });
});
afterEach(() => api.close());

async function openFirstResults() {
  const user = userEvent.setup();
  renderApp(api.base);
  await user.type(screen.getByRole("searchbox"), "{Enter}");
  await user.type(screen.getByRole("searchbox"), "x{Enter}");
  await waitFor(() => expect(screen.getAllByTestId("result").length).toBe(24));
  return user;
}

describe("lightbox", () => {
  it("opens on a tile, steps with the arrow keys and closes with Esc, returning focus", async () => {
    const user = await openFirstResults();
    const tiles = screen.getAllByTestId("result").map((t) => within(t).getByRole("button"));
    await user.click(tiles[1]);
    const dialog = screen.getByRole("dialog");
    expect(dialog).toHaveAccessibleName("x_photo_1.jpg");
    expect(within(dialog).getByRole("button", { name: "Close" })).toHaveFocus();
    expect(within(dialog).getByText("2 of 24+ · ← → to browse, Esc to close")).toBeInTheDocument();

    await user.keyboard("{ArrowRight}");
    expect(screen.getByRole("dialog")).toHaveAccessibleName("x_photo_2.jpg");
    await user.keyboard("{ArrowLeft}{ArrowLeft}");
    expect(screen.getByRole("dialog")).toHaveAccessibleName("x_photo_0.jpg");
    // no previous image before the first
    await user.keyboard("{ArrowLeft}");
    expect(screen.getByRole("dialog")).toHaveAccessibleName("x_photo_0.jpg");
    // at an end the button stays focusable (a disabled one would drop focus out of the dialog)
    const prev = within(screen.getByRole("dialog")).getByRole("button", { name: "Previous image" });
    expect(prev).toHaveAttribute("aria-disabled", "true");
    expect(prev).not.toBeDisabled();

    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
    await waitFor(() => expect(tiles[0]).toHaveFocus());
  });

  it("answers the keys even when focus has left the dialog, and Tab brings it back", async () => {
    const user = await openFirstResults();
    await user.click(within(screen.getAllByTestId("result")[1]).getByRole("button"));
    (document.activeElement as HTMLElement).blur();
    expect(document.activeElement).toBe(document.body);
    await user.keyboard("{ArrowRight}");
    expect(screen.getByRole("dialog")).toHaveAccessibleName("x_photo_2.jpg");
    await user.tab();
    expect(screen.getByRole("dialog").contains(document.activeElement)).toBe(true);
    (document.activeElement as HTMLElement).blur();
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("shows the full image, alt text and metadata from /info", async () => {
    const user = await openFirstResults();
    await user.click(within(screen.getAllByTestId("result")[0]).getByRole("button"));
    const dialog = screen.getByRole("dialog");
    const full = within(dialog).getByRole("img", { name: "a red dress on a hanger" });
    expect(full).toHaveAttribute("src", "/api/v1/images/img0");
    const meta = within(dialog).getByTestId("lightbox-meta");
    await waitFor(() => expect(meta).toHaveTextContent("Formatjpeg"));
    expect(meta).toHaveTextContent("File size12.1 kB");
    expect(meta).toHaveTextContent("Labeldress");
    expect(meta).toHaveTextContent("captiona red dress on a hanger");
  });

  it("keeps Tab inside the dialog", async () => {
    const user = await openFirstResults();
    await user.click(within(screen.getAllByTestId("result")[3]).getByRole("button"));
    const dialog = screen.getByRole("dialog");
    for (let i = 0; i < 8; i++) {
      await user.tab();
      expect(dialog.contains(document.activeElement)).toBe(true);
    }
  });

  it("more like this searches by the image id", async () => {
    const user = await openFirstResults();
    await user.click(within(screen.getAllByTestId("result")[2]).getByRole("button"));
    await user.click(within(screen.getByRole("dialog")).getByRole("button", { name: /more like this/i }));
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.getByTestId("query-chip")).toHaveTextContent("Like x_photo_2.jpg");
    await waitFor(() => expect(api.searches().at(-1)).toEqual({ image_id: "img002", top_k: 24, offset: 0, cutoff: "auto" }));
    expect(window.location.search).toBe("?like=img002");
    await waitFor(() => expect(screen.getAllByTestId("result")[0]).toHaveAttribute("data-image-id", "img000"));
  });

  it("fetches the next page when stepping to the end", async () => {
    const user = await openFirstResults();
    const tiles = screen.getAllByTestId("result");
    await user.click(within(tiles[22]).getByRole("button"));
    await waitFor(() => expect(api.searches().at(-1)).toMatchObject({ offset: 24 }));
    await waitFor(() => expect(within(screen.getByRole("dialog")).getByText(/23 of 30 ·/)).toBeInTheDocument());
    await user.keyboard("{ArrowRight}{ArrowRight}");
    expect(screen.getByRole("dialog")).toHaveAccessibleName("x_photo_24.jpg");
  });
});
