// Refinement: facet chips (every value the server knows, with counts), sort, varied
// results, page size, minimum score, and the text/image balance of a combined query; plus
// the likes and dislikes waiting to refine the search. Every control is a labelled native
// input or a toggle button, so keyboards and screen readers work without extra code.
import { useEffect, useState } from "react";
import type { SortField } from "../../api/types";
import { TOP_K_CHOICES, type Refinement, type View } from "../../lib/query";
import { useDebouncedCallback } from "../../lib/useDebounced";
import type { FacetList } from "./useFacets";

/** A slider commits once it has rested this long (arrow keys held or pressed in a row = one search). */
export const SLIDER_SETTLE_MS = 400;

interface Props {
  refine: Refinement;
  view: View;
  facets: FacetList[];
  combined: boolean;
  summary: string | null;
  /** Likes and dislikes marked on results, not yet applied. */
  pending: { likes: number; dislikes: number };
  onChange: (next: Refinement) => void;
  onApplyFeedback: () => void;
  onClearFeedback: () => void;
  settleMs?: number;
}

const SORT_NAMES: Record<View, Array<[SortField, string]>> = {
  search: [["relevance", "Best match"], ["taken_at", "Date taken"], ["indexed_at", "Date added"]],
  library: [["relevance", "Date added"], ["taken_at", "Date taken"]],
  duplicates: [],
};

const FIELD_NAMES: Record<string, string> = { label: "Label", camera: "Camera", format: "Format" };

interface SliderProps {
  label: string;
  name: string;
  value: number;
  step: number;
  valueText: (v: number) => string;
  shown: (v: number) => string;
  settleMs: number;
  onCommit: (v: number) => void;
}

/** A range input that shows its value at once and commits when it comes to rest or is let go. */
function Slider({ label, name, value, step, valueText, shown, settleMs, onCommit }: SliderProps) {
  const [v, setV] = useState(value);
  const settle = useDebouncedCallback(onCommit, settleMs);
  const { cancel } = settle;
  // a value set from outside (a new query, Back) wins over one still settling
  useEffect(() => {
    cancel();
    setV(value);
  }, [value, cancel]);
  const commitNow = () => {
    settle.cancel();
    if (v !== value) onCommit(v);
  };
  return (
    <label className="field">
      <span>{label}</span>
      <input
        type="range"
        min={0}
        max={1}
        step={step}
        value={v}
        aria-label={name}
        aria-valuetext={valueText(v)}
        onChange={(e) => {
          const next = Number(e.target.value);
          setV(next);
          settle.call(next);
        }}
        onPointerUp={commitNow}
        onBlur={commitNow}
      />
      <output className="field-value">{shown(v)}</output>
    </label>
  );
}

export function RefineBar(props: Props) {
  const { refine, view, facets, combined, summary, pending, onChange, settleMs = SLIDER_SETTLE_MS } = props;
  const scoreText = (v: number) => (v > 0 ? v.toFixed(2) : "any");
  const sorts = SORT_NAMES[view];
  const toggleFilter = (field: string, value: string) => {
    const filters = { ...refine.filters };
    if (filters[field] === value) delete filters[field];
    else filters[field] = value;
    onChange({ ...refine, filters });
  };

  return (
    <section className="refine" aria-label="Refine results">
      <span className="refine-summary" aria-live="polite" data-testid="result-summary">
        {summary}
      </span>
      {(pending.likes > 0 || pending.dislikes > 0) && (
        <span className="feedback-bar" data-testid="feedback-bar">
          <span>
            {pending.likes > 0 && `${pending.likes} more like`}
            {pending.likes > 0 && pending.dislikes > 0 && ", "}
            {pending.dislikes > 0 && `${pending.dislikes} less like`}
          </span>
          <button type="button" className="btn btn-primary btn-small" onClick={props.onApplyFeedback}>
            Refine
          </button>
          <button type="button" className="btn btn-small" onClick={props.onClearFeedback}>
            Forget
          </button>
        </span>
      )}
      <span className="spacer" />
      {combined && (
        <Slider
          label="Image ↔ text"
          name="Text weight in the combined query"
          value={refine.textWeight}
          step={0.05}
          valueText={(v) => `text weight ${v.toFixed(2)}`}
          shown={(v) => `${Math.round(v * 100)}% text`}
          settleMs={settleMs}
          onCommit={(v) => onChange({ ...refine, textWeight: v })}
        />
      )}
      {sorts.length > 0 && (
        <label className="field">
          <span>Sort</span>
          <select value={refine.sort} onChange={(e) => onChange({ ...refine, sort: e.target.value as SortField })}>
            {sorts.map(([value, name]) => (
              <option key={value} value={value}>
                {name}
              </option>
            ))}
          </select>
        </label>
      )}
      {view === "search" && (
        <label className="field check">
          <input type="checkbox" checked={refine.diverse} onChange={(e) => onChange({ ...refine, diverse: e.target.checked })} />
          <span>Varied results</span>
        </label>
      )}
      {view === "search" && (
        <Slider
          label="Min score"
          name="Minimum score"
          value={refine.threshold ?? 0}
          step={0.01}
          valueText={scoreText}
          shown={scoreText}
          settleMs={settleMs}
          onCommit={(v) => onChange({ ...refine, threshold: v > 0 ? v : null })}
        />
      )}
      {view === "search" && (
        <label className="field">
          <span>Per page</span>
          <select value={refine.topK} onChange={(e) => onChange({ ...refine, topK: Number(e.target.value) })}>
            {TOP_K_CHOICES.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
      )}
      {facets.map((f) => (
        <div key={f.field} className="facets" role="group" aria-label={`Filter by ${(FIELD_NAMES[f.field] ?? f.field).toLowerCase()}`} data-testid={`facet-${f.field}`}>
          <span className="facets-name" aria-hidden="true">
            {FIELD_NAMES[f.field] ?? f.field}
          </span>
          {f.values.map((v) => {
            const on = refine.filters[f.field] === v.value;
            return (
              <button
                key={v.value}
                type="button"
                className={`facet${on ? " is-on" : ""}`}
                aria-pressed={on}
                onClick={() => toggleFilter(f.field, v.value)}
              >
                {v.value}
                {v.count !== null && <span className="facet-count">{v.count.toLocaleString("en")}</span>}
              </button>
            );
          })}
        </div>
      ))}
    </section>
  );
}
