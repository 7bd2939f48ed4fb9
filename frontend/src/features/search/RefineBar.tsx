// Refinement: page size, minimum score, label filter, and the text/image balance of a
// combined query. Every control is a labelled native input so keyboards and screen
// readers work without extra code.
import { useEffect, useState } from "react";
import { TOP_K_CHOICES, type Refinement } from "../../lib/query";
import { useDebouncedCallback } from "../../lib/useDebounced";

/** A slider commits once it has rested this long (arrow keys held or pressed in a row = one search). */
export const SLIDER_SETTLE_MS = 400;

interface Props {
  refine: Refinement;
  labels: string[];
  combined: boolean;
  summary: string | null;
  onChange: (next: Refinement) => void;
  settleMs?: number;
}

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

export function RefineBar({ refine, labels, combined, summary, onChange, settleMs = SLIDER_SETTLE_MS }: Props) {
  const labelOptions = refine.label && !labels.includes(refine.label) ? [refine.label, ...labels] : labels;
  const scoreText = (v: number) => (v > 0 ? v.toFixed(2) : "any");

  return (
    <section className="refine" aria-label="Refine results">
      <span className="refine-summary" aria-live="polite" data-testid="result-summary">
        {summary}
      </span>
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
      {labelOptions.length > 0 && (
        <label className="field">
          <span>Label</span>
          <select value={refine.label ?? ""} onChange={(e) => onChange({ ...refine, label: e.target.value || null })}>
            <option value="">All</option>
            {labelOptions.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
      )}
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
    </section>
  );
}
