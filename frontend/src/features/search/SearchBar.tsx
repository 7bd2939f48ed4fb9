// The one box that takes anything: words, an image chip (dropped, pasted, picked, or
// "more like this"), or both for a combined query; "without …" chips for words pushed away
// (typed as `-word`), and a chip for the liked/disliked images refining the search.
import { forwardRef, useRef, type KeyboardEvent } from "react";
import { imageLabel, imagePreview, type Query } from "../../lib/query";
import { CloseIcon, ImageIcon, SearchIcon } from "../../ui/icons";

interface Props {
  query: Query;
  busy: boolean;
  onTextChange: (text: string) => void;
  onSubmit: () => void;
  onPickFile: (file: File) => void;
  onRemoveImage: () => void;
  onRemoveNot: (word: string) => void;
  onRemoveFeedback: () => void;
  onClear: () => void;
}

export const SearchBar = forwardRef<HTMLInputElement, Props>(function SearchBar(
  { query, busy, onTextChange, onSubmit, onPickFile, onRemoveImage, onRemoveNot, onRemoveFeedback, onClear },
  inputRef,
) {
  const fileRef = useRef<HTMLInputElement>(null);
  const image = query.image;
  const search = query.view === "search";
  const hasAnything = query.text !== "" || image !== null || query.not.length > 0 || query.likes.length > 0;
  const fb = [
    query.likes.length ? `${query.likes.length} liked` : "",
    query.dislikes.length ? `${query.dislikes.length} disliked` : "",
  ].filter(Boolean).join(", ");

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Enter") {
      e.preventDefault();
      onSubmit();
    } else if (e.key === "Escape" && hasAnything) {
      e.preventDefault();
      onClear();
    } else if (e.key === "Backspace" && image && e.currentTarget.value === "" ) {
      // like removing a tag: backspace in an empty box drops the image chip
      e.preventDefault();
      onRemoveImage();
    }
  };

  return (
    <form
      className={`searchbar${busy ? " is-busy" : ""}`}
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      <SearchIcon className="searchbar-icon" />
      {search && fb && (
        <span className="chip chip-text" data-testid="feedback-chip">
          <span className="chip-label">{fb}</span>
          <button type="button" className="chip-remove" aria-label={`Stop refining by the ${fb} images`} onClick={onRemoveFeedback}>
            <CloseIcon width={14} height={14} />
          </button>
        </span>
      )}
      {search &&
        query.not.map((w) => (
          <span key={w} className="chip chip-text chip-not" data-testid="not-chip">
            <span className="chip-label" title={`without ${w}`}>
              without {w}
            </span>
            <button type="button" className="chip-remove" aria-label={`Stop excluding ${w}`} onClick={() => onRemoveNot(w)}>
              <CloseIcon width={14} height={14} />
            </button>
          </span>
        ))}
      {search && image && (
        <span className="chip" data-testid="query-chip">
          <img src={imagePreview(image)} alt="" className="chip-thumb" />
          <span className="chip-label" title={imageLabel(image)}>
            {image.kind === "id" ? "Like " : ""}
            {imageLabel(image)}
          </span>
          <button
            type="button"
            className="chip-remove"
            aria-label={`Remove image ${imageLabel(image)} from the query`}
            onClick={onRemoveImage}
          >
            <CloseIcon width={14} height={14} />
          </button>
        </span>
      )}
      <input
        ref={inputRef}
        className="searchbar-input"
        type="search"
        enterKeyHint="search"
        autoComplete="off"
        spellCheck={false}
        aria-label="Search images: type words, or paste or drop an image"
        placeholder={image ? "Add words to refine this image…" : "Search by words (-word to exclude), or drop, paste or pick an image"}
        value={search ? query.text : ""}
        onChange={(e) => onTextChange(e.target.value)}
        onKeyDown={onKeyDown}
      />
      {hasAnything && (
        <button type="button" className="icon-btn" aria-label="Clear search" onClick={onClear}>
          <CloseIcon />
        </button>
      )}
      <button
        type="button"
        className="icon-btn"
        aria-label="Search by an image file"
        title="Search by an image file"
        onClick={() => fileRef.current?.click()}
      >
        <ImageIcon />
      </button>
      <input
        ref={fileRef}
        type="file"
        accept="image/*"
        hidden
        data-testid="query-file-input"
        aria-label="Image file to search by"
        onChange={(e) => {
          const f = e.target.files?.[0];
          if (f) onPickFile(f);
          e.target.value = "";
        }}
      />
    </form>
  );
});
