import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { SearchBar } from "../src/features/search/SearchBar";
import { EMPTY_QUERY, imageFromIndexed, makeQuery, type Query } from "../src/lib/query";

function Harness({ initial, onSubmit }: { initial: Query; onSubmit: (q: Query) => void }) {
  const [q, setQ] = useState(initial);
  return (
    <SearchBar
      query={q}
      busy={false}
      onTextChange={(text) => setQ({ ...q, text })}
      onSubmit={() => onSubmit(q)}
      onPickFile={() => undefined}
      onRemoveImage={() => setQ({ ...q, image: null })}
      onRemoveNot={(w) => setQ({ ...q, not: q.not.filter((x) => x !== w) })}
      onRemoveFeedback={() => setQ({ ...q, likes: [], dislikes: [] })}
      onClear={() => setQ(EMPTY_QUERY)}
    />
  );
}

describe("SearchBar", () => {
  it("is a labelled search landmark and submits on Enter", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn();
    render(<Harness initial={makeQuery({ text: "" })} onSubmit={onSubmit} />);
    expect(screen.getByRole("search")).toBeInTheDocument();
    const box = screen.getByRole("searchbox", { name: /search images/i });
    await user.type(box, "red shoes{Enter}");
    expect(onSubmit).toHaveBeenCalledWith(makeQuery({ text: "red shoes" }));
  });

  it("Backspace in an empty box removes the image chip; Esc clears everything", async () => {
    const user = userEvent.setup();
    render(
      <Harness initial={makeQuery({ text: "", image: imageFromIndexed("abc", "beach.jpg", "/t.jpg") })} onSubmit={() => undefined} />,
    );
    expect(screen.getByTestId("query-chip")).toHaveTextContent("Like beach.jpg");
    const box = screen.getByRole("searchbox");
    expect(box).toHaveAttribute("placeholder", "Add words to refine this image…");
    await user.click(box);
    await user.keyboard("{Backspace}");
    expect(screen.queryByTestId("query-chip")).toBeNull();
    await user.type(box, "words");
    await user.keyboard("{Escape}");
    expect(box).toHaveValue("");
  });

  it("every control can be reached and named from the keyboard", async () => {
    const user = userEvent.setup();
    render(
      <Harness initial={makeQuery({ text: "x", image: imageFromIndexed("abc", "beach.jpg", "/t.jpg") })} onSubmit={() => undefined} />,
    );
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      await user.tab();
      const el = document.activeElement as HTMLElement;
      names.push(el.getAttribute("aria-label") ?? el.textContent ?? "");
    }
    expect(names).toEqual([
      "Remove image beach.jpg from the query",
      "Search images: type words, or paste or drop an image",
      "Clear search",
      "Search by an image file",
    ]);
  });

  it("shows 'without' chips and the feedback chip, each removable", async () => {
    const user = userEvent.setup();
    render(<Harness initial={makeQuery({ text: "beach", not: ["people"], likes: ["a", "b"], dislikes: ["c"] })} onSubmit={() => undefined} />);
    expect(screen.getByTestId("not-chip")).toHaveTextContent("without people");
    expect(screen.getByTestId("feedback-chip")).toHaveTextContent("2 liked, 1 disliked");
    await user.click(screen.getByRole("button", { name: "Stop excluding people" }));
    expect(screen.queryByTestId("not-chip")).toBeNull();
    await user.click(screen.getByRole("button", { name: /Stop refining by/ }));
    expect(screen.queryByTestId("feedback-chip")).toBeNull();
  });
});
